// Where interpreters are usually installed, besides what [Python|R|Quarto] Executable names:
// pyenv's versions, Posit's /opt/python/<version> and /opt/R/<version> layout, the distribution's
// versioned pythons and R home, Quarto under /opt/quarto. Connect probes only configured
// executables; Lectern also looks here unless `[Python|R|Quarto] Discover = false`
// (docs/configuration.md), so a bundle asking for Python 3.12 deploys when a 3.12 is installed.
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RuntimeKind } from './interpreters.js';

/**
 * A place to look: an absolute directory, then path segments below it. A RegExp segment stands
 * for every entry of the directory reached so far whose name it matches; the path at the end is
 * an executable of that kind, when it is one.
 */
export type DiscoveryPlace = readonly [string, ...(string | RegExp)[]];

const ANY = /^[^.]/;
const VERSIONED_PYTHON = /^python3\.\d+$/;

/** The usual places for each kind. pyenv's root is $PYENV_ROOT, else ~/.pyenv (as pyenv itself has it). */
export function usualPlaces(kind: RuntimeKind, env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): DiscoveryPlace[] {
  switch (kind) {
    case 'python':
      return [
        [path.join(env.PYENV_ROOT || path.join(home, '.pyenv'), 'versions'), ANY, 'bin', 'python3'],
        ['/opt/python', ANY, 'bin', 'python3'],
        ['/usr/bin', VERSIONED_PYTHON],
        ['/usr/local/bin', VERSIONED_PYTHON],
      ];
    case 'r':
      return [['/opt/R', ANY, 'bin', 'R'], ['/usr/lib/R/bin/R'], ['/usr/lib64/R/bin/R'], ['/usr/local/lib/R/bin/R']];
    case 'quarto':
      return [['/opt/quarto', ANY, 'bin', 'quarto'], ['/opt/quarto/bin/quarto'], ['/usr/lib/rstudio-server/bin/quarto/bin/quarto']];
  }
}

/** Every executable file at the given places, in a stable order (place by place, entries sorted). */
export async function findExecutables(places: readonly DiscoveryPlace[]): Promise<string[]> {
  const found: string[] = [];
  for (const [root, ...segments] of places) {
    for (const candidate of await expand([root], segments)) {
      if (await isExecutableFile(candidate)) found.push(candidate);
    }
  }
  return [...new Set(found)];
}

async function expand(paths: string[], segments: readonly (string | RegExp)[]): Promise<string[]> {
  const [segment, ...rest] = segments;
  if (segment === undefined) return paths;
  const next: string[] = [];
  for (const dir of paths) {
    if (typeof segment === 'string') {
      next.push(path.join(dir, segment));
      continue;
    }
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue; // not there, or not readable: nothing installed here
    }
    for (const name of names.filter((n) => segment.test(n)).sort(byVersionThenName)) next.push(path.join(dir, name));
  }
  return expand(next, rest);
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    if (!(await stat(file)).isFile()) return false;
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** 3.9 before 3.10: names are compared by their numbers where they have them. */
function byVersionThenName(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
