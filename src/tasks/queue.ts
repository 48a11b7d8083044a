import { sql, type Kysely } from 'kysely';
import type { Database, Task } from '../db/schema.js';
import type { Dialect } from '../db/database.js';
import { ErrorCode, notFound } from '../errors.js';
import { nowIso, randomToken } from '../util/ids.js';
import type { TaskEvents } from './events.js';

/** Thrown by a task handler to fail its task with a message (and optional Connect-style result). */
export class TaskFailure extends Error {
  constructor(
    message: string,
    readonly result: { type: string; data: string } | null = null,
    /** The task's error code (Connect's codes; 1 = generic failure). */
    readonly code = 1,
  ) {
    super(message);
  }
}

/** Raised inside a handler when this replica no longer holds the task's lease. */
class LeaseLost extends Error {}

export interface TaskContext {
  task: Task;
  params: Record<string, unknown>;
  log(line: string): Promise<void>;
}

export type TaskHandler = (ctx: TaskContext) => Promise<unknown>;

export interface QueueOptions {
  replica: string;
  leaseMs: number;
  pollMs: number;
  maxAttempts: number;
  concurrency: number;
  log?: (message: string, err?: unknown) => void;
}

/**
 * Durable tasks in the database, claimed by any replica under a renewable lease. A task whose
 * replica stops renewing is taken over by another (up to maxAttempts starts), then failed with
 * a message — never left running forever.
 */
