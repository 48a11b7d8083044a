import type { ContentItem } from '../api/types';
import { contentTypeOf } from '../ui/app-modes';

// The content list's search, filters and sort, kept in the URL (so a filtered list can be
// bookmarked and shared) and applied in the browser: the API returns the caller's whole list.

export type SortKey = 'title' | 'deployed' | 'created' | 'owner';

export interface ListQuery {
  search: string;
  type: string;
  owner: string;
  tag: string;
  sort: SortKey;
}

export const DEFAULT_QUERY: ListQuery = { search: '', type: '', owner: '', tag: '', sort: 'deployed' };
const SORTS: SortKey[] = ['title', 'deployed', 'created', 'owner'];

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

export function displayTitle(item: Pick<ContentItem, 'title' | 'name'>): string {
  return item.title?.trim() || item.name;
}

function ownerName(item: ContentItem): string {
  return item.owner?.username ?? '';
}

/** Items matching every active filter, in the chosen order (newest first for times). */
export function applyQuery(items: ContentItem[], q: ListQuery): ContentItem[] {
  const words = q.search.toLowerCase().split(/\s+/).filter(Boolean);
  const filtered = items.filter((item) => {
    if (q.type && (q.type === 'unknown' ? item.bundle_id !== null : contentTypeOf(item.app_mode)?.id !== q.type)) return false;
    if (q.owner && item.owner_guid !== q.owner) return false;
    if (q.tag && !(item.tags ?? []).some((t) => t.id === q.tag)) return false;
    if (words.length) {
      const haystack = `${displayTitle(item)} ${item.name} ${item.description} ${ownerName(item)} ${(item.tags ?? []).map((t) => t.name).join(' ')}`.toLowerCase();
      if (!words.every((w) => haystack.includes(w))) return false;
    }
    return true;
  });
  const byTitle = (a: ContentItem, b: ContentItem) => displayTitle(a).localeCompare(displayTitle(b), undefined, { sensitivity: 'base' });
  const newest = (field: 'last_deployed_time' | 'created_time') => (a: ContentItem, b: ContentItem) => (b[field] ?? '').localeCompare(a[field] ?? '') || byTitle(a, b);
  const compare = {
    title: byTitle,
    deployed: newest('last_deployed_time'),
    created: newest('created_time'),
    owner: (a: ContentItem, b: ContentItem) => ownerName(a).localeCompare(ownerName(b)) || byTitle(a, b),
  }[q.sort];
  return filtered.sort(compare);
}

/** The distinct owners and tags present in a list, for the filter menus. */
export function facets(items: ContentItem[]) {
  const owners = new Map<string, string>();
  const tags = new Map<string, string>();
  for (const item of items) {
    if (item.owner) owners.set(item.owner_guid, item.owner.username);
    for (const t of item.tags ?? []) tags.set(t.id, t.name);
  }
  const sorted = (m: Map<string, string>) => [...m].map(([id, name]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name));
  return { owners: sorted(owners), tags: sorted(tags) };
}
