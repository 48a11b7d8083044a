import { requireRole } from '../auth/principal.js';
import { AuditPage, AuditQuery } from '../contract/audit.js';
import { answers } from '../contract/common.js';
import { publicBase, type RoutePlugin } from '../http/routing.js';
import { apiTime } from '../util/ids.js';
import { cursorPaging, cursorParams } from '../http/cursor-page.js';
import { boolParam, intParam } from '../http/query.js';

/**
 * GET /__api__/v1/audit_logs: keyset paging as Connect does it. The body is exactly
 * `{paging: {cursors: {previous, next}, first, previous, next, last}, results}`; cursors are opaque
 * strings (row ids) and the URLs absolute, because connectapi follows `paging.next` verbatim.
 */
export const auditRoutes: RoutePlugin = (server, app) => {
  server.get(
    '/__api__/v1/audit_logs',
    { schema: { summary: 'The audit log, a keyset page at a time (administrators)', querystring: AuditQuery, response: answers({ 200: AuditPage }) } },
    async (request) => {
      requireRole(request, 'administrator');
      const q = request.query;
      const limit = intParam(q, 'limit', 20, 1, 500);
      const ascending = boolParam(q, 'ascOrder', true);
      const { next, previous } = cursorParams(q);

      const { rows, cursors } = await app.audit.page({ limit, next, previous, ascending });
      return {
        paging: cursorPaging(`${publicBase(app, request)}__api__/v1/audit_logs`, { limit: String(limit), ascOrder: String(ascending) }, cursors),
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
    },
  );
};
