import { requireRole } from '../auth/principal.js';
import { invalidParameter } from '../errors.js';
import { publicBase, type RoutePlugin } from '../http/routing.js';
import { apiTime } from '../util/ids.js';
import { boolParam, intParam } from '../http/query.js';

type Query = Record<string, string | undefined>;

function cursorParam(q: Query, name: 'next' | 'previous'): number | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw invalidParameter(`Invalid ${name} cursor ${JSON.stringify(raw)}: pass back a cursor from a previous response.`);
  return Number(raw);
}

/**
 * GET /__api__/v1/audit_logs: keyset paging as Connect does it. The body is exactly
 * `{paging: {cursors: {previous, next}, first, previous, next, last}, results}`; cursors are opaque
 * strings (row ids) and the URLs absolute, because connectapi follows `paging.next` verbatim.
 */
export const auditRoutes: RoutePlugin = (server, app) => {
  server.get('/__api__/v1/audit_logs', async (request) => {
    requireRole(request, 'administrator');
    const q = request.query as Query;
    const limit = intParam(q, 'limit', 20, 1, 500);
    const ascending = boolParam(q, 'ascOrder', true);
    const next = cursorParam(q, 'next');
    const previous = cursorParam(q, 'previous');
    if (next !== undefined && previous !== undefined) throw invalidParameter('Pass either next or previous, not both.');

    const { rows, hasNext, hasPrevious } = await app.audit.page({ limit, next, previous, ascending });
    const base = `${publicBase(app, request)}__api__/v1/audit_logs`;
    const url = (cursor?: { next?: string; previous?: string }) => {
      const params = new URLSearchParams({ limit: String(limit), ascOrder: String(ascending) });
      if (cursor?.next !== undefined) params.set('next', cursor.next);
      if (cursor?.previous !== undefined) params.set('previous', cursor.previous);
      return `${base}?${params}`;
    };
    const nextCursor = hasNext ? String(rows[rows.length - 1]!.id) : null;
    const previousCursor = hasPrevious ? String(rows[0]!.id) : null;
    const lastCursor = await app.audit.lastPageCursor(ascending);

    return {
      paging: {
        cursors: { previous: previousCursor, next: nextCursor },
        first: url(),
        previous: previousCursor === null ? null : url({ previous: previousCursor }),
        next: nextCursor === null ? null : url({ next: nextCursor }),
        last: lastCursor === null ? url() : url({ previous: String(lastCursor) }),
      },
      results: rows.map((r) => ({
        id: String(r.id),
        time: apiTime(r.time),
        user_id: r.user_id === null ? null : String(r.user_id),
        user_guid: r.user_guid,
        user_description: r.user_description,
        action: r.action,
        event_description: r.event_description,
      })),
    };
  });
};
