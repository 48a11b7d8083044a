import send from '@fastify/send';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../http/routing.js';
import { htmlPage } from './content-access.js';

/** The built dashboard (Vite writes it to dist/dashboard; same place from src/ under tsx and from dist/). */
export function dashboardDir(): string | null {
  if (process.env.LECTERN_DASHBOARD_DIR) return path.resolve(process.env.LECTERN_DASHBOARD_DIR);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'dist', 'dashboard');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}

// Vite puts a content hash in every asset name, so assets never change under a URL; the page that
// names them must be revalidated on every load so an upgrade is picked up at once.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** The single-page dashboard at /connect/ (dashboard_url is /connect/#/apps/{guid}). */
export const dashboardRoutes: RoutePlugin = (server) => {
  const root = dashboardDir();

  async function serve(request: FastifyRequest, reply: FastifyReply, file: string) {
    if (!root) {
      return reply
        .code(503)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(htmlPage('Dashboard not built', '<h1>The dashboard is not built</h1><p>This Lectern installation has no <code>dist/dashboard</code>: run <code>npm run build</code>. The API at <code>/__api__/</code> works without it.</p>'));
    }
    const result = await send(request.raw, '/' + file, { root, dotfiles: 'deny', index: false, etag: true, lastModified: false, cacheControl: false });
    if (result.type === 'error') {
      return reply.code(404).type('text/plain; charset=utf-8').send(`404 page not found: ${request.url.split('?')[0]}\n`);
    }
    reply.code(result.statusCode);
    for (const [name, value] of Object.entries(result.headers)) reply.header(name, value);
    reply.header('cache-control', file.startsWith('assets/') ? IMMUTABLE : REVALIDATE);
    reply.header('x-content-type-options', 'nosniff');
    if (file === 'index.html') {
      // The dashboard frames content of this server only, and is framed by nobody else.
      reply.header('content-security-policy', "frame-ancestors 'self'");
      reply.header('referrer-policy', 'same-origin');
    }
    return reply.send(result.stream);
  }

  // The router ignores trailing slashes: this route receives both /connect and /connect/.
  server.get('/connect', (request, reply) => {
    const [pathname, search] = request.url.split('?');
    if (pathname === '/connect') return reply.redirect(`/connect/${search === undefined ? '' : `?${search}`}`, 301);
    return serve(request, reply, 'index.html');
  });
  server.get('/connect/*', (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    // Files the build produced are served as they are; any other path is a view of the app.
    if (rest.startsWith('assets/') || /^[\w.-]+\.(?:svg|ico|png|txt|webmanifest)$/.test(rest)) return serve(request, reply, rest);
    return serve(request, reply, 'index.html');
  });
};
