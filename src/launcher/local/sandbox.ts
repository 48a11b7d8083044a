// The sandbox the local launcher runs every content process in.
//
// Usage (local-launcher.ts):
//   const sandbox = await Sandbox.create({ enabled, runAs, processLimit, hidePaths });  // probes; throws a fixable message
//   const { command, process } = await sandbox.prepare(request);
//   const child = spawn(command.file, command.args, { cwd: command.cwd, env: command.env, stdio: [command.stdin, ...], detached: true, ... });
//   await process.attach(child);                // after 'spawn'; throws when the job's network cannot be set up
//   ... process.usage(), process.signal('SIGTERM') (graceful stop: reaches the app inside the PID namespace)
//   after exit: await process.outcome() (memoryLimitExceeded), then await process.release().
//
// The prepared command is a tiny root-side `sh` that first writes its own pid into the job's cgroups
// (so the limits hold before any content code runs), opens the job's environment file on fd 3 and
// deletes it, then execs, in order: unshare --net and a wait for its network (network isolation,
// see network-namespace.ts), prlimit (only the limits no cgroup enforces), bwrap (when
// enabled), setpriv (when the server is root: drop to the RunAs user, no capabilities, no new
// privileges), `env -i sh` as the content user, which loads the environment from fd 3 and execs the
// job's command. So the job's environment never reaches a process running as root (no LD_PRELOAD
// games) nor any command line other users could read.
// Running bwrap as root (dropping privileges inside) needs no user namespaces, and the mounts are
// made with root's access, so an interpreter under /root/.pyenv works; a server that is not root
// runs bwrap unprivileged, which needs user namespaces.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, lstatSync } from 'node:fs';
import { access, lchown, lstat, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { bwrapOptions } from './bwrap-args.js';
import { CgroupLayout, shellQuote } from './cgroup.js';
import { enterNetworkNamespace, type NetworkTools } from './network-namespace.js';
import { SandboxedJob, type SandboxedProcess } from './sandboxed-job.js';
import { resolveRunAs, serverIsRoot, type Identity } from './run-as-user.js';

export interface SandboxRequest {
  /** Unique job key; names the job's cgroup. */
  name: string;
  command: string[];
  cwd: string;
  /** The complete environment: nothing is inherited from the server. */
  env: Record<string, string>;
  /** Absolute paths visible read-only at the same path (bundle, environment, runtime, interpreter prefixes). */
  readOnly: string[];
  /** Absolute paths visible writable (job dir; environment dir during a build); made writable by the content user. */
  readWrite: string[];
  /** The tree is killed when it uses more, and outcome() says so (cgroups); RLIMIT_AS otherwise. */
  memoryLimitBytes?: number;
  /** Default: the sandbox's processLimit. */
  maxProcesses?: number;
  /** TCP ports the job's server listens on (127.0.0.1); with network isolation the only way in, forwarded from the host's 127.0.0.1. */
  inboundPorts?: number[];
  /** TCP ports of the host's 127.0.0.1 the job may connect to, at the same port on its own 127.0.0.1 (network isolation; without it the job shares the host's network anyway). */
  hostPorts?: number[];
}

/** What to spawn. uid/gid stay unset: the command switches users itself, after joining its cgroups. */
export interface PreparedCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** The job's stdin: a pipe when attach() still has to let the job go on (network isolation). */
  stdin: 'pipe' | 'ignore';
  uid?: number;
  gid?: number;
}

export interface SandboxOptions {
  enabled: boolean;
  runAs: string;
  processLimit: number;
  /** Host paths content must never see even inside bound directories (server config file, SQLite database). */
  hidePaths: string[];
  /** false (maintenance commands): neither create the RunAs user nor probe. Default true. */
  probe?: boolean;
  /** bubblewrap executable; default `bwrap` from PATH. */
  bwrap?: string;
  /** false: ignore cgroups and use rlimits only. */
  cgroups?: boolean;
  /** With the sandbox enabled: give every job its own network namespace (pasta). Default true. */
  networkIsolation?: boolean;
  /** pasta executable; default `pasta` from PATH. */
  pasta?: string;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROBE_TIMEOUT_MS = 30_000;

interface Tools {
  sh: string;
  env: string;
  cat: string;
  bwrap?: string;
  setpriv?: string;
  prlimit?: string;
  network?: NetworkTools;
}

/** The content user of the most recent sandbox, for the module-level prepareWritableDir. */
let defaultIdentity: Identity | undefined;

/** mkdir -p, then hand the directory to the content user (when the server is root). */
export async function prepareWritableDir(dir: string, identity = defaultIdentity): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (identity?.switchUser) await ensureOwned(dir, identity);
}

