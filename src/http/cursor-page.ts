import type { KeysetPage } from '../db/keyset-page.js';
import { invalidParameter } from '../errors.js';
import type { Query } from './query.js';

/** A `next` or `previous` cursor as the client passed it back; a bad one is 400 code 25. */
export function cursorParam(q: Query, name: 'next' | 'previous'): number | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw invalidParameter(`Invalid ${name} cursor ${JSON.stringify(raw)}: pass back a cursor from a previous response.`);
  return Number(raw);
}

/** Both cursors of a request; passing both is refused. */
export function cursorParams(q: Query): { next?: number; previous?: number } {
  const next = cursorParam(q, 'next');
  const previous = cursorParam(q, 'previous');
  if (next !== undefined && previous !== undefined) throw invalidParameter('Pass either next or previous, not both.');
  return { next, previous };
}

export interface CursorPaging {
  cursors: { previous: string | null; next: string | null };
  first: string;
  previous: string | null;
  next: string | null;
  last: string;
}

/**
 * Connect's `paging` object of a keyset page: cursors are opaque strings (row ids; posit-sdk
 * passes them back as `next=`), the links absolute URLs (connectapi GETs `paging.next` as it is).
 * `url` is the route's absolute URL, `params` what every link repeats (the limit, the order, the
 * filters), so following a link pages through the same selection.
 */
export function cursorPaging(url: string, params: Record<string, string>, cursors: KeysetPage<unknown>['cursors']): CursorPaging {
  const link = (cursor?: { next?: string; previous?: string }) => {
    const search = new URLSearchParams(params);
    if (cursor?.next !== undefined) search.set('next', cursor.next);
    if (cursor?.previous !== undefined) search.set('previous', cursor.previous);
    return `${url}?${search}`;
  };
  const next = cursors.next === null ? null : String(cursors.next);
  const previous = cursors.previous === null ? null : String(cursors.previous);
  return {
    cursors: { previous, next },
    first: link(),
    previous: previous === null ? null : link({ previous }),
    next: next === null ? null : link({ next }),
    last: cursors.last === null ? link() : link({ previous: String(cursors.last) }),
  };
}
