import send from '@fastify/send';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { primaryDocument, type Manifest } from '../bundles/manifest.js';
import { escapeHtml, htmlPage } from './content-access.js';
import type { ContentTarget } from './content-target.js';

/** A file of a static bundle; the root is the manifest's primary document. */
export function serveBundleFile(request: FastifyRequest, reply: FastifyReply, target: ContentTarget, root: string, manifest: Manifest, relative: string) {
  return serveDirectoryFile(request, reply, target, root, relative, primaryDocument(manifest, manifest.files ?? []) ?? 'index.html');
}

/** A file below `root` (GET/HEAD only); directories get their index.html. `target` is the URL it was asked at. */
export async function serveDirectoryFile(request: FastifyRequest, reply: FastifyReply, target: ContentTarget, root: string, relative: string, rootDocument: string) {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return reply.code(405).header('allow', 'GET, HEAD').type('text/plain; charset=utf-8').send('Method not allowed: this content is a set of files.\n');
  }
  // `relative` was resolved by src/serve/content-target.ts, which refuses ".." segments and NUL
  // before anything is looked up; this is the file system's own view of the same rule, checked
  // before any file is looked at so the answer for a path outside the root is the same whatever
  // exists there (a 301 for a directory would tell).
  if (!isInside(root, path.join(root, relative))) {
    return notDeployed(reply, 404, 'Not found', 'This path is not part of this content.');
  }
  let file = relative;
  if (file === '' || file.endsWith('/')) {
    file = file === '' ? rootDocument : path.posix.join(file, 'index.html');
  } else if (await isDirectory(path.join(root, file))) {
    return reply.redirect(`${target.pathname}/`, 301);
  }
  // `file` is decoded; send decodes what it is given, so it gets it encoded again (a file
  // named "100%.html" would otherwise be a malformed escape).
  const encoded = '/' + file.split('/').map(encodeURIComponent).join('/');
  const result = await send(request.raw, encoded, { root, dotfiles: 'allow', index: false, etag: true, lastModified: true });
  if (result.type === 'error') {
    const status = (result.metadata as { error?: { status?: number } }).error?.status ?? 404;
    return notDeployed(reply, status === 404 ? 404 : status, 'Not found', `The file ${escapeHtml(file)} is not part of this content.`);
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
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

export function notDeployed(reply: FastifyReply, status: number, title: string, message: string) {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(htmlPage(title, `<h1>${escapeHtml(title)}</h1><p>${message}</p>`));
}
