import type { Content } from '../db/schema.js';
import type { JobAddress, LogLine } from '../launcher/launcher.js';

export interface PoolSettings {
  minProcesses: number;
  maxProcesses: number;
  maxConnsPerProcess: number;
  loadFactor: number;
  idleTimeoutMs: number;
  initTimeoutMs: number;
}

/** Which bundle, environment-variable version and image a worker runs; a newer one replaces older workers. */
export interface Generation {
  bundleId: number;
  envVersion: number;
  /** Off-host: the execution environment's image (null locally). */
  image?: string | null;
}

export function generationOf(content: Content): Generation {
  return { bundleId: content.bundle_id ?? 0, envVersion: content.env_version, image: content.image_name };
}

export interface WorkerStarter {
  /** Starts one worker process of `generation`; returns its job key and when it ends. */
  start(content: Content, generation: Generation): Promise<{ key: string; ended: Promise<{ reason?: string; stopped?: boolean }> }>;
  /**
   * The launcher's word that the worker accepts connections (Launcher.ready): its address, or a
   * rejection with the reason once it ended or `timeoutMs` passed. The pool probes nothing itself.
   */
  ready(key: string, timeoutMs: number): Promise<JobAddress>;
  logTail(key: string, lines: number): Promise<LogLine[]>;
  stop(key: string): Promise<void>;
}

