import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { hostname as osHostname } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { JobHandle, JobInfo, JobSpec, JobStatus, Launcher, LogLine } from '../launcher.js';
import { prepareWritableDir, type Sandbox, type SandboxedProcess } from './sandbox.js';

interface LocalJob {
  spec: JobSpec;
  child: ChildProcess;
  sandboxed: SandboxedProcess;
  handle: JobHandle;
  startTime: Date;
  status: JobStatus;
  ended: Promise<JobStatus>;
  log: WriteStream;
  /** Emits 'line' (NumberedLine) while the job runs and 'end' once. */
  events: EventEmitter;
  lines: number;
  stopRequested: boolean;
}

/** How long finished jobs stay known to status()/logs() in memory; their logs stay on disk. */
const FORGET_AFTER_MS = 10 * 60_000;

/**
 * Runs each job as a child process of this server, inside the sandbox. Content processes die with
 * the server (bwrap --die-with-parent), so there is nothing to adopt after a restart.
 */
export class LocalLauncher implements Launcher {
  readonly name = 'local';
  private readonly jobs = new Map<string, LocalJob>();
  private readonly hostname: string;

  constructor(private readonly sandbox: Sandbox, options: { hostname?: string } = {}) {
    this.hostname = options.hostname ?? osHostname();
  }

  async submit(spec: JobSpec): Promise<JobHandle> {
    if (this.jobs.has(spec.key)) throw new Error(`job ${spec.key} already exists`);
    await prepareWritableDir(spec.jobDir);
    mkdirSync(path.dirname(spec.logPath), { recursive: true });
    const env: Record<string, string> = { ...spec.env, HOME: spec.jobDir };
    let address: JobHandle['address'];
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
    });
    const log = createWriteStream(spec.logPath, { flags: 'a' });
    const child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      uid: command.uid,
      gid: command.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group, so stop() reaches everything the job started.
      detached: true,
    });
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (err) => resolve(err));
    });
    if (spawned) {
      log.end();
      await sandboxed.release();
      throw new Error(`cannot start ${spec.command[0]}: ${spawned.message}`);
    }
    await sandboxed.attach(child.pid!);
    const handle: JobHandle = { key: spec.key, remoteId: String(child.pid), hostname: this.hostname, address, pid: child.pid };
    const events = new EventEmitter();
    events.setMaxListeners(0);
    const job: LocalJob = {
      spec,
      child,
      sandboxed,
      handle,
      startTime: new Date(),
      status: { state: 'running' },
      log,
      events,
      lines: 0,
      stopRequested: false,
      ended: Promise.resolve({ state: 'running' }),
    };
    const record = (source: 'stdout' | 'stderr', data: string) => {
      const line: NumberedLine = { source, timestamp: new Date(), data, seq: ++job.lines };
      log.write(JSON.stringify(line) + '\n');
      events.emit('line', line);
    };
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
      await new Promise<void>((resolve) => log.end(resolve));
      job.status = status;
      events.emit('end', status);
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
    const running = [...this.jobs.values()].filter(
      (j) => j.status.state === 'running' && (!filter.contentGuid || j.spec.contentGuid === filter.contentGuid),
    );
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
          address: j.handle.address,
          startTime: j.startTime,
          state: j.status.state,
          cpuSeconds: usage.cpuSeconds,
          memoryBytes: usage.memoryBytes,
        };
      }),
    );
  }

  async *logs(key: string, options: { follow?: boolean; signal?: AbortSignal; logPath?: string } = {}): AsyncIterable<LogLine> {
    const job = this.jobs.get(key);
    const logPath = job?.spec.logPath ?? options.logPath;
    if (!logPath) return;
    // Subscribe before reading the file so no line falls between the two; sequence numbers drop
    // the lines that turn up in both.
    const pending: NumberedLine[] = [];
    let wake: (() => void) | undefined;
    let ended = !job || job.status.state !== 'running' || !options.follow;
    const onLine = (line: NumberedLine) => {
      pending.push(line);
      wake?.();
    };
    const onEnd = () => {
      ended = true;
      wake?.();
    };
    if (!ended && job) {
      job.events.on('line', onLine);
      job.events.once('end', onEnd);
      options.signal?.addEventListener('abort', onEnd, { once: true });
    }
    try {
      if (job && !job.log.closed) await new Promise<void>((resolve) => job.log.write('', () => resolve()));
      let last = 0;
      for await (const line of readLogFile(logPath)) {
        last = line.seq;
        yield strip(line);
      }
      while (true) {
        while (pending.length) {
          const line = pending.shift()!;
          if (line.seq > last) yield strip(line);
        }
        if (ended || options.signal?.aborted) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      job?.events.off('line', onLine);
      job?.events.off('end', onEnd);
      options.signal?.removeEventListener('abort', onEnd);
    }
  }

  async stop(key: string, options: { graceMs?: number } = {}): Promise<void> {
    const job = this.jobs.get(key);
    if (!job || job.status.state !== 'running') return;
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

  async reconcile(): Promise<void> {
    // Nothing survives a restart locally: children die with the server.
  }

  async close(): Promise<void> {
    await Promise.all([...this.jobs.keys()].map((key) => this.stop(key, { graceMs: 2000 })));
  }
}

type NumberedLine = LogLine & { seq: number };

async function* readLogFile(file: string): AsyncIterable<NumberedLine> {
  const input = createReadStream(file);
  const ok = await new Promise<boolean>((resolve) => {
    input.once('open', () => resolve(true));
    input.once('error', () => resolve(false));
  });
  if (!ok) return;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    if (!text) continue;
    try {
      const raw = JSON.parse(text) as { source: 'stdout' | 'stderr'; timestamp: string; data: string; seq?: number };
      yield { source: raw.source, timestamp: new Date(raw.timestamp), data: raw.data, seq: raw.seq ?? 0 };
    } catch {
      // A torn last line after a crash: skip it.
    }
  }
}

function strip({ source, timestamp, data }: NumberedLine): LogLine {
  return { source, timestamp, data };
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
