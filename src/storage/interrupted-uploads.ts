import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DataDir } from './data-dir.js';

/**
 * What an upload leaves while it runs (src/bundles): `.upload-*` archives in bundles/<id>/,
 * `.pending-*` and `.tmp-*` extractions in apps/<id>/. Removed when the upload ends; a server that
 * stops mid-upload leaves them behind.
 */
const TEMPORARY = /^\.(upload|pending|tmp)-/;

/**
 * Long past any upload still running: on shared storage another replica may be mid-upload, and
 * uploads are bounded by [Bundles] MaxUploadSize.
 */
export const INTERRUPTED_UPLOAD_AGE_MS = 6 * 3_600_000;

/** Removes the leftovers of interrupted uploads not modified for `minAgeMs`. Returns their paths. */
export async function sweepInterruptedUploads(dataDir: DataDir, minAgeMs = INTERRUPTED_UPLOAD_AGE_MS): Promise<string[]> {
  const removed: string[] = [];
  const cutoff = Date.now() - minAgeMs;
  for (const area of ['bundles', 'apps']) {
    for (const contentDir of await entries(path.join(dataDir.root, area))) {
      for (const name of await entries(contentDir)) {
        if (!TEMPORARY.test(path.basename(name))) continue;
        const info = await stat(name).catch(() => null);
        if (!info || info.mtimeMs > cutoff) continue;
        await rm(name, { recursive: true, force: true });
        removed.push(name);
      }
    }
  }
  return removed;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).map((name) => path.join(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
}
