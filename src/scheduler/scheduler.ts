import type { Config } from '../config/config.js';
import type { Bundle, Content } from '../db/schema.js';
import type { TableChanges } from '../db/table-changes.js';
import type { ContentExecution, PreparedBundle } from '../execution/content-execution.js';
import type { Jobs } from '../jobs/jobs.js';
import { servedByWorkers } from '../execution/runners.js';
import type { JobStatus, Launcher, LogLine } from '../launcher/launcher.js';
import { EnvironmentMissing } from '../execution/content-execution.js';
import type { TaskEvents } from '../tasks/events.js';
import { ContentPool, EnvironmentRebuilding, generationOf, type Generation, type Lease, type PoolSettings, type WorkerStarter } from './pool.js';

/** What the scheduler uses of the layers below: preparing a bundle, starting and stopping jobs, a job's readiness and log. */
export type SchedulerExecution = Pick<ContentExecution, 'prepare' | 'runRequest'>;
export type SchedulerJobs = Pick<Jobs, 'start' | 'stop'> & { launcher: Pick<Launcher, 'ready' | 'logs'> };

export interface SchedulerDeps {
  config: Config;
  execution: SchedulerExecution;
  jobs: SchedulerJobs;
  loadContent(id: number): Promise<Content | undefined>;
  /**
   * Every content item with a live bundle (the candidates for warm workers), and the rows of
   * `ids` whatever their state (a pool warming the first bundle of an item that has none live).
   */
  loadLiveContent(ids: number[]): Promise<Content[]>;
  loadBundle(id: number): Promise<Bundle | undefined>;
  /** Environment builds: queue one (as the content's owner; returns its task id), and read how one ended. */
  builds: { start(content: Content, bundle: Bundle): Promise<string>; outcome(taskId: string): Promise<{ finished: boolean; error?: string }> };
  /** Committed writes by table, from every replica: content rows that changed anywhere. */
  changes?: TableChanges;
  /** Task notices, from every replica: an environment build that finished. */
  events?: TaskEvents;
  log?: (msg: string) => void;
}

/**
 * How often the scheduler re-reads what the change feed should have told it. Notices can be
 * lost: on SQLite another process (the CLI) writes unreported, and with PostgreSQL a NOTIFY that
 * could not be sent is gone (a dropped LISTEN connection is reported as "everything changed",
 * but a failed send is not). So warm workers, generations and rebuilds still converge.
 */
const RESYNC_INTERVAL_MS = 30_000;

/**
 * One pool of worker processes per interactive content item on this replica. It follows the
 * change feed: a content row changed on any replica (a deploy, an environment or settings change,
 * a lock, a deletion) updates this replica's pool at once, and an environment build that finished
 * anywhere lets a waiting pool start workers.
 */
