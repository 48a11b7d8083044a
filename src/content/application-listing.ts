// The legacy v0 content list (`GET /__api__/applications`): Connect's filters, search and
// paging with continuations, as rsconnect-python ≤ 1.28, rsconnect (R) and connectapi send them.
import type { Content, User } from '../db/schema.js';
import { invalidParameter } from '../errors.js';
import type { ContentService } from './content.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

interface ListFilter {
  names: string[];
  nameLike: string[];
  accountIds: number[];
  contentTypes: string[];
}

/**
 * Collects `filter` values: repeated `filter=` parameters, several filters joined with `&` inside
 * one value (connectapi), and — when a client joined them without encoding the `&` — bare
 * `key:value` parameters that arrive as names with an empty value.
 */
function parseFilters(rawQuery: string): ListFilter {
  const out: ListFilter = { names: [], nameLike: [], accountIds: [], contentTypes: [] };
  const values: string[] = [];
  for (const [key, value] of new URLSearchParams(rawQuery)) {
    if (key === 'filter') values.push(...value.split('&'));
    else if (value === '' && /^[a-z_]+:/.test(key)) values.push(key);
  }
  for (const raw of values) {
    const filter = raw.trim();
    if (filter === '') continue;
    const colon = filter.indexOf(':');
    if (colon < 0) throw invalidParameter(`Invalid filter ${JSON.stringify(filter)}: use key:value, e.g. name:my-app.`);
    const key = filter.slice(0, colon);
    const value = filter.slice(colon + 1);
    switch (key) {
      case 'name':
        if (value.startsWith('like:')) out.nameLike.push(value.slice(5).toLowerCase());
        else out.names.push(value.toLowerCase());
        break;
      case 'account_id': {
        const id = Number(value);
        if (!Number.isInteger(id)) throw invalidParameter(`Invalid filter account_id:${value}: expected a user id.`);
        out.accountIds.push(id);
        break;
      }
      case 'content_type':
        if (value !== '') out.contentTypes.push(value.toLowerCase());
        break;
      default:
        // Other Connect filters (min_role, tag, …) do not narrow the list here.
        break;
    }
  }
  return out;
}

function intQuery(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw invalidParameter(`${name} must be a non-negative whole number; got ${JSON.stringify(value)}.`);
  return n;
}

function matchesContentType(content: Content, type: string): boolean {
  const mode = content.app_mode.toLowerCase();
  return mode === type || mode.startsWith(`${type}-`) || content.content_category.toLowerCase() === type;
}

/** Only the parameters that select items (not paging) survive into a continuation. */
function criteriaOf(rawQuery: string): string {
  const out = new URLSearchParams();
  for (const [key, value] of new URLSearchParams(rawQuery)) {
    if (key === 'filter' || key === 'search' || (value === '' && /^[a-z_]+:/.test(key))) out.append(key, value);
  }
  return out.toString();
}

const hasCriteria = (rawQuery: string) => criteriaOf(rawQuery) !== '';

/** Opaque to clients: base64url of `{start, query}`. */
function encodeContinuation(start: number, rawQuery: string): string {
  return Buffer.from(JSON.stringify({ start, query: criteriaOf(rawQuery) })).toString('base64url');
}

function decodeContinuation(value: string | undefined): { start: number; query: string } | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as { start?: unknown; query?: unknown };
    if (Number.isInteger(parsed.start) && (parsed.start as number) >= 0 && typeof parsed.query === 'string') {
      return { start: parsed.start as number, query: parsed.query };
    }
  } catch {
    // fall through: an unknown continuation restarts from `start`
  }
  return undefined;
}

/** Paging parameters as the client sent them (a repeated parameter: the last one counts). */
export interface ApplicationPaging {
  count?: string | string[];
  start?: string | string[];
  offset?: string | string[];
  cont?: string | string[];
}

const last = (v: string | string[] | undefined) => (Array.isArray(v) ? v[v.length - 1] : v);

/** One page of the content `user` may see that matches the query (`rawQuery`: the URL's query string). */
export async function listApplications(contents: ContentService, user: User, rawQuery: string, paging: ApplicationPaging) {
  // rsconnect-python ≤ 1.28 asks for later pages with only start/count/cont, dropping its
  // filters, so the continuation carries the query it continues.
  const cont = decodeContinuation(last(paging.cont));
  const criteria = cont && !hasCriteria(rawQuery) ? cont.query : rawQuery;
  const filters = parseFilters(criteria);
  const search = (new URLSearchParams(criteria).get('search') ?? '').toLowerCase();
  const count = Math.min(intQuery(last(paging.count), 'count') || DEFAULT_PAGE, MAX_PAGE);
  const start = intQuery(last(paging.start), 'start') ?? intQuery(last(paging.offset), 'offset') ?? cont?.start ?? 0;

  // A single exact name narrows in SQL; the remaining filters apply to the visible rows.
  const items = (await contents.list(user, filters.names.length === 1 ? { name: filters.names[0] } : {})).filter(
    (c) =>
      (filters.names.length === 0 || filters.names.every((n) => c.name.toLowerCase() === n)) &&
      filters.nameLike.every((n) => c.name.toLowerCase().includes(n)) &&
      (filters.accountIds.length === 0 || filters.accountIds.includes(c.owner_id)) &&
      (filters.contentTypes.length === 0 || filters.contentTypes.some((t) => matchesContentType(c, t))) &&
      (search === '' || c.name.toLowerCase().includes(search) || (c.title ?? '').toLowerCase().includes(search)),
  );
  const page = items.slice(start, start + count);
  const next = start + page.length;
  return { page, total: items.length, continuation: next < items.length ? encodeContinuation(next, criteria) : null };
}
