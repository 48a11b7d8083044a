import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database, JobRow } from '../db/schema.js';
import type { JobHandle, JobSpec, JobStatus, Launcher, LogLine } from '../launcher/launcher.js';
import type { DataDir } from '../storage/data-dir.js';
import type { ProcessKeys } from '../users/process-keys.js';
import { nowIso, randomToken } from '../util/ids.js';

export type JobRequest = Omit<JobSpec, 'key' | 'jobDir' | 'logPath'> & {
  /** The user the process acts as through its CONNECT_API_KEY (the content's owner); none for builds. */
  actsAs?: number;
};

export interface StartedJob {
  key: string;
  handle: JobHandle;
  /** Resolves when the process has ended and its row is final. */
  ended: Promise<JobStatus>;
}

/**
 * Every process Lectern starts goes through here: a row in `jobs` (Connect's job list), a key,
 * a private job directory and a log file, then the launcher. The row is closed when it ends, and
 * with it the process's CONNECT_API_KEY (src/users/process-keys.ts), wherever it is closed.
 */
export class Jobs {
  constructor(
    private readonly db: Kysely<Database>,
    readonly launcher: Launcher,
    private readonly dataDir: DataDir,
    private readonly replica: string,
    private readonly runAs: string | null,
    private readonly processKeys: ProcessKeys,
  ) {}

  async start(request: JobRequest, options: { taskId?: string } = {}): Promise<StartedJob> {
    const key = randomToken(12).replace(/[-_]/g, 'x');
    const dir = this.dataDir.jobDir(request.contentId, key);
    const { actsAs, ...jobRequest } = request;
    const spec: JobSpec = {
      ...jobRequest,
      key,
      jobDir: path.join(dir, 'home'),
      logPath: path.join(dir, 'log.jsonl'),
      env: { ...request.env, CONNECT_CONTENT_JOB_KEY: key },
    };
    const now = nowIso();
    await this.db
      .insertInto('jobs')
      .values({
        key,
        content_id: spec.contentId,
        bundle_id: spec.bundleId,
        task_id: options.taskId ?? null,
        kind: spec.kind,
        tag: spec.tag,
        launcher: this.launcher.name,
        hostname: '',
        replica: this.replica,
        remote_id: null,
        pid: null,
        run_as: this.runAs,
        status: 0,
        log_path: spec.logPath,
        queued_time: now,
        start_time: now,
        image: spec.image ?? null,
      })
      .execute();
    let handle: JobHandle;
    try {
      // Issued after the row exists, so whoever closes the row also finds the key.
      if (actsAs !== undefined) spec.env.CONNECT_API_KEY = await this.processKeys.issue(actsAs, key, spec.contentGuid);
      handle = await this.launcher.submit(spec);
    } catch (err) {
      await this.finish(key, { state: 'failed', reason: (err as Error).message });
      throw err;
    }
    await this.db
      .updateTable('jobs')
      .set({ hostname: handle.hostname, remote_id: handle.remoteId, pid: handle.pid ?? null })
      .where('key', '=', key)
      .execute();
    const ended = this.launcher.wait(key).then(async (status) => {
      await this.finish(key, status);
      return status;
    });
    return { key, handle, ended };
  }

  /** Starts a build or render job, passing each output line to `onLine`, and waits for it. */
  async runToCompletion(request: JobRequest, onLine: (line: LogLine) => Promise<void> | void, options: { taskId?: string } = {}): Promise<JobStatus & { key: string }> {
    const job = await this.start(request, options);
    for await (const line of this.launcher.logs(job.key, { follow: true })) await onLine(line);
    return { ...(await job.ended), key: job.key };
  }

  async stop(key: string): Promise<void> {
    await this.launcher.stop(key);
  }

  async list(contentId: number): Promise<JobRow[]> {
    return this.db.selectFrom('jobs').selectAll().where('content_id', '=', contentId).orderBy('id', 'desc').limit(500).execute();
  }

  async get(contentId: number, key: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('content_id', '=', contentId).where('key', '=', key).executeTakeFirst();
  }

