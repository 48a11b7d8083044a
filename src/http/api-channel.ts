// The Connect API, and nothing else, on a second listener on the host's loopback. Content in its
// own network namespace cannot reach Lectern's port (nor anything else on the host's loopback);
// pasta forwards this one port into each namespace instead, so content's Connect clients
// (posit-sdk, connectapi, CONNECT_SERVER) still work, while the dashboard, the sign-in page and
// other content stay out of reach. Requests here are ordinary API requests of the same Fastify
// app: same authentication (API keys), no X-Forwarded-* trusted unless [HTTP] TrustedProxies says so.
//
// Usage: opened before the launcher exists (it forwards `port`), connected once Fastify is built:
//   const channel = await ApiChannel.open();  ...  channel.serve(fastifyHandler);  ...  await channel.close();
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { StartupError } from '../startup-error.js';
import { ErrorCode } from '../errors.js';
import { errorBody } from './errors.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export class ApiChannel {
  private handler?: Handler;

  private constructor(
    private readonly http: Server,
    /** The port on the host's 127.0.0.1 (chosen by the OS), and on 127.0.0.1 in each content namespace. */
    readonly port: number,
  ) {}

  static async open(): Promise<ApiChannel> {
    const http = createServer();
    http.listen(0, '127.0.0.1');
    try {
      await once(http, 'listening');
    } catch (err) {
      throw new StartupError(
        `Cannot open the Connect API channel for sandboxed content on 127.0.0.1 (${(err as Error).message})`,
        'make sure the loopback interface is up and has 127.0.0.1, or set [Applications] NetworkIsolation = false',
      );
    }
    const channel = new ApiChannel(http, (http.address() as { port: number }).port);
    http.on('request', (request: IncomingMessage, response: ServerResponse) => channel.answer(request, response));
    return channel;
  }

  /** CONNECT_SERVER for content in its own network namespace. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Hands API requests to `handler` (Fastify's own request handler) from now on. */
  serve(handler: Handler, timeouts: { keepAliveTimeout: number; requestTimeout: number }): void {
    this.http.keepAliveTimeout = timeouts.keepAliveTimeout;
    this.http.requestTimeout = timeouts.requestTimeout;
    this.handler = handler;
  }

  async close(): Promise<void> {
    const closed = new Promise((resolve) => this.http.close(resolve));
    this.http.closeAllConnections();
    await closed;
  }

  private answer(request: IncomingMessage, response: ServerResponse) {
    const url = request.url ?? '/';
    const pathname = url.split('?')[0] ?? '/';
    if (!isApiPath(pathname)) {
      return sendJson(
        response,
        404,
        errorBody(ErrorCode.ObjectDoesNotExist, `There is no API endpoint ${request.method} ${pathname}: this address serves only the Connect API (/__api__/).`, {
          method: request.method,
          path: pathname,
        }),
      );
    }
    if (!this.handler) return sendJson(response, 503, errorBody(ErrorCode.InternalFailure, 'The server is starting; try again shortly.'));
    this.handler(request, response);
  }
}

/**
 * /__api__ or below it, as Fastify will route it (doubled slashes folded: clients join
 * CONNECT_SERVER's trailing slash to "/__api__/…"), with no dot segment or backslash a router or
 * a client could resolve to a path outside it.
 */
export function isApiPath(pathname: string): boolean {
  const folded = pathname.replace(/\/{2,}/g, '/');
  if (folded !== '/__api__' && !folded.startsWith('/__api__/')) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(folded);
  } catch {
    return false;
  }
  if (decoded.includes('\\')) return false;
  return !decoded.split('/').some((segment) => segment === '.' || segment === '..');
}

function sendJson(response: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
