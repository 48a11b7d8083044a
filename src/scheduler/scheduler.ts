import type { Config } from '../config/config.js';
import type { Content } from '../db/schema.js';
import type { ContentExecution } from '../execution/content-execution.js';
import type { Jobs } from '../jobs/jobs.js';
import { servedByWorkers } from '../execution/runners.js';
import type { JobStatus, LogLine } from '../launcher/launcher.js';
import { EnvironmentMissing } from '../execution/content-execution.js';
import { ContentPool, EnvironmentRebuilding, generationOf, type Generation, type Lease, type PoolSettings, type WorkerStarter } from './pool.js';

/** One pool of worker processes per interactive content item on this replica. */
export class Scheduler {
  private readonly pools = new Map<number, ContentPool>();
  private readonly timer: NodeJS.Timeout;
  private readonly starter: WorkerStarter;

  constructor(
    private readonly config: Config,
    private readonly execution: ContentExecution,
    private readonly jobs: Jobs,
    private readonly loadContent: (id: number) => Promise<Content | undefined>,
    private readonly loadBundle: (id: number) => Promise<import('../db/schema.js').Bundle | undefined>,
    /** Environment builds: queue one (as the content's owner; returns its task id), and ask whether one has finished. */
    private readonly builds: { start(content: Content, bundle: import('../db/schema.js').Bundle): Promise<string>; finished(taskId: string): Promise<boolean> },
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    this.starter = {
      start: async (content, generation) => {
        const bundle = await this.loadBundle(generation.bundleId);
        if (!bundle) throw new Error(`Bundle ${generation.bundleId} no longer exists.`);
        let prepared;
        try {
          prepared = await this.execution.prepare(content, bundle, { build: false, image: generation.image });
        } catch (err) {
          // A new server on the same database and data dir, or a new image: build it now, then serve.
          if (err instanceof EnvironmentMissing) throw new EnvironmentRebuilding(await this.builds.start(content, bundle));
          throw err;
        }
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

  async acquire(content: Content): Promise<Lease> {
    const pool = this.pool(content);
    try {
      return await pool.acquire();
    } catch (err) {
      // The build may have run on another replica, which could not tell this pool it is done.
      if (!(err instanceof EnvironmentRebuilding) || !(await this.builds.finished(err.taskId))) throw err;
      pool.environmentBuilt();
      return pool.acquire();
    }
  }

  /**
   * Starts and waits for a worker of a bundle that is about to go live (redeploys without
   * downtime); off-host, in the image the deploy selected.
   */
  async warm(content: Content, bundleId: number, image: string | null = null): Promise<void> {
    const generation: Generation = { bundleId, envVersion: content.env_version, image };
    await this.pool(content).warm(generation);
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
    const content = await this.loadContent(contentId);
    if (!content) return;
    if (this.pools.has(contentId) || this.wantsWarmWorkers(content)) this.pool(content);
  }

  /** At start-up: start the warm minimum of every content item that has one. */
  async keepWarm(contentIds: number[]): Promise<void> {
    for (const id of contentIds) await this.refresh(id);
  }

  private wantsWarmWorkers(content: Content): boolean {
    return content.bundle_id !== null && content.locked !== 1 && servedByWorkers(content.app_mode) && this.settingsFor(content).minProcesses > 0;
  }

  /**
   * After a restart, a worker the launcher adopted joins its content's pool again (or is stopped
   * when its content or bundle is no longer live).
   */
  async adopt(job: { key: string; content_id: number; bundle_id: number | null; image: string | null }, ended: Promise<JobStatus>): Promise<void> {
    const content = await this.loadContent(job.content_id);
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

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.pools.values()].map((p) => p.stopAll()));
    this.pools.clear();
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
