// The legacy (v0) `/__api__/applications` surface and `/__api__/tasks/{id}`, still called by the
// rsconnect R package (0.8.x publishes entirely through it; current releases look apps up by id),
// rsconnect-python ≤ 1.28 and connectapi (connect-api.md §2.6). Everything here is a thin
// translation onto the v1 services: v0 ids are integers, `app_mode` is an ordinal, tasks report
// `status`/`last_status` instead of `output`/`last`. Every success is status 200 (old clients
// accept nothing else).
import { requireUser } from '../auth/principal.js';
import { Application, ApplicationBundle, ApplicationConfig, ApplicationDeployBody, ApplicationList, ApplicationListQuery, ApplicationParams } from '../contract/applications.js';
import { answers } from '../contract/common.js';
import { ContentFields } from '../contract/content.js';
import { LegacyTask, LegacyTaskQuery, TaskParams } from '../contract/tasks.js';
import { listApplications } from '../content/application-listing.js';
import { ApplicationViews } from '../content/application-views.js';
import type { Task } from '../db/schema.js';
import { forbidden } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { receiveBundle, UPLOAD_BODY_DESCRIPTION, uploadRoutes } from './bundles.js';
import { contentLinks } from './content.js';

const TASK_WAIT_MS = 1000;

/** v0-only fields a client may echo back on update; ignored like v1's read-only fields. */
const V0_READ_ONLY = new Set([
  'url',
  'vanity_url',
  'has_parameters',
  'build_status',
  'owner_username',
  'owner_first_name',
  'owner_last_name',
  'owner_email',
  'owner_locked',
  'is_scheduled',
  'git',
  'users',
  'groups',
  'vanities',
  'owner_id',
  'account_id',
]);

/** The v0 task shape: `status` lines from `first_status`, `last_status` the next offset. */
export function legacyTaskJson(task: Task, status: string[], first: number): LegacyTask {
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

export const applicationRoutes: RoutePlugin = (server, app) => {
  const applications = new ApplicationViews(app.store.db, app.contentViews);
  const management = app.contentManagement;
  const deploys = app.deployRequests;

  const list = { summary: 'Content the caller may see (v0)', querystring: ApplicationListQuery, response: answers({ 200: ApplicationList }) };
  server.get('/__api__/applications', { schema: list }, async (request) => {
    const user = requireUser(request);
    // Filters are read from the raw query: clients send them repeated, joined with "&", or unencoded.
    const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    const { page, total, continuation } = await listApplications(app.content, user, rawQuery, request.query);
    return { applications: await applications.render(user, page, contentLinks(app, request)), count: page.length, total, continuation };
  });

  server.post('/__api__/applications', { schema: { summary: 'Create content (v0)', body: ContentFields, response: answers({ 200: Application }) } }, async (request) => {
    const user = requireUser(request);
    return applications.renderOne(user, await management.create(user, request.body), contentLinks(app, request));
  });

  server.get('/__api__/applications/:id', { schema: { summary: 'A content item (v0)', params: ApplicationParams, response: answers({ 200: Application }) } }, async (request) => {
    const user = requireUser(request);
    return applications.renderOne(user, await app.content.getVisible(request.params.id, user), contentLinks(app, request));
  });

  const update = { summary: 'Change content (v0)', params: ApplicationParams, body: ContentFields, response: answers({ 200: Application }) };
  server.post('/__api__/applications/:id', { schema: update }, async (request) => {
    const user = requireUser(request);
    const changes = Object.fromEntries(Object.entries(request.body).filter(([k]) => !V0_READ_ONLY.has(k)));
    return applications.renderOne(user, await management.update(user, request.params.id, changes, { fieldsOnly: true }), contentLinks(app, request));
  });

  uploadRoutes(server, (scope) =>
    scope.post(
      '/__api__/applications/:id/upload',
      { schema: { summary: 'Upload a bundle (v0)', description: UPLOAD_BODY_DESCRIPTION, params: ApplicationParams, response: answers({ 200: ApplicationBundle }) } },
      async (request) => {
        const user = requireUser(request);
        const content = await app.content.getChangeable(request.params.id, user);
        const bundle = await receiveBundle(app, request, user, content);
        const v1 = (await app.bundles.describe(content, [bundle]))[0]!;
        return { ...v1, id: bundle.id, app_id: content.id, app_guid: content.guid, owner_id: bundle.created_by };
      },
    ),
  );

  const deploy = { summary: 'Deploy a bundle (v0)', params: ApplicationParams, body: ApplicationDeployBody, response: answers({ 200: LegacyTask }) };
  server.post('/__api__/applications/:id/deploy', { schema: deploy }, async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable(request.params.id, user);
    const { bundle, bundle_id, activate } = request.body;
    const task = await deploys.enqueue(user, content, { bundle_id: bundle ?? bundle_id, activate }, 'deploy');
    return legacyTaskJson(task, [], 0);
  });

  server.get('/__api__/applications/:id/config', { schema: { summary: 'Dashboard links (v0)', params: ApplicationParams, response: answers({ 200: ApplicationConfig }) } }, async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible(request.params.id, user);
    const dashboard = contentLinks(app, request).dashboardUrl(content.guid);
    return { config_url: dashboard, logs_url: `${dashboard}/logs` };
  });

  // Long-polls briefly (like v1 `wait=1`) so clients that poll in a tight loop do not spin.
  const task = { summary: 'A task and its output (v0)', params: TaskParams, querystring: LegacyTaskQuery, response: answers({ 200: LegacyTask }) };
  server.get('/__api__/tasks/:id', { schema: task }, async (request) => {
    const user = requireUser(request);
    const { id } = request.params;
    const first = request.query.first_status ?? 0;
    const existing = await app.queue.get(id);
    if (existing.user_id !== user.id && user.user_role !== 'administrator') throw forbidden('You can only read your own tasks.');
    const waited = await app.queue.waitFor(id, first, TASK_WAIT_MS);
    return legacyTaskJson(waited, await app.queue.output(id, first), first);
  });
};
