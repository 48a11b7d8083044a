import type { FastifyInstance } from 'fastify';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { App } from '../app.js';
import { resolvePrincipal } from '../auth/principal.js';
import { appModeKind } from '../content/app-modes.js';
import { WorkerUnavailable } from '../scheduler/pool.js';
import { trustedProxies } from '../http/trusted-proxy.js';
import { clientOrigin, contentRequestHeaders, userGroups } from './proxy.js';
import { findVanity } from './vanity-lookup.js';

/**
 * Websocket upgrades to content (Shiny, Streamlit, Bokeh, …) at /content/{guid}/… and vanity
 * paths. Fastify routes plain HTTP only, so upgrades are handled on the raw server: the same
 * access rule, then the socket is spliced to a worker that holds the session until it closes.
 */
export function installWebsocketProxy(server: FastifyInstance, app: App) {
  server.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handleUpgrade(server, app, req, socket, head).catch((err) => {
      server.log.error({ err }, 'websocket proxy failed');
      refuse(socket, 500, 'Internal Server Error');
    });
  });
}

async function handleUpgrade(server: FastifyInstance, app: App, req: IncomingMessage, socket: Duplex, head: Buffer) {
  socket.on('error', () => socket.destroy());
  const url = req.url ?? '/';
  const target = await resolveTarget(app, url);
  if (!target) return refuse(socket, 404, 'Not Found');
  const cookies = req.headers.cookie ? server.parseCookie(req.headers.cookie) : {};
  const principal = await resolvePrincipal({ headers: req.headers, cookies }, app.users);
  if (principal.kind === 'invalid') return refuse(socket, 401, 'Unauthorized');
  const user = principal.kind === 'user' ? principal.user : null;
  const content = await app.content.find(target.guid);
  if (!content || appModeKind(content.app_mode) !== 'interactive' || content.bundle_id === null) return refuse(socket, 404, 'Not Found');
  if (content.locked === 1) return refuse(socket, 403, 'Forbidden');
  if (!(await app.content.access.canView(user, content))) return refuse(socket, user ? 403 : 401, user ? 'Forbidden' : 'Unauthorized');

  let lease;
  try {
    lease = await app.scheduler.acquire(content);
  } catch (err) {
    if (err instanceof WorkerUnavailable) return refuse(socket, 503, 'Service Unavailable');
    throw err;
  }
  const { proto, host } = clientOrigin(req, trustedProxies(app.config));
  const headers = contentRequestHeaders(req.headers, {
    user,
    groups: await userGroups(app, user),
    prefix: target.prefix,
    originalUrl: `${proto}://${host}${url}`,
    proto,
    host,
    keepUpgrade: true,
  });
  const upstream = httpRequest({ host: lease.address.host, port: lease.address.port, method: req.method, path: url.slice(target.prefix.length) || '/', headers });
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      lease.release();
    }
  };
  upstream.on('upgrade', (res, upSocket, upHead) => {
    const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    upSocket.pipe(socket).pipe(upSocket);
    const close = () => {
      release();
      socket.destroy();
      upSocket.destroy();
    };
    socket.on('close', close);
    upSocket.on('close', close);
    upSocket.on('error', close);
  });
  upstream.on('response', (res) => {
    // The worker refused the upgrade: pass its answer on.
    const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`];
    for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    res.pipe(socket);
    res.on('end', release);
  });
  upstream.on('error', () => {
    release();
    refuse(socket, 502, 'Bad Gateway');
  });
  upstream.end();
}

async function resolveTarget(app: App, url: string): Promise<{ guid: string; prefix: string } | undefined> {
  const pathname = url.split('?')[0]!;
  const direct = /^\/content\/([0-9a-fA-F-]{36})(?=\/)/.exec(pathname);
  if (direct) return { guid: direct[1]!.toLowerCase(), prefix: direct[0] };
  const vanity = await findVanity(app, pathname.slice(1));
  return vanity ? { guid: vanity.guid, prefix: pathname.slice(0, vanity.path.length - 1) } : undefined;
}

function refuse(socket: Duplex, status: number, text: string) {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  else socket.destroy();
}
