import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { type DiscoveryPlace, findExecutables } from './discovery.js';

const run = promisify(execFile);

export type RuntimeKind = 'python' | 'r' | 'quarto';
export type VersionMatching = 'major-minor' | 'exact' | 'nearest';

/** One interpreter installation content may run on, as probed. */
export interface Installation {
  kind: RuntimeKind;
  version: string;
  /** What the server runs: the real interpreter (shims resolved), Rscript for R, quarto. */
  executable: string;
  /** The configured path, as the administrator wrote it. */
  configured: string;
  /** Directories the sandbox must expose read-only so the interpreter works. */
  prefixes: string[];
}

export class InterpreterError extends Error {}

const PROBES: Record<RuntimeKind, (exe: string) => Promise<Installation>> = {
  async python(exe) {
    const script = 'import sys; print("%d.%d.%d" % sys.version_info[:3]); print(sys.executable); print(sys.base_prefix); print(sys.prefix)';
    const { stdout } = await run(exe, ['-c', script], { timeout: 30_000 });
    const [version, executable, basePrefix, prefix] = stdout.trim().split('\n');
    // sys.executable may be a link outside both prefixes (/usr/local/bin/python3 → /opt/…): its
    // directory must be visible too. (Not resolved: a venv's python is a link that must stay one.)
    return { kind: 'python', version: version!, executable: executable!, configured: exe, prefixes: unique([basePrefix!, prefix!, path.dirname(executable!)]) };
  },
  async r(exe) {
    const { stdout } = await run(exe, ['--vanilla', '--slave', '-e', 'cat(paste(R.version$major, R.version$minor, sep="."), R.home(), sep="\\n")'], { timeout: 30_000 });
    const [version, home] = stdout.trim().split('\n');
    const real = await realpath(home!);
    // Debian keeps site libraries outside R_HOME; they must be visible too. Debian's jquerylib (used
    // by rmarkdown's HTML documents) asks `dpkg -s libjs-jquery` for the system jQuery's version,
    // which reads dpkg's database (package metadata only, nothing secret).
    const dpkg = existsSync('/var/lib/dpkg/status') ? ['/var/lib/dpkg'] : [];
    return { kind: 'r', version: version!, executable: path.join(real, 'bin', 'Rscript'), configured: exe, prefixes: unique([real, '/usr/lib/R', '/usr/local/lib/R', '/usr/share/R', ...dpkg]) };
  },
  async quarto(exe) {
    const { stdout } = await run(exe, ['--version'], { timeout: 30_000 });
    const real = await realpath(exe);
    // quarto's launcher script reaches its bundled tools through ../share and bin/tools.
    return { kind: 'quarto', version: stdout.trim(), executable: real, configured: exe, prefixes: [path.dirname(path.dirname(real))] };
  },
};

const DEFAULT_COMMAND: Record<RuntimeKind, string> = { python: 'python3', r: 'R', quarto: 'quarto' };

/**
 * Probes each configured executable. A configured one that does not work stops start-up; with
 * none configured the default command from PATH is used when present.
 */
export async function probeInstallations(kind: RuntimeKind, configured: readonly string[]): Promise<Installation[]> {
  const { installations, missing } = await probeKind(kind, configured);
  if (missing[0]) throw new InterpreterError(`[${SECTION[kind]}] Executable = ${missing[0]}: cannot use this ${SECTION[kind]} installation: it does not exist`);
  return installations;
}

/**
 * Like probeInstallations, but a configured executable that does not exist (yet) is returned in
 * `missing` rather than refused: it may be installed while the server runs.
 */
export async function probeKind(kind: RuntimeKind, configured: readonly string[]): Promise<{ installations: Installation[]; missing: string[] }> {
  if (configured.length === 0) {
    const found = await findOnPath(DEFAULT_COMMAND[kind]);
    if (!found) return { installations: [], missing: [] };
    try {
      return { installations: [await PROBES[kind](found)], missing: [] };
    } catch {
      return { installations: [], missing: [] };
    }
  }
  const installations: Installation[] = [];
  const missing: string[] = [];
  for (const exe of configured) {
    try {
      installations.push(await PROBES[kind](exe));
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') {
        missing.push(exe);
        continue;
      }
      throw new InterpreterError(`[${SECTION[kind]}] Executable = ${exe}: cannot use this ${SECTION[kind]} installation: ${e.stderr?.trim() || e.message}`);
    }
  }
  return { installations, missing };
}

export const SECTION: Record<RuntimeKind, string> = { python: 'Python', r: 'R', quarto: 'Quarto' };

