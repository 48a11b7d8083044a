import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { createInterface } from 'node:readline';
import { JobLogWriter, readJobLog } from '../job-log.js';
import { endedBeforeReady, notReadyInTime, type JobAddress, type JobHandle, type JobInfo, type JobSpec, type JobStatus, type Launcher, type LogLine } from '../launcher.js';
import { prepareWritableDir, type Sandbox } from './sandbox.js';
import type { SandboxedProcess } from './sandboxed-job.js';

interface LocalJob {
  spec: JobSpec;
  child: ChildProcess;
  sandboxed: SandboxedProcess;
  handle: JobHandle;
  /** run jobs: where it listens (known at submit: this launcher picks the port). */
  address?: JobAddress;
  startTime: Date;
  status: JobStatus;
  ended: Promise<JobStatus>;
  log: JobLogWriter;
  stopRequested: boolean;
}

/** How long finished jobs stay known to status()/logs() in memory; their logs stay on disk. */
const FORGET_AFTER_MS = 10 * 60_000;
/** How often ready() asks whether a starting job accepts connections (nothing announces it). */
const READY_POLL_MS = 25;

/**
 * Runs each job as a child process of this server, inside the sandbox. Content processes die with
 * the server (bwrap --die-with-parent), so there is nothing to adopt after a restart.
 */
export class LocalLauncher implements Launcher {
  readonly name = 'local';
  readonly outlivesServer = false;
  private readonly jobs = new Map<string, LocalJob>();
  private readonly hostname: string;
  private readonly hostPorts: number[];

  /** `hostPorts`: ports of the host's 127.0.0.1 every job may connect to when the sandbox isolates its network. */
  constructor(
    private readonly sandbox: Sandbox,
    options: { hostname?: string; hostPorts?: number[] } = {},
  ) {
    this.hostname = options.hostname ?? osHostname();
    this.hostPorts = options.hostPorts ?? [];
  }

