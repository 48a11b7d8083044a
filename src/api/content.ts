import type { FastifyRequest } from 'fastify';
import { rm } from 'node:fs/promises';
import type { App } from '../app.js';
import { noContent, requireUser } from '../auth/principal.js';
import { contentJson, INCLUDES } from '../content/content.js';
import { contentStates } from '../content/state.js';
import type { Content, User } from '../db/schema.js';
import { runnerFor } from '../execution/runners.js';
import { badRequest, ErrorCode, LecternError } from '../errors.js';
import { contentUrls, publicBase, type RoutePlugin } from '../http/routing.js';
import { apiTime } from '../util/ids.js';

type Include = (typeof INCLUDES)[number];

function parseIncludes(raw: unknown): Set<Include> {
  const out = new Set<Include>();
  if (raw === undefined || raw === '') return out;
  for (const part of String(raw).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!INCLUDES.includes(part as Include)) {
      throw badRequest(`Invalid include "${part}": use any of tags, owner, vanity_url, bookmarked, schedule, state.`, ErrorCode.InvalidInclude);
    }
    out.add(part as Include);
  }
  return out;
}

/** Renders content items with the requested includes, batching the lookups for lists. */
export async function renderContent(app: App, request: FastifyRequest, user: User | null, items: Content[], includes: Set<Include>) {
  const db = app.store.db;
  const ids = items.map((c) => c.id);
  const ownerIds = [...new Set(items.map((c) => c.owner_id))];
  const owners = ownerIds.length
    ? await db.selectFrom('users').select(['id', 'guid', 'username', 'first_name', 'last_name']).where('id', 'in', ownerIds).execute()
    : [];
  const ownerById = new Map(owners.map((o) => [o.id, o]));
  const tagsById = new Map<number, unknown[]>();
  if (includes.has('tags') && ids.length) {
    const rows = await db
      .selectFrom('content_tags')
      .innerJoin('tags', 'tags.id', 'content_tags.tag_id')
      .select(['content_tags.content_id', 'tags.id', 'tags.name', 'tags.parent_id', 'tags.created_time', 'tags.updated_time'])
      .where('content_tags.content_id', 'in', ids)
      .execute();
    for (const r of rows) {
      const list = tagsById.get(r.content_id) ?? [];
      list.push({ id: String(r.id), name: r.name, parent_id: r.parent_id === null ? null : String(r.parent_id), created_time: apiTime(r.created_time), updated_time: apiTime(r.updated_time) });
      tagsById.set(r.content_id, list);
    }
  }
  const vanityById = new Map<number, string>();
  if (includes.has('vanity_url') && ids.length) {
    const rows = await db.selectFrom('vanities').select(['content_id', 'path']).where('content_id', 'in', ids).execute();
    for (const r of rows) vanityById.set(r.content_id, r.path);
  }
  const states = includes.has('state') ? await contentStates(db, items) : null;
  const roles = await app.content.access.roles(user, items);
  const urls = contentUrls(app, request);
  const base = publicBase(app, request);
  return items.map((c) => {
    const owner = ownerById.get(c.owner_id);
    const extra: Record<string, unknown> = { owner_guid: owner?.guid ?? null };
    if (includes.has('owner')) extra.owner = owner ? { guid: owner.guid, username: owner.username, first_name: owner.first_name, last_name: owner.last_name } : null;
    if (includes.has('tags')) extra.tags = tagsById.get(c.id) ?? [];
    if (includes.has('vanity_url')) {
      const vanity = vanityById.get(c.id);
      extra.vanity_url = vanity === undefined ? null : `${base}${vanity.replace(/^\//, '')}`;
    }
    if (includes.has('bookmarked')) extra.bookmarked = false;
    if (states) extra.state = states.get(c.id);
    return contentJson(c, roles.get(c.id) ?? 'none', urls, extra);
  });
}

export async function removeContentFiles(app: App, content: Content) {
  // Its processes go first: they hold files open and would otherwise serve deleted content.
  await app.scheduler.remove(content.id);
  // Builds, renders and other replicas' workers too (in a cluster, their Jobs and pods).
  for (const job of await app.jobs.launcher.list({ contentGuid: content.guid })) await app.jobs.launcher.stop(job.key).catch(() => undefined);
  for (const dir of app.dataDir.contentDirs(content.id)) await rm(dir, { recursive: true, force: true });
}

