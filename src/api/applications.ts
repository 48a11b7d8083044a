import type { FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import { requireUser } from '../auth/principal.js';
import { appModeOrdinal } from '../content/app-modes.js';
import type { Content, Task, User } from '../db/schema.js';
import { badRequest, ErrorCode, forbidden, invalidParameter } from '../errors.js';
import { contentUrls, type RoutePlugin } from '../http/routing.js';
import { bundlesJson, enqueueDeploy, receiveBundle, uploadRoutes } from './bundles.js';
import { renderContent } from './content.js';

// The legacy (v0) `/__api__/applications` surface and `/__api__/tasks/{id}`, still called by the
// rsconnect R package (0.8.x publishes entirely through it; current releases look apps up by id),
// rsconnect-python ≤ 1.28 and connectapi (connect-api.md §2.6). Everything here is a thin
// translation onto the v1 services: v0 ids are integers, `app_mode` is an ordinal, tasks report
// `status`/`last_status` instead of `output`/`last`. Every success is status 200 (old clients
// accept nothing else).
//
// build_status (an integer in Connect's v0 record): 0 = nothing deployed yet (no active bundle),
// 2 = an active bundle was deployed successfully. Lectern never exposes the intermediate
// "building" value (1): a running deploy is visible through its task instead.

const BUILD_STATUS_NONE = 0;
const BUILD_STATUS_COMPLETE = 2;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const TASK_WAIT_MS = 1000;

/** v0-only fields a client may echo back on update; ignored like v1's read-only fields. */
const V0_READ_ONLY = new Set([
  'url', 'vanity_url', 'has_parameters', 'build_status', 'owner_username', 'owner_first_name', 'owner_last_name',
  'owner_email', 'owner_locked', 'is_scheduled', 'git', 'users', 'groups', 'vanities', 'owner_id', 'account_id',
]);

/** Renders v0 application records (integer ids, ordinal app_mode, owner_* fields). */
export async function renderApplications(app: App, request: FastifyRequest, user: User, items: Content[]) {
  const v1 = await renderContent(app, request, user, items, new Set());
  const ownerIds = [...new Set(items.map((c) => c.owner_id))];
  const owners = ownerIds.length
    ? await app.store.db.selectFrom('users').select(['id', 'username', 'first_name', 'last_name', 'email', 'locked']).where('id', 'in', ownerIds).execute()
    : [];
  const ownerById = new Map(owners.map((o) => [o.id, o]));
  return items.map((c, i) => {
    const { content_url, dashboard_url: _dashboard, ...fields } = v1[i]!;
    const owner = ownerById.get(c.owner_id);
    return {
      ...fields,
      id: c.id,
      url: content_url,
      app_mode: appModeOrdinal(c.app_mode),
      vanity_url: false,
      has_parameters: c.parameterized === 1,
      build_status: c.bundle_id === null ? BUILD_STATUS_NONE : BUILD_STATUS_COMPLETE,
      bundle_id: c.bundle_id,
      owner_id: c.owner_id,
      owner_username: owner?.username ?? null,
      owner_first_name: owner?.first_name ?? null,
      owner_last_name: owner?.last_name ?? null,
      owner_email: owner?.email ?? null,
      owner_locked: owner ? owner.locked === 1 : false,
      is_scheduled: false,
      git: null,
      users: [],
      groups: [],
      vanities: [],
    };
  });
}

async function renderOne(app: App, request: FastifyRequest, user: User, content: Content) {
  return (await renderApplications(app, request, user, [content]))[0]!;
}

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

/** The v0 task shape: `status` lines from `first_status`, `last_status` the next offset. */
function legacyTaskJson(task: Task, status: string[], first: number) {
  return {
    id: task.id,
    task_id: task.id,
    user_id: task.user_id,
    status,
    finished: task.state === 'finished',
    code: task.code,
    error: task.error,
    last_status: first + status.length,
    result: task.result === null ? null : (JSON.parse(task.result) as unknown),
  };
}

/** `{bundle: <int>}` (legacy) or `{bundle_id}`; anything else old clients send is ignored. */
function deployBody(body: unknown): { bundle_id?: string | number | null; activate?: boolean } {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.InvalidJson);
  const input = body as Record<string, unknown>;
  const out: { bundle_id?: string | number | null; activate?: boolean } = {};
  const bundle = input.bundle ?? input.bundle_id;
  if (bundle !== undefined) out.bundle_id = bundle as string | number | null;
  if (input.activate !== undefined) out.activate = input.activate as boolean;
  return out;
}

