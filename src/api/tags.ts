import { Type, type Static } from 'typebox';
import { noContent, requireRole, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { ContentTagging, ContentTagParams, NewTag, Tag, TagChanges, TagParams, TagsQuery } from '../contract/tags.js';
import type { Tag as TagRow } from '../db/schema.js';
import { badRequest, ErrorCode, invalidParameter } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { apiTime } from '../util/ids.js';
import { renderContent } from './content.js';

export function tagJson(tag: TagRow): Tag {
  return {
    id: String(tag.id),
    name: tag.name,
    parent_id: tag.parent_id === null ? null : String(tag.parent_id),
    created_time: apiTime(tag.created_time),
    updated_time: apiTime(tag.updated_time),
  };
}

function parseId(raw: string | number, what: string): number {
  const s = typeof raw === 'number' ? String(raw) : raw;
  if (!/^\d+$/.test(s)) throw badRequest(`${what} must be a numeric id.`, ErrorCode.InvalidId);
  return Number(s);
}

/** A parent given as null or "" is no parent: the tag is top-level. */
const parseParent = (raw: string | number | null | undefined): number | null => (raw === undefined || raw === null || raw === '' ? null : parseId(raw, 'parent_id'));

function parseName(raw: string): string {
  if (raw.trim() === '') throw badRequest('The "name" field is required.', ErrorCode.ParameterMissing);
  const name = raw.trim();
  if (name.length > 255) throw invalidParameter('Tag names are at most 255 characters.');
  return name;
}

const tagList = answers({ 200: Type.Array(Tag) });

/** Tags are a server-wide tree; administrators manage it, editors attach tags to their content. */
export const tagRoutes: RoutePlugin = (server, app) => {
  const tags = app.tags;

  server.get('/__api__/v1/tags', { schema: { summary: 'Tags, by name or parent', querystring: TagsQuery, response: tagList } }, async (request) => {
    requireUser(request);
    const q = request.query;
    const filter: { name?: string; parentId?: number | null } = {};
    if (q.name !== undefined && q.name !== '') filter.name = q.name;
    if (q.parent_id !== undefined && q.parent_id !== '') filter.parentId = q.parent_id === 'null' || q.parent_id === '0' ? null : parseId(q.parent_id, 'parent_id');
    return (await tags.list(filter)).map(tagJson);
  });

  server.post('/__api__/v1/tags', { schema: { summary: 'Create a tag (administrators)', body: NewTag, response: answers({ 200: Tag }) } }, async (request) => {
    const user = requireRole(request, 'administrator');
    return tagJson(await tags.create(user, parseName(request.body.name), parseParent(request.body.parent_id)));
  });

  server.get('/__api__/v1/tags/:id', { schema: { summary: 'One tag', params: TagParams, response: answers({ 200: Tag }) } }, async (request) => {
    requireUser(request);
    return tagJson(await tags.get(request.params.id));
  });

  server.patch('/__api__/v1/tags/:id', { schema: { summary: 'Rename or move a tag (administrators)', params: TagParams, body: TagChanges, response: answers({ 200: Tag }) } }, async (request) => {
    const user = requireRole(request, 'administrator');
    const body: Static<typeof TagChanges> = request.body;
    const changes: { name?: string; parentId?: number | null } = {};
    if (body.name !== undefined) changes.name = parseName(body.name);
    if ('parent_id' in body) changes.parentId = parseParent(body.parent_id);
    return tagJson(await tags.update(user, request.params.id, changes));
  });

  server.delete(
    '/__api__/v1/tags/:id',
    { schema: { summary: 'Delete a tag and the tags under it (administrators)', params: TagParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireRole(request, 'administrator');
      await tags.delete(user, request.params.id);
      return noContent(reply);
    },
  );

  // The content items are Connect's v1 Content objects (src/api/content.ts answers them).
  server.get('/__api__/v1/tags/:id/content', { schema: { summary: 'The content items carrying a tag that the caller sees', params: TagParams } }, async (request) => {
    const user = requireUser(request);
    const tagged = await tags.taggedContent(user, request.params.id);
    return renderContent(app, request, user, tagged, new Set());
  });

  server.get('/__api__/v1/content/:guid/tags', { schema: { summary: "A content item's tags", params: ContentGuidParams, response: tagList } }, async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible(request.params.guid, user);
    return (await tags.of(content)).map(tagJson);
  });

  server.post(
    '/__api__/v1/content/:guid/tags',
    { schema: { summary: 'Attach a tag to a content item (editors)', params: ContentGuidParams, body: ContentTagging, response: answers({ 200: Tag }) } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      return tagJson(await tags.attach(user, content, String(request.body.tag_id)));
    },
  );

  server.delete(
    '/__api__/v1/content/:guid/tags/:tagId',
    { schema: { summary: 'Detach a tag from a content item (editors)', params: ContentTagParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      await tags.detach(user, content, request.params.tagId);
      return noContent(reply);
    },
  );
};
