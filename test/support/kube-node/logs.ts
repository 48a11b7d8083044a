// Container logs, kept per container as timestamped lines (like the CRI log files a kubelet reads),
// and the kubelet API's /containerLogs endpoint that the API server proxies pods/log to.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { TLSSocket } from 'node:tls';

export interface LogLine {
  time: Date;
  /** RFC 3339 with nanoseconds, as kubelet prints with timestamps=true. */
  stamp: string;
  stream: 'stdout' | 'stderr';
  text: string; // including its trailing newline (the last line of a stream may lack one)
}

/** Kept per container; older lines are dropped first. */
const MAX_BYTES = 16 << 20;
const MAX_LINE = 16 << 10;

export class ContainerLog extends EventEmitter {
  readonly lines: LogLine[] = [];
  private bytes = 0;
  private partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  // A chunk may end inside a multi-byte character.
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  closed = false;

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    let text = this.partial[stream] + this.decoders[stream].write(chunk);
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      this.push(stream, text.slice(0, nl + 1));
      text = text.slice(nl + 1);
    }
    // As the CRI log format does, a line longer than 16 KiB is kept in pieces.
    while (text.length > MAX_LINE) {
      this.push(stream, text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.partial[stream] = text;
  }

  /** No more output (the container exited): flushes partial lines and ends followers. */
  close(): void {
    if (this.closed) return;
    for (const s of ['stdout', 'stderr'] as const) if (this.partial[s]) this.push(s, this.partial[s]);
    this.closed = true;
    this.emit('close');
  }

  private push(stream: 'stdout' | 'stderr', text: string): void {
    const time = new Date();
    const line = { time, stamp: rfc3339Nano(time), stream, text };
    this.lines.push(line);
    this.bytes += text.length;
    while (this.bytes > MAX_BYTES && this.lines.length > 1) this.bytes -= this.lines.shift()!.text.length;
    this.emit('line', line);
  }
}

function rfc3339Nano(d: Date): string {
  // Milliseconds padded to nanoseconds: sortable and parseable like kubelet's.
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export interface LogQuery {
  follow: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceTime?: Date;
  limitBytes?: number;
  stream?: 'stdout' | 'stderr';
}

export function parseLogQuery(q: URLSearchParams): LogQuery {
  const num = (k: string) => (q.has(k) ? Number(q.get(k)) : undefined);
  const sinceSeconds = num('sinceSeconds');
  const sinceTime = q.get('sinceTime') ? new Date(q.get('sinceTime')!) : sinceSeconds !== undefined ? new Date(Date.now() - sinceSeconds * 1000) : undefined;
  const stream = q.get('stream')?.toLowerCase();
  return {
    follow: q.get('follow') === 'true' || q.get('follow') === '1',
    timestamps: q.get('timestamps') === 'true' || q.get('timestamps') === '1',
    tailLines: num('tailLines'),
    sinceTime,
    limitBytes: num('limitBytes'),
    stream: stream === 'stdout' || stream === 'stderr' ? stream : undefined,
  };
}

/** The log of a container (of its previous instance with `previous`), or kubelet's error for the request. */
export type LogLookup = (namespace: string, pod: string, container: string, previous: boolean) => { log: ContainerLog } | { error: string; status: number };

/** Who may call the kubelet API: the API server's kubelet client (--kubelet-client-certificate) and cluster admins. */
function authorized(peer: { subject?: { CN?: string | string[]; O?: string | string[] } }): boolean {
  const list = (v: string | string[] | undefined) => (Array.isArray(v) ? v : v ? [v] : []);
  return list(peer.subject?.CN).includes('kube-apiserver-kubelet-client') || list(peer.subject?.O).includes('system:masters');
}

/**
 * The kubelet API on the node's address: HTTPS with a certificate from the test bed's CA, clients must
 * present a certificate from that CA too (the API server's --kubelet-client-certificate). Serves
 * GET /containerLogs/{namespace}/{pod}/{container} (follow, tailLines, sinceTime/sinceSeconds,
 * timestamps, limitBytes, stream) and /healthz.
 */
export async function startKubeletServer(options: {
  host: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  lookup: LogLookup;
}): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer(
    { ca: readFileSync(options.caFile), cert: readFileSync(options.certFile), key: readFileSync(options.keyFile), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://kubelet');
      if (!authorized((req.socket as TLSSocket).getPeerCertificate())) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('Forbidden: only the API server may use this kubelet API\n');
        return;
      }
      if (url.pathname === '/healthz') {
        res.end('ok');
        return;
      }
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
      if (!m || req.method !== 'GET') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`the test bed's node agent does not serve ${req.method} ${url.pathname}\n`);
        return;
      }
      const [ns, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
      const found = options.lookup(ns, pod, container, url.searchParams.get('previous') === 'true');
      if ('error' in found) {
        res.writeHead(found.status, { 'content-type': 'text/plain' }).end(found.error + '\n');
        return;
      }
      const q = parseLogQuery(url.searchParams);
      const { log } = found;
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      let sent = 0;
      const emit = (line: LogLine): boolean => {
        if (q.stream && line.stream !== q.stream) return true;
        if (q.sinceTime && line.time < q.sinceTime) return true;
        let text = q.timestamps ? `${line.stamp} ${line.text}` : line.text;
        if (q.limitBytes !== undefined && sent + text.length > q.limitBytes) text = text.slice(0, q.limitBytes - sent);
        if (text) res.write(text);
        sent += text.length;
        return q.limitBytes === undefined || sent < q.limitBytes;
      };
      let lines = log.lines.filter((l) => (!q.stream || l.stream === q.stream) && (!q.sinceTime || l.time >= q.sinceTime));
      if (q.tailLines !== undefined) lines = q.tailLines > 0 ? lines.slice(-q.tailLines) : [];
      for (const l of lines) if (!emit(l)) return void res.end();
      if (!q.follow || log.closed) return void res.end();
      const onLine = (l: LogLine) => {
        if (!emit(l)) finish();
      };
      const finish = () => {
        log.off('line', onLine);
        log.off('close', finish);
        res.end();
      };
      log.on('line', onLine);
      log.once('close', finish);
      req.socket.once('close', () => {
        log.off('line', onLine);
        log.off('close', finish);
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
