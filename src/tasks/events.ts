import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { TableChanges } from '../db/table-changes.js';

/**
 * Wake-ups for task pollers and workers, so nothing busy-waits. In one process an EventEmitter
 * suffices; with PostgreSQL, NOTIFY carries the same events between replicas.
 */
export interface TaskEvents {
  /** A task gained output or finished. */
  taskChanged(taskId: string): Promise<void>;
  /** A task was queued (or a lease freed): idle workers should look for work. */
  taskQueued(): Promise<void>;
  onTaskChanged(taskId: string, listener: () => void): () => void;
  onTaskQueued(listener: () => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'lectern_tasks';
/** Payload prefix of a table-change notice: `tables:<sender>:<table>,<table>…`. */
const TABLES = 'tables:';

export class LocalTaskEvents implements TaskEvents {
  protected readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  async taskChanged(taskId: string) {
    this.emitter.emit(`task:${taskId}`);
  }

  async taskQueued() {
    this.emitter.emit('queued');
  }

  onTaskChanged(taskId: string, listener: () => void) {
    this.emitter.on(`task:${taskId}`, listener);
    return () => void this.emitter.off(`task:${taskId}`, listener);
  }

  onTaskQueued(listener: () => void) {
    this.emitter.on('queued', listener);
    return () => void this.emitter.off('queued', listener);
  }

  async close() {}
}

export class PostgresTaskEvents extends LocalTaskEvents {
  private listener: pg.Client | null = null;
  private readonly notifier: pg.Pool;
  private changes: TableChanges | null = null;
  /** Tells this replica's own table notices (already applied locally) from other replicas'. */
  private readonly sender = randomUUID();
  /**
   * Notices leave in the order they were made, one after another: a "content changed" must reach
   * the other replicas before the "task finished" that followed it, or a replica could report a
   * deploy finished while it still serves the old bundle. (Two connections of the pool would race.)
   */
  private sent: Promise<unknown> = Promise.resolve();

  constructor(private readonly url: string) {
    super();
    this.notifier = new pg.Pool({ connectionString: url, max: 2 });
    this.notifier.on('error', () => undefined); // see openStore: dropped idle connections are replaced
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    client.on('notification', (msg) => {
      if (msg.payload === 'queued') this.emitter.emit('queued');
      else if (msg.payload?.startsWith(TABLES)) this.receiveTables(msg.payload.slice(TABLES.length));
      else if (msg.payload) this.emitter.emit(`task:${msg.payload}`);
    });
    // A dropped LISTEN connection would silently stop wake-ups; reconnect, and wake everyone once
    // so pollers re-read state (and caches drop rows) they may have missed.
    client.on('error', () => undefined);
    client.on('end', () => {
      if (this.listener !== client) return;
      this.listener = null;
      this.changes?.receive(['*']);
      setTimeout(
        () =>
          void this.start()
            .then(() => {
              this.emitter.emit('queued');
              this.changes?.receive(['*']);
            })
            .catch(() => undefined),
        1000,
      ).unref();
    });
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  /**
   * Carries committed writes between replicas: this replica's are sent as NOTIFY (after their
   * commit, so a replica that re-reads sees them), other replicas' are handed to `changes`.
   */
  bridge(changes: TableChanges): void {
    this.changes = changes;
    changes.publishTo((tables) => {
      this.notify(`${TABLES}${this.sender}:${tables.join(',')}`).catch(() => {
        // Unsent: other replicas' copies expire within CACHE_TTL_MS instead.
      });
    });
  }

  private receiveTables(payload: string) {
    const colon = payload.indexOf(':');
    if (payload.slice(0, colon) === this.sender) return;
    this.changes?.receive(payload.slice(colon + 1).split(','));
  }

  override async taskChanged(taskId: string) {
    await this.notify(taskId);
  }

  override async taskQueued() {
    await this.notify('queued');
  }

  private notify(payload: string): Promise<unknown> {
    const sending = this.sent.then(() => this.notifier.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]));
    // The next notice waits for this one, sent or failed.
    this.sent = sending.catch(() => undefined);
    return sending;
  }

  override async close() {
    const client = this.listener;
    this.listener = null;
    await client?.end().catch(() => undefined);
    await this.notifier.end();
  }
}