/**
 * The installations found at `places` (src/runtimes/discovery.ts) that `known` does not already
 * have (the same real executable). One that does not answer the probe is left out, as is a
 * Python 2: nothing found there stops start-up, since no administrator asked for it.
 */
export async function discoverInstallations(kind: RuntimeKind, places: readonly DiscoveryPlace[], known: readonly Installation[]): Promise<Installation[]> {
  const seen = new Set(await Promise.all(known.flatMap((i) => [i.executable, i.configured]).map(realOrSelf)));
  const candidates: string[] = [];
  for (const exe of await findExecutables(places)) if (!seen.has(await realOrSelf(exe))) candidates.push(exe);
  // Probed together (each is a process start), kept in the order they were found.
  const probed = await Promise.all(candidates.map((exe) => PROBES[kind](exe).catch(() => undefined)));
  const found: Installation[] = [];
  for (const [index, installation] of probed.entries()) {
    if (!installation) continue;
    const exe = candidates[index]!;
    const real = await realOrSelf(installation.executable);
    if (seen.has(real) || (kind === 'python' && (parseVersion(installation.version)?.[0] ?? 0) < 3)) continue;
    seen.add(real);
    seen.add(await realOrSelf(exe));
    found.push(installation);
  }
  return found;
}

async function realOrSelf(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return file;
  }
}

async function findOnPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      await run(candidate, ['--version'], { timeout: 15_000 });
      return candidate;
    } catch {
      // not here, or not working
    }
  }
  return undefined;
}

function unique(items: string[]): string[] {
  return [...new Set(items.filter(Boolean))];
}

export type Version = [number, number, number];