export class Sandbox {
  private constructor(
    private readonly options: SandboxOptions,
    private readonly identity: Identity | undefined,
    private readonly tools: Tools,
    private readonly cgroups: CgroupLayout,
  ) {}

  static async create(options: SandboxOptions): Promise<Sandbox> {
    const probe = options.probe !== false;
    if (!probe) {
      return new Sandbox(options, undefined, { sh: '/bin/sh', env: '/usr/bin/env', cat: '/bin/cat' }, CgroupLayout.none('not probed'));
    }
    const identity = await resolveRunAs(options.runAs, { create: true });
    const cgroups = options.cgroups === false ? CgroupLayout.none('disabled') : await CgroupLayout.detect();
    const tools: Tools = { sh: '/bin/sh', env: await findTool('env'), cat: await findTool('cat') };
    if (identity.switchUser) tools.setpriv = await findTool('setpriv');
    if (!cgroups.has('memory') || !cgroups.has('pids')) tools.prlimit = await findTool('prlimit');
    if (options.enabled) {
      const bwrap = options.bwrap ?? (await findTool('bwrap').catch(() => null));
      if (!bwrap) throw new Error(sandboxFailure('bubblewrap (bwrap) is not installed', '', identity));
      const usable = await access(bwrap, constants.X_OK).then(
        () => true,
        () => false,
      );
      if (!usable) throw new Error(sandboxFailure(`bubblewrap is not an executable file at ${bwrap}`, '', identity));
      tools.bwrap = bwrap;
      // A namespace per job needs a root server (pasta joins namespaces root made). A server run as
      // a user (a laptop, where content runs as that user anyway) starts without it and says so.
      if (options.networkIsolation !== false && serverIsRoot()) tools.network = await findNetworkTools(options.pasta);
    }
    const sandbox = new Sandbox(options, identity, tools, cgroups);
    await sandbox.probe();
    defaultIdentity = identity;
    return sandbox;
  }

  /** Whether every job gets its own network namespace, which reaches none of the host's loopback but the ports it is given. */
  get isolatesNetwork(): boolean {
    return this.tools.network !== undefined;
  }

  /** The user content runs as (Connect's job `run_as`). */
  runAsUser(): string {
    return this.identity?.user ?? (serverIsRoot() ? this.options.runAs : userInfo().username);
  }

  describe(): string {
    const who = this.identity ? `${this.identity.user} (uid ${this.identity.uid})` : this.runAsUser();
    const isolation = this.tools.bwrap ? `bubblewrap sandbox (${this.tools.bwrap}${serverIsRoot() ? ', run by root' : ', user namespaces'})` : 'no sandbox ([Applications] Sandbox = false)';
    const memory = this.cgroups.has('memory') ? 'cgroup' : 'RLIMIT_AS';
    const pids = this.cgroups.has('pids') ? 'cgroup' : this.identity?.uid === 0 ? 'none (content runs as root)' : 'RLIMIT_NPROC (per user, shared by all content)';
    const network = this.tools.network
      ? 'own network namespace (pasta; no host loopback)'
      : !this.tools.bwrap
        ? 'host network'
        : this.options.networkIsolation === false
          ? 'host network ([Applications] NetworkIsolation = false)'
          : "host network: a namespace per process needs Lectern to run as root, so content can reach this machine's loopback services";
    return `${isolation}; network: ${network}; content runs as ${who}; memory limit: ${memory}; process limit: ${pids}; cgroups: ${this.cgroups.describe()}`;
  }

  async prepareWritableDir(dir: string): Promise<void> {
    await prepareWritableDir(dir, this.identity);
  }

