import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomToken } from '../util/ids.js';

const READY_MARKER = '.lectern-ready';
const RETIRED_PREFIX = '.retired-';

/** What an entry was restored for, kept in its ready marker: the runtime caches list entries by it. */
export interface EntryInfo {
  /** The interpreter version it was restored with. */
  version: string;
  /** Off-host: the image it was restored in; null for the server's own interpreters. */
  image: string | null;
}

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
  async ensure(key: string, info: EntryInfo, build: (workDir: string, entryName: string) => Promise<void>): Promise<{ dir: string; reused: boolean }> {
    if (await this.isReady(key)) return { dir: this.dir(key), reused: true };
    const running = this.building.get(key);
    if (running) return { dir: await running, reused: true };
    const promise = this.build(key, info, build);
    this.building.set(key, promise);
    try {
      return { dir: await promise, reused: false };
    } finally {
      this.building.delete(key);
    }
  }

  private async build(key: string, info: EntryInfo, build: (workDir: string, entryName: string) => Promise<void>): Promise<string> {
    const workDir = path.join(this.root, `.building-${key}-${randomToken(6)}`);
    await mkdir(workDir, { recursive: true });
    try {
      await build(workDir, 'entry');
      const built = path.join(workDir, 'entry');
      await writeFile(path.join(built, READY_MARKER), `${JSON.stringify({ ready_time: new Date().toISOString(), ...info })}\n`);
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

  /**
   * The ready entries with what they were restored for. An entry restored before its marker held
   * that (a plain timestamp) is described by `describeLegacy`, or left out when it cannot be.
   */
  async entries(describeLegacy: (dir: string) => Promise<EntryInfo | null> = async () => null): Promise<Array<{ key: string } & EntryInfo>> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const out: Array<{ key: string } & EntryInfo> = [];
    for (const key of names.filter((n) => !n.startsWith('.')).sort()) {
      const marker = await readFile(path.join(this.dir(key), READY_MARKER), 'utf8').catch(() => null);
      if (marker === null) continue;
      let info: EntryInfo | null = null;
      try {
        const parsed = JSON.parse(marker) as Partial<EntryInfo>;
        if (typeof parsed.version === 'string') info = { version: parsed.version, image: typeof parsed.image === 'string' ? parsed.image : null };
      } catch {
        info = await describeLegacy(this.dir(key));
      }
      if (info) out.push({ key, ...info });
    }
    return out;
  }

  /**
   * Takes an entry out of the cache: from now on it is missing (the next restore of its key builds
   * it afresh), while its files stay, renamed aside, for processes still running in it (the
   * sandbox binds the directory itself, so its processes keep it through the rename). `remove`
   * deletes retired entries once nothing runs in them.
   */
  async retire(key: string): Promise<boolean> {
    const retired = path.join(this.root, `${RETIRED_PREFIX}${key}-${randomToken(6)}`);
    try {
      await rename(this.dir(key), retired);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Deletes the retired entries whose key `inUse` does not claim; returns how many. */
  async removeRetired(inUse: (key: string) => boolean): Promise<number> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const match = name.startsWith(RETIRED_PREFIX) ? /^([^-]+)-/.exec(name.slice(RETIRED_PREFIX.length)) : null;
      if (!match || inUse(match[1]!)) continue;
      await rm(path.join(this.root, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** Removes leftovers of restores interrupted by a crash (older than `olderThanMs`). */
  async sweep(olderThanMs = 6 * 3_600_000): Promise<void> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    const cutoff = Date.now() - olderThanMs;
    for (const name of entries) {
      const full = path.join(this.root, name);
      // Retired entries are the runtime caches' to remove (they know what still runs).
      if (name.startsWith(RETIRED_PREFIX)) continue;
      if (name.startsWith('.building-')) {
        const info = await stat(full).catch(() => undefined);
        if (info && info.mtimeMs < cutoff) await rm(full, { recursive: true, force: true });
      } else if (!(await this.isReady(name))) {
        await rm(full, { recursive: true, force: true });
      }
    }
  }
}
