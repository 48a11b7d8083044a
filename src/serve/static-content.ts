import send from '@fastify/send';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import { primaryDocument } from '../bundles/manifest.js';
import type { Bundle } from '../db/schema.js';
import type { RoutePlugin } from '../http/server.js';
import { denyContent, escapeHtml, htmlPage } from './content-access.js';

/**
 * Serves deployed content at /content/{guid}/ and drafts at /content/{guid}/_bundle{id}/.
 * Access is checked before any file is touched.
 */
export const staticContentRoutes: RoutePlugin = (server, app) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const { guid } = request.params as { guid: string };
    const rest = (request.params as { '*'?: string })['*'] ?? '';
    return serveContent(app, request, reply, guid, rest);
  };
  server.get('/content/:guid', handler);
  server.get('/content/:guid/*', handler);
};

/**
 * Serves one content item's files: `rest` is the (decoded) path below the content's root, as in
 * /content/{guid}/{rest} or {vanity path}{rest}. Redirects a root without its trailing slash.
 */
export async function serveContent(app: App, request: FastifyRequest, reply: FastifyReply, guid: string, rest: string) {
  const content = await app.content.find(guid);
  if (!content) return notDeployed(reply, 404, 'Content not found', 'There is no content at this address.');
  if (request.principal.kind === 'invalid') return reply.code(401).send({ code: 30, error: request.principal.reason, payload: null });
  const user = request.principal.kind === 'user' ? request.principal.user : null;
  if (!(await app.content.access.canView(user, content))) return denyContent(request, reply, user !== null);

  // Redirect /content/{guid} to /content/{guid}/ so relative links in the content resolve.
  const pathname = request.url.split('?')[0]!;
  if (rest === '' && !pathname.endsWith('/')) return reply.redirect(`${pathname}/${request.url.slice(pathname.length)}`, 301);

  let bundle: Bundle | undefined;
  let relative = rest;
  const draft = /^_bundle(\d+)(?:\/(.*))?$/.exec(rest);
  if (draft) {
    // Drafts are for the people who can change the content.
    if (!user || !(await app.content.access.canEdit(user, content))) return denyContent(request, reply, user !== null);
    bundle = await app.store.db.selectFrom('bundles').selectAll().where('content_id', '=', content.id).where('id', '=', Number(draft[1])).executeTakeFirst();
    if (!bundle) return notDeployed(reply, 404, 'Bundle not found', `Bundle ${escapeHtml(draft[1]!)} does not exist for this content.`);
    if (draft[2] === undefined && !pathname.endsWith('/')) return reply.redirect(`${pathname}/`, 301);
    relative = draft[2] ?? '';
  } else if (content.bundle_id !== null) {
    bundle = await app.store.db.selectFrom('bundles').selectAll().where('id', '=', content.bundle_id).executeTakeFirst();
  }
  if (!bundle) return notDeployed(reply, 404, 'Not deployed yet', 'This content has no active bundle yet. Deploy a bundle to publish it.');
  return serveBundleFile(app, request, reply, bundle, relative);
}

async function serveBundleFile(app: App, request: FastifyRequest, reply: FastifyReply, bundle: Bundle, relative: string) {
  const root = app.bundles.appDir(bundle);
  const manifest = app.bundles.manifest(bundle);
  if (manifest.appMode !== 'static') {
    return notDeployed(reply, 503, 'Content cannot run', `This ${escapeHtml(manifest.appMode)} content cannot run on this server yet.`);
  }
  let target = decodeURIComponent(relative);
  if (target === '' || target.endsWith('/')) {
    if (target === '') {
      const primary = primaryDocument(manifest, manifest.files ?? []);
      target = primary ?? 'index.html';
    } else {
      target = path.posix.join(target, 'index.html');
    }
  } else if (await isDirectory(path.join(root, target))) {
    return reply.redirect(`${request.url.split('?')[0]}/`, 301);
  }
  const result = await send(request.raw, '/' + target, { root, dotfiles: 'allow', index: false, etag: true, lastModified: true });
  if (result.type === 'error') {
    const status = (result.metadata as { error?: { status?: number } }).error?.status ?? 404;
    return notDeployed(reply, status === 404 ? 404 : status, 'Not found', `The file ${escapeHtml(target)} is not part of this content.`);
  }
  reply.code(result.statusCode);
  for (const [name, value] of Object.entries(result.headers)) reply.header(name, value);
  return reply.send(result.stream);
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

function notDeployed(reply: FastifyReply, status: number, title: string, message: string) {
  return reply.code(status).type('text/html; charset=utf-8').send(htmlPage(title, `<h1>${escapeHtml(title)}</h1><p>${message}</p>`));
}