  async submit(spec: JobSpec): Promise<JobHandle> {
    if (this.jobs.has(spec.key)) throw new Error(`job ${spec.key} already exists`);
    await prepareWritableDir(spec.jobDir);
    const env: Record<string, string> = { ...spec.env, HOME: spec.jobDir };
    let address: JobAddress | undefined;
    if (spec.listen) {
      address = { host: '127.0.0.1', port: await freePort() };
      env.LECTERN_HOST = address.host;
      env.LECTERN_PORT = String(address.port);
    }
    const readWrite = [spec.jobDir, ...spec.mounts.filter((m) => !m.readOnly).map((m) => m.path)];
    const readOnly = spec.mounts.filter((m) => m.readOnly).map((m) => m.path);
    const { command, process: sandboxed } = await this.sandbox.prepare({
      name: spec.key,
      command: spec.command,
      cwd: spec.cwd,
      env,
      readOnly,
      readWrite,
      memoryLimitBytes: spec.resources.memoryLimitBytes,
      maxProcesses: spec.resources.maxProcesses,
      inboundPorts: address ? [address.port] : [],
      hostPorts: this.hostPorts,
    });
    const log = new JobLogWriter(spec.logPath);
    const child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      uid: command.uid,
      gid: command.gid,
      stdio: [command.stdin, 'pipe', 'pipe'],
      // Own process group, so stop() reaches everything the job started.
      detached: true,
    });
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (err) => resolve(err));
    });
    if (spawned) {
      await log.end();
      await sandboxed.release();
      throw new Error(`cannot start ${spec.command[0]}: ${spawned.message}`);
    }
    const attached = await sandboxed.attach(child).then(
      () => null,
      (err: Error) => err,
    );
    if (attached) {
      // The job gives up by itself (it never got to run content); make sure, then report why.
      signalGroup(child.pid!, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
      await log.end();
      await sandboxed.release();
      throw new Error(`cannot start ${spec.command[0]}: its network could not be set up: ${attached.message}`);
    }
    const handle: JobHandle = { key: spec.key, remoteId: String(child.pid), hostname: this.hostname, pid: child.pid };
    const job: LocalJob = {
      spec,
      child,
      sandboxed,
      handle,
      address,
      startTime: new Date(),
      status: { state: 'running' },
      log,
      stopRequested: false,
      ended: Promise.resolve({ state: 'running' }),
    };
    const record = (source: 'stdout' | 'stderr', data: string) => log.record(source, data);
    const pump = (source: 'stdout' | 'stderr', stream: NodeJS.ReadableStream) =>
      (async () => {
        for await (const data of createInterface({ input: stream, crlfDelay: Infinity })) record(source, data);
      })();
    const pumps = Promise.all([pump('stdout', child.stdout!), pump('stderr', child.stderr!)]);
    job.ended = (async () => {
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      await pumps.catch(() => undefined);
      const outcome = await sandboxed.outcome().catch(() => ({ memoryLimitExceeded: false }));
      await sandboxed.release().catch(() => undefined);
      const status = exitStatus(code, signal, outcome.memoryLimitExceeded, spec.resources.memoryLimitBytes);
      if (job.stopRequested && !outcome.memoryLimitExceeded) {
        status.stopped = true;
        if (status.state === 'failed') status.reason = 'The process was stopped by Lectern.';
      }
      if (status.reason) record('stderr', status.reason);
      job.status = status;
      await log.end();
      setTimeout(() => {
        if (this.jobs.get(spec.key) === job) this.jobs.delete(spec.key);
      }, FORGET_AFTER_MS).unref();
      return status;
    })();
    this.jobs.set(spec.key, job);
    return handle;
  }

  async status(key: string): Promise<JobStatus> {
    const job = this.jobs.get(key);
    if (!job) return { state: 'failed', reason: 'This process is no longer running on this server.' };
    return job.status;
  }

  async wait(key: string): Promise<JobStatus> {
    const job = this.jobs.get(key);
    if (!job) return this.status(key);
    return job.ended;
  }

  async list(filter: { contentGuid?: string } = {}): Promise<JobInfo[]> {
    const running = [...this.jobs.values()].filter((j) => j.status.state === 'running' && (!filter.contentGuid || j.spec.contentGuid === filter.contentGuid));
    return Promise.all(
      running.map(async (j) => {
        const usage = await j.sandboxed.usage().catch(() => ({}) as { cpuSeconds?: number; memoryBytes?: number });
        return {
          key: j.spec.key,
          kind: j.spec.kind,
          tag: j.spec.tag,
          contentGuid: j.spec.contentGuid,
          remoteId: j.handle.remoteId,
          hostname: this.hostname,
          pid: j.handle.pid,
          address: j.address,
          startTime: j.startTime,
          state: j.status.state,
          cpuSeconds: usage.cpuSeconds,
          memoryBytes: usage.memoryBytes,
        };
      }),
    );
  }

  logs(key: string, options: { follow?: boolean; signal?: AbortSignal; logPath?: string } = {}): AsyncIterable<LogLine> {
    const job = this.jobs.get(key);
    const logPath = job?.spec.logPath ?? options.logPath;
    if (!logPath) return (async function* () {})();
    return readJobLog(logPath, job?.log, options);
  }

  /**
   * The address is known at submit; the job is ready once its sandbox says the app accepts
   * connections (a TCP connect, or the listening sockets of its own network namespace).
   */
  async ready(key: string, options: { timeoutMs: number }): Promise<JobAddress> {
    const job = this.jobs.get(key);
    const address = job?.address;
    if (!job || !address) throw new Error('This process is not running on this server.');
    const deadline = Date.now() + options.timeoutMs;
    while (!(await job.sandboxed.accepting(address))) {
      if (job.status.state !== 'running') throw new Error(endedBeforeReady(job.status.reason));
      if (Date.now() >= deadline) throw new Error(notReadyInTime(options.timeoutMs));
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    return address;
  }

  async stop(key: string, options: { graceMs?: number } = {}): Promise<void> {
    const job = this.jobs.get(key);
    if (job?.status.state !== 'running') return;
    const pid = job.child.pid!;
    job.stopRequested = true;
    // The sandbox reaches the app inside its PID namespace; signalling bwrap itself would end the
    // job at once (--die-with-parent kills the app with SIGKILL), so the group gets only the SIGKILL.
    await job.sandboxed.signal('SIGTERM').catch(() => signalGroup(pid, 'SIGTERM'));
    const timer = setTimeout(() => {
      void job.sandboxed.signal('SIGKILL').catch(() => undefined);
      signalGroup(pid, 'SIGKILL');
    }, options.graceMs ?? 5000);
    await job.ended;
    clearTimeout(timer);
  }

  async reconcile(): Promise<string[]> {
    // Nothing survives a restart locally: children die with the server.
    return [];
  }

  async close(): Promise<void> {
    await Promise.all([...this.jobs.keys()].map((key) => this.stop(key, { graceMs: 2000 })));
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function exitStatus(code: number | null, signal: NodeJS.Signals | null, memoryExceeded: boolean, limit?: number): JobStatus {
  if (memoryExceeded) {
    const mib = limit ? ` of ${Math.round(limit / 1024 / 1024)} MiB` : '';
    return { state: 'failed', exitCode: code ?? 137, reason: `The process was killed: it exceeded its memory limit${mib}.` };
  }
  if (code === 0) return { state: 'succeeded', exitCode: 0 };
  if (signal) return { state: 'failed', exitCode: 128 + (signalNumber(signal) ?? 0), reason: `The process was stopped by ${signal}.` };
  return { state: 'failed', exitCode: code ?? 1, reason: `The process exited with code ${code}.` };
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 } as Partial<Record<NodeJS.Signals, number>>)[signal];
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