export class Scheduler {
  private readonly pools = new Map<number, ContentPool>();
  private readonly timer: NodeJS.Timeout;
  private readonly resyncTimer: NodeJS.Timeout;
  private readonly starter: WorkerStarter;
  private readonly config: Config;
  private readonly execution: SchedulerExecution;
  private readonly jobs: SchedulerJobs;
  private readonly log: (msg: string) => void;
  private readonly unsubscribe: Array<() => void> = [];
  /** Bundles a deploy prepared and is warming, by content id (see warm()). */
  private readonly warmPlans = new Map<number, PreparedBundle>();
  /** Build tasks a pool waits for, and how to stop listening for their notices. */
  private readonly builds = new Map<string, () => void>();
  /** A resync in progress, and whether another notice came in meanwhile (one more pass then). */
  private following?: Promise<void>;
  private followAgain = false;
  private closed = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.config = deps.config;
    this.execution = deps.execution;
    this.jobs = deps.jobs;
    this.log = deps.log ?? (() => undefined);
    this.starter = {
      start: async (content, generation) => {
        const prepared = this.warmPlanFor(content.id, generation) ?? (await this.prepareWorker(content, generation));
        const request = await this.execution.runRequest(prepared, `/content/${content.guid}`);
        const job = await this.jobs.start(request);
        return { key: job.key, ended: job.ended };
      },
      ready: (key, timeoutMs) => this.jobs.launcher.ready(key, { timeoutMs }),
      logTail: async (key) => this.tail(key, 20),
      stop: (key) => this.jobs.stop(key),
    };
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const pool of this.pools.values()) pool.tick(now);
    }, 1000);
    this.timer.unref();
    this.resyncTimer = setInterval(() => this.follow(), RESYNC_INTERVAL_MS);
    this.resyncTimer.unref();
    if (deps.changes) this.unsubscribe.push(deps.changes.watch(['content'], () => this.follow()));
  }

  settingsFor(content: Content): PoolSettings {
    const c = this.config;
    const clamp = (v: number, hi: number) => Math.min(v, hi);
    const maxProcesses = clamp(content.max_processes ?? c.get('Scheduler.MaxProcesses'), c.get('Scheduler.MaxProcessesLimit'));
    return {
      minProcesses: Math.min(clamp(content.min_processes ?? c.get('Scheduler.MinProcesses'), c.get('Scheduler.MinProcessesLimit')), maxProcesses),
      maxProcesses: Math.max(1, maxProcesses),
      maxConnsPerProcess: Math.max(1, content.max_conns_per_process ?? c.get('Scheduler.MaxConnsPerProcess')),
      loadFactor: content.load_factor ?? c.get('Scheduler.LoadFactor'),
      idleTimeoutMs: content.idle_timeout !== null ? content.idle_timeout * 1000 : c.get('Scheduler.IdleTimeout'),
      initTimeoutMs: content.init_timeout !== null ? content.init_timeout * 1000 : c.get('Scheduler.InitTimeout'),
    };
  }

  pool(content: Content): ContentPool {
    let pool = this.pools.get(content.id);
    const settings = this.settingsFor(content);
    if (!pool) {
      pool = new ContentPool(content, settings, this.starter, (msg) => this.log(`content ${content.guid}: ${msg}`));
      this.pools.set(content.id, pool);
    } else {
      pool.refresh(content, settings);
    }
    return pool;
  }

  acquire(content: Content): Promise<Lease> {
    return this.pool(content).acquire();
  }

  /**
   * Starts and waits for a worker of a bundle that is about to go live (redeploys without
   * downtime); off-host, in the image the deploy selected.
   */
  async warm(prepared: PreparedBundle): Promise<void> {
    const { content, bundle } = prepared;
    const generation: Generation = { bundleId: bundle.id, envVersion: content.env_version, image: prepared.environment?.name ?? null };
    this.warmPlans.set(content.id, prepared);
    try {
      await this.pool(content).warm(generation);
    } finally {
      this.warmPlans.delete(content.id);
    }
  }

  /** The deploy's own preparation of the bundle it warms: its first worker need not prepare again. */
  private warmPlanFor(contentId: number, generation: Generation): PreparedBundle | undefined {
    const planned = this.warmPlans.get(contentId);
    if (!planned || planned.bundle.id !== generation.bundleId || (planned.environment?.name ?? null) !== (generation.image ?? null)) return undefined;
    this.warmPlans.delete(contentId);
    return planned;
  }

  /** Interpreters and restored environments of a worker's bundle, which must be on this server already. */
  private async prepareWorker(content: Content, generation: Generation): Promise<PreparedBundle> {
    const bundle = await this.deps.loadBundle(generation.bundleId);
    if (!bundle) throw new Error(`Bundle ${generation.bundleId} no longer exists.`);
    try {
      return await this.execution.prepare(content, bundle, { build: false, image: generation.image });
    } catch (err) {
      // A new server on the same database and data dir, or a new image: build it now, then serve.
      if (err instanceof EnvironmentMissing) throw new EnvironmentRebuilding(this.awaitBuild(content.id, await this.deps.builds.start(content, bundle)));
      throw err;
    }
  }

  /** A build of the content's environment finished (successfully, or with `failure`): workers may start. */
  environmentBuilt(contentId: number, failure?: string) {
    this.pools.get(contentId)?.environmentBuilt(failure);
  }

  /**
   * After a deploy, an environment change or new runtime settings: switch to the new generation
   * (draining the old) and apply the settings. Content with min_processes gets a pool even before
   * its first request, so its warm workers start now.
   */
  async refresh(contentId: number): Promise<void> {
    const content = await this.deps.loadContent(contentId);
    if (!content) return;
    if (this.pools.has(contentId) || this.wantsWarmWorkers(content)) this.pool(content);
  }

  /** At start-up: start the warm minimum of every content item that has one (the pass a change notice makes). */
  async keepWarm(): Promise<void> {
    this.follow();
    await this.following;
  }

  private wantsWarmWorkers(content: Content): boolean {
    return content.bundle_id !== null && content.locked !== 1 && servedByWorkers(content.app_mode) && this.settingsFor(content).minProcesses > 0;
  }

  /**
   * After a restart, a worker the launcher adopted joins its content's pool again (or is stopped
   * when its content or bundle is no longer live).
   */
  async adopt(job: { key: string; content_id: number; bundle_id: number | null; image: string | null }, ended: Promise<JobStatus>): Promise<void> {
    const content = await this.deps.loadContent(job.content_id);
    if (!content || content.bundle_id === null || content.bundle_id !== job.bundle_id || (content.image_name ?? null) !== (job.image ?? null)) {
      await this.jobs.stop(job.key);
      return;
    }
    try {
      const address = await this.jobs.launcher.ready(job.key, { timeoutMs: this.settingsFor(content).initTimeoutMs });
      this.pool(content).adopt(job.key, address, generationOf(content), ended);
      this.log(`content ${content.guid}: adopted worker ${job.key}`);
    } catch {
      await this.jobs.stop(job.key).catch(() => undefined);
    }
  }

  async remove(contentId: number): Promise<void> {
    const pool = this.pools.get(contentId);
    this.pools.delete(contentId);
    await pool?.stopAll();
  }

  describe(contentId: number) {
    return this.pools.get(contentId)?.describe() ?? [];
  }

  /**
   * Stops following content. Workers are stopped, or with `handOver` (off-host workers, which
   * outlive this server) left running for the next replica, which adopts them from their job rows
   * as after a crash: an upgrade that rolls the server restarts no app.
   */
  async close(options: { handOver?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.resyncTimer);
    for (const off of [...this.unsubscribe.splice(0), ...this.builds.values()]) off();
    this.builds.clear();
    await this.following;
    if (options.handOver) for (const p of this.pools.values()) p.handOver();
    else await Promise.all([...this.pools.values()].map((p) => p.stopAll()));
    this.pools.clear();
  }

  /**
   * Brings every pool in line with the content rows (after a change notice, or the slow resync):
   * a new generation drains old workers, new settings apply, a locked or deleted item's workers
   * stop, and an item that wants warm workers gets its pool. Notices that come in during a pass
   * make one more pass, so a burst of writes costs two reads, not one per write.
   */
  private follow(): void {
    if (this.closed) return;
    if (this.following) {
      this.followAgain = true;
      return;
    }
    this.following = (async () => {
      do {
        this.followAgain = false;
        await this.resync().catch((err: Error) => this.log(`following content changes failed: ${err.message}`));
      } while (this.followAgain && !this.closed);
    })().finally(() => (this.following = undefined));
  }

  private async resync(): Promise<void> {
    const live = new Map((await this.deps.loadLiveContent([...this.pools.keys()])).map((c) => [c.id, c]));
    if (this.closed) return;
    for (const [id, pool] of [...this.pools]) {
      const content = live.get(id);
      // Deleted or locked: nothing may serve it. (A pool whose row is unchanged keeps its
      // generation, so a worker warming a bundle that is not live yet is left alone.)
      if (!content || content.locked === 1) await this.remove(id);
      else {
        this.pool(content);
        const taskId = pool.rebuildingTask();
        // A build whose notice was missed.
        if (taskId) await this.buildEnded(id, taskId);
      }
    }
    for (const content of live.values()) if (!this.pools.has(content.id) && this.wantsWarmWorkers(content)) this.pool(content);
  }

  /** Follows a build task a pool waits for, through the task notices of every replica. */
  private awaitBuild(contentId: number, taskId: string): string {
    if (this.deps.events && !this.builds.has(taskId)) {
      const off = this.deps.events.onTaskChanged(taskId, () => {
        void this.buildEnded(contentId, taskId).then((ended) => {
          if (!ended) return;
          off();
          this.builds.delete(taskId);
        });
      });
      this.builds.set(taskId, off);
    }
    return taskId;
  }

  /** Whether the build ended; if so, the pool still waiting for it may start workers. */
  private async buildEnded(contentId: number, taskId: string): Promise<boolean> {
    const outcome = await this.deps.builds.outcome(taskId).catch(() => ({ finished: false, error: undefined }));
    if (!outcome.finished) return false;
    const pool = this.pools.get(contentId);
    // The replica that ran the build may have told the pool already (environmentBuilt).
    if (pool?.rebuildingTask() === taskId) pool.environmentBuilt(outcome.error || undefined);
    return true;
  }

  private async tail(key: string, count: number): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    for await (const line of this.jobs.launcher.logs(key)) {
      lines.push(line);
      if (lines.length > count) lines.shift();
    }
    return lines;
  }
}
