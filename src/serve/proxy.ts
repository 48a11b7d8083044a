import type { FastifyBaseLogger } from 'fastify';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import type { App } from '../app.js';
import type { ContentCredentials } from '../auth/content-credentials.js';
import { SESSION_COOKIE } from '../auth/principal.js';
import type { Content, User } from '../db/schema.js';
import { ErrorCode } from '../errors.js';
import { trustedProxies, type TrustedProxies } from '../http/trusted-proxy.js';
import { EnvironmentRebuilding, WorkerUnavailable } from '../scheduler/pool.js';
import { escapeHtml, htmlPage } from './content-access.js';
import type { WorkerAdmission } from './content-admission.js';
import type { ContentTarget } from './content-target.js';
import { guardedBy } from '../util/guarded.js';

/** Headers only Lectern may set: a client's copies are dropped before the request reaches content. */
const TRUSTED_HEADERS = new Set(['rstudio-connect-credentials', 'rstudio-connect-credentials-signature', 'posit-connect-user-session-token', 'x-rsc-request', 'x-forwarded-prefix']);
/**
 * The visitor's own credentials for Lectern stay with Lectern: content that could read them could
 * act as its visitor without limit (a publisher collecting an administrator's key). Every
 * Authorization header that gets this far is one (Lectern answers 401 to any other scheme), and
 * the session cookie is taken out of Cookie below. Content that must act as its visitor exchanges
 * the Posit-Connect-User-Session-Token for a short-lived key (docs/runtime.md).
 */
const VISITOR_CREDENTIALS = new Set(['authorization']);
/**
 * Connection-level headers that must not be forwarded (RFC 9110 §7.6.1). `expect` too: Node has
 * already answered a client's `Expect: 100-continue`, and undici refuses the header.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'expect']);
/** Response headers that describe the worker's connection, not the response. */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'trailer', 'upgrade']);

/**
 * The scheme and host the client used, for X-Forwarded-* and X-RSC-Request: the connection's own,
 * or what a proxy in front says only if [HTTP] TrustedProxies names it (the rule every route uses).
 */
export function clientOrigin(req: IncomingMessage, trusted: TrustedProxies): { proto: string; host: string } {
  const { proto, host } = trusted.origin(req);
  return { proto, host };
}

/** The headers a worker receives: the client's, minus spoofable ones, plus who is asking and from where. */
export function contentRequestHeaders(
  incoming: IncomingHttpHeaders,
  options: {
    user: User | null;
    groups: readonly string[];
    prefix: string;
    originalUrl: string;
    proto: string;
    host: string;
    keepUpgrade?: boolean;
    /** The content asked, and what signs its identity header. */
    contentGuid: string;
    credentials: ContentCredentials;
  },
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  // Headers the client named in Connection are hop-by-hop too.
  const connection =
    typeof incoming.connection === 'string'
      ? incoming.connection
          .toLowerCase()
          .split(',')
          .map((h) => h.trim())
      : [];
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    // Node gives header names in lower case.
    if (TRUSTED_HEADERS.has(name) || VISITOR_CREDENTIALS.has(name)) continue;
    if ((HOP_BY_HOP.has(name) || connection.includes(name)) && !(options.keepUpgrade && (name === 'upgrade' || name === 'connection'))) continue;
    if (name === 'cookie') {
      // Lectern's session cookie would let content act as its visitor: it stays with Lectern.
      const kept = String(value)
        .split(';')
        .filter((c) => c.trim().split('=')[0] !== SESSION_COOKIE)
        .join(';')
        .trim();
      if (kept) out.cookie = kept;
      continue;
    }
    out[name] = value;
  }
  if (options.user) {
    const identity = JSON.stringify({ user: options.user.username, groups: options.groups });
    out['rstudio-connect-credentials'] = identity;
    out['rstudio-connect-credentials-signature'] = options.credentials.signCredentials(options.contentGuid, identity);
    out['posit-connect-user-session-token'] = options.credentials.userSessionToken(options.user.guid, options.contentGuid);
  }
  out['x-rsc-request'] = options.originalUrl;
  out['x-forwarded-prefix'] = options.prefix;
  out['x-forwarded-proto'] = options.proto;
  out['x-forwarded-host'] = options.host;
  return out;
}

export async function userGroups(app: App, user: User | null): Promise<string[]> {
  if (!user) return [];
  return (await app.content.access.groupsOf(user)).map((g) => g.name);
}

/**
 * Proxies HTTP requests to content workers over undici keep-alive connections (one pool per
 * worker address), streaming bodies both ways with backpressure and no intermediate streams.
 */
export class ContentProxy {
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(
    private readonly app: App,
    private readonly log: () => FastifyBaseLogger,
  ) {
    // No data either way for this long closes the connection; 0 = never (undici's 0 too).
    this.timeoutMs = app.config.get('Scheduler.ConnectionTimeout');
    // One connection per request in flight (no pipelining: a slow response must not hold up
    // others); the scheduler's leases, not this limit, bound the load on a worker. Idle
    // connections are closed after 4 s, before the workers' servers close them (uvicorn after 5 s):
    // a request sent on a connection the worker is closing would fail.
    this.agent = new Agent({ connections: 128, pipelining: 1, keepAliveTimeout: 4_000 });
  }

