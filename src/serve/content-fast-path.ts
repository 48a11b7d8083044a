import type { FastifyBaseLogger } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App } from '../app.js';
import { resolvePrincipal } from '../auth/principal.js';
import { requestFields } from '../logging/request-log.js';
import { admitContentRequest } from './content-admission.js';
import type { ContentProxy } from './proxy.js';
import { directContentTarget, type ContentTarget } from './content-target.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface FastPathTools {
  parseCookie(header: string): Record<string, string | undefined>;
  /** Fastify's logger: proxied requests are logged as Fastify logs the others. */
  log(): FastifyBaseLogger;
}

/**
 * The front door for requests a worker answers: /content/{guid}/… of running content that the
 * caller may view goes straight to the proxy. Fastify's routing, hooks and reply machinery cost
 * more per request than the proxying itself (bench/RESULTS.md). Every other request, and every
 * other outcome (not found, no access, a redirect, a draft, static or rendered content, a
 * refused path, a shutting-down server, an unexpected error), goes on to Fastify untouched,
 * which answers it as it always has: the same decision (`admitContentRequest`) is made both
 * ways, only the cost differs.
 *
 * Nothing thrown here may reach the event loop: one request must never end the process.
 */
export function contentFastPath(app: App, proxy: ContentProxy, tools: FastPathTools, fastify: Handler) {
  let closing = false;
  const handOver = (req: IncomingMessage, res: ServerResponse) => {
    try {
      if (!res.headersSent && !res.destroyed) fastify(req, res);
    } catch (err) {
      tools.log().error({ err }, 'request handler failed');
      res.destroy();
    }
  };
  const handler: Handler = (req, res) => {
    let target: ContentTarget | undefined;
    try {
      target = closing ? undefined : directContentTarget(req.url ?? '');
    } catch (err) {
      tools.log().error({ err }, 'request handler failed');
    }
    // Refusals and the bare-prefix redirect need no lookup to know Fastify answers them.
    if (!target || target.path === '' || target.refused) return handOver(req, res);
    const started = performance.now();
    // Read now: once the response is finished Node may have detached the socket from the request.
    const remoteAddress = req.socket?.remoteAddress;
    serveIfProxied(app, proxy, tools.parseCookie, req, res, target)
      .then(
        (served) => {
          if (!served) return handOver(req, res);
          // Fastify logs the requests it serves at info; proxied content requests are the hot
          // path (every asset, every API call) and are logged once, at debug.
          const log = tools.log() as FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
          if (!log.isLevelEnabled?.('debug')) return;
          const completed = () => {
            try {
              log.debug(requestFields({ method: req.method, url: req.url, remoteAddress }, res.statusCode, performance.now() - started), 'request');
            } catch {
              // A log line is not worth a request, let alone the process.
            }
          };
          if (res.writableFinished) completed();
          else res.once('finish', completed);
        },
        () => {
          // Fastify repeats the work and answers the error in Connect's format.
          if (!res.headersSent) handOver(req, res);
          else res.destroy();
        },
      )
      .catch((err: unknown) => {
        tools.log().error({ err }, 'request handler failed');
        res.destroy();
      });
  };
  return {
    handler,
    close() {
      closing = true;
    },
  };
}

async function serveIfProxied(
  app: App,
  proxy: ContentProxy,
  parseCookie: (header: string) => Record<string, string | undefined>,
  req: IncomingMessage,
  res: ServerResponse,
  target: ContentTarget,
): Promise<boolean> {
  const cookies = req.headers.cookie ? parseCookie(req.headers.cookie) : undefined;
  const principal = await resolvePrincipal({ headers: req.headers, cookies }, app.users);
  // The decision every entry shares; only a worker is served here, Fastify answers the rest.
  const admission = await admitContentRequest(app, target, principal);
  if (admission.outcome !== 'worker') return false;
  await proxy.serve(req, res, admission, target);
  return true;
}