export const applicationRoutes: RoutePlugin = (server, app) => {
  server.get('/__api__/applications', async (request) => {
    const user = requireUser(request);
    const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    const q = request.query as Record<string, string | string[] | undefined>;
    const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[v.length - 1] : v);
    // rsconnect-python ≤ 1.28 asks for later pages with only start/count/cont, dropping its
    // filters, so the continuation carries the query it continues.
    const cont = decodeContinuation(one(q.cont));
    const criteria = cont && !hasCriteria(rawQuery) ? cont.query : rawQuery;
    const filters = parseFilters(criteria);
    const search = (new URLSearchParams(criteria).get('search') ?? '').toLowerCase();
    const count = Math.min(intQuery(one(q.count), 'count') || DEFAULT_PAGE, MAX_PAGE);
    const start = intQuery(one(q.start), 'start') ?? intQuery(one(q.offset), 'offset') ?? cont?.start ?? 0;

    // A single exact name narrows in SQL; the remaining filters apply to the visible rows.
    const items = (await app.content.list(user, filters.names.length === 1 ? { name: filters.names[0] } : {})).filter(
      (c) =>
        (filters.names.length === 0 || filters.names.every((n) => c.name.toLowerCase() === n)) &&
        filters.nameLike.every((n) => c.name.toLowerCase().includes(n)) &&
        (filters.accountIds.length === 0 || filters.accountIds.includes(c.owner_id)) &&
        (filters.contentTypes.length === 0 || filters.contentTypes.some((t) => matchesContentType(c, t))) &&
        (search === '' || c.name.toLowerCase().includes(search) || (c.title ?? '').toLowerCase().includes(search)),
    );
    const page = items.slice(start, start + count);
    const next = start + page.length;
    return {
      applications: await renderApplications(app, request, user, page),
      count: page.length,
      total: items.length,
      continuation: next < items.length ? encodeContinuation(next, criteria) : null,
    };
  });

  server.post('/__api__/applications', async (request) => {
    const user = requireUser(request);
    const content = await app.content.create(user, request.body);
    await app.audit.record(user, 'add_application', `Created content ${content.guid} (${content.name})`);
    return renderOne(app, request, user, content);
  });

  server.get('/__api__/applications/:id', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible((request.params as { id: string }).id, user);
    return renderOne(app, request, user, content);
  });

  server.post('/__api__/applications/:id', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { id: string }).id, user);
    const body = request.body;
    const changes =
      body !== null && typeof body === 'object' && !Array.isArray(body)
        ? Object.fromEntries(Object.entries(body as Record<string, unknown>).filter(([k]) => !V0_READ_ONLY.has(k)))
        : body;
    const updated = await app.content.update(content, user, changes);
    await app.audit.record(user, 'update_application', `Updated content ${content.guid}: ${Object.keys((changes as object) ?? {}).join(', ')}`);
    return renderOne(app, request, user, updated);
  });

  uploadRoutes(server, (scope) =>
    scope.post('/__api__/applications/:id/upload', async (request) => {
      const user = requireUser(request);
      const content = await app.content.getChangeable((request.params as { id: string }).id, user);
      const bundle = await receiveBundle(app, request, user, content);
      const v1 = (await bundlesJson(app, content, [bundle]))[0]!;
      return { ...v1, id: bundle.id, app_id: content.id, app_guid: content.guid, owner_id: bundle.created_by };
    }),
  );

  server.post('/__api__/applications/:id/deploy', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { id: string }).id, user);
    const task = await enqueueDeploy(app, user, content, deployBody(request.body), 'deploy');
    return legacyTaskJson(task, [], 0);
  });

  server.get('/__api__/applications/:id/config', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible((request.params as { id: string }).id, user);
    const dashboard = contentUrls(app, request).dashboardUrl(content.guid);
    return { config_url: dashboard, logs_url: `${dashboard}/logs` };
  });

  // Long-polls briefly (like v1 `wait=1`) so clients that poll in a tight loop do not spin.
  server.get('/__api__/tasks/:id', async (request) => {
    const user = requireUser(request);
    const { id } = request.params as { id: string };
    const first = intQuery((request.query as Record<string, string | undefined>).first_status, 'first_status') ?? 0;
    const existing = await app.queue.get(id);
    if (existing.user_id !== user.id && user.user_role !== 'administrator') throw forbidden('You can only read your own tasks.');
    const task = await app.queue.waitFor(id, first, TASK_WAIT_MS);
    return legacyTaskJson(task, await app.queue.output(id, first), first);
  });
};
