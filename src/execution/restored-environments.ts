import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomToken } from '../util/ids.js';

const READY_MARKER = '.lectern-ready';

/**
 * Restored environments (venvs, R libraries) under <DataDir>/envs/<kind>/<key>. An entry exists
 * only once complete: it is built in a sibling temporary directory and renamed into place, so a
 * failed or interrupted restore leaves nothing that could be mistaken for it. Restores of the same
 * key on this replica wait for one another; two replicas racing on shared storage both build and
 * the first rename wins.
 */
export class EnvironmentCache {
  private readonly building = new Map<string, Promise<string>>();

  constructor(private readonly root: string) {}

  dir(key: string): string {
    return path.join(this.root, key);
  }

  async isReady(key: string): Promise<boolean> {
    return stat(path.join(this.dir(key), READY_MARKER)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Returns the entry's directory, building it with `build(workDir)` when missing. `build` fills
   * `<workDir>/<entry>`; it throws to fail.
   */
  async ensure(key: string, build: (workDir: string, entryName: string) => Promise<void>): Promise<{ dir: string; reused: boolean }> {
    if (await this.isReady(key)) return { dir: this.dir(key), reused: true };
    const running = this.building.get(key);
    if (running) return { dir: await running, reused: true };
    const promise = this.build(key, build);
    this.building.set(key, promise);
    try {
      return { dir: await promise, reused: false };
    } finally {
      this.building.delete(key);
    }
  }

  private async build(key: string, build: (workDir: string, entryName: string) => Promise<void>): Promise<string> {
    const workDir = path.join(this.root, `.building-${key}-${randomToken(6)}`);
    await mkdir(workDir, { recursive: true });
    try {
      await build(workDir, 'entry');
      const built = path.join(workDir, 'entry');
      await writeFile(path.join(built, READY_MARKER), new Date().toISOString() + '\n');
      try {
        await rename(built, this.dir(key));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another replica finished the same environment first: use theirs.
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await this.isReady(key))) throw err;
      }
      return this.dir(key);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  /** Removes leftovers of restores interrupted by a crash (older than `olderThanMs`). */
  async sweep(olderThanMs = 6 * 3_600_000): Promise<void> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    const cutoff = Date.now() - olderThanMs;
    for (const name of entries) {
      const full = path.join(this.root, name);
      if (name.startsWith('.building-')) {
        const info = await stat(full).catch(() => undefined);
        if (info && info.mtimeMs < cutoff) await rm(full, { recursive: true, force: true });
      } else if (!(await this.isReady(name))) {
        await rm(full, { recursive: true, force: true });
      }
    }
  }
}
