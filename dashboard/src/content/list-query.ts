import type { ContentItem } from '../api/types';

// The content list's search, filters and sort, kept in the URL's form in session storage (so a
// filtered list survives going to an item and back) and answered by the server's search
// (GET v1/search/content): the filters become Connect's query terms, the sort its sort/order.

export type SortKey = 'title' | 'deployed' | 'created' | 'owner';

export interface ListQuery {
  /** Free words, and any terms the person types (owner:, tag:, type:, …). */
  search: string;
  /** A content group (app, api, document, site) or "unknown" for items never deployed. */
  type: string;
  /** An owner's username. */
  owner: string;
  /** A tag's name (content tagged with one of its descendants matches too). */
  tag: string;
  sort: SortKey;
}

export const DEFAULT_QUERY: ListQuery = { search: '', type: '', owner: '', tag: '', sort: 'deployed' };
const SORTS: SortKey[] = ['title', 'deployed', 'created', 'owner'];

/** The server answers at most this many items a page; the list shows the first page. */
export const PAGE_SIZE = 500;

export function parseQuery(search: string): ListQuery {
  const p = new URLSearchParams(search);
  const sort = p.get('sort') as SortKey | null;
  return {
    search: p.get('q') ?? '',
    type: p.get('type') ?? '',
    owner: p.get('owner') ?? '',
    tag: p.get('tag') ?? '',
    sort: sort && SORTS.includes(sort) ? sort : DEFAULT_QUERY.sort,
  };
}

export function formatQuery(q: ListQuery): string {
  const p = new URLSearchParams();
  if (q.search) p.set('q', q.search);
  if (q.type) p.set('type', q.type);
  if (q.owner) p.set('owner', q.owner);
  if (q.tag) p.set('tag', q.tag);
  if (q.sort !== DEFAULT_QUERY.sort) p.set('sort', q.sort);
  return p.toString();
}

export function isFiltered(q: ListQuery): boolean {
  return q.search.trim() !== '' || q.type !== '' || q.owner !== '' || q.tag !== '';
}

/** A term's value, quoted when it holds a space, comma or quote (which is dropped: the syntax has no escape). */
function termValue(value: string): string {
  return /[\s,"]/.test(value) ? `"${value.replace(/"/g, '')}"` : value;
}

/** The filters as one query in Connect's search syntax: the typed words first, then a term per menu. */
export function searchTerms(q: ListQuery): string {
  const terms = [q.search.trim()];
  if (q.type) terms.push(q.type === 'unknown' ? 'is:unpublished' : `type:${q.type}`);
  if (q.owner) terms.push(`owner:${termValue(q.owner)}`);
  if (q.tag) terms.push(`tag:${termValue(q.tag)}`);
  return terms.filter(Boolean).join(' ');
}

/** The server's order for a sort; "owner" has none there, so it comes by title and is regrouped here (ownerOrder). */
const SERVER_SORT: Record<SortKey, { sort: string; order: 'asc' | 'desc' }> = {
  title: { sort: 'title', order: 'asc' },
  deployed: { sort: 'last_deployed', order: 'desc' },
  created: { sort: 'created', order: 'desc' },
  owner: { sort: 'title', order: 'asc' },
};

/** The search request for a query; `filters: false` asks for the whole (unfiltered) list. */
export function searchPath(q: ListQuery, options: { filters: boolean }): string {
  const p = new URLSearchParams();
  const terms = options.filters ? searchTerms(q) : '';
  if (terms) p.set('q', terms);
  p.set('sort', SERVER_SORT[q.sort].sort);
  p.set('order', SERVER_SORT[q.sort].order);
  p.set('page_size', String(PAGE_SIZE));
  p.set('include', 'owner,tags,state');
  return `/__api__/v1/search/content?${p}`;
}

export function displayTitle(item: Pick<ContentItem, 'title' | 'name'>): string {
  return item.title?.trim() || item.name;
}

/** Items in the order the sort asks for: the server's, regrouped by owner for the "owner" sort (stable, so titles stay in order). */
export function inOrder(items: ContentItem[], sort: SortKey): ContentItem[] {
  if (sort !== 'owner') return items;
  const owner = (item: ContentItem) => item.owner?.username ?? '';
  return [...items].sort((a, b) => owner(a).localeCompare(owner(b)));
}

/** The distinct owners (by username) and tags (by name) present in a list, for the filter menus. */
export function facets(items: ContentItem[]) {
  const owners = new Set<string>();
  const tags = new Set<string>();
  for (const item of items) {
    if (item.owner) owners.add(item.owner.username);
    for (const t of item.tags ?? []) tags.add(t.name);
  }
  const sorted = (names: Set<string>) => [...names].sort((a, b) => a.localeCompare(b)).map((name) => ({ id: name, name }));
  return { owners: sorted(owners), tags: sorted(tags) };
}
