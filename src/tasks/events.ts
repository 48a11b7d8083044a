import { EventEmitter } from 'node:events';
import pg from 'pg';

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
      else if (msg.payload) this.emitter.emit(`task:${msg.payload}`);
    });
    // A dropped LISTEN connection would silently stop wake-ups; reconnect, and wake everyone once
    // so pollers re-read state they may have missed.
    client.on('error', () => undefined);
    client.on('end', () => {
      if (this.listener !== client) return;
      this.listener = null;
      setTimeout(() => void this.start().then(() => this.emitter.emit('queued')).catch(() => undefined), 1000).unref();
    });
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  override async taskChanged(taskId: string) {
    await this.notifier.query('SELECT pg_notify($1, $2)', [CHANNEL, taskId]);
  }

  override async taskQueued() {
    await this.notifier.query('SELECT pg_notify($1, $2)', [CHANNEL, 'queued']);
  }

  override async close() {
    const client = this.listener;
    this.listener = null;
    await client?.end().catch(() => undefined);
    await this.notifier.end();
  }
}
