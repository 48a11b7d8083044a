// Per-job cgroups: memory and process limits, OOM detection and usage for the local launcher.
//
// Each controller (memory, pids) comes from whichever hierarchy offers it: cgroup v2 (the normal
// case) or a v1 hierarchy (older and hybrid hosts, where v2 may be mounted without controllers).
// Job cgroups live in a `lectern-jobs` folder next to the server's own cgroup, so limits set on the
// server's service (systemd slice, container) still bound them. v2 forbids processes in a cgroup
// that hands controllers to children, so a server that is alone in its cgroup moves itself into
// `lectern-server` first (what systemd's Delegate=yes expects). When nothing is writable the
// sandbox falls back to rlimits; `notes` says why.
import { spawn } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type Controller = 'memory' | 'pids';
const CONTROLLERS: Controller[] = ['memory', 'pids'];
const JOBS = 'lectern-jobs';
const SERVER_LEAF = 'lectern-server';

export interface Hierarchy {
  version: 1 | 2;
  /** Where job cgroups are created. */
  jobsDir: string;
  controllers: Controller[];
}

export interface MountEntry {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

export function parseMountinfo(text: string): MountEntry[] {
  const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    entries.push({ root: unescapeOctal(left[3]!), mountPoint: unescapeOctal(left[4]!), fsType: right[0]!, superOptions: right[2]!.split(',') });
  }
  return entries;
}

export interface ProcCgroup {
  id: number;
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroup[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, controllers, ...rest] = line.split(':');
      return { id: Number(id), controllers: controllers ? controllers.split(',') : [], path: rest.join(':') };
    });
}

/** The directory of a process's cgroup under a mount, or null when the mount does not show it. */
export function cgroupDir(mount: MountEntry, cgroupPath: string): string | null {
  if (mount.root === '/') return path.join(mount.mountPoint, cgroupPath);
  if (cgroupPath === mount.root || cgroupPath.startsWith(mount.root + '/')) return path.join(mount.mountPoint, cgroupPath.slice(mount.root.length));
  return null;
}

export class CgroupLayout {
  private constructor(
    readonly hierarchies: Hierarchy[],
    readonly notes: string[],
  ) {}

  static none(note: string): CgroupLayout {
    return new CgroupLayout([], [note]);
  }

  /** Finds writable hierarchies for memory and pids, and checks a process can really be placed in one. */
  static async detect(): Promise<CgroupLayout> {
    const notes: string[] = [];
    let mounts: MountEntry[];
    let own: ProcCgroup[];
    try {
      mounts = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
      own = parseProcCgroup(await readFile('/proc/self/cgroup', 'utf8'));
    } catch (err) {
      return CgroupLayout.none(`cgroups unavailable: ${(err as Error).message}`);
    }
    const found: Hierarchy[] = [];
    const wanted = new Set<Controller>(CONTROLLERS);
    for (const entry of own.filter((e) => e.id !== 0)) {
      const controllers = CONTROLLERS.filter((c) => entry.controllers.includes(c) && wanted.has(c));
      if (!controllers.length) continue;
      const mount = mounts.find((m) => m.fsType === 'cgroup' && controllers.every((c) => m.superOptions.includes(c)));
      const dir = mount && cgroupDir(mount, entry.path);
      if (!dir) continue;
      const hierarchy = await setUpV1(dir, controllers, notes);
      if (hierarchy) {
        found.push(hierarchy);
        for (const c of controllers) wanted.delete(c);
      }
    }
    const unified = own.find((e) => e.id === 0);
    const v2mount = mounts.find((m) => m.fsType === 'cgroup2');
    const v2dir = unified && v2mount && cgroupDir(v2mount, unified.path);
    if (wanted.size && v2dir && v2mount) {
      const hierarchy = await setUpV2(v2dir, v2mount.mountPoint, [...wanted], notes);
      if (hierarchy) found.push(hierarchy);
    }
    const layout = new CgroupLayout(found, notes);
    if (found.length) {
      const problem = await layout.tryPlacement();
      if (problem) return CgroupLayout.none(`cgroups found but a process cannot be placed in them: ${problem}`);
    }
    for (const c of CONTROLLERS) if (!layout.has(c)) notes.push(`no writable cgroup offers the ${c} controller`);
    return layout;
  }

  has(controller: Controller): boolean {
    return this.hierarchies.some((h) => h.controllers.includes(controller));
  }

  describe(): string {
    if (!this.hierarchies.length) return `no cgroups (${this.notes.join('; ')})`;
    return this.hierarchies.map((h) => `cgroup v${h.version} ${h.controllers.join('+')} under ${h.jobsDir}`).join(', ');
  }

