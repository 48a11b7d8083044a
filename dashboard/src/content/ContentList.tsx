import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'wouter';
import { useResource } from '../api/use-resource';
import type { ContentItem, Page } from '../api/types';
import { useSession } from '../session/session';
import { CONTENT_TYPES, modeLabel } from '../ui/app-modes';
import { EmptyState, ErrorMessage, Loading } from '../ui/feedback';
import { formatDateTime, formatRelative } from '../ui/format';
import { StateBadge } from '../ui/StateBadge';
import { DEFAULT_QUERY, displayTitle, facets, formatQuery, inOrder, isFiltered, parseQuery, searchPath, type ListQuery, type SortKey } from './list-query';

const STORAGE_KEY = 'lectern.content-list';

/** Search, filters and sort survive going to an item and back (per browser tab). */
function useListQuery(): [ListQuery, (q: ListQuery) => void] {
  const [query, setQuery] = useState<ListQuery>(() => parseQuery(sessionStorage.getItem(STORAGE_KEY) ?? ''));
  return [
    query,
    (q) => {
      sessionStorage.setItem(STORAGE_KEY, formatQuery(q));
      setQuery(q);
    },
  ];
}

/** `value` once it has stopped changing for `ms`: typing a search asks the server once, not per key. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** The last page a resource answered, kept on screen while the next one loads. */
function useLastPage(page: Page<ContentItem> | undefined, active: boolean): Page<ContentItem> | undefined {
  const last = useRef<Page<ContentItem>>(undefined);
  if (!active) last.current = undefined;
  else if (page) last.current = page;
  return last.current;
}

export function ContentList() {
  const { user } = useSession();
  const [query, setQuery] = useListQuery();
  const search = useSettled(query.search, 250);
  const asked = { ...query, search };
  const filtered = isFiltered(query);
  // The whole list (its total and the filter menus), and the server's search when a filter is set.
  const all = useResource<Page<ContentItem>>(searchPath(asked, { filters: false }));
  const found = useResource<Page<ContentItem>>(isFiltered(asked) ? searchPath(asked, { filters: true }) : null);
  const foundPage = useLastPage(found.data, isFiltered(asked));
  const items = all.data?.results;
  const total = all.data?.total ?? 0;
  const page = isFiltered(asked) ? foundPage : all.data;
  const shown = useMemo(() => (page ? inOrder(page.results, query.sort) : []), [page, query.sort]);
  const { owners, tags } = useMemo(() => facets(items ?? []), [items]);
  const update = (change: Partial<ListQuery>) => setQuery({ ...query, ...change });

  return (
    <main className="page">
      <div className="page-head">
        <h1>Content</h1>
        {items && (
          <div className="row">
            <p className="count" aria-live="polite">
              {filtered ? `${page?.total ?? 0} of ${total}` : `${total} item${total === 1 ? '' : 's'}`}
            </p>
            {filtered && (
              <button type="button" className="secondary small" onClick={() => setQuery({ ...DEFAULT_QUERY, sort: query.sort })}>
                Clear filters
              </button>
            )}
          </div>
        )}
      </div>
      {/* biome-ignore lint/a11y/useSemanticElements: the <search> element is newer (2023) than browsers the dashboard supports; role=search says the same */}
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label className="grow">
          Search
          <input type="search" placeholder="Title, name or description; owner:, tag:, type: terms" value={query.search} onChange={(e) => update({ search: e.target.value })} />
        </label>
        <label>
          Type
          <select value={query.type} onChange={(e) => update({ type: e.target.value })}>
            <option value="">All types</option>
            {CONTENT_TYPES.map((t) => (
              <option key={t.id} value={t.id}>
                {t.label}
              </option>
            ))}
            <option value="unknown">Not deployed</option>
          </select>
        </label>
        <label>
          Owner
          <select value={query.owner} onChange={(e) => update({ owner: e.target.value })}>
            <option value="">Anyone</option>
            {owners.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <select value={query.tag} onChange={(e) => update({ tag: e.target.value })}>
            <option value="">Any tag</option>
            {tags.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sort by
          <select value={query.sort} onChange={(e) => update({ sort: e.target.value as SortKey })}>
            <option value="deployed">Last deployed</option>
            <option value="created">Created</option>
            <option value="title">Title</option>
            <option value="owner">Owner</option>
          </select>
        </label>
      </form>
      <ErrorMessage error={all.error ?? found.error} />
      {!items && all.loading && <Loading label="Loading content…" />}
      {items && items.length === 0 && (
        <EmptyState title="No content yet">
          {user.user_role === 'viewer' ? (
            <p>Nothing has been shared with you yet. Ask a publisher to give you access to their content.</p>
          ) : (
            <>
              <p>Publish from your project with rsconnect-python, the rsconnect R package or posit-sdk, using an API key:</p>
              <pre>
                <code>{`rsconnect deploy api -s ${location.origin} -k <key> -e app:app ./my-app`}</code>
              </pre>
              <p>
                <Link href="/keys">Create an API key</Link> first.
              </p>
            </>
          )}
        </EmptyState>
      )}
      {items && items.length > 0 && page && shown.length === 0 && !found.error && (
        <EmptyState title="Nothing matches these filters">
          <p>Try fewer words, or clear the filters.</p>
        </EmptyState>
      )}
      {shown.length > 0 && (
        <ul className="content-list" aria-label="Content items">
          {shown.map((item) => (
            <li key={item.guid} className="content-row">
              <div className="content-main">
                <Link href={`/apps/${item.guid}`} className="content-title">
                  {displayTitle(item)}
                </Link>
                {item.description && <span className="content-description">{item.description}</span>}
                <span className="content-meta">
                  {modeLabel(item.app_mode)} · {item.owner?.username ?? 'unknown owner'}
                  {item.tags && item.tags.length > 0 && ' · '}
                  {item.tags?.map((t) => (
                    <span key={t.id} className="tag">
                      {t.name}
                    </span>
                  ))}
                </span>
              </div>
              <span className="content-deployed" title={formatDateTime(item.last_deployed_time)}>
                {item.last_deployed_time ? `Deployed ${formatRelative(item.last_deployed_time)}` : 'Never deployed'}
              </span>
              <StateBadge state={item.state} />
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
