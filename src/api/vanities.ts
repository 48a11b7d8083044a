import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { noContent, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { Vanity, VanityRequest } from '../contract/vanities.js';
import { normalizeVanityPath, type Vanity as VanityRow } from '../content/vanities.js';
import type { RoutePlugin } from '../http/routing.js';
import { serveContent, withRawBodies } from '../serve/content-routes.js';
import { resolveContentTarget } from '../serve/content-target.js';
import { apiTime } from '../util/ids.js';

function vanityJson(v: VanityRow): Vanity {
  return { content_guid: v.content_guid, path: v.path, created_time: apiTime(v.created_time) };
}

/** Vanity URLs of content (the rules are src/content/vanities.ts's). */
export const vanityRoutes: RoutePlugin = (server, app) => {
  const vanities = app.vanities;

  server.get('/__api__/v1/vanities', { schema: { summary: 'Every vanity URL of content the caller sees', response: answers({ 200: Type.Array(Vanity) }) } }, async (request) => {
    const user = requireUser(request);
    return (await vanities.visibleTo(user)).map(vanityJson);
  });

  server.get('/__api__/v1/content/:guid/vanity', { schema: { summary: "A content item's vanity URL", params: ContentGuidParams, response: answers({ 200: Vanity }) } }, async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible(request.params.guid, user);
    return vanityJson(await vanities.of(content));
  });

  server.put(
    '/__api__/v1/content/:guid/vanity',
    { schema: { summary: "Set a content item's vanity URL (editors)", params: ContentGuidParams, body: VanityRequest, response: answers({ 200: Vanity }) } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getChangeable(request.params.guid, user);
      const { path, force } = request.body;
      return vanityJson(await vanities.set(user, content, normalizeVanityPath(path), force === true));
    },
  );

  server.delete(
    '/__api__/v1/content/:guid/vanity',
    { schema: { summary: "Remove a content item's vanity URL (editors)", params: ContentGuidParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireUser(request);
      const content = await app.content.getChangeable(request.params.guid, user);
      await vanities.remove(user, content);
      return noContent(reply);
    },
  );
};

/**
 * Serves content at its vanity path. Registered as the lowest-priority wildcard: the router tries
 * every static and parametric route first, and paths that are no vanity fall through to the
 * server's plain-text 404.
 */
export const vanityServingRoutes: RoutePlugin = (server, app) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const target = await resolveContentTarget(app, request.url);
    if (!target) return reply.callNotFound();
    return serveContent(app, request, reply, target);
  };
  // Content answers every method (APIs take POST, PUT, …); bodies stream through unread.
  return withRawBodies(server, (scope) => scope.all('/*', handler));
};
