import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { App } from '../app.js';
import { noContent, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { Content as ContentItem, ContentFields, ContentItemQuery, ContentListQuery } from '../contract/content.js';
import { parseIncludes, type ContentLinks, type Include } from '../content/content-views.js';
import type { Content, User } from '../db/schema.js';
import { contentUrls, publicBase, type RoutePlugin } from '../http/routing.js';

/** Where this request's content links point. */
export function contentLinks(app: App, request: FastifyRequest): ContentLinks {
  return { base: publicBase(app, request), ...contentUrls(app, request) };
}

/** Content items as this request's caller sees them (also for the tag and legacy routes). */
export function renderContent(app: App, request: FastifyRequest, user: User | null, items: Content[], includes: Set<Include>) {
  return app.contentViews.render(user, items, includes, contentLinks(app, request));
}

export const contentRoutes: RoutePlugin = (server, app) => {
  const { contentViews: views, contentManagement: management } = app;
  const one = async (request: FastifyRequest, user: User, content: Content, includes = new Set<Include>()) => (await views.render(user, [content], includes, contentLinks(app, request)))[0]!;

  const list = { summary: 'Content the caller may see', querystring: ContentListQuery, response: answers({ 200: Type.Array(ContentItem) }) };
  server.get('/__api__/v1/content', { schema: list }, async (request) => {
    const user = requireUser(request);
    const { name, owner_guid: ownerGuid, include } = request.query;
    const includes = parseIncludes(include);
    return views.render(user, await app.content.list(user, { name, ownerGuid }), includes, contentLinks(app, request));
  });

  server.post('/__api__/v1/content', { schema: { summary: 'Create content', body: ContentFields, response: answers({ 200: ContentItem }) } }, async (request) => {
    const user = requireUser(request);
    return one(request, user, await management.create(user, request.body));
  });

  const read = { summary: 'A content item', params: ContentGuidParams, querystring: ContentItemQuery, response: answers({ 200: ContentItem }) };
  server.get('/__api__/v1/content/:guid', { schema: read }, async (request) => {
    const user = requireUser(request);
    const includes = parseIncludes(request.query.include);
    return one(request, user, await app.content.getVisible(request.params.guid, user), includes);
  });

  const update = { summary: 'Change content', params: ContentGuidParams, body: ContentFields, response: answers({ 200: ContentItem }) };
  server.patch('/__api__/v1/content/:guid', { schema: update }, async (request) => {
    const user = requireUser(request);
    return one(request, user, await management.update(user, request.params.guid, request.body));
  });

  server.delete('/__api__/v1/content/:guid', { schema: { summary: 'Delete content', params: ContentGuidParams, response: answers({ 204: NoContent }) } }, async (request, reply) => {
    await management.delete(requireUser(request), request.params.guid);
    return noContent(reply);
  });
};
