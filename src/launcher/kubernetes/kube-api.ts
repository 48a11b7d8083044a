// A small typed client for the few Kubernetes REST calls Lectern makes, over undici (already
// Lectern's HTTP client through @fastify/reply-from). Why not @kubernetes/client-node: its current
// release needs undici 8 and so Node ≥ 22, and it brings ~15 dependencies (openid-client, js-yaml,
// jsonpath-plus, socks, tar-fs…) for the six resources Lectern touches. docs/kubernetes.md has the
// full reasoning.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { KubeConnection } from './connection.js';

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
    generateName?: string;
  };
  // Kubernetes objects are deep, loosely typed trees; the modules that read them narrow what they use.
  // biome-ignore lint/suspicious/noExplicitAny: a loosely typed Kubernetes tree, as said above
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: a loosely typed Kubernetes tree, as said above
  status?: any;
  [field: string]: unknown;
};

export interface KubeList<T extends KubeObject = KubeObject> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** A refusal from the API server, with Kubernetes' own reason and message (a `Status` object). */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly what: string,
  ) {
    super(message);
  }
}

const REQUEST_TIMEOUT_MS = 30_000;

export class KubeApi {
  private readonly dispatcher: Agent;

  constructor(private readonly connection: KubeConnection) {
    this.dispatcher = new Agent({
      connect: { ca: connection.ca, rejectUnauthorized: !connection.skipTlsVerify },
      // Watches and followed logs stay open for minutes; each request sets its own limits.
      bodyTimeout: 0,
      headersTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: 30_000,
    });
  }

  get url(): string {
    return this.connection.url;
  }

  /**
   * One call. A kept-alive connection the server (or a proxy between) has dropped fails before any
   * answer; such a call is sent once more on a fresh connection. Every call Lectern makes is
   * idempotent or, for named creates, detects its own earlier success (see create()).
   */
  async request<T>(method: string, path: string, options: { body?: unknown; contentType?: string; query?: Record<string, string | undefined> } = {}): Promise<T> {
    let res;
    try {
      res = await this.send(method, path, options, REQUEST_TIMEOUT_MS);
    } catch (err) {
      if (!isDroppedConnection(err)) throw err;
      res = await this.send(method, path, options, REQUEST_TIMEOUT_MS);
      if (res.statusCode === 409 && method === 'POST') {
        await res.body.dump();
        throw new RetriedCreateConflict();
      }
    }
    const text = await res.body.text();
    if (res.statusCode >= 300) throw apiError(res.statusCode, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  get<T extends KubeObject = KubeObject>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /** GET that answers undefined for 404. */
  async find<T extends KubeObject = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject = KubeObject>(path: string, query?: Record<string, string | undefined>): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, { query });
  }

  async create<T extends KubeObject = KubeObject>(path: string, body: unknown): Promise<T> {
    try {
      return await this.request<T>('POST', path, { body });
    } catch (err) {
      // The first attempt reached the server after all: the object with our (unique) name is ours.
      const name = (body as { metadata?: { name?: string } }).metadata?.name;
      if (err instanceof RetriedCreateConflict && name) return this.get<T>(`${path}/${encodeURIComponent(name)}`);
      if (err instanceof RetriedCreateConflict) throw new KubeApiError(409, 'AlreadyExists', `POST ${path}: already exists`, `POST ${path}`);
      throw err;
    }
  }

  mergePatch<T extends KubeObject = KubeObject>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body: patch, contentType: 'application/merge-patch+json' });
  }

  /** DELETE with background propagation (dependents are garbage-collected); a missing object is no error. */
  async delete(path: string, options: { propagation?: 'Background' | 'Foreground' | 'Orphan'; gracePeriodSeconds?: number } = {}): Promise<boolean> {
    try {
      await this.request('DELETE', path, {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: options.propagation ?? 'Background', gracePeriodSeconds: options.gracePeriodSeconds },
      });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * One watch request from `resourceVersion`: yields events until the server closes the stream
   * (its timeout), the connection drops, or `signal` aborts.
   */
  async *watch<T extends KubeObject>(path: string, query: Record<string, string | undefined>, signal: AbortSignal): AsyncIterable<WatchEvent<T>> {
    const res = await this.send('GET', path, { query: { ...query, watch: 'true', allowWatchBookmarks: 'true' }, signal }, REQUEST_TIMEOUT_MS);
    if (res.statusCode >= 300) throw apiError(res.statusCode, await res.body.text(), `watch ${path}`);
    for await (const line of createInterface({ input: res.body as unknown as Readable, crlfDelay: Infinity })) {
      if (line) yield JSON.parse(line) as WatchEvent<T>;
    }
  }

  /** A streamed text body (pods/log), line by line. */
  async *lines(path: string, query: Record<string, string | undefined>, signal: AbortSignal): AsyncIterable<string> {
    const res = await this.send('GET', path, { query, signal }, REQUEST_TIMEOUT_MS);
    if (res.statusCode >= 300) throw apiError(res.statusCode, await res.body.text(), `GET ${path}`);
    yield* createInterface({ input: res.body as unknown as Readable, crlfDelay: Infinity });
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  private async send(method: string, path: string, options: { body?: unknown; contentType?: string; query?: Record<string, string | undefined>; signal?: AbortSignal }, timeoutMs: number) {
    const query = Object.entries(options.query ?? {}).filter((e): e is [string, string] => e[1] !== undefined);
    const search = query.length ? `?${new URLSearchParams(query).toString()}` : '';
    const token = await this.connection.token();
    return request(`${this.connection.url}${path}${search}`, {
      method: method as 'GET',
      dispatcher: this.dispatcher,
      signal: options.signal,
      headersTimeout: timeoutMs,
      bodyTimeout: options.signal ? 0 : timeoutMs,
      headers: {
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(options.body !== undefined ? { 'content-type': options.contentType ?? 'application/json' } : {}),
      },
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    });
  }
}

class RetriedCreateConflict extends Error {}

function isDroppedConnection(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED';
}

function apiError(status: number, text: string, what: string): KubeApiError {
  let reason = '';
  let message = text.trim() || `HTTP ${status}`;
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    reason = body.reason ?? '';
    message = body.message ?? message;
  } catch {
    // Not a Status object (a proxy's HTML page, say): keep the text.
  }
  return new KubeApiError(status, reason, `${what}: ${message} (HTTP ${status})`, what);
}

/** `labelSelector` from a map: a=b,c=d. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