/**
 * Off-host: a new default_image_name must name an execution environment, and for deployed
 * content it must be able to run the live bundle. Returns the image to rebuild the live bundle
 * in when the change moves it to another image (the environment cache is keyed by image).
 */
async function checkDefaultImage(app: App, content: Content, body: unknown): Promise<string | null> {
  if (!app.execution.offHost || body === null || typeof body !== 'object' || !('default_image_name' in body)) return null;
  const raw = (body as { default_image_name: unknown }).default_image_name;
  const next = raw === '' ? null : raw;
  if ((next !== null && typeof next !== 'string') || next === content.default_image_name) return null;
  if (next !== null && !(await app.environments.findByName(next))) {
    throw new LecternError('invalid', ErrorCode.InvalidParameter, `default_image_name: ${next} is not an execution environment of this server.`, { field: 'default_image_name' });
  }
  if (content.bundle_id === null) return null;
  const bundle = await app.bundles.get(content, content.bundle_id);
  if (runnerFor(app.bundles.manifest(bundle))?.serve === 'static') return null;
  const selection = await app.execution.selectImage({ ...content, default_image_name: next }, bundle);
  if (!selection.ok) throw new LecternError('invalid', ErrorCode.InvalidParameter, `default_image_name: ${selection.error}`, { field: 'default_image_name', rejected: selection.rejected });
  return selection.environment.name === content.image_name ? null : selection.environment.name;
}

export const contentRoutes: RoutePlugin = (server, app) => {
  server.get('/__api__/v1/content', async (request) => {
    const user = requireUser(request);
    const q = request.query as Record<string, string | undefined>;
    const items = await app.content.list(user, { name: q.name, ownerGuid: q.owner_guid });
    return renderContent(app, request, user, items, parseIncludes(q.include));
  });

  server.post('/__api__/v1/content', async (request) => {
    const user = requireUser(request);
    const image = (request.body as { default_image_name?: unknown } | null)?.default_image_name;
    if (app.execution.offHost && typeof image === 'string' && image !== '' && !(await app.environments.findByName(image))) {
      throw new LecternError('invalid', ErrorCode.InvalidParameter, `default_image_name: ${image} is not an execution environment of this server.`, { field: 'default_image_name' });
    }
    const content = await app.content.create(user, request.body);
    await app.audit.record(user, 'add_application', `Created content ${content.guid} (${content.name})`);
    return (await renderContent(app, request, user, [content], new Set()))[0];
  });

  server.get('/__api__/v1/content/:guid', async (request) => {
    const user = requireUser(request);
    const { guid } = request.params as { guid: string };
    const content = await app.content.getVisible(guid, user);
    const q = request.query as Record<string, string | undefined>;
    return (await renderContent(app, request, user, [content], parseIncludes(q.include)))[0];
  });

  server.patch('/__api__/v1/content/:guid', async (request) => {
    const user = requireUser(request);
    const { guid } = request.params as { guid: string };
    const content = await app.content.getEditable(guid, user);
    const rebuildIn = await checkDefaultImage(app, content, request.body);
    const updated = await app.content.update(content, user, request.body);
    // Locking stops the item's processes (nothing serves it while locked); runtime settings
    // (min_processes, timeouts, …) apply to running pools at once.
    if (updated.locked === 1) await app.scheduler.remove(updated.id);
    else await app.scheduler.refresh(updated.id);
    let rebuilt = '';
    if (rebuildIn && updated.bundle_id !== null) {
      const task = await app.queue.enqueue('deploy', { contentId: updated.id, bundleId: updated.bundle_id, userId: user.id, params: { activate: true } });
      rebuilt = `; rebuilding bundle ${updated.bundle_id} in ${rebuildIn} (task ${task.id})`;
    }
    await app.audit.record(user, 'update_application', `Updated content ${content.guid}: ${Object.keys((request.body as object) ?? {}).join(', ')}${rebuilt}`);
    return (await renderContent(app, request, user, [updated], new Set()))[0];
  });

  server.delete('/__api__/v1/content/:guid', async (request, reply) => {
    const user = requireUser(request);
    const { guid } = request.params as { guid: string };
    const content = await app.content.getEditable(guid, user);
    await app.content.delete(content);
    await removeContentFiles(app, content);
    await app.audit.record(user, 'remove_application', `Deleted content ${content.guid} (${content.name})`);
    return noContent(reply);
  });
};