  async prepare(req: SandboxRequest): Promise<{ command: PreparedCommand; process: SandboxedProcess }> {
    const identity = this.identity;
    if (!identity) throw new Error('this sandbox was created without probing and cannot run content');
    const name = cgroupName(req.name);
    if (identity.switchUser) for (const dir of req.readWrite) await ensureOwned(dir, identity);
    if (!this.tools.bwrap && identity.switchUser) await checkReachable(identity, [req.cwd, ...req.readOnly, ...req.readWrite]);

    const isolate = this.tools.bwrap ? [this.tools.bwrap, ...bwrapOptions({ readOnly: req.readOnly, readWrite: req.readWrite, hidePaths: this.options.hidePaths }, req.cwd)] : [];
    if (isolate.length && identity.uid === 0) isolate.push('--cap-drop', 'ALL');
    if (isolate.length) isolate.push('--');

    const maxProcesses = req.maxProcesses ?? this.options.processLimit;
    const cgroup = this.cgroups.hierarchies.length ? await this.cgroups.create(name, { memoryBytes: req.memoryLimitBytes, maxProcesses }) : undefined;
    const rlimits: string[] = [];
    if (req.memoryLimitBytes && !cgroup?.has('memory')) rlimits.push(`--as=${req.memoryLimitBytes}`);
    if (!cgroup?.has('pids') && identity.uid !== 0) rlimits.push(`--nproc=${maxProcesses}`);

    const limit = rlimits.length ? [this.tools.prlimit!, ...rlimits, '--'] : [];
    const dropPrivileges = identity.switchUser
      ? [
          this.tools.setpriv!,
          `--reuid=${identity.uid}`,
          `--regid=${identity.gid}`,
          `--groups=${identity.groups.join(',') || identity.gid}`,
          '--inh-caps=-all',
          '--bounding-set=-all',
          '--no-new-privs',
          '--',
        ]
      : [];
    // The content user's shell reads the job's environment from fd 3, opened by the root side:
    // the file is gone (and unreadable to that user) by then, and no command line ever shows it.
    const envDir = await mkdtemp(path.join(tmpdir(), 'lectern-env-'));
    const envFile = path.join(envDir, 'env');
    try {
      await writeFile(envFile, exportScript(req.env), { mode: 0o600 });
    } catch (err) {
      await rm(envDir, { recursive: true, force: true });
      await cgroup?.remove();
      throw err;
    }
    const loadEnv = [this.tools.env, '-i', this.tools.sh, '-c', `eval "$(${this.tools.cat} <&3)" && exec 3<&- && exec "$@"`, 'lectern-env'];
    const contentCommand = [...dropPrivileges, ...loadEnv, ...req.command];
    const network = this.tools.network ? enterNetworkNamespace(this.tools.network, this.tools.sh) : [];
    const script = (cgroup?.procsFiles() ?? []).map((f) => `echo $$ > ${shellQuote(f)}`);
    script.push(`exec 3< ${shellQuote(envFile)}`, `rm -f ${shellQuote(envFile)}`, 'exec "$@"');
    const command: PreparedCommand = {
      file: this.tools.sh,
      args: ['-c', script.join(' && '), 'lectern-sandbox', ...network, ...limit, ...isolate, ...contentCommand],
      env: { PATH: SYSTEM_PATH },
      // bwrap changes to the job's directory itself; the root-side shell starts where it can.
      cwd: this.tools.bwrap ? '/' : req.cwd,
      stdin: this.tools.network ? 'pipe' : 'ignore',
    };
    const networking = this.tools.network ? { tools: this.tools.network, ports: req.inboundPorts ?? [], hostPorts: req.hostPorts ?? [] } : undefined;
    return { command, process: new SandboxedJob(cgroup, !!this.tools.bwrap, envDir, networking) };
  }

