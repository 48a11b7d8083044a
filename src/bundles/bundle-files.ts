import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes } from '../util/bytes.js';

/** Largest package file (requirements.txt) read; hash-pinned lists of hundreds of packages stay far below. */
export const MAX_PACKAGE_FILE_BYTES = 4 * 1024 * 1024;

/**
 * A path a manifest names inside the bundle, normalized (no `./`), or a sentence saying why it
 * cannot be one: absolute, with `..`, empty or with a NUL byte.
 */
export function bundleRelativePath(name: string): { path: string } | { problem: string } {
  if (name.includes('\0')) return { problem: 'has a NUL byte' };
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(name)) return { problem: 'is an absolute path; it must be relative to the bundle' };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p.split('\\').includes('..'))) return { problem: 'leaves the bundle directory (..)' };
  if (parts.length === 0) return { problem: 'names no file' };
  return { path: parts.join('/') };
}

/** A file of the bundle that cannot be read as asked; `reason` is a sentence fit to show the publisher. */
export class BundleFileError extends Error {}

/**
 * Reads `name` from the extracted bundle at `appDir`, only inside it: never through a symbolic
 * link, only a regular file, at most `maxBytes`.
 */
export async function readBundleFile(appDir: string, name: string, maxBytes: number): Promise<string> {
  const relative = bundleRelativePath(name);
  if ('problem' in relative) throw new BundleFileError(`${name} ${relative.problem}`);
  const root = await realpath(appDir);
  const file = path.join(root, relative.path);
  const parent = await realpath(path.dirname(file)).catch(() => null);
  if (parent === null || (parent !== root && !parent.startsWith(root + path.sep))) throw new BundleFileError(`the bundle has no file ${relative.path}`);
  const handle = await open(path.join(parent, path.basename(file)), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ELOOP' || err.code === 'ENOTDIR') return null;
    throw err;
  });
  if (handle === null) throw new BundleFileError(`the bundle has no file ${relative.path}`);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new BundleFileError(`${relative.path} is not a regular file`);
    if (info.size > maxBytes) throw new BundleFileError(`${relative.path} is larger than ${formatBytes(maxBytes)}`);
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } finally {
    await handle.close();
  }
}
