// A minimal Kubernetes REST client for the test bed's node agent: JSON requests and list-then-watch,
// over undici with the test bed's CA and the node's client certificate. No client library: the point
// is to talk to the real API server exactly as a kubelet would (as system:node:<name>).
import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';

export type Obj = Record<string, any>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Obj | string,
    what: string,
  ) {
    super(`${what} → ${status}: ${typeof body === 'string' ? body : (body.message ?? JSON.stringify(body))}`);
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Obj;
}

export class KubeClient {
  readonly dispatcher: Agent;

  constructor(
    readonly url: string,
    credentials: { caFile: string; certFile: string; keyFile: string },
  ) {
    this.dispatcher = new Agent({
      connect: { ca: readFileSync(credentials.caFile, 'utf8'), cert: readFileSync(credentials.certFile, 'utf8'), key: readFileSync(credentials.keyFile, 'utf8') },
      // A watch stays open for minutes: no body timeout.
      bodyTimeout: 0,
      headersTimeout: 30_000,
    });
  }

  async request<T = Obj>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      dispatcher: this.dispatcher,
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: Obj | string = text;
    try {
      parsed = JSON.parse(text) as Obj;
    } catch {
      /* not JSON */
    }
    if (!res.ok) throw new ApiError(res.status, parsed, `${method} ${path}`);
    return parsed as T;
  }

  get<T = Obj>(path: string) {
    return this.request<T>('GET', path);
  }

  /** The object, or undefined when it does not exist (404). */
  async getOptional<T = Obj>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** A strategic merge patch, as kubelet sends status: lists such as conditions merge by their key. */
  strategicPatch<T = Obj>(path: string, patch: unknown) {
    return this.request<T>('PATCH', path, patch, 'application/strategic-merge-patch+json');
  }

  /** A JSON merge patch (RFC 7386): lists given are replaced whole. */
  mergePatch<T = Obj>(path: string, patch: unknown) {
    return this.request<T>('PATCH', path, patch, 'application/merge-patch+json');
  }

  /**
   * Lists `path` (a collection URL with its query, e.g. `/api/v1/pods?fieldSelector=…`), hands every item to
   * `onEvent` as ADDED, then watches from the list's resourceVersion. After a dropped connection it resumes
   * from the last resourceVersion seen; when that is too old (410 Gone) it lists again, reporting items that
   * vanished meanwhile as DELETED. Each watch request ends after `timeoutSeconds` (the server closes it)
   * and the next resumes where it stopped. Runs until `signal` aborts.
   */
  async listWatch(path: string, onEvent: (e: WatchEvent) => void | Promise<void>, signal: AbortSignal, onError?: (err: Error) => void, timeoutSeconds = 300): Promise<void> {
    const sep = path.includes('?') ? '&' : '?';
    let known = new Map<string, Obj>();
    let rv: string | undefined;
    const key = (o: Obj) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
    while (!signal.aborted) {
      try {
        if (rv === undefined) {
          const list = await this.get<{ metadata: { resourceVersion: string }; items: Obj[] }>(path);
          const fresh = new Map(list.items.map((o) => [key(o), o]));
          for (const [k, o] of known) if (!fresh.has(k)) await onEvent({ type: 'DELETED', object: o });
          for (const o of list.items) await onEvent({ type: known.has(key(o)) ? 'MODIFIED' : 'ADDED', object: o });
          known = fresh;
          rv = list.metadata.resourceVersion;
        }
        const res = await fetch(`${this.url}${path}${sep}watch=true&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${rv}`, {
          dispatcher: this.dispatcher,
          signal,
          headers: { accept: 'application/json' },
        });
        if (res.status === 410) {
          rv = undefined;
          await res.body?.cancel();
          continue;
        }
        if (!res.ok || !res.body) throw new ApiError(res.status, await res.text(), `watch ${path}`);
        let buffer = '';
        const decoder = new TextDecoder();
        for await (const chunk of res.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line) continue;
            const event = JSON.parse(line) as WatchEvent;
            if (event.type === 'ERROR') {
              // 410 Gone (the resourceVersion was compacted): list again.
              if (event.object.code === 410) rv = undefined;
              else throw new Error(`watch ${path}: ${event.object.message}`);
              break;
            }
            const newRv = event.object.metadata?.resourceVersion as string | undefined;
            if (newRv) rv = newRv;
            if (event.type === 'BOOKMARK') continue;
            if (event.type === 'DELETED') known.delete(key(event.object));
            else known.set(key(event.object), event.object);
            await onEvent(event);
          }
          if (rv === undefined) break;
        }
      } catch (err) {
        if (signal.aborted) return;
        onError?.(err as Error);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }
}