  logs(row: JobRow, options: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogLine> {
    return this.launcher.logs(row.key, { ...options, logPath: row.log_path });
  }

  /**
   * After a restart: jobs this replica left active are adopted when the launcher still runs them
   * (Kubernetes pods outlive the server) and closed otherwise (local processes die with it).
   * Returns the adopted rows.
   */
  async reconcile(): Promise<JobRow[]> {
    const rows = await this.db.selectFrom('jobs').selectAll().where('status', '=', 0).where('replica', '=', this.replica).execute();
    const adopted = new Set(await this.launcher.reconcile(rows.map((r) => ({ key: r.key, logPath: r.log_path }))));
    const lost = rows.filter((r) => !adopted.has(r.key)).map((r) => r.key);
    if (lost.length) {
      await this.processKeys.revoke(lost);
      await this.db.updateTable('jobs').set({ status: 1, end_time: nowIso(), error: 'The server stopped while this process ran.' }).where('key', 'in', lost).execute();
    }
    await this.processKeys.sweep();
    for (const key of adopted) void this.launcher.wait(key).then((status) => this.finish(key, status));
    return rows.filter((r) => adopted.has(r.key));
  }

  /**
   * Job rows that replicas which are gone left active become this replica's: the launcher adopts
   * the processes that still run (off-host pods outlive their server, and a server stopped
   * gracefully hands its workers over) and reaps what the gone replica started that no row claims;
   * the other rows are closed. `liveSince`: a replica whose heartbeat is newer is back, and keeps
   * its rows. Returns the adopted rows (for the scheduler) and the keys of the closed ones.
   */
  async takeOver(replicas: string[], liveSince: number): Promise<{ adopted: JobRow[]; closed: string[] }> {
    const adopted: JobRow[] = [];
    const closed: string[] = [];
    for (const replica of replicas) {
      const rows = await this.db.selectFrom('jobs').selectAll().where('status', '=', 0).where('replica', '=', replica).execute();
      if (rows.length === 0) continue;
      // One statement claims them, so two replicas that both saw this one gone never share its rows.
      const claimed = await this.db
        .updateTable('jobs')
        .set({ replica: this.replica })
        .where('status', '=', 0)
        .where('replica', '=', replica)
        .where(
          'key',
          'in',
          rows.map((r) => r.key),
        )
        .where((eb) => eb.not(eb.exists(eb.selectFrom('replicas').select('name').where('name', '=', replica).where('heartbeat_at', '>=', liveSince))))
        .returning('key')
        .execute();
      if (claimed.length === 0) continue;
      const mine = new Set(claimed.map((c) => c.key));
      const ours = rows.filter((r) => mine.has(r.key));
      // Reaping what no row claims is safe only when every row of the gone replica is ours now.
      const kept = new Set(
        await this.launcher.reconcile(
          ours.map((r) => ({ key: r.key, logPath: r.log_path })),
          { replica, reapUnclaimed: ours.length === rows.length },
        ),
      );
      const lost = ours.filter((r) => !kept.has(r.key)).map((r) => r.key);
      if (lost.length) {
        await this.processKeys.revoke(lost);
        await this.db
          .updateTable('jobs')
          .set({ status: 1, end_time: nowIso(), error: `The server that ran this process (replica ${replica}) stopped.` })
          .where('key', 'in', lost)
          .where('status', '=', 0)
          .execute();
      }
      for (const key of kept) void this.launcher.wait(key).then((status) => this.finish(key, status));
      adopted.push(...ours.filter((r) => kept.has(r.key)).map((r) => ({ ...r, replica: this.replica })));
      closed.push(...lost);
    }
    return { adopted, closed };
  }

  private async finish(key: string, status: JobStatus) {
    // The key goes first: a server stopping between the two leaves an open row, closed (and its key
    // swept) at the next start, never a working key of a closed process.
    await this.processKeys.revoke([key]);
    await this.db
      .updateTable('jobs')
      .set({ status: 1, end_time: nowIso(), exit_code: status.exitCode ?? null, error: status.state === 'succeeded' ? null : (status.reason ?? null) })
      .where('key', '=', key)
      .execute();
  }
}
