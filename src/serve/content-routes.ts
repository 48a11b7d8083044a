import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import type { Bundle } from '../db/schema.js';
import { ErrorCode } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { denyContent, escapeHtml } from './content-access.js';
import { admitContentRequest } from './content-admission.js';
import { directContentTarget, type ContentTarget } from './content-target.js';
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
 * Serves one content item at `target` (src/serve/content-target.ts) with Fastify's reply: what it
 * gets was decided by `admitContentRequest`, the decision every entry to content shares; here it
 * is only put into HTTP (and files are looked up).
 */
export async function serveContent(app: App, request: FastifyRequest, reply: FastifyReply, target: ContentTarget) {
  const admission = await admitContentRequest(app, target, request.principal);
  switch (admission.outcome) {
    case 'refused':
      return reply.code(400).send({ code: ErrorCode.BadRequest, error: admission.message, payload: null });
    case 'no-content':
      return notDeployed(reply, 404, 'Content not found', 'There is no content at this address.');
    case 'bad-credentials':
      return reply.code(401).send({ code: 30, error: admission.reason, payload: null });
    case 'denied':
      return denyContent(request, reply, admission.signedIn);
    case 'redirect':
      return reply.redirect(admission.location, 301);
    case 'locked':
      return notDeployed(reply, 403, 'Content locked', escapeHtml(admission.message));
    case 'not-deployed':
      return notDeployed(reply, 404, 'Not deployed yet', 'This content has no active bundle yet. Deploy a bundle to publish it.');
    case 'worker':
      // The proxy writes the response itself, streaming; Fastify's reply is not used.
      reply.hijack();
      return request.server.contentProxy.serve(request.raw, reply.raw, admission, target);
    case 'draft': {
      const { content, bundleId, below } = admission;
      const bundle = await app.store.db.selectFrom('bundles').selectAll().where('content_id', '=', content.id).where('id', '=', bundleId).executeTakeFirst();
      if (!bundle) return notDeployed(reply, 404, 'Bundle not found', `Bundle ${bundleId} does not exist for this content.`);
      if (below === undefined && !target.pathname.endsWith('/')) return reply.redirect(`${target.pathname}/`, 301);
      return serveBundle(app, request, reply, target, bundle, below ?? '');
    }
    case 'rendering': {
      const { content, renderId, below } = admission;
      const row = await app.store.db.selectFrom('renders').select('id').where('content_id', '=', content.id).where('id', '=', renderId).where('state', '=', 'succeeded').executeTakeFirst();
      if (!row) return notDeployed(reply, 404, 'Rendering not found', `Rendering ${renderId} does not exist for this content or did not succeed.`);
      if (below === undefined && !target.pathname.endsWith('/')) return reply.redirect(`${target.pathname}/`, 301);
      return serveDirectoryFile(request, reply, target, app.dataDir.renderDir(content.id, row.id), below ?? '', 'index.html');
    }
    case 'files': {
      const { content } = admission;
      app.usage.hit(content, request.principal.kind === 'user' ? request.principal.user : null, request.method, target.path, request.headers);
      if (admission.kind === 'rendered') {
        if (content.render_id === null) return notDeployed(reply, 404, 'Not rendered yet', 'This document has not been rendered yet.');
        return serveDirectoryFile(request, reply, target, app.dataDir.renderDir(content.id, content.render_id), target.rest, 'index.html');
      }
      const bundle = await app.store.db.selectFrom('bundles').selectAll().where('id', '=', content.bundle_id!).executeTakeFirst();
      if (!bundle) return notDeployed(reply, 404, 'Not deployed yet', 'This content has no active bundle yet. Deploy a bundle to publish it.');
      return serveBundle(app, request, reply, target, bundle, target.rest);
    }
  }
}

function serveBundle(app: App, request: FastifyRequest, reply: FastifyReply, target: ContentTarget, bundle: Bundle, relative: string) {
  const manifest = app.bundles.manifest(bundle);
  if (manifest.appMode !== 'static') {
    return notDeployed(reply, 404, 'No preview', `Drafts of ${escapeHtml(manifest.appMode)} content cannot be previewed; deploy them to see them.`);
  }
  return serveBundleFile(request, reply, target, app.bundles.appDir(bundle), manifest, relative);
}
