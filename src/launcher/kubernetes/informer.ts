// One shared list-then-watch cache per kind and namespace (Jobs, Pods), selected by Lectern's labels.
// Every job of the launcher reads from it and is woken by its events: there is no per-process
// polling. After a dropped connection or the server's watch timeout, the watch resumes from the last
// resourceVersion seen (bookmarks keep it fresh); only when that is too old (410 Gone) does it list
// again, reporting objects that vanished meanwhile as deleted.
import { EventEmitter } from 'node:events';
import { KubeApiError, type KubeApi, type KubeObject, type WatchEvent } from './kube-api.js';

export type InformerEvent = 'added' | 'modified' | 'deleted';

export interface InformerStats {
  lists: number;
  watches: number;
  /** Watches that resumed from a known resourceVersion (not after a list). */
  resumes: number;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;
/** The server ends each watch after this long (its own limit is random in [timeout, 2×timeout)). */
const WATCH_TIMEOUT_SECONDS = 300;

export class Informer<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly events = new EventEmitter();
  private readonly abort = new AbortController();
  private resourceVersion?: string;
  private synced!: Promise<void>;
  private running?: Promise<void>;
  readonly stats: InformerStats = { lists: 0, watches: 0, resumes: 0 };
  /** The last error, while the informer is retrying; undefined once it is healthy again. */
  lastError?: Error;

  constructor(
    private readonly api: KubeApi,
    private readonly path: string,
    private readonly selector: string,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Lists, then keeps watching; resolves once the first list is in the cache. */
  start(): Promise<void> {
    if (this.running) return this.synced;
    let resolveSynced!: () => void;
    let rejectSynced!: (err: Error) => void;
    this.synced = new Promise<void>((resolve, reject) => {
      resolveSynced = resolve;
      rejectSynced = reject;
    });
    this.running = this.loop(resolveSynced, rejectSynced);
    return this.synced;
  }

  get(name: string): T | undefined {
    return this.objects.get(name);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  on(listener: (type: InformerEvent, object: T) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  private async loop(synced: () => void, failed: (err: Error) => void): Promise<void> {
    let delay = RETRY_MIN_MS;
    let first = true;
    while (!this.abort.signal.aborted) {
      try {
        if (this.resourceVersion === undefined) {
          await this.relist();
          if (first) synced();
          first = false;
        } else {
          this.stats.resumes++;
        }
        await this.watchOnce();
        delay = RETRY_MIN_MS;
        this.lastError = undefined;
      } catch (err) {
        if (this.abort.signal.aborted) break;
        if (err instanceof KubeApiError && err.status === 410) {
          // Too old to resume: list afresh.
          this.resourceVersion = undefined;
          continue;
        }
        this.lastError = err as Error;
        if (first) {
          // The very first list failing is the caller's problem (start-up reports it).
          failed(err as Error);
          return;
        }
        this.log(`watch ${this.path} failed (${(err as Error).message}); retrying in ${delay} ms`);
        await sleep(delay, this.abort.signal);
        delay = Math.min(RETRY_MAX_MS, delay * 2);
      }
    }
  }

  private async relist() {
    this.stats.lists++;
    const fresh = new Map<string, T>();
    let next: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.api.list<T>(this.path, { labelSelector: this.selector, limit: '500', continue: next });
      for (const item of page.items) fresh.set(item.metadata.name, item);
      next = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (next);
    const gone = [...this.objects.values()].filter((o) => !fresh.has(o.metadata.name));
    for (const [name, obj] of fresh) {
      const had = this.objects.has(name);
      this.objects.set(name, obj);
      this.events.emit('change', had ? 'modified' : 'added', obj);
    }
    for (const obj of gone) {
      this.objects.delete(obj.metadata.name);
      this.events.emit('change', 'deleted', obj);
    }
    this.resourceVersion = resourceVersion;
  }

  private async watchOnce() {
    this.stats.watches++;
    const query = { labelSelector: this.selector, resourceVersion: this.resourceVersion, timeoutSeconds: String(WATCH_TIMEOUT_SECONDS) };
    for await (const event of this.api.watch<T>(this.path, query, this.abort.signal)) this.apply(event);
  }

  private apply(event: WatchEvent<T>) {
    if (event.type === 'ERROR') {
      const status = event.object as unknown as { code?: number; reason?: string; message?: string };
      throw new KubeApiError(status.code ?? 500, status.reason ?? '', status.message ?? 'watch error', `watch ${this.path}`);
    }
    const obj = event.object;
    if (obj.metadata.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    if (event.type === 'DELETED') {
      this.objects.delete(obj.metadata.name);
      this.events.emit('change', 'deleted', obj);
    } else {
      const had = this.objects.has(obj.metadata.name);
      this.objects.set(obj.metadata.name, obj);
      this.events.emit('change', had ? 'modified' : 'added', obj);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
