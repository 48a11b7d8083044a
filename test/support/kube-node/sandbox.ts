// One container of a pod as a bubblewrap sandbox: the host's system directories read-only (the
// stand-in for every image's base layer), the image's mapped directories and the pod's volumes bound at
// their container paths, fresh /dev, /proc (own PID namespace), /tmp and hostname, the root read-only.
// Memory limits are a cgroup (CgroupLayout from the local launcher), else RLIMIT_AS; the user is
// switched inside the sandbox with setpriv, all capabilities dropped.
//
// Unlike src/launcher/local/bwrap-args.ts (which binds job paths at their own host paths), a container
// mounts host directories at *other* paths, possibly inside a system directory (/etc/hosts, a ConfigMap
// at /etc/config): such a system directory is then re-created and its entries bound one by one.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CgroupLayout, JobCgroup } from '../../../src/launcher/local/cgroup.js';
import { shellQuote } from '../../../src/launcher/local/cgroup.js';
import { processTree, signalAll } from '../../../src/launcher/local/proc-tree.js';
import { findTool } from '../../../src/launcher/local/sandbox.js';

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/sys'];

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  /** Unique; names the cgroup. */
  key: string;
  command: string[];
  env: Record<string, string>;
  mounts: Mount[];
  workingDir: string;
  hostname: string;
  uid: number;
  gid: number;
  supplementalGroups: number[];
  memoryLimitBytes?: number;
  /** securityContext.readOnlyRootFilesystem: /tmp is read-only too (only volumes are writable). */
  readOnlyRoot?: boolean;
}

export interface Exit {
  exitCode: number;
  signal?: string;
  oomKilled: boolean;
}

function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : root + '/');
}

/** bwrap options for one container (everything before `--`). */
export function bwrapArgs(spec: Pick<ContainerSpec, 'mounts' | 'workingDir' | 'hostname' | 'uid' | 'env' | 'readOnlyRoot'>): string[] {
  const args: string[] = [];
  // Shallowest first; of two at the same path the later one wins (the sort is stable).
  const mounts = [...spec.mounts].map((m) => ({ ...m, target: path.posix.normalize(m.target) })).sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  const targets = mounts.map((m) => m.target);
  const made = new Set(['/', '/dev', '/proc', '/tmp', '/dev/shm']);

  // Binds `dir` from the host read-only, or (when a mount lands inside it) re-creates it and binds its entries.
  const bindHost = (dir: string) => {
    const info = lstatSync(dir, { throwIfNoEntry: false });
    if (!info) return;
    if (targets.includes(dir)) return; // replaced by a mount
    if (info.isSymbolicLink()) {
      args.push('--symlink', readlinkSync(dir), dir);
      return;
    }
    if (!info.isDirectory() || !targets.some((t) => under(t, dir))) {
      args.push('--ro-bind', dir, dir);
      return;
    }
    args.push('--perms', (info.mode & 0o7777).toString(8).padStart(4, '0'), '--dir', dir);
    made.add(dir);
    for (const name of readdirSync(dir)) bindHost(path.join(dir, name));
  };
  for (const dir of SYSTEM_DIRS) bindHost(dir);
  args.push('--dev', '/dev', '--proc', '/proc', '--perms', '1777', '--tmpfs', '/tmp', '--perms', '1777', '--tmpfs', '/dev/shm');

  const bound: Mount[] = [];
  // Mount points bwrap would create itself get mode 0700, which the container's user could not cross:
  // missing parents are made 0755 first — in the sandbox's own directories, or (as a container runtime
  // does) inside the volume that holds them.
  const ensureParents = (p: string) => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = '/' + parts.slice(0, i).join('/');
      if (made.has(dir)) continue;
      const holder = bound.filter((b) => under(dir, b.target)).at(-1);
      if (holder && existsSync(path.join(holder.source, path.posix.relative(holder.target, dir)))) continue;
      args.push('--perms', '0755', '--dir', dir);
      made.add(dir);
    }
  };
  for (const m of mounts) {
    if (!statSync(m.source, { throwIfNoEntry: false })) throw new Error(`mount source ${m.source} (for ${m.target}) does not exist`);
    ensureParents(m.target);
    args.push(m.readOnly ? '--ro-bind' : '--bind', m.source, m.target);
    bound.push(m);
  }
  const wd = path.posix.normalize(spec.workingDir || '/');
  // A missing working directory is created, as a container runtime does (inside a volume too).
  if (!made.has(wd) && !SYSTEM_DIRS.some((s) => under(wd, s))) {
    ensureParents(wd + '/x');
  }
  // A real container's root is writable unless readOnlyRootFilesystem; here the root is the host's system,
  // so only /tmp (and /dev/shm, writable in every container) stand for the writable layer.
  if (spec.readOnlyRoot && !targets.includes('/tmp')) args.push('--remount-ro', '/tmp');
  // The container's environment is set inside: the shell and bwrap itself run with the agent's PATH only.
  args.push('--clearenv');
  for (const [k, v] of Object.entries(spec.env)) args.push('--setenv', k, v);
  // --as-pid-1: the command is PID 1 of its PID namespace, as in a container (it alone gets SIGTERM, and
  // ignores it without a handler; it reaps its orphans).
  args.push(
    '--remount-ro',
    '/',
    '--unshare-pid',
    '--as-pid-1',
    '--unshare-ipc',
    '--unshare-uts',
    '--hostname',
    spec.hostname,
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--new-session',
    '--chdir',
    wd,
  );
  // Root in the container is root without capabilities (Pod Security "restricted" drops them all anyway).
  if (spec.uid === 0) args.push('--cap-drop', 'ALL');
  return args;
}

