import type { FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import { requireRole } from '../auth/principal.js';
import { answers } from '../contract/common.js';
import { ContentHits, ContentVisitPage, HitsQuery, ShinyUsagePage, UsagePageQuery } from '../contract/instrumentation.js';
import { invalidParameter } from '../errors.js';
import { cursorPaging, cursorParams } from '../http/cursor-page.js';
import { boolParam, intParam, type Query } from '../http/query.js';
import type { App } from '../app.js';
import { publicBase, type RoutePlugin } from '../http/routing.js';
import { usageScope, type UsageFilter } from '../instrumentation/usage-reports.js';
import { apiTime, GUID_PATTERN } from '../util/ids.js';

/** Connect's defaults: visits recorded before its counting fixes (data versions 1 and 2) are left out unless asked for. */
const DEFAULT_MIN_VISIT_VERSION = 3;
const DEFAULT_MIN_SHINY_VERSION = 1;

/**
 * GET /__api__/v1/instrumentation/content/visits, …/shiny/usage (keyset pages, as the audit log
 * pages) and …/content/hits (one array). Administrators read everything; publishers the usage
 * of content they own or collaborate on, as in Connect; viewers are refused. What is recorded,
 * and when a request counts as a visit: docs/instrumentation.md.
 */
/** The hits array, documented as what it is and sent as a stream. */
const hitsAnswer = { description: 'Every hit in the window, oldest first.', content: { 'application/json': { schema: Type.Unsafe<Readable>(ContentHits) } } };

export const instrumentationRoutes: RoutePlugin = (server, app) => {
  server.get(
    '/__api__/v1/instrumentation/content/visits',
    { schema: { summary: 'Visits to content other than Shiny apps, a keyset page at a time (publishers: their content)', querystring: UsagePageQuery, response: answers({ 200: ContentVisitPage }) } },
    async (request) => {
      const scope = await callerScope(app, request);
      const { filter, page, linkParams } = pageRequest(request.query, DEFAULT_MIN_VISIT_VERSION);
      const { rows, cursors } = await app.usageReports.visits(scope, filter, page);
      return {
        paging: cursorPaging(`${publicBase(app, request)}__api__/v1/instrumentation/content/visits`, linkParams, cursors),
        results: rows.map((r) => ({
          content_guid: r.content_guid,
          user_guid: r.user_guid,
          variant_key: null,
          rendering_id: r.rendering_id === null ? null : String(r.rendering_id),
          bundle_id: r.bundle_id === null ? null : String(r.bundle_id),
          time: apiTime(r.time),
          data_version: r.data_version,
          path: r.path,
          user_agent: r.user_agent,
        })),
      };
    },
  );

  server.get(
    '/__api__/v1/instrumentation/shiny/usage',
    { schema: { summary: 'Shiny app sessions, a keyset page at a time (publishers: their content)', querystring: UsagePageQuery, response: answers({ 200: ShinyUsagePage }) } },
    async (request) => {
      const scope = await callerScope(app, request);
      const { filter, page, linkParams } = pageRequest(request.query, DEFAULT_MIN_SHINY_VERSION);
      const { rows, cursors } = await app.usageReports.shinySessions(scope, filter, page);
      return {
        paging: cursorPaging(`${publicBase(app, request)}__api__/v1/instrumentation/shiny/usage`, linkParams, cursors),
        results: rows.map((r) => ({ content_guid: r.content_guid, user_guid: r.user_guid, started: apiTime(r.started), ended: apiTime(r.ended), data_version: r.data_version })),
      };
    },
  );

  server.get(
    '/__api__/v1/instrumentation/content/hits',
    { schema: { summary: 'Every request to content in a time window, as one array (publishers: their content)', querystring: HitsQuery, response: answers({ 200: hitsAnswer }) } },
    async (request, reply) => {
      const scope = await callerScope(app, request);
      const filter = windowFilter(request.query);
      // Streamed a batch of rows at a time: the array can be millions of hits long.
      async function* body() {
        let first = true;
        yield '[';
        for await (const rows of app.usageReports.hits(scope, filter)) {
          const items = rows.map((h) =>
            JSON.stringify({
              id: String(h.id),
              content_guid: h.content_guid,
              user_guid: h.user_guid,
              timestamp: apiTime(h.time),
              data: { path: h.path, query: h.query, user_agent: h.user_agent, sec_fetch_dest: h.sec_fetch_dest, sec_fetch_site: h.sec_fetch_site },
            }),
          );
          yield (first ? '' : ',') + items.join(',');
          first = false;
        }
        yield ']';
      }
      return reply.type('application/json; charset=utf-8').send(Readable.from(body()));
    },
  );
};

async function callerScope(app: App, request: FastifyRequest) {
  const user = requireRole(request, 'publisher');
  return usageScope(user, (u) => app.content.access.principalGuids(u));
}

/** The filters, the keyset request, and what every paging link repeats so it pages the same selection. */
function pageRequest(q: Query, defaultMinVersion: number) {
  const filter = windowFilter(q);
  filter.minDataVersion = intParam(q, 'min_data_version', defaultMinVersion, 0, 1_000_000);
  const limit = intParam(q, 'limit', 20, 1, 500);
  const ascending = boolParam(q, 'asc_order', true);
  const linkParams: Record<string, string> = { limit: String(limit), asc_order: String(ascending), min_data_version: String(filter.minDataVersion) };
  for (const name of ['content_guid', 'from', 'to'] as const) {
    const value = q[name];
    if (value !== undefined && value !== '') linkParams[name] = value;
  }
  return { filter, page: { limit, ascending, ...cursorParams(q) }, linkParams };
}

function windowFilter(q: Query): UsageFilter {
  const filter: UsageFilter = {};
  if (q.content_guid !== undefined && q.content_guid !== '') {
    const guids = q.content_guid.split('|').map((g) => g.trim().toLowerCase());
    for (const guid of guids) if (!GUID_PATTERN.test(guid)) throw invalidParameter(`Invalid content_guid ${JSON.stringify(guid)}: expected a content GUID (several separated by "|").`);
    filter.contentGuids = guids;
  }
  filter.from = timeParam(q, 'from');
  filter.to = timeParam(q, 'to');
  return filter;
}

/** An RFC 3339 time as the stored form (ISO, UTC, milliseconds), so text comparison orders it. */
function timeParam(q: Query, name: 'from' | 'to'): string | undefined {
  const raw = q[name];
  if (raw === undefined || raw === '') return undefined;
  const ms = /^\d{4}-\d\d-\d\d(T|\s|$)/.test(raw.trim()) ? Date.parse(raw.trim()) : Number.NaN;
  if (Number.isNaN(ms)) throw invalidParameter(`Invalid ${name} ${JSON.stringify(raw)}: expected an RFC 3339 time such as "2025-05-01T00:00:00Z".`);
  // A whole second "to" includes that second's records, which are stored with milliseconds.
  return new Date(name === 'to' && !/\.\d+/.test(raw) ? ms + 999 : ms).toISOString();
}
