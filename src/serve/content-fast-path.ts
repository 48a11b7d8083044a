import type { FastifyBaseLogger } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App } from '../app.js';
import { resolvePrincipal } from '../auth/principal.js';
import { appModeKind } from '../content/app-modes.js';
import { GUID_PATTERN } from '../util/ids.js';
import type { ContentProxy } from './proxy.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface FastPathTools {
  parseCookie(header: string): Record<string, string | undefined>;
  /** Fastify's logger: proxied requests are logged as Fastify logs the others. */
  log(): FastifyBaseLogger;
}

/** /content/{36-character guid}/… — the bare /content/{guid} (a redirect) is Fastify's. */
const CONTENT_PATH = /^\/content\/([0-9A-Fa-f-]{36})\//;

/**
 * The front door for requests a worker answers: /content/{guid}/… of running content that the
 * caller may view goes straight to the proxy. Fastify's routing, hooks and reply machinery cost
 * more per request than the proxying itself (bench/RESULTS.md). Every other request, and every
 * other outcome (not found, no access, a redirect, a draft, static or rendered content, a
 * shutting-down server, an unexpected error), goes on to Fastify untouched, which answers it as
 * it always has: the same checks decide both ways (`serveContent`), only the cost differs.
 */
export function contentFastPath(app: App, proxy: ContentProxy, tools: FastPathTools, fastify: Handler) {
  let closing = false;
  const handler: Handler = (req, res) => {
    const match = closing ? null : CONTENT_PATH.exec(req.url ?? '');
    if (!match || !GUID_PATTERN.test(match[1]!)) return fastify(req, res);
    const started = performance.now();
    serveIfProxied(app, proxy, tools.parseCookie, req, res, match[1]!, match[0].slice(0, -1)).then(
      (served) => {
        if (!served) return fastify(req, res);
        const log = tools.log() as FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
        if (!log.isLevelEnabled?.('info')) return;
        if (res.writableFinished) logCompleted(log, req, res, started);
        else res.once('finish', () => logCompleted(log, req, res, started));
      },
      () => {
        // Fastify repeats the work and answers the error in Connect's format.
        if (!res.headersSent) fastify(req, res);
        else res.destroy();
      },
    );
  };
  return {
    handler,
    close() {
      closing = true;
    },
  };
}

/** Fastify's "request completed" line, for the requests it did not see. */
function logCompleted(log: FastifyBaseLogger, req: IncomingMessage, res: ServerResponse, started: number) {
  log.info(
    {
      req: { method: req.method, url: req.url, host: req.headers.host, remoteAddress: req.socket.remoteAddress, remotePort: req.socket.remotePort },
      res: { statusCode: res.statusCode },
      responseTime: performance.now() - started,
    },
    'request completed',
  );
}

async function serveIfProxied(
  app: App,
  proxy: ContentProxy,
  parseCookie: (header: string) => Record<string, string | undefined>,
  req: IncomingMessage,
  res: ServerResponse,
  guid: string,
  prefix: string,
): Promise<boolean> {
  // Drafts (/_bundle{id}/, perhaps percent-encoded) are editors' previews, served as files.
  const below = req.url!.slice(prefix.length);
  if (below.startsWith('/_bundle') || below.startsWith('/%')) return false;
  const cookies = req.headers.cookie ? parseCookie(req.headers.cookie) : undefined;
  const principal = await resolvePrincipal({ headers: req.headers, cookies }, app.users);
  if (principal.kind === 'invalid') return false;
  const user = principal.kind === 'user' ? principal.user : null;
  const content = await app.content.find(guid);
  if (!content || content.bundle_id === null || content.locked === 1 || appModeKind(content.app_mode) !== 'interactive') return false;
  if (!(await app.content.access.canView(user, content))) return false;
  await proxy.serve(req, res, content, prefix, user);
  return true;
}