  /**
   * Serves one request from a worker of the admitted content; `target` is where the URL pointed
   * (its prefix is the public path it was reached at). Only an admission (src/serve/content-admission.ts)
   * opens this door, so the path and access are checked there, once. It always answers: an
   * unexpected failure becomes Connect's 500 (the caller has handed over the response and cannot).
   */
  async serve(req: IncomingMessage, res: ServerResponse, admitted: WorkerAdmission, target: ContentTarget): Promise<void> {
    // Kept in memory and written in batches: no query on this path (src/instrumentation/).
    this.app.usage.hit(admitted.content, admitted.user, req.method, target.path, req.headers);
    try {
      await this.proxy(req, res, admitted.content, target, admitted.user);
    } catch (err) {
      this.log().error({ err }, 'content proxy failed');
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { code: ErrorCode.InternalFailure, error: 'Internal server error; the server log has details.', payload: null });
    }
  }

  private async proxy(req: IncomingMessage, res: ServerResponse, content: Content, target: ContentTarget, user: User | null): Promise<void> {
    const groups = await userGroups(this.app, user);
    let lease;
    try {
      lease = await this.app.scheduler.acquire(content);
    } catch (err) {
      if (err instanceof WorkerUnavailable) return this.workerUnavailable(res, content, user, err);
      throw err;
    }
    res.once('close', () => lease.release());
    const { proto, host } = clientOrigin(req, trustedProxies(this.app.config));
    const headers = contentRequestHeaders(req.headers, {
      user,
      groups,
      prefix: target.prefix,
      originalUrl: `${proto}://${host}${target.pathname}${target.query}`,
      proto,
      host,
      contentGuid: content.guid,
      credentials: this.app.credentials,
    });
    this.forward(req, res, `http://${lease.address.host}:${lease.address.port}`, target.path || '/', headers);
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private forward(req: IncomingMessage, res: ServerResponse, origin: string, path: string, headers: Record<string, string | string[]>) {
    // HTTP/1.1: a request has a body only when it says so (RFC 9112 §6.3).
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const options: Dispatcher.DispatchOptions = {
      origin,
      path,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? req : null,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    };
    let controller: Dispatcher.DispatchController | undefined;
    let finished = false;
    // A client that goes away stops the worker's response too.
    res.once('close', () => {
      if (finished) return;
      try {
        controller?.abort(new Error('The client closed the connection.'));
      } catch {
        // Already over on the worker's side.
      }
    });
    const log = this.log;
    // An exception thrown in one of these callbacks must not reach undici, or the event loop: it
    // becomes this request's failure (a 502 if nothing was sent yet) and the server goes on.
    const fail = (err: unknown) => {
      finished = true;
      controller?.abort(err as Error);
      if (res.destroyed) return;
      log().error({ err }, 'content proxy failed');
      if (res.headersSent) res.destroy();
      else sendHtml(res, 502, htmlPage('Content error', '<h1>The content did not answer</h1><p>Its answer could not be passed on; the server log has details.</p>'));
    };
    const guarded = guardedBy((err) => {
      try {
        fail(err);
      } catch {
        res.destroy();
      }
    });
    this.agent.dispatch(options, {
      onRequestStart: guarded((c: Dispatcher.DispatchController) => {
        controller = c;
        if (res.destroyed) c.abort(new Error('The client closed the connection.'));
      }),
      onResponseStart: guarded((_c: Dispatcher.DispatchController, statusCode: number, upstream: IncomingHttpHeaders) => {
        const out: Record<string, string | string[]> = {};
        const listed =
          typeof upstream.connection === 'string'
            ? upstream.connection
                .toLowerCase()
                .split(',')
                .map((h) => h.trim())
            : [];
        for (const name in upstream) {
          const value = upstream[name];
          if (value === undefined || HOP_BY_HOP_RESPONSE.has(name) || listed.includes(name)) continue;
          out[name] = value;
        }
        // The client's connection cannot carry another request until its body has been read.
        if (!req.complete && hasBody) out.connection = 'close';
        res.writeHead(statusCode, out);
      }),
      onResponseData: guarded((c: Dispatcher.DispatchController, chunk: Buffer) => {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => {
            try {
              c.resume();
            } catch {
              // The exchange was aborted meanwhile.
            }
          });
        }
      }),
      onResponseEnd: guarded(() => {
        finished = true;
        res.end();
      }),
      onResponseError: guarded((_c: Dispatcher.DispatchController, err: Error) => {
        // Already answered (by `fail`, after an exception in a callback above).
        if (finished || res.destroyed) return;
        finished = true;
        if (res.headersSent) {
          // Part of the answer is out: cutting the connection is the only honest signal left.
          res.destroy(err);
          return;
        }
        sendHtml(res, 502, htmlPage('Content error', `<h1>The content did not answer</h1><p>${escapeHtml(err.message || 'The worker closed the connection.')}</p>`));
      }),
    });
  }

  /** A 5xx page: clients treat only 5xx as failure. Owners and editors also see why and the last log lines. */
  private async workerUnavailable(res: ServerResponse, content: Content, user: User | null, err: WorkerUnavailable) {
    if (err instanceof EnvironmentRebuilding) {
      // A waiting page that reloads itself; the content answers on a reload once its build is done.
      const body = `<h1>This content is being prepared</h1><p>Its environment is being rebuilt on this server. This page reloads itself until the content is ready.</p>`;
      sendHtml(res, 503, htmlPage('Preparing content', body, { refreshSeconds: 5 }), { 'retry-after': '5' });
      return;
    }
    const canEdit = user ? await this.app.content.access.canEdit(user, content) : false;
    const details = canEdit
      ? `<p>${escapeHtml(err.message)}</p>${err.logTail.length ? `<h2>Last log lines</h2><pre>${escapeHtml(err.logTail.join('\n'))}</pre>` : ''}`
      : '<p>The content could not be started. Its owner can see why in its logs.</p>';
    sendHtml(res, err.status, htmlPage('Content unavailable', `<h1>This content is not available right now</h1>${details}`), { 'retry-after': String(err.retryAfterSeconds) });
  }
}

function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}) {
  const body = Buffer.from(html);
  res.writeHead(status, { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
}
