import type { App } from '../app.js';
import { noContent, requireRole, requireUser } from '../auth/principal.js';
import type { Tag } from '../db/schema.js';
import { badRequest, conflict, ErrorCode, invalidParameter, notFound } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { apiTime, nowIso } from '../util/ids.js';
import { renderContent } from './content.js';

export function tagJson(tag: Tag) {
  return {
    id: String(tag.id),
    name: tag.name,
    parent_id: tag.parent_id === null ? null : String(tag.parent_id),
    created_time: apiTime(tag.created_time),
    updated_time: apiTime(tag.updated_time),
  };
}

function parseId(raw: unknown, what: string): number {
  const s = typeof raw === 'number' ? String(raw) : raw;
  if (typeof s !== 'string' || !/^\d+$/.test(s)) throw badRequest(`${what} must be a numeric id.`, ErrorCode.InvalidId);
  return Number(s);
}

async function getTag(app: App, raw: string): Promise<Tag> {
  const tag = /^\d+$/.test(raw) ? await app.store.db.selectFrom('tags').selectAll().where('id', '=', Number(raw)).executeTakeFirst() : undefined;
  if (!tag) throw notFound(`Tag ${raw} does not exist.`);
  return tag;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.CannotParseRequestBody);
  return body as Record<string, unknown>;
}

function parseName(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw badRequest('The "name" field is required.', ErrorCode.ParameterMissing);
  const name = raw.trim();
  if (name.length > 255) throw invalidParameter('Tag names are at most 255 characters.');
  return name;
}

async function requireUniqueSibling(app: App, name: string, parentId: number | null, exceptId?: number) {
  let q = app.store.db.selectFrom('tags').select('id').where('name', '=', name);
  q = parentId === null ? q.where('parent_id', 'is', null) : q.where('parent_id', '=', parentId);
  if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
  if (await q.executeTakeFirst()) throw conflict(`A tag named "${name}" already exists under this parent.`, ErrorCode.DuplicateName);
}

/** Parent must exist and, when moving a tag, must not be the tag itself or one of its descendants. */
async function checkParent(app: App, parentId: number | null, movingId?: number) {
  if (parentId === null) return;
  const db = app.store.db;
  let cursor: number | null = parentId;
  for (let depth = 0; cursor !== null && depth < 1000; depth++) {
    if (cursor === movingId) throw invalidParameter('A tag cannot be moved under itself or one of its descendants.');
    const row: { parent_id: number | null } | undefined = await db.selectFrom('tags').select('parent_id').where('id', '=', cursor).executeTakeFirst();
    if (!row) {
      if (cursor === parentId) throw invalidParameter(`Parent tag ${parentId} does not exist.`);
      break;
    }
    cursor = row.parent_id;
  }
}