export class WorkerUnavailable extends Error {
  constructor(
    message: string,
    /** The last log lines of the failed worker, for the content's owners. */
    readonly logTail: string[] = [],
    readonly status = 503,
    /** When a client may usefully try again (Retry-After). */
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/** The worker cannot start until its environment is rebuilt; a build task is doing that now. */
export class EnvironmentRebuilding extends WorkerUnavailable {
  constructor(readonly taskId: string) {
    super(`The content's environment is missing on this server and is being rebuilt (task ${taskId}); it starts once the build is done.`);
  }
}

interface Worker {
  key: string;
  address: JobAddress;
  generation: Generation;
  state: 'starting' | 'ready' | 'draining' | 'gone';
  connections: number;
  idleSince: number;
  startedAt: number;
  ready: Promise<void>;
}

export interface Lease {
  address: JobAddress;
  workerKey: string;
  release(): void;
}

const MAX_BACKOFF_MS = 30_000;
const CRASH_LOOP_WINDOW_MS = 60_000;

/**
 * The worker processes of one content item on this replica (ARCHITECTURE §2): started on demand,
 * new connections to the least-loaded ready worker, another started when the busiest crosses
 * load_factor × max_conns_per_process, idle ones stopped, crashed ones replaced with backoff.
 */
export class ContentPool {
  private readonly workers = new Set<Worker>();
  private readonly waiters = new Set<() => void>();
  private crashes: number[] = [];
  private lastFailure?: { message: string; logTail: string[]; at: number };
  private rebuilding?: EnvironmentRebuilding;
  /** handOver() ran: this pool neither starts nor stops a worker again. */
  private handedOver = false;
  generation: Generation;

  constructor(
    private content: Content,
    private settings: PoolSettings,
    private readonly starter: WorkerStarter,
    private readonly log: (msg: string) => void,
  ) {
    this.generation = generationOf(content);
  }

  /** Called with the freshest content row on each request; switches generation when it changed. */
  refresh(content: Content, settings: PoolSettings) {
    this.content = content;
    this.settings = settings;
    const next = generationOf(content);
    if (!sameGeneration(next, this.generation)) {
      this.generation = next;
      this.crashes = [];
      this.lastFailure = undefined;
      for (const w of this.workers) if (!sameGeneration(w.generation, next)) this.drain(w);
      this.wake();
    }
  }

  /**
   * The environment build finished: workers may start again. A failed build counts as a failed
   * start, so visits back off instead of queueing one rebuild after another.
   */
  environmentBuilt(failure?: string) {
    this.rebuilding = undefined;
    if (failure) {
      this.crashes.push(Date.now());
      this.lastFailure = { message: `Rebuilding the content's environment failed: ${failure}`, logTail: [], at: Date.now() };
    } else {
      this.crashes = [];
      this.lastFailure = undefined;
    }
    this.wake();
  }

  /** The build task this pool waits for before it starts workers, if any. */
  rebuildingTask(): string | undefined {
    return this.rebuilding?.taskId;
  }

  /** A connection slot on a ready worker, starting one when needed; waits up to init_timeout. */
  async acquire(): Promise<Lease> {
    const began = Date.now();
    // A little longer than a worker's own init timeout, so its failure (with the reason) wins.
    const deadline = began + this.settings.initTimeoutMs + 1000;
    while (true) {
      if (this.handedOver) throw new WorkerUnavailable('This server is shutting down; its workers keep running for the next server.', [], 503, 2);
      if (this.rebuilding) throw this.rebuilding;
      const now = Date.now();
      const current = [...this.workers].filter((w) => sameGeneration(w.generation, this.generation) && (w.state === 'ready' || w.state === 'starting'));
      const ready = current.filter((w) => w.state === 'ready' && w.connections < this.settings.maxConnsPerProcess);
      const best = ready.sort((a, b) => a.connections - b.connections)[0];
      const starting = current.filter((w) => w.state === 'starting').length;
      if (current.length === 0 && this.lastFailure) {
        // A crash loop: answer at once instead of hammering the machine with restarts.
        const backoff = this.backoffMs(now);
        if (backoff > 0) {
          throw new WorkerUnavailable(`${this.lastFailure.message} Lectern tries again in ${Math.ceil(backoff / 1000)} s.`, this.lastFailure.logTail);
        }
        if (this.lastFailure.at >= began) throw new WorkerUnavailable(this.lastFailure.message, this.lastFailure.logTail);
      }
      const threshold = Math.max(1, Math.ceil(this.settings.loadFactor * this.settings.maxConnsPerProcess));
      const busy = !best || best.connections >= threshold;
      if (busy && starting === 0 && current.length < this.settings.maxProcesses) this.startWorker();
      if (best) return this.lease(best);
      const remaining = deadline - now;
      if (remaining <= 0) {
        const seconds = Math.round(this.settings.initTimeoutMs / 1000);
        // Every worker busy and no more allowed: say so, and when to come back (HTTP and websockets alike).
        if (starting === 0 && current.length >= this.settings.maxProcesses) {
          throw new WorkerUnavailable(
            `All ${current.length} worker processes are serving their ${this.settings.maxConnsPerProcess} connections (max_conns_per_process) and none became free within ${seconds} s.`,
          );
        }
        throw new WorkerUnavailable(`No worker process became available within ${seconds} s.`, []);
      }
      await new Promise<void>((resolve) => {
        const waiter = () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve();
        };
        const timer = setTimeout(waiter, Math.min(remaining, 1000));
        this.waiters.add(waiter);
      });
    }
  }

  /**
   * Starts a worker and waits until it accepts connections. A redeploy warms the new bundle's
   * generation before activating it; the worker serves once refresh() switches to it.
   */
  async warm(generation: Generation = this.generation): Promise<void> {
    const worker = this.startWorker(generation);
    try {
      await worker.ready;
    } catch (err) {
      const tail = worker.key ? (await this.starter.logTail(worker.key, 20).catch(() => [])).map((l) => l.data) : [];
      throw new WorkerUnavailable((err as Error).message, tail);
    }
  }

  /** Keeps min_processes running and stops idle workers; called every second. */
  tick(now: number) {
    const current = [...this.workers].filter((w) => sameGeneration(w.generation, this.generation) && w.state !== 'gone' && w.state !== 'draining');
    let surplus = current.length - this.settings.minProcesses;
    for (const w of current) {
      if (surplus <= 0) break;
      if (w.state === 'ready' && w.connections === 0 && now - w.idleSince >= this.settings.idleTimeoutMs) {
        this.log(`stopping idle worker ${w.key}`);
        this.retire(w);
        surplus--;
      }
    }
    const backoff = this.backoffMs(now);
    if (current.length < this.settings.minProcesses && backoff === 0 && this.generation.bundleId && !this.rebuilding) this.startWorker();
  }

  /** A worker that outlived a restart of this replica (a Kubernetes pod), serving again at once. */
  adopt(key: string, address: JobAddress, generation: Generation, ended: Promise<{ reason?: string; stopped?: boolean }>) {
    const worker: Worker = { key, address, generation, state: 'ready', connections: 0, idleSince: Date.now(), startedAt: Date.now(), ready: Promise.resolve() };
    this.workers.add(worker);
    void ended.then((status) => this.onExit(worker, status.reason ?? 'The process exited.', status.stopped === true));
    if (!sameGeneration(generation, this.generation)) this.drain(worker);
    this.wake();
  }

  workerCount(): number {
    return [...this.workers].filter((w) => w.state !== 'gone').length;
  }

  describe() {
    return [...this.workers].map((w) => ({ key: w.key, state: w.state, connections: w.connections, generation: w.generation, startedAt: w.startedAt }));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.workers].map((w) => this.retire(w)));
  }

  /**
   * This server stops and its workers keep running (off-host pods outlive it): the pool lets go of
   * them without stopping any, now or later (a start-up cut short, a drain that ends), so the next
   * replica adopts them from their job rows.
   */
  handOver(): void {
    this.handedOver = true;
    this.workers.clear();
    this.wake();
  }

  private backoffMs(now: number): number {
    this.crashes = this.crashes.filter((t) => now - t < 5 * 60_000);
    if (this.crashes.length === 0) return 0;
    const wait = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (this.crashes.length - 1));
    return Math.max(0, this.crashes[this.crashes.length - 1]! + wait - now);
  }

  private startWorker(generation: Generation = this.generation): Worker {
    const worker: Worker = {
      key: '',
      address: { host: '', port: 0 },
      generation,
      state: 'starting',
      connections: 0,
      idleSince: Date.now(),
      startedAt: Date.now(),
      ready: Promise.resolve(),
    };
    this.workers.add(worker);
    worker.ready = (async () => {
      const started = await this.starter.start(this.content, generation);
      worker.key = started.key;
      // While starting, an exit fails the start-up (ready() rejects with the reason); onExit
      // handles only workers that were serving.
      void started.ended.then((status) => this.onExit(worker, status.reason ?? 'The process exited.', status.stopped === true));
      if (worker.state === 'gone') {
        await this.starter.stop(started.key).catch(() => undefined);
        throw new Error('The worker was stopped while starting.');
      }
      try {
        worker.address = await this.starter.ready(started.key, this.settings.initTimeoutMs);
      } catch (err) {
        // Not ready in time: the worker goes (one that exited already has). One handed over at
        // shutdown stays: the next replica waits for it instead.
        if (!this.handedOver) await this.starter.stop(started.key).catch(() => undefined);
        throw err;
      }
      if (worker.state === 'starting') worker.state = 'ready';
      worker.idleSince = Date.now();
      this.lastFailure = undefined;
      this.wake();
    })();
    worker.ready.catch(async (err: Error) => {
      worker.state = 'gone';
      this.workers.delete(worker);
      if (err instanceof EnvironmentRebuilding) {
        this.rebuilding = err;
        this.wake();
        return;
      }
      this.crashes.push(Date.now());
      const tail = worker.key ? (await this.starter.logTail(worker.key, 20).catch(() => [])).map((l) => l.data) : [];
      this.lastFailure = { message: err.message, logTail: tail, at: Date.now() };
      this.log(`worker failed to start: ${err.message}`);
      this.wake();
    });
    return worker;
  }

  private async onExit(worker: Worker, reason: string, stopped: boolean) {
    // A worker that dies while starting is failed by its start-up loop, which has the reason.
    if (worker.state === 'starting') return;
    const wasServing = worker.state === 'ready' || worker.state === 'draining';
    worker.state = 'gone';
    this.workers.delete(worker);
    // A worker someone stopped (an administrator, the processes table) is no crash: the next
    // request, or min_processes, simply starts another.
    if (wasServing && !stopped) {
      // Only early deaths count towards a crash loop; a long-lived worker is simply replaced.
      if (Date.now() - worker.startedAt < CRASH_LOOP_WINDOW_MS) this.crashes.push(Date.now());
      const tail = (await this.starter.logTail(worker.key, 20).catch(() => [])).map((l) => l.data);
      this.lastFailure = { message: `The worker process ended: ${reason}`, logTail: tail, at: Date.now() };
      this.log(`worker ${worker.key} exited: ${reason}`);
    }
    this.wake();
  }

  private lease(worker: Worker): Lease {
    worker.connections++;
    let released = false;
    return {
      address: worker.address,
      workerKey: worker.key,
      release: () => {
        if (released) return;
        released = true;
        worker.connections--;
        if (worker.connections === 0) {
          worker.idleSince = Date.now();
          if (worker.state === 'draining') void this.retire(worker);
        }
        this.wake();
      },
    };
  }

  private drain(worker: Worker) {
    if (worker.state === 'gone') return;
    if (worker.connections === 0) void this.retire(worker);
    else worker.state = 'draining';
  }

  private async retire(worker: Worker) {
    if (worker.state === 'gone') return;
    worker.state = 'gone';
    this.workers.delete(worker);
    if (worker.key && !this.handedOver) await this.starter.stop(worker.key).catch(() => undefined);
  }

  private wake() {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

function sameGeneration(a: Generation, b: Generation) {
  return a.bundleId === b.bundleId && a.envVersion === b.envVersion && (a.image ?? null) === (b.image ?? null);
}
