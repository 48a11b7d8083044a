import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import { appModeKind } from '../content/app-modes.js';
import type { Bundle } from '../db/schema.js';
import { ErrorCode } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { denyContent, escapeHtml } from './content-access.js';
import { canonicalUrl, directContentTarget, type ContentTarget } from './content-target.js';
import { notDeployed, serveBundleFile, serveDirectoryFile } from './static-content.js';

/**
 * /content/{guid}/… : static files, rendered output, or a proxied worker, by the content's type.
 * Drafts of static content are served at /content/{guid}/_bundle{id}/ to editors, earlier
 * renderings of documents at /content/{guid}/_rendering{id}/.
 */
export const contentRoutes: RoutePlugin = (server, app) =>
  withRawBodies(server, (scope) => {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const target = directContentTarget(request.url);
      if (!target) return notDeployed(reply, 404, 'Content not found', 'There is no content at this address.');
      return serveContent(app, request, reply, target);
    };
    scope.all('/content/:guid', handler);
    scope.all('/content/:guid/*', handler);
  });

/**
 * Registers routes whose request bodies must reach content byte for byte: no parser touches them.
 */
export async function withRawBodies(server: FastifyInstance, register: (scope: FastifyInstance) => void) {
  await server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // The body stays the raw stream; the proxy pipes it to the worker.
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    register(scope);
  });
}

/**
 * Serves one content item at `target` (src/serve/content-target.ts: its prefix, the path below
 * it, and whether that path is refused). Refused paths are answered before anything is looked
 * up; access is checked before any file or worker is touched.
 */
export async function serveContent(app: App, request: FastifyRequest, reply: FastifyReply, target: ContentTarget) {
  if (target.refused) return reply.code(400).send({ code: ErrorCode.BadRequest, error: target.refused, payload: null });
  const content = await app.content.find(target.guid);
  if (!content) return notDeployed(reply, 404, 'Content not found', 'There is no content at this address.');
  if (request.principal.kind === 'invalid') return reply.code(401).send({ code: 30, error: request.principal.reason, payload: null });
  const user = request.principal.kind === 'user' ? request.principal.user : null;
  if (!(await app.content.access.canView(user, content))) return denyContent(request, reply, user !== null);

  // Redirect /content/{guid} to /content/{guid}/ so relative links in the content resolve.
  const url = canonicalUrl(request.url);
  const pathname = url.split('?', 1)[0]!;
  if (target.path === '') return reply.redirect(`${target.prefix}/${url.slice(pathname.length)}`, 301);
  const rest = target.rest;

  // Locked content runs nothing and shows its lock message instead (as Connect does).
  if (content.locked === 1) return notDeployed(reply, 403, 'Content locked', escapeHtml(content.locked_message || 'This content has been locked by its owner or an administrator.'));

  const draft = /^_bundle(\d+)(?:\/(.*))?$/.exec(rest);
  if (draft) {
    // Drafts are for the people who can change the content.
    if (!user || !(await app.content.access.canEdit(user, content))) return denyContent(request, reply, user !== null);
    const bundle = await app.store.db.selectFrom('bundles').selectAll().where('content_id', '=', content.id).where('id', '=', Number(draft[1])).executeTakeFirst();
    if (!bundle) return notDeployed(reply, 404, 'Bundle not found', `Bundle ${escapeHtml(draft[1]!)} does not exist for this content.`);
    if (draft[2] === undefined && !pathname.endsWith('/')) return reply.redirect(`${pathname}/`, 301);
    return serveBundle(app, request, reply, bundle, draft[2] ?? '');
  }
  // Earlier renderings of a document stay viewable by its editors (the dashboard's render history).
  const rendering = /^_rendering(\d+)(?:\/(.*))?$/.exec(rest);
  if (rendering) {
    if (!user || !(await app.content.access.canEdit(user, content))) return denyContent(request, reply, user !== null);
    const row = await app.store.db.selectFrom('renders').select('id').where('content_id', '=', content.id).where('id', '=', Number(rendering[1])).where('state', '=', 'succeeded').executeTakeFirst();
    if (!row) return notDeployed(reply, 404, 'Rendering not found', `Rendering ${escapeHtml(rendering[1]!)} does not exist for this content or did not succeed.`);
    if (rendering[2] === undefined && !pathname.endsWith('/')) return reply.redirect(`${pathname}/`, 301);
    return serveDirectoryFile(request, reply, app.dataDir.renderDir(content.id, row.id), rendering[2] ?? '', 'index.html');
  }
  if (content.bundle_id === null) return notDeployed(reply, 404, 'Not deployed yet', 'This content has no active bundle yet. Deploy a bundle to publish it.');

  switch (appModeKind(content.app_mode)) {
    case 'interactive':
      // The proxy writes the response itself, streaming; Fastify's reply is not used.
      reply.hijack();
      return request.server.contentProxy.serve(request.raw, reply.raw, content, target, user);
    case 'rendered': {
      if (content.render_id === null) return notDeployed(reply, 404, 'Not rendered yet', 'This document has not been rendered yet.');
      return serveDirectoryFile(request, reply, app.dataDir.renderDir(content.id, content.render_id), rest, 'index.html');
    }
    default: {
      const bundle = await app.store.db.selectFrom('bundles').selectAll().where('id', '=', content.bundle_id).executeTakeFirst();
      if (!bundle) return notDeployed(reply, 404, 'Not deployed yet', 'This content has no active bundle yet. Deploy a bundle to publish it.');
      return serveBundle(app, request, reply, bundle, rest);
    }
  }
}

function serveBundle(app: App, request: FastifyRequest, reply: FastifyReply, bundle: Bundle, relative: string) {
  const manifest = app.bundles.manifest(bundle);
  if (manifest.appMode !== 'static') {
    return notDeployed(reply, 404, 'No preview', `Drafts of ${escapeHtml(manifest.appMode)} content cannot be previewed; deploy them to see them.`);
  }
  return serveBundleFile(request, reply, app.bundles.appDir(bundle), manifest, relative);
}