/** Tags are a server-wide tree; administrators manage it, editors attach tags to their content. */
export const tagRoutes: RoutePlugin = (server, app) => {
  const db = app.store.db;

  server.get('/__api__/v1/tags', async (request) => {
    requireUser(request);
    const q = request.query as Record<string, string | undefined>;
    let query = db.selectFrom('tags').selectAll();
    if (q.name !== undefined && q.name !== '') query = query.where('name', '=', q.name);
    if (q.parent_id !== undefined && q.parent_id !== '') {
      query = q.parent_id === 'null' || q.parent_id === '0' ? query.where('parent_id', 'is', null) : query.where('parent_id', '=', parseId(q.parent_id, 'parent_id'));
    }
    return (await query.orderBy('id').execute()).map(tagJson);
  });

  server.post('/__api__/v1/tags', async (request) => {
    const user = requireRole(request, 'administrator');
    const body = objectBody(request.body);
    const name = parseName(body.name);
    const parentId = body.parent_id === undefined || body.parent_id === null || body.parent_id === '' ? null : parseId(body.parent_id, 'parent_id');
    await checkParent(app, parentId);
    await requireUniqueSibling(app, name, parentId);
    const now = nowIso();
    const tag = await db.insertInto('tags').values({ name, parent_id: parentId, created_time: now, updated_time: now }).returningAll().executeTakeFirstOrThrow();
    await app.audit.record(user, 'add_tag', `Created tag ${tag.id} (${name})`);
    return tagJson(tag);
  });

  server.get('/__api__/v1/tags/:id', async (request) => {
    requireUser(request);
    return tagJson(await getTag(app, (request.params as { id: string }).id));
  });

  server.patch('/__api__/v1/tags/:id', async (request) => {
    const user = requireRole(request, 'administrator');
    const tag = await getTag(app, (request.params as { id: string }).id);
    const body = objectBody(request.body);
    const name = body.name === undefined ? tag.name : parseName(body.name);
    let parentId = tag.parent_id;
    if ('parent_id' in body) parentId = body.parent_id === null || body.parent_id === '' ? null : parseId(body.parent_id, 'parent_id');
    if (parentId !== tag.parent_id) await checkParent(app, parentId, tag.id);
    if (name !== tag.name || parentId !== tag.parent_id) await requireUniqueSibling(app, name, parentId, tag.id);
    const updated = await db
      .updateTable('tags')
      .set({ name, parent_id: parentId, updated_time: nowIso() })
      .where('id', '=', tag.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await app.audit.record(user, 'update_tag', `Updated tag ${tag.id} (${name})`);
    return tagJson(updated);
  });

  server.delete('/__api__/v1/tags/:id', async (request, reply) => {
    const user = requireRole(request, 'administrator');
    const tag = await getTag(app, (request.params as { id: string }).id);
    // Children go too (ON DELETE CASCADE; SQLite foreign keys may be off, so delete the subtree explicitly).
    const ids = [tag.id];
    for (let i = 0; i < ids.length; i++) {
      const children = await db.selectFrom('tags').select('id').where('parent_id', '=', ids[i]!).execute();
      ids.push(...children.map((c) => c.id));
    }
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('content_tags').where('tag_id', 'in', ids).execute();
      for (const id of ids.reverse()) await trx.deleteFrom('tags').where('id', '=', id).execute();
    });
    await app.audit.record(user, 'remove_tag', `Deleted tag ${tag.id} (${tag.name})`);
    return noContent(reply);
  });

  server.get('/__api__/v1/tags/:id/content', async (request) => {
    const user = requireUser(request);
    const tag = await getTag(app, (request.params as { id: string }).id);
    const visible = await app.content.list(user, {});
    const tagged = new Set(
      (await db.selectFrom('content_tags').select('content_id').where('tag_id', '=', tag.id).execute()).map((r) => r.content_id),
    );
    return renderContent(app, request, user, visible.filter((c) => tagged.has(c.id)), new Set());
  });

  server.get('/__api__/v1/content/:guid/tags', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible((request.params as { guid: string }).guid, user);
    const tags = await db
      .selectFrom('tags')
      .selectAll('tags')
      .where('id', 'in', db.selectFrom('content_tags').select('tag_id').where('content_id', '=', content.id))
      .orderBy('id')
      .execute();
    return tags.map(tagJson);
  });

  server.post('/__api__/v1/content/:guid/tags', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    const body = objectBody(request.body);
    if (body.tag_id === undefined || body.tag_id === null) throw badRequest('The "tag_id" field is required.', ErrorCode.ParameterMissing);
    const tag = await getTag(app, String(body.tag_id));
    const exists = await db.selectFrom('content_tags').select('tag_id').where('content_id', '=', content.id).where('tag_id', '=', tag.id).executeTakeFirst();
    if (!exists) {
      await db
        .insertInto('content_tags')
        .values({ content_id: content.id, tag_id: tag.id })
        .onConflict((oc) => oc.columns(['content_id', 'tag_id']).doNothing())
        .execute();
      await app.audit.record(user, 'add_content_tag', `Tagged ${content.guid} with ${tag.id} (${tag.name})`);
    }
    return tagJson(tag);
  });

  server.delete('/__api__/v1/content/:guid/tags/:tagId', async (request, reply) => {
    const user = requireUser(request);
    const { guid, tagId } = request.params as { guid: string; tagId: string };
    const content = await app.content.getEditable(guid, user);
    const tag = await getTag(app, tagId);
    const result = await db.deleteFrom('content_tags').where('content_id', '=', content.id).where('tag_id', '=', tag.id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound(`Content ${content.guid} is not tagged with ${tag.id}.`);
    await app.audit.record(user, 'remove_content_tag', `Removed tag ${tag.id} (${tag.name}) from ${content.guid}`);
    return noContent(reply);
  });
};