  /** Runs `id -u` the way every job runs and checks it answers as the content user. */
  private async probe(): Promise<void> {
    const identity = this.identity!;
    const dir = await mkdtemp(path.join(tmpdir(), 'lectern-probe-'));
    try {
      const { command, process: job } = await this.prepare({
        name: `probe-${process.pid}-${Date.now()}`,
        command: ['id', '-u'],
        cwd: dir,
        env: { PATH: SYSTEM_PATH, HOME: dir },
        readOnly: [],
        readWrite: [dir],
        memoryLimitBytes: 256 << 20,
      });
      const result = await runCollect(command, (child) => job.attach(child));
      await job.release();
      const answered = result.stdout.trim();
      if (result.attachError) throw new Error(networkFailure(`pasta could not connect the job's network namespace: ${result.attachError}`));
      if (result.code === 0 && answered === String(identity.uid)) return;
      const what = this.tools.bwrap
        ? `running \`id -u\` in the sandbox (${this.tools.bwrap}) as ${identity.user} ${result.code === 0 ? `answered "${answered}" instead of ${identity.uid}` : `failed (${result.error ?? `exit code ${result.code}`})`}`
        : `running \`id -u\` as ${identity.user} failed (${result.error ?? `exit code ${result.code}, output "${answered}"`})`;
      throw new Error(this.tools.bwrap ? sandboxFailure(what, result.stderr, identity) : `Cannot run content: ${what}: ${result.stderr.trim()}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function sandboxFailure(what: string, stderr: string, identity: Identity): string {
  const namespaces = serverIsRoot()
    ? 'make sure mount and PID namespaces are allowed (in a container: run it privileged, or with seccomp/AppArmor profiles that permit unshare and mount)'
    : 'allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0 and kernel.unprivileged_userns_clone = 1 where it exists; ' +
      'on Ubuntu 23.10+ kernel.apparmor_restrict_unprivileged_userns = 0 or an AppArmor profile for bwrap), or run Lectern as root';
  // One line: it is the whole start-up error message (lectern start prints it and exits).
  const detail = stderr.trim().replace(/\s*\n\s*/g, ' ');
  return (
    `The content sandbox does not work: ${what}${detail ? ` (${detail})` : ''}.` +
    ` To fix it: install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; RHEL/Fedora: dnf install bubblewrap), ${namespaces}; ` +
    `or set [Applications] Sandbox = false to run content (as ${identity.user}) without it.`
  );
}

function networkFailure(what: string): string {
  return (
    `Network isolation for content does not work: ${what}. ` +
    'To fix it: install pasta (Debian/Ubuntu: apt-get install passt; RHEL/Fedora: dnf install passt) and run Lectern as root, ' +
    "or set [Applications] NetworkIsolation = false to let content share the host's network (and reach its loopback services and other workers)."
  );
}

async function findNetworkTools(pasta?: string): Promise<NetworkTools> {
  const found = pasta ?? (await findTool('pasta').catch(() => null));
  if (!found) throw new Error(networkFailure('pasta (passt) is not installed'));
  if (
    !(await access(found, constants.X_OK).then(
      () => true,
      () => false,
    ))
  )
    throw new Error(networkFailure(`pasta is not an executable file at ${found}`));
  const unshare = await findTool('unshare').catch(() => null);
  const setpriv = await findTool('setpriv').catch(() => null);
  if (!unshare || !setpriv) throw new Error(networkFailure("util-linux's unshare and setpriv are not installed"));
  return { pasta: found, unshare, setpriv };
}

/** The absolute path of a system tool (bwrap, setpriv, prlimit): never looked up in the content's PATH. */
export async function findTool(name: string): Promise<string> {
  for (const dir of SYSTEM_PATH.split(':')) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} is not installed (looked in ${SYSTEM_PATH})`);
}

/** `export NAME='value'` lines; names a shell cannot export are left out. */
export function exportScript(env: Record<string, string>): string {
  return Object.entries(env)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
    .join('');
}

function cgroupName(key: string): string {
  return `job-${key.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100)}`;
}

/** Gives a directory tree to the content user, once (a tree already owned by it is left alone). */
async function ensureOwned(dir: string, identity: Identity): Promise<void> {
  const info = await lstat(dir);
  if (info.uid === identity.uid) return;
  const walk = async (p: string) => {
    const entry = lstatSync(p);
    if (entry.isDirectory()) for (const name of await readdir(p)) await walk(path.join(p, name));
    await lchown(p, identity.uid, identity.gid);
  };
  await walk(dir);
}

/** Without bwrap the content user needs search permission on every parent directory itself. */
async function checkReachable(identity: Identity, paths: string[]): Promise<void> {
  for (const target of paths) {
    let dir = path.resolve(target);
    const chain: string[] = [];
    while (dir !== path.dirname(dir)) {
      dir = path.dirname(dir);
      chain.unshift(dir);
    }
    for (const d of [...chain, target]) {
      const info = await stat(d).catch(() => null);
      if (!info?.isDirectory()) continue;
      const bits = info.uid === identity.uid ? 0o100 : identity.groups.includes(info.gid) ? 0o010 : 0o001;
      if (!(info.mode & bits)) {
        throw new Error(
          `${identity.user} cannot reach ${target}: ${d} is mode ${(info.mode & 0o777).toString(8)} (owner uid ${info.uid}). ` +
            `Without the sandbox, content sees the host file system with ${identity.user}'s permissions: make it readable, or turn [Applications] Sandbox back on.`,
        );
      }
    }
  }
}

interface Collected {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
  attachError?: string;
}

function runCollect(command: PreparedCommand, onSpawn: (child: ChildProcess) => Promise<void>): Promise<Collected> {
  return new Promise((resolve) => {
    const child = spawn(command.file, command.args, { cwd: command.cwd, env: command.env, stdio: [command.stdin, 'pipe', 'pipe'] });
    let attachError: string | undefined;
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('spawn', () => void onSpawn(child).catch((err: Error) => (attachError = err.message)));
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, error: err.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, error: signal ? `killed by ${signal}` : undefined, attachError });
    });
  });
}
