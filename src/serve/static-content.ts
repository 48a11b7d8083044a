import send from '@fastify/send';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { primaryDocument, type Manifest } from '../bundles/manifest.js';
import { escapeHtml, htmlPage } from './content-access.js';
import { canonicalUrl } from './content-target.js';

/** A file of a static bundle; the root is the manifest's primary document. */
export function serveBundleFile(request: FastifyRequest, reply: FastifyReply, root: string, manifest: Manifest, relative: string) {
  return serveDirectoryFile(request, reply, root, relative, primaryDocument(manifest, manifest.files ?? []) ?? 'index.html');
}

/** A file below `root` (GET/HEAD only); directories get their index.html. */
export async function serveDirectoryFile(request: FastifyRequest, reply: FastifyReply, root: string, relative: string, rootDocument: string) {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return reply.code(405).header('allow', 'GET, HEAD').type('text/plain; charset=utf-8').send('Method not allowed: this content is a set of files.\n');
  }
  // The path was resolved by src/serve/content-target.ts, which refuses ".." segments; this
  // check, before any file is looked at, keeps the answer for a path outside the root the same
  // whatever exists there (a 301 for a directory would tell).
  if (relative.split('/').includes('..') || relative.includes('\0') || !isInside(root, path.join(root, relative))) {
    return notDeployed(reply, 404, 'Not found', 'This path is not part of this content.');
  }
  let target = relative;
  if (target === '' || target.endsWith('/')) {
    target = target === '' ? rootDocument : path.posix.join(target, 'index.html');
  } else if (await isDirectory(path.join(root, target))) {
    return reply.redirect(`${canonicalUrl(request.url).split('?', 1)[0]}/`, 301);
  }
  // `target` is decoded; send decodes what it is given, so it gets it encoded again (a file
  // named "100%.html" would otherwise be a malformed escape).
  const encoded = '/' + target.split('/').map(encodeURIComponent).join('/');
  const result = await send(request.raw, encoded, { root, dotfiles: 'allow', index: false, etag: true, lastModified: true });
  if (result.type === 'error') {
    const status = (result.metadata as { error?: { status?: number } }).error?.status ?? 404;
    return notDeployed(reply, status === 404 ? 404 : status, 'Not found', `The file ${escapeHtml(target)} is not part of this content.`);
  }
  reply.code(result.statusCode);
  for (const [name, value] of Object.entries(result.headers)) reply.header(name, value);
  return reply.send(result.stream);
}

function isInside(root: string, p: string): boolean {
  const relative = path.relative(root, p);
  return relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

export function notDeployed(reply: FastifyReply, status: number, title: string, message: string) {
  return reply.code(status).type('text/html; charset=utf-8').send(htmlPage(title, `<h1>${escapeHtml(title)}</h1><p>${message}</p>`));
}
