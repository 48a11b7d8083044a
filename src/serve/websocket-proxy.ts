import type { FastifyInstance } from 'fastify';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { App } from '../app.js';
import { resolvePrincipal } from '../auth/principal.js';
import { WorkerUnavailable } from '../scheduler/pool.js';
import { trustedProxies } from '../http/trusted-proxy.js';
import { admitContentRequest } from './content-admission.js';
import { resolveContentTarget } from './content-target.js';
import { clientOrigin, contentRequestHeaders, userGroups } from './proxy.js';
import { guardedBy } from '../util/guarded.js';

/**
 * Websocket upgrades to content (Shiny, Streamlit, Bokeh, …) at /content/{guid}/… and vanity
 * paths. Fastify routes plain HTTP only, so upgrades are handled on the raw server: the same
 * path resolution and access rule as HTTP, then the socket is spliced to a worker that holds the
 * session until it closes. Nothing thrown here may reach the event loop.
 */
export function installWebsocketProxy(server: FastifyInstance, app: App) {
  server.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Attached first: a client that resets the connection at any point is no crash.
    socket.on('error', () => socket.destroy());
    const failed = (err: unknown) => {
      server.log.error({ err }, 'websocket proxy failed');
      refuse(socket, 500, 'Internal Server Error');
    };
    try {
      handleUpgrade(server, app, req, socket, head).catch(failed);
    } catch (err) {
      failed(err);
    }
  });
}

async function handleUpgrade(server: FastifyInstance, app: App, req: IncomingMessage, socket: Duplex, head: Buffer) {
  const target = await resolveContentTarget(app, req.url ?? '/');
  if (!target) return refuse(socket, 404, 'Not Found');
  const cookies = req.headers.cookie ? server.parseCookie(req.headers.cookie) : {};
  const principal = await resolvePrincipal({ headers: req.headers, cookies }, app.users);
  // The decision HTTP makes too; a websocket cannot be sent to the sign-in page, so it gets the status alone.
  const admission = await admitContentRequest(app, target, principal);
  switch (admission.outcome) {
    case 'worker':
      break;
    case 'refused':
      return refuse(socket, 400, 'Bad Request');
    case 'bad-credentials':
      return refuse(socket, 401, 'Unauthorized');
    case 'denied':
      return admission.signedIn ? refuse(socket, 403, 'Forbidden') : refuse(socket, 401, 'Unauthorized');
    case 'redirect':
      return refuse(socket, 301, 'Moved Permanently', { Location: admission.location });
    case 'locked':
      return refuse(socket, 403, 'Forbidden');
    default:
      // No content here, or content that runs no process (files, drafts, renderings): nothing takes a websocket.
      return refuse(socket, 404, 'Not Found');
  }
  const { content, user } = admission;
  app.usage.hit(content, user, req.method, target.path, req.headers, true);

  let lease;
  try {
    lease = await app.scheduler.acquire(content);
  } catch (err) {
    // Every worker busy or none can start: a clear answer a client can retry on, never silence.
    if (err instanceof WorkerUnavailable) return refuse(socket, err.status, 'Service Unavailable', { 'Retry-After': String(err.retryAfterSeconds) });
    throw err;
  }
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      lease.release();
    }
  };
  // The client may have gone while it waited for a worker.
  if (socket.destroyed) return release();
  socket.once('close', release);
  const { proto, host } = clientOrigin(req, trustedProxies(app.config));
  const headers = contentRequestHeaders(req.headers, {
    user,
    groups: await userGroups(app, user),
    prefix: target.prefix,
    originalUrl: `${proto}://${host}${target.pathname}${target.query}`,
    proto,
    host,
    keepUpgrade: true,
    contentGuid: content.guid,
    credentials: app.credentials,
  });
  const upstream = httpRequest({ host: lease.address.host, port: lease.address.port, method: req.method, path: target.path || '/', headers });
  const guard = guardedBy((err) => {
    server.log.error({ err }, 'websocket proxy failed');
    release();
    socket.destroy();
    upstream.destroy();
  });
  upstream.on(
    'upgrade',
    guard((res: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
      // A Shiny app's websocket is one session of it, from here until either side closes.
      const session = app.usage.shinySession(content, user);
      const close = () => {
        session?.end();
        release();
        socket.destroy();
        upSocket.destroy();
      };
      upSocket.on('error', close);
      upSocket.on('close', close);
      socket.on('close', close);
      if (socket.destroyed) return close();
      socket.write(statusLines(res));
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.pipe(socket).pipe(upSocket);
    }),
  );
  upstream.on(
    'response',
    guard((res: IncomingMessage) => {
      // The worker refused the upgrade: pass its answer on.
      res.on('error', () => socket.destroy());
      socket.write(statusLines(res));
      res.pipe(socket);
      res.on('end', release);
    }),
  );
  upstream.on(
    'error',
    guard(() => {
      release();
      refuse(socket, 502, 'Bad Gateway');
    }),
  );
  upstream.end();
}

function statusLines(res: IncomingMessage): string {
  const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`];
  for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

function refuse(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}) {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`);
  else socket.destroy();
}