/** The host tools a container needs (setpriv runs inside the sandbox, from the host's /usr). */
export interface Tools {
  bwrap: string;
  setpriv: string;
  prlimit: string;
  nsenter: string;
}

/** Finds the tools, or fails naming the missing one (bubblewrap comes from scripts/deps/sandbox.sh, the rest from util-linux). */
export async function findTools(): Promise<Tools> {
  const [bwrap, setpriv, prlimit, nsenter] = await Promise.all(['bwrap', 'setpriv', 'prlimit', 'nsenter'].map((t) => findTool(t)));
  return { bwrap: bwrap!, setpriv: setpriv!, prlimit: prlimit!, nsenter: nsenter! };
}

/** setpriv to the container's user with no capabilities (nothing for uid 0, which bwrap already stripped). */
function dropPrivileges(spec: Pick<ContainerSpec, 'uid' | 'gid' | 'supplementalGroups'>, setpriv: string): string[] {
  if (spec.uid === 0) return [];
  return [
    setpriv,
    `--reuid=${spec.uid}`,
    `--regid=${spec.gid}`,
    spec.supplementalGroups.length ? `--groups=${spec.supplementalGroups.join(',')}` : '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

export class SandboxedContainer {
  readonly exited: Promise<Exit>;
  private watcher?: NodeJS.Timeout;

  private constructor(
    readonly child: ChildProcess,
    private readonly cgroup: JobCgroup | undefined,
    private readonly tools: Tools,
  ) {
    let oom = false;
    if (cgroup?.has('memory')) {
      // cgroup v1 kills one process: the container is over once any was killed.
      this.watcher = setInterval(() => {
        void cgroup.oomKills().then(async (n) => {
          if (n > 0 && !oom) {
            oom = true;
            await cgroup.kill();
          }
        });
      }, 200);
      this.watcher.unref();
    }
    this.exited = new Promise<Exit>((resolve) => {
      const done = async (code: number | null, signal: NodeJS.Signals | null) => {
        clearInterval(this.watcher);
        const oomKilled = oom || ((await cgroup?.oomKills().catch(() => 0)) ?? 0) > 0;
        await cgroup?.remove().catch(() => undefined);
        const signo: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGQUIT: 3, SIGABRT: 6, SIGSEGV: 11 };
        resolve({ exitCode: code ?? 128 + (signo[signal ?? ''] ?? 9), signal: signal ?? undefined, oomKilled });
      };
      child.once('exit', (code, signal) => void done(code, signal));
      child.once('error', () => void done(128, null));
    });
  }

  static async start(spec: ContainerSpec, tools: Tools, cgroups: CgroupLayout, onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): Promise<SandboxedContainer> {
    const options = bwrapArgs(spec);
    const cgroup = cgroups.hierarchies.length ? await cgroups.create(`kube-${spec.key.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100)}`, { memoryBytes: spec.memoryLimitBytes }) : undefined;
    const limit = spec.memoryLimitBytes && !cgroup?.has('memory') ? [tools.prlimit, `--as=${spec.memoryLimitBytes}`, '--'] : [];
    const drop = dropPrivileges(spec, tools.setpriv);
    // The root-side shell joins the cgroup before anything of the container's runs.
    const script = [...(cgroup?.procsFiles() ?? []).map((f) => `echo $$ > ${shellQuote(f)}`), 'exec "$@"'].join(' && ');
    const child = spawn('/bin/sh', ['-c', script, 'kube-node-container', ...limit, tools.bwrap, ...options, '--', ...drop, ...spec.command], {
      cwd: '/',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => onOutput('stdout', d));
    child.stderr!.on('data', (d: Buffer) => onOutput('stderr', d));
    await new Promise<void>((resolve) => {
      child.once('spawn', () => resolve());
      child.once('error', () => resolve());
    });
    return new SandboxedContainer(child, cgroup, tools);
  }

  /**
   * Runs a command inside the running container — its mount, UTS, IPC and PID namespaces, root and working
   * directory, as its user — the way an exec probe (or kubectl exec) does. Resolves to the exit code; the
   * command is killed after `timeoutMs`.
   */
  async exec(spec: Pick<ContainerSpec, 'env' | 'uid' | 'gid' | 'supplementalGroups'>, command: string[], timeoutMs: number): Promise<number> {
    const main = await this.mainProcess(Date.now() + timeoutMs);
    if (main === undefined) throw new Error('container is not running');
    const child = spawn(this.tools.nsenter, [`--target=${main}`, '--mount', '--uts', '--ipc', '--pid', '--root', '--wd', '--', ...dropPrivileges(spec, this.tools.setpriv), ...command], {
      env: spec.env,
      stdio: 'ignore',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await new Promise<number>((resolve) => {
        child.once('exit', (code, signal) => resolve(code ?? (signal ? 137 : 1)));
        child.once('error', () => resolve(126));
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The host pid of the container's command (bwrap's child, PID 1 in the container); waits for bwrap to have exec'd it. */
  private async mainProcess(deadline: number): Promise<number | undefined> {
    const pid = this.child.pid;
    while (pid && this.child.exitCode === null && this.child.signalCode === null) {
      const main = (await processTree(pid)).find((p) => p.ppid === pid);
      // Until it execs the command, bwrap's child is still bwrap setting up the sandbox (mounts half done).
      if (main && (await readFile(`/proc/${main.pid}/comm`, 'utf8').catch(() => 'bwrap')).trim() !== 'bwrap') return main.pid;
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  }

  /** Host pids of bwrap and everything it runs. */
  async pids(): Promise<number[]> {
    const pid = this.child.pid;
    if (!pid || this.child.exitCode !== null || this.child.signalCode !== null) return [];
    return (await processTree(pid)).map((p) => p.pid);
  }

  /**
   * SIGTERM (or another signal) goes to the container's PID 1, as a container runtime sends it; SIGKILL to
   * all of its processes (and bwrap, which then reports the exit).
   */
  async signal(signal: NodeJS.Signals): Promise<void> {
    const pid = this.child.pid;
    if (!pid || this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (signal === 'SIGKILL') {
      await this.cgroup?.kill();
      signalAll((await processTree(pid)).map((p) => p.pid).reverse(), 'SIGKILL');
      return;
    }
    const main = await this.mainProcess(Date.now() + 1000);
    // Not started yet (the shell has not exec'd bwrap): stopping it is all there is to do.
    signalAll([main ?? pid], signal);
  }
}
