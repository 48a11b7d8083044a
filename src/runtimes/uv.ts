import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { Installation } from './interpreters.js';
import { StartupError } from '../startup-error.js';

/** How to get uv, for the start-up message when none is found. */
export const UV_HINT = 'install uv (pip install uv, or on Debian/Ubuntu: apt-get install pipx && pipx install uv) or set [Python] UvExecutable';

/**
 * The uv that Python restores use: [Python] UvExecutable, else uv on the server's PATH, else the
 * one the PyPI uv package puts next to a probed Python interpreter. null = none (pip is used).
 */
export async function findUv(configured: string, pythons: readonly Installation[], searchPath = process.env.PATH ?? ''): Promise<string | null> {
  if (configured) {
    if (await executable(configured)) return path.resolve(configured);
    throw new StartupError(`[Python] UvExecutable = ${configured} is not an executable file`, `${UV_HINT.replace(/ or set \[Python\] UvExecutable$/, '')}, or correct or empty [Python] UvExecutable`);
  }
  const candidates = [
    ...searchPath
      .split(path.delimiter)
      .filter((dir) => path.isAbsolute(dir))
      .map((dir) => path.join(dir, 'uv')),
    ...pythons.flatMap((p) => [path.join(path.dirname(p.executable), 'uv'), path.join(path.dirname(p.configured), 'uv')]),
  ];
  for (const candidate of candidates) if (await executable(candidate)) return candidate;
  return null;
}

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}