export class TaskQueue {
  private readonly handlers = new Map<string, TaskHandler>();
  private readonly running = new Map<string, { attempts: number }>();
  private stopped = true;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    readonly events: TaskEvents,
    private readonly options: QueueOptions,
  ) {}

  handle(kind: string, handler: TaskHandler) {
    this.handlers.set(kind, handler);
  }

  async enqueue(kind: string, fields: { contentId?: number | null; bundleId?: number | null; userId?: number | null; params?: Record<string, unknown> }): Promise<Task> {
    const task = await this.db
      .insertInto('tasks')
      .values({
        id: randomToken(12),
        kind,
        content_id: fields.contentId ?? null,
        bundle_id: fields.bundleId ?? null,
        user_id: fields.userId ?? null,
        params: JSON.stringify(fields.params ?? {}),
        state: 'queued',
        claimed_by: null,
        lease_expires_at: null,
        attempts: 0,
        output_lines: 0,
        code: 0,
        error: '',
        result: null,
        created_time: nowIso(),
        started_time: null,
        finished_time: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.events.taskQueued();
    return task;
  }

  async get(id: string): Promise<Task> {
    const task = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!task) throw notFound(`Task ${id} does not exist.`, ErrorCode.TaskDoesNotExist);
    return task;
  }

  async output(id: string, first: number): Promise<string[]> {
    const rows = await this.db.selectFrom('task_output').select('line').where('task_id', '=', id).where('line_no', '>=', first).orderBy('line_no').execute();
    return rows.map((r) => r.line);
  }

  /**
   * Resolves once the task has output beyond `first` or has finished, or after `waitMs`.
   * Listens for events rather than polling, so a thousand waiting clients cost nothing.
   */
  async waitFor(id: string, first: number, waitMs: number): Promise<Task> {
    let task = await this.get(id);
    if (waitMs <= 0 || task.state === 'finished' || task.output_lines > first) return task;
    await new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(finish, waitMs);
      const off = this.events.onTaskChanged(id, finish);
      // The task may have changed between the read above and subscribing.
      void this.get(id).then((t) => (t.state === 'finished' || t.output_lines > first) && finish(), finish);
    });
    task = await this.get(id);
    return task;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.events.onTaskQueued(() => this.wake?.());
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(250, Math.floor(this.options.leaseMs / 3)));
    this.heartbeat.unref();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let claimed = false;
      try {
        await this.failAbandoned();
        if (this.running.size < this.options.concurrency) {
          const task = await this.claim();
          if (task) {
            claimed = true;
            void this.execute(task);
          }
        }
      } catch (err) {
        this.options.log?.('task queue error', err);
      }
      if (claimed && this.running.size < this.options.concurrency) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  private async claim(): Promise<Task | undefined> {
    const now = Date.now();
    const lockClause = this.dialect === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
    const kinds = [...this.handlers.keys()];
    if (kinds.length === 0) return undefined;
    const result = await sql<Task>`
      UPDATE tasks
         SET state = 'running', claimed_by = ${this.options.replica}, lease_expires_at = ${now + this.options.leaseMs},
             attempts = attempts + 1, started_time = coalesce(started_time, ${nowIso()})
       WHERE id = (
         SELECT id FROM tasks
          WHERE kind IN (${sql.join(kinds)})
            AND (state = 'queued' OR (state = 'running' AND lease_expires_at < ${now} AND attempts < ${this.options.maxAttempts}))
          ORDER BY created_time
          LIMIT 1 ${lockClause})
      RETURNING *`.execute(this.db);
    return result.rows[0];
  }

  /** Fails tasks whose replica died on their last allowed attempt. */
  private async failAbandoned(): Promise<void> {
    const failed = await this.db
      .updateTable('tasks')
      .set({
        state: 'finished',
        code: 1,
        error: `The server running this task stopped responding ${this.options.maxAttempts} times; the task was abandoned. Run it again.`,
        finished_time: nowIso(),
        claimed_by: null,
        lease_expires_at: null,
      })
      .where('state', '=', 'running')
      .where('lease_expires_at', '<', Date.now())
      .where('attempts', '>=', this.options.maxAttempts)
      .returning('id')
      .execute();
    for (const { id } of failed) await this.events.taskChanged(id);
  }

  private async renewLeases(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      await this.db
        .updateTable('tasks')
        .set({ lease_expires_at: Date.now() + this.options.leaseMs })
        .where('id', 'in', [...this.running.keys()])
        .where('claimed_by', '=', this.options.replica)
        .where('state', '=', 'running')
        .execute();
    } catch (err) {
      this.options.log?.('task lease renewal failed', err);
    }
  }

  private async execute(task: Task): Promise<void> {
    const attempts = task.attempts;
    this.running.set(task.id, { attempts });
    let chain: Promise<void> = Promise.resolve();
    const append = (line: string) => {
      chain = chain.then(() => this.appendLine(task.id, attempts, line));
      return chain;
    };
    try {
      const handler = this.handlers.get(task.kind);
      if (!handler) throw new TaskFailure(`This server does not know how to run "${task.kind}" tasks.`);
      if (attempts > 1) await append(`Task resumed by ${this.options.replica} (start ${attempts} of at most ${this.options.maxAttempts}) after the previous server stopped responding.`);
      const result = await handler({ task, params: JSON.parse(task.params) as Record<string, unknown>, log: append });
      await chain;
      await this.finish(task.id, attempts, 0, '', result ?? null);
    } catch (err) {
      if (err instanceof LeaseLost) return;
      await chain.catch(() => undefined);
      const message = err instanceof Error ? err.message : String(err);
      if (!(err instanceof TaskFailure)) this.options.log?.(`task ${task.id} (${task.kind}) crashed`, err);
      await append(`Error: ${message}`).catch(() => undefined);
      await this.finish(task.id, attempts, err instanceof TaskFailure ? err.code : 1, message, err instanceof TaskFailure ? err.result : null).catch((e) =>
        this.options.log?.('could not record task failure', e),
      );
    } finally {
      this.running.delete(task.id);
      this.wake?.();
    }
  }

  private async appendLine(taskId: string, attempts: number, line: string): Promise<void> {
    // Fencing: only the current lease holder (same replica, same attempt) may write.
    const updated = await this.db
      .updateTable('tasks')
      .set({ output_lines: sql`output_lines + 1` })
      .where('id', '=', taskId)
      .where('claimed_by', '=', this.options.replica)
      .where('attempts', '=', attempts)
      .where('state', '=', 'running')
      .returning('output_lines')
      .executeTakeFirst();
    if (!updated) throw new LeaseLost();
    await this.db
      .insertInto('task_output')
      .values({ task_id: taskId, line_no: updated.output_lines - 1, line, time: nowIso() })
      .execute();
    await this.events.taskChanged(taskId);
  }

  private async finish(taskId: string, attempts: number, code: number, error: string, result: unknown): Promise<void> {
    await this.db
      .updateTable('tasks')
      .set({ state: 'finished', code, error, result: result === null ? null : JSON.stringify(result), finished_time: nowIso(), lease_expires_at: null })
      .where('id', '=', taskId)
      .where('claimed_by', '=', this.options.replica)
      .where('attempts', '=', attempts)
      .execute();
    await this.events.taskChanged(taskId);
  }
}

export function taskJson(task: Task, output: string[], first: number) {
  return {
    id: task.id,
    output,
    result: task.result === null ? null : (JSON.parse(task.result) as unknown),
    finished: task.state === 'finished',
    code: task.code,
    error: task.error,
    last: first + output.length,
  };
}