export function parseVersion(text: string): Version | undefined {
  const m = /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/** Distance on the version line, so 3.6 is nearer to 4.1 than to 4.4. */
export function versionDistance(a: Version, b: Version): number {
  const position = (v: Version) => v[0] * 1e6 + v[1] * 1e3 + v[2];
  return Math.abs(position(a) - position(b));
}

/** Whether `have` may serve a request for `want` under the matching rule. */
export function versionAccepts(have: Version, want: Version, matching: VersionMatching): boolean {
  if (matching === 'exact') return have[0] === want[0] && have[1] === want[1] && have[2] === want[2];
  if (matching === 'major-minor') return have[0] === want[0] && have[1] === want[1];
  return true;
}

/**
 * The installation closest to `requested` among those the matching rule accepts (ties: the
 * newest), with its distance; no requested version → the newest, at distance 0.
 */
export function closestInstallation<T extends { version: string }>(
  installations: readonly T[],
  requested: Version | undefined,
  matching: VersionMatching,
): { installation: T; distance: number } | undefined {
  const newestFirst = [...installations].sort((a, b) => -compare(parseVersion(a.version)!, parseVersion(b.version)!));
  if (!requested) return newestFirst[0] ? { installation: newestFirst[0], distance: 0 } : undefined;
  let best: { installation: T; distance: number } | undefined;
  for (const installation of newestFirst) {
    const have = parseVersion(installation.version)!;
    if (!versionAccepts(have, requested, matching)) continue;
    const d = versionDistance(have, requested);
    if (!best || d < best.distance) best = { installation, distance: d };
  }
  return best;
}

/**
 * The installation a bundle's requested version picks, or an error naming the kind and version
 * asked for and what this server has. No requested version → the newest installation.
 * `missing`: configured executables that do not exist, named in the error.
 */
export function matchInstallation(kind: RuntimeKind, installations: readonly Installation[], requested: string | undefined, matching: VersionMatching, missing: readonly string[] = []): Installation {
  const name = SECTION[kind];
  const asked = requested ? `${name} ${requested}` : name;
  const absent = missing.length ? ` (configured but not found: ${missing.join(', ')})` : '';
  if (installations.length === 0) throw new InterpreterError(`The bundle needs ${asked}, but this server has no ${name} installation${absent}.`);
  const want = requested ? parseVersion(requested) : undefined;
  if (requested && !want) throw new InterpreterError(`The bundle asks for ${name} version "${requested}", which is not a version number.`);
  const best = closestInstallation(installations, want, matching);
  if (!best) {
    const available = installations
      .map((i) => i.version)
      .sort((a, b) => -compare(parseVersion(a)!, parseVersion(b)!))
      .join(', ');
    // Name what is missing as the rule reads it: "no Python 3.12" (major-minor), "no Python 3.12.4" (exact).
    const missingVersion = matching === 'exact' ? want!.join('.') : `${want![0]}.${want![1]}`;
    throw new InterpreterError(`The bundle requires ${asked}, but this server has no ${name} ${missingVersion} ([${name}] VersionMatching = ${matching}). Installed: ${available}${absent}.`);
  }
  return best.installation;
}

export function compareVersions(a: string, b: string): number {
  return compare(parseVersion(a) ?? [0, 0, 0], parseVersion(b) ?? [0, 0, 0]);
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

// A request no installation satisfies probes again when a configured executable changed (cheap
// to see: a stat) or the last probe is older than this.
const REPROBE_AFTER_MS = 60_000;

const KINDS: readonly RuntimeKind[] = ['python', 'r', 'quarto'];

/**
 * Every probed installation, by kind. Probed at start-up, and again when a bundle asks for what
 * no installation offers: at most once per kind in flight, and only when a configured executable
 * appeared, disappeared or changed since the last probe, or that probe is a minute old.
 */
export class Interpreters {
  private readonly installed: Record<RuntimeKind, Installation[]>;
  private readonly absent: Record<RuntimeKind, string[]> = { python: [], r: [], quarto: [] };
  private readonly probed: Record<RuntimeKind, { at: number; fingerprint: string }> = {
    python: { at: 0, fingerprint: '' },
    r: { at: 0, fingerprint: '' },
    quarto: { at: 0, fingerprint: '' },
  };
  private readonly probing = new Map<RuntimeKind, Promise<void>>();

  /**
   * Without `configured` (tests, maintenance commands) nothing is probed again. `discover`: the
   * places to look for more installations of each kind (none for a kind whose Discover is off).
   */
  constructor(
    python: Installation[],
    r: Installation[],
    quarto: Installation[],
    private readonly configured?: Readonly<Record<RuntimeKind, readonly string[]>>,
    private readonly discover: Readonly<Partial<Record<RuntimeKind, readonly DiscoveryPlace[]>>> = {},
  ) {
    this.installed = { python, r, quarto };
  }

  static async probe(config: Readonly<Record<RuntimeKind, readonly string[]>>, discover: Readonly<Partial<Record<RuntimeKind, readonly DiscoveryPlace[]>>> = {}): Promise<Interpreters> {
    const interpreters = new Interpreters([], [], [], config, discover);
    await Promise.all(KINDS.map((kind) => interpreters.reprobe(kind)));
    return interpreters;
  }

  of(kind: RuntimeKind): Installation[] {
    return this.installed[kind];
  }

  /** Configured executables that did not exist at the last probe. */
  missing(kind: RuntimeKind): string[] {
    return this.absent[kind];
  }

  /** The installation for a bundle's request, probing again first when none fits (see the class). */
  async find(kind: RuntimeKind, requested: string | undefined, matching: VersionMatching): Promise<Installation> {
    const fits = () => {
      const want = requested ? parseVersion(requested) : undefined;
      return this.installed[kind].length > 0 && (requested === undefined || (want !== undefined && closestInstallation(this.installed[kind], want, matching) !== undefined));
    };
    if (!fits() && this.configured && (await this.changedSinceProbe(kind))) await this.reprobe(kind);
    return matchInstallation(kind, this.installed[kind], requested, matching, this.absent[kind]);
  }

  private async changedSinceProbe(kind: RuntimeKind): Promise<boolean> {
    const last = this.probed[kind];
    return Date.now() - last.at > REPROBE_AFTER_MS || (await this.fingerprint(kind)) !== last.fingerprint;
  }

  /** What the configured and discovered executables are now: their real paths, sizes and change times. */
  private async fingerprint(kind: RuntimeKind): Promise<string> {
    const places = this.discover[kind];
    const discovered = places ? await findExecutables(places) : [];
    const parts = await Promise.all(
      [...(this.configured?.[kind] ?? []), ...discovered].map(async (exe) => {
        try {
          const real = await realpath(exe);
          const info = await stat(real);
          return `${exe}=${real}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
        } catch {
          return `${exe}=missing`;
        }
      }),
    );
    return parts.join('\n');
  }

  private reprobe(kind: RuntimeKind): Promise<void> {
    const running = this.probing.get(kind);
    if (running) return running;
    const probe = (async () => {
      const fingerprint = await this.fingerprint(kind);
      const { installations, missing } = await probeKind(kind, this.configured?.[kind] ?? []);
      const places = this.discover[kind];
      if (places) installations.push(...(await discoverInstallations(kind, places, installations)));
      this.installed[kind] = installations;
      this.absent[kind] = missing;
      this.probed[kind] = { at: Date.now(), fingerprint };
    })();
    this.probing.set(kind, probe);
    return probe.finally(() => this.probing.delete(kind));
  }
}
