// One content process in the sandbox, once spawned (sandbox.ts prepares it): its network namespace
// connected, its cgroup watched for OOM kills, signals sent past bwrap to the job's own processes,
// its usage and outcome read, and everything it held released.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { acceptsConnections } from './accepts-connections.js';
import type { JobCgroup } from './cgroup.js';
import { JobNetwork, type NetworkTools } from './network-namespace.js';
import { processTree, signalAll, treeUsage } from './proc-tree.js';

export interface SandboxedProcess {
  /** Call once spawned: connects the job's network namespace (then lets it go on) and starts watching for OOM kills. */
  attach(child: { pid?: number; stdin: Writable | null }): Promise<void>;
  /** Whether the job's server accepts connections on its address (its inbound port). */
  accepting(address: { host: string; port: number }): Promise<boolean>;
  /** Sends a signal to the job's processes (not to bwrap itself, which must stay to report the exit). */
  signal(signal: NodeJS.Signals): Promise<void>;
  outcome(): Promise<{ memoryLimitExceeded: boolean }>;
  usage(): Promise<{ cpuSeconds?: number; memoryBytes?: number }>;
  /** Kills leftovers and removes the cgroup. */
  release(): Promise<void>;
}

export class SandboxedJob implements SandboxedProcess {
  private pid?: number;
  private watcher?: NodeJS.Timeout;
  private network?: JobNetwork;

  constructor(
    private readonly cgroup: JobCgroup | undefined,
    private readonly bwrap: boolean,
    private readonly envDir: string,
    private readonly networking: { tools: NetworkTools; ports: number[]; hostPorts: number[] } | undefined,
  ) {}

  async attach(child: { pid?: number; stdin: Writable | null }): Promise<void> {
    const pid = child.pid;
    if (!pid) throw new Error('the job has no process');
    this.pid = pid;
    if (this.networking) {
      if (!child.stdin) throw new Error('a job with its own network needs its stdin as a pipe (PreparedCommand.stdin)');
      try {
        this.network = await JobNetwork.connect(pid, child.stdin, { ...this.networking, pidFile: path.join(this.envDir, 'pasta.pid') });
      } catch (err) {
        // Without "up" the job's first process gives up before any content runs.
        child.stdin.end();
        throw err;
      }
    }
    if (!this.cgroup?.has('memory')) return;
    // v1 (and v2 without memory.oom.group) kills one process: the job is over once any was killed.
    let killed = false;
    this.watcher = setInterval(() => {
      if (killed) return;
      void this.cgroup!.oomKills().then(async (n) => {
        if (n > 0 && !killed) {
          killed = true;
          await this.cgroup!.kill();
        }
      });
    }, 500);
    this.watcher.unref();
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    if (!this.pid) return;
    const tree = await processTree(this.pid);
    // With bwrap the tree is: bwrap (monitor) -> bwrap (the PID namespace's init) -> the job.
    const skip = new Set(this.bwrap ? tree.filter((p) => p.pid === this.pid || p.ppid === this.pid).map((p) => p.pid) : []);
    const pids = new Set([...tree.map((p) => p.pid), ...((await this.cgroup?.pids()) ?? [])]);
    signalAll(
      [...pids].filter((p) => !skip.has(p)),
      signal,
    );
  }

  async accepting(address: { host: string; port: number }): Promise<boolean> {
    if (this.networking) return (await this.network?.listening(address.port)) ?? false;
    return acceptsConnections(address);
  }

  async outcome(): Promise<{ memoryLimitExceeded: boolean }> {
    return { memoryLimitExceeded: ((await this.cgroup?.oomKills()) ?? 0) > 0 };
  }

  async usage(): Promise<{ cpuSeconds?: number; memoryBytes?: number }> {
    const fromTree = this.pid ? await treeUsage(this.pid) : {};
    return {
      cpuSeconds: (await this.cgroup?.cpuSeconds()) ?? fromTree.cpuSeconds,
      memoryBytes: (await this.cgroup?.memoryBytes()) ?? fromTree.memoryBytes,
    };
  }

  async release(): Promise<void> {
    clearInterval(this.watcher);
    await this.network?.close();
    await rm(this.envDir, { recursive: true, force: true });
    await this.cgroup?.remove();
  }
}