  async create(name: string, limits: { memoryBytes?: number; maxProcesses?: number }): Promise<JobCgroup> {
    const dirs: JobDir[] = [];
    try {
      for (const h of this.hierarchies) {
        const dir = path.join(h.jobsDir, name);
        // An empty leftover of the same name (a crash between start and release) is reused.
        await mkdir(dir).catch(async (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
          await rmdir(dir);
          await mkdir(dir);
        });
        dirs.push({ ...h, dir });
        if (h.controllers.includes('memory') && limits.memoryBytes) await setMemoryLimit(h.version, dir, limits.memoryBytes);
        if (h.controllers.includes('pids') && limits.maxProcesses) await writeFile(path.join(dir, 'pids.max'), String(limits.maxProcesses));
      }
    } catch (err) {
      await new JobCgroup(dirs).remove();
      throw new Error(`cannot set up the cgroup of job ${name}: ${(err as Error).message}`);
    }
    return new JobCgroup(dirs);
  }

  /** Places a short-lived shell in a probe cgroup, the way jobs are placed. */
  private async tryPlacement(): Promise<string | null> {
    let group: JobCgroup | undefined;
    try {
      group = await this.create(`probe-${process.pid}-${Date.now()}`, { memoryBytes: 64 << 20, maxProcesses: 64 });
      const script = group
        .procsFiles()
        .map((f) => `echo $$ > ${shellQuote(f)}`)
        .join(' && ');
      const { code, stderr } = await runQuiet('/bin/sh', ['-c', script]);
      return code === 0 ? null : stderr.trim() || `exit code ${code}`;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await group?.remove();
    }
  }
}

interface JobDir extends Hierarchy {
  dir: string;
}

/** One job's cgroup directories (one per hierarchy used). */
export class JobCgroup {
  constructor(private readonly dirs: JobDir[]) {}

  /** Files a process writes its pid to, before running anything of the job's. */
  procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d.dir, 'cgroup.procs'));
  }

  get empty(): boolean {
    return this.dirs.length === 0;
  }

  has(controller: Controller): boolean {
    return this.dirs.some((d) => d.controllers.includes(controller));
  }

  /** OOM kills inside the job's cgroup since it was created. */
  async oomKills(): Promise<number> {
    const d = this.dirs.find((x) => x.controllers.includes('memory'));
    if (!d) return 0;
    const file = d.version === 2 ? 'memory.events' : 'memory.oom_control';
    const text = await readFile(path.join(d.dir, file), 'utf8').catch(() => '');
    const counter = /^oom_kill (\d+)/m.exec(text)?.[1];
    if (counter !== undefined || d.version === 2) return Number(counter ?? 0);
    // Kernels before 4.13 have no v1 oom_kill counter: having hit the limit is the best sign left.
    const failcnt = Number(await readFile(path.join(d.dir, 'memory.failcnt'), 'utf8').catch(() => '0'));
    return failcnt > 0 ? 1 : 0;
  }

  async memoryBytes(): Promise<number | undefined> {
    const d = this.dirs.find((x) => x.controllers.includes('memory'));
    if (!d) return undefined;
    const text = await readFile(path.join(d.dir, d.version === 2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8').catch(() => '');
    return text ? Number(text.trim()) : undefined;
  }

  /** v2 counts CPU time in every cgroup (cpu.stat), with or without the cpu controller. */
  async cpuSeconds(): Promise<number | undefined> {
    const d = this.dirs.find((x) => x.version === 2);
    if (!d) return undefined;
    const text = await readFile(path.join(d.dir, 'cpu.stat'), 'utf8').catch(() => '');
    const usec = /^usage_usec (\d+)/m.exec(text)?.[1];
    return usec ? Number(usec) / 1e6 : undefined;
  }

  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const file of this.procsFiles()) {
      const text = await readFile(file, 'utf8').catch(() => '');
      for (const p of text.split('\n')) if (p) all.add(Number(p));
    }
    return [...all];
  }

  async kill(): Promise<void> {
    for (const d of this.dirs) {
      if (d.version === 2 && existsSync(path.join(d.dir, 'cgroup.kill'))) {
        await writeFile(path.join(d.dir, 'cgroup.kill'), '1').catch(() => undefined);
      }
    }
    for (const pid of await this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  /** Kills what is left and removes the directories (a cgroup can only be removed once empty). */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const left: JobDir[] = [];
      for (const d of this.dirs) {
        try {
          await rmdir(d.dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(d);
        }
      }
      if (!left.length) return;
      this.dirs.splice(0, this.dirs.length, ...left);
      await this.kill();
      await new Promise((r) => setTimeout(r, 20 + attempt * 10));
    }
  }
}

