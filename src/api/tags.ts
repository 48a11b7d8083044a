import { noContent, requireRole, requireUser } from '../auth/principal.js';
import type { Tag } from '../db/schema.js';
import { badRequest, ErrorCode, invalidParameter } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';
import { apiTime } from '../util/ids.js';
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

/** A parent given as null or "" is no parent: the tag is top-level. */
const parseParent = (raw: unknown): number | null => (raw === undefined || raw === null || raw === '' ? null : parseId(raw, 'parent_id'));

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

/** Tags are a server-wide tree; administrators manage it, editors attach tags to their content. */
export const tagRoutes: RoutePlugin = (server, app) => {
  const tags = app.tags;

  server.get('/__api__/v1/tags', async (request) => {
    requireUser(request);
    const q = request.query as Record<string, string | undefined>;
    const filter: { name?: string; parentId?: number | null } = {};
    if (q.name !== undefined && q.name !== '') filter.name = q.name;
    if (q.parent_id !== undefined && q.parent_id !== '') filter.parentId = q.parent_id === 'null' || q.parent_id === '0' ? null : parseId(q.parent_id, 'parent_id');
    return (await tags.list(filter)).map(tagJson);
  });

  server.post('/__api__/v1/tags', async (request) => {
    const user = requireRole(request, 'administrator');
    const body = objectBody(request.body);
    const name = parseName(body.name);
    return tagJson(await tags.create(user, name, parseParent(body.parent_id)));
  });

  server.get('/__api__/v1/tags/:id', async (request) => {
    requireUser(request);
    return tagJson(await tags.get((request.params as { id: string }).id));
  });

  server.patch('/__api__/v1/tags/:id', async (request) => {
    const user = requireRole(request, 'administrator');
    const body = objectBody(request.body);
    const changes: { name?: string; parentId?: number | null } = {};
    if (body.name !== undefined) changes.name = parseName(body.name);
    if ('parent_id' in body) changes.parentId = parseParent(body.parent_id);
    return tagJson(await tags.update(user, (request.params as { id: string }).id, changes));
  });

  server.delete('/__api__/v1/tags/:id', async (request, reply) => {
    const user = requireRole(request, 'administrator');
    await tags.delete(user, (request.params as { id: string }).id);
    return noContent(reply);
  });

  server.get('/__api__/v1/tags/:id/content', async (request) => {
    const user = requireUser(request);
    const tagged = await tags.taggedContent(user, (request.params as { id: string }).id);
    return renderContent(app, request, user, tagged, new Set());
  });

  server.get('/__api__/v1/content/:guid/tags', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible((request.params as { guid: string }).guid, user);
    return (await tags.of(content)).map(tagJson);
  });

  server.post('/__api__/v1/content/:guid/tags', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    const body = objectBody(request.body);
    if (body.tag_id === undefined || body.tag_id === null) throw badRequest('The "tag_id" field is required.', ErrorCode.ParameterMissing);
    return tagJson(await tags.attach(user, content, String(body.tag_id)));
  });

  server.delete('/__api__/v1/content/:guid/tags/:tagId', async (request, reply) => {
    const user = requireUser(request);
    const { guid, tagId } = request.params as { guid: string; tagId: string };
    const content = await app.content.getEditable(guid, user);
    await tags.detach(user, content, tagId);
    return noContent(reply);
  });
};
