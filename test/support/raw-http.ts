import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

// Requests sent exactly as written: fetch() would normalise the path (dot segments, backslashes)
// before it leaves, and hostile paths are what these tests send.

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on its own connection, the path sent exactly as written. */
export function send(base: string, rawPath: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base, { path: rawPath, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer to ${options.method ?? 'GET'} ${rawPath} within 30 s`)));
    req.end(options.body);
  });
}

/**
 * A websocket handshake; resolves with the answer: 101 when the worker took it, otherwise the
 * status, headers and body of the answer that refused it (Lectern's or the worker's).
 */
export function upgrade(base: string, rawPath: string, headers: Record<string, string>, timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base, {
      path: rawPath,
      agent: false,
      headers: { ...headers, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64') },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.alloc(0) });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer to the upgrade of ${rawPath} within ${timeoutMs / 1000} s`)));
    req.end();
  });
}