async function setMemoryLimit(version: 1 | 2, dir: string, bytes: number) {
  if (version === 2) {
    await writeFile(path.join(dir, 'memory.max'), String(bytes));
    // Without these, a job over its limit swaps instead of failing, and only one process of a
    // multi-process app would be killed.
    await writeFile(path.join(dir, 'memory.swap.max'), '0').catch(() => undefined);
    await writeFile(path.join(dir, 'memory.oom.group'), '1').catch(() => undefined);
    return;
  }
  await writeFile(path.join(dir, 'memory.limit_in_bytes'), String(bytes));
  await writeFile(path.join(dir, 'memory.memsw.limit_in_bytes'), String(bytes)).catch(() => undefined);
}

async function setUpV1(ownDir: string, controllers: Controller[], notes: string[]): Promise<Hierarchy | null> {
  const jobsDir = path.join(ownDir, JOBS);
  try {
    await mkdir(jobsDir, { recursive: true });
    await access(jobsDir, constants.W_OK);
    await removeStaleJobs(jobsDir);
    return { version: 1, jobsDir, controllers };
  } catch (err) {
    notes.push(`cgroup v1 ${controllers.join('+')} at ${ownDir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return null;
  }
}

async function setUpV2(ownDir: string, mountPoint: string, wanted: Controller[], notes: string[]): Promise<Hierarchy | null> {
  // Already moved out of its cgroup by an earlier start in this process (tests start several).
  const base = path.basename(ownDir) === SERVER_LEAF ? path.dirname(ownDir) : ownDir;
  const available = (await readFile(path.join(base, 'cgroup.controllers'), 'utf8').catch(() => '')).split(/\s+/);
  const controllers = wanted.filter((c) => available.includes(c));
  if (!controllers.length) {
    notes.push(`cgroup v2 at ${base} offers neither ${wanted.join(' nor ')}`);
    return null;
  }
  const candidates = [base];
  // The true root cgroup may hold processes and hand out controllers; root can use it when its own cgroup is shared.
  if (process.getuid?.() === 0 && base !== mountPoint && !existsSync(path.join(mountPoint, 'cgroup.type'))) candidates.push(mountPoint);
  const problems: string[] = [];
  for (const dir of candidates) {
    try {
      await enable(dir, controllers, dir === base);
      const jobsDir = path.join(dir, JOBS);
      await mkdir(jobsDir, { recursive: true });
      await access(jobsDir, constants.W_OK);
      await writeFile(path.join(jobsDir, 'cgroup.subtree_control'), controllers.map((c) => `+${c}`).join(' '));
      await removeStaleJobs(jobsDir);
      return { version: 2, jobsDir, controllers };
    } catch (err) {
      problems.push(`${dir}: ${(err as Error).message}`);
    }
  }
  notes.push(`cgroup v2 is not usable (${problems.join('; ')}); run Lectern in a cgroup of its own with delegation (systemd Delegate=yes)`);
  return null;
}

async function enable(dir: string, controllers: Controller[], mayMoveSelf: boolean) {
  const control = path.join(dir, 'cgroup.subtree_control');
  const enabled = (await readFile(control, 'utf8')).split(/\s+/);
  if (controllers.every((c) => enabled.includes(c))) return;
  const request = controllers.map((c) => `+${c}`).join(' ');
  try {
    await writeFile(control, request);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || !mayMoveSelf) throw err;
  }
  // EBUSY: processes live in this cgroup. Moving them is only ours to do when we are the only one.
  const members = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
  if (members.some((pid) => pid !== process.pid)) throw new Error(`other processes share Lectern's cgroup (${members.length} in all)`);
  const leaf = path.join(dir, SERVER_LEAF);
  await mkdir(leaf, { recursive: true });
  await writeFile(path.join(leaf, 'cgroup.procs'), String(process.pid));
  await writeFile(control, request);
}

/** Empty job cgroups a crashed server left; recent ones may belong to another server being set up. */
async function removeStaleJobs(jobsDir: string) {
  const cutoff = Date.now() - 10 * 60_000;
  for (const name of await readdir(jobsDir).catch(() => [] as string[])) {
    const dir = path.join(jobsDir, name);
    const info = await stat(dir).catch(() => null);
    if (info?.isDirectory() && info.mtimeMs < cutoff) await rmdir(dir).catch(() => undefined);
  }
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function runQuiet(file: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: -1, stderr: err.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}
