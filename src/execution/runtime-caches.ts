// Connect's "runtime caches" (`v1/system/caches/runtime`): in Lectern, the restored environments
// (Python venvs, R libraries under <DataDir>/envs/) grouped by language, interpreter version and
// image. Deleting one takes every environment of that group out of the cache in a task; content
// that starts afterwards rebuilds its environment (rebuild on first access), and processes running
// now keep theirs until they stop (docs/runtime-caches.md).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { notFound } from '../errors.js';
import type { TaskQueue } from '../tasks/queue.js';
import type { EntryInfo, EnvironmentCache } from './restored-environments.js';

/** Connect's names: "Python" and "R"; image "Local" for the server's own interpreters. */
export type CacheLanguage = 'Python' | 'R';
export const LOCAL_IMAGE = 'Local';

export interface RuntimeCache {
  language: CacheLanguage;
  version: string;
  image_name: string;
}

export const DELETE_RUNTIME_CACHE_TASK = 'delete_runtime_cache';

/** An environment restored before its ready marker said what for: a venv's pyvenv.cfg names its Python. */
async function describeLegacyVenv(dir: string): Promise<EntryInfo | null> {
  const cfg = await readFile(path.join(dir, 'pyvenv.cfg'), 'utf8').catch(() => '');
  const version = /^(?:version_info|version)\s*=\s*(\d+\.\d+\.\d+)/m.exec(cfg)?.[1];
  return version ? { version, image: null } : null;
}

export class RuntimeCaches {
  private readonly caches: Record<CacheLanguage, { cache: EnvironmentCache; legacy?: (dir: string) => Promise<EntryInfo | null> }>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly queue: TaskQueue,
    environments: { python: EnvironmentCache; r: EnvironmentCache },
  ) {
    this.caches = { Python: { cache: environments.python, legacy: describeLegacyVenv }, R: { cache: environments.r } };
  }

  /** Every (language, version, image) that has at least one restored environment, sorted. */
  async list(): Promise<RuntimeCache[]> {
    const seen = new Map<string, RuntimeCache>();
    for (const language of ['Python', 'R'] as const) {
      const { cache, legacy } = this.caches[language];
      for (const entry of await cache.entries(legacy)) {
        const item = { language, version: entry.version, image_name: entry.image ?? LOCAL_IMAGE };
        seen.set(JSON.stringify(item), item);
      }
    }
    return [...seen.values()].sort((a, b) => a.language.localeCompare(b.language) || a.version.localeCompare(b.version, undefined, { numeric: true }) || a.image_name.localeCompare(b.image_name));
  }

  /**
   * Deletes one runtime cache in a task (its id), or with `dryRun` only checks that it exists
   * (null). `language` is matched in any case, as clients send "python" or "Python".
   */
  async delete(wanted: { language: string; version: string; image_name: string }, options: { dryRun: boolean; userId: number }): Promise<{ cache: RuntimeCache; taskId: string | null }> {
    const cache = (await this.list()).find((c) => c.language.toLowerCase() === wanted.language.toLowerCase() && c.version === wanted.version && c.image_name === wanted.image_name);
    if (!cache) throw notFound(`There is no ${wanted.language} ${wanted.version} runtime cache for the image ${JSON.stringify(wanted.image_name)}.`);
    if (options.dryRun) return { cache, taskId: null };
    const task = await this.queue.enqueue(DELETE_RUNTIME_CACHE_TASK, { userId: options.userId, params: { ...cache } });
    return { cache, taskId: task.id };
  }

  /** The task: retire each environment of the cache, then remove those no running process uses. */
  register(queue: TaskQueue) {
    queue.handle(DELETE_RUNTIME_CACHE_TASK, async (ctx) => {
      const target = ctx.params as unknown as RuntimeCache;
      const { cache, legacy } = this.caches[target.language];
      const image = target.image_name === LOCAL_IMAGE ? null : target.image_name;
      await ctx.log(`Deleting the ${target.language} ${target.version} runtime cache (${target.image_name})`);
      let retired = 0;
      for (const entry of await cache.entries(legacy)) {
        if (entry.version !== target.version || entry.image !== image) continue;
        if (await cache.retire(entry.key)) retired++;
      }
      await ctx.log(`${retired} restored environment${retired === 1 ? '' : 's'} taken out of the cache; content rebuilds its environment when it next starts.`);
      const removed = await this.removeRetired(target.language);
      await ctx.log(`${removed} removed from disk${removed < retired ? '; the others are kept until the processes running in them stop' : ''}.`);
      return null;
    });
  }

  /** Removes retired environments no active process runs in (also at start-up, for those kept earlier). */
  async removeRetired(language?: CacheLanguage): Promise<number> {
    const inUse = await this.keysInUse();
    let removed = 0;
    for (const lang of language ? [language] : (['Python', 'R'] as const)) removed += await this.caches[lang].cache.removeRetired((key) => inUse.has(key));
    return removed;
  }

  /** The environment keys of bundles that have an active process (a worker or a render) on any replica. */
  private async keysInUse(): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('jobs')
      .innerJoin('bundle_environments', 'bundle_environments.bundle_id', 'jobs.bundle_id')
      .select('bundle_environments.environment_key')
      .where('jobs.status', '=', 0)
      .where('jobs.kind', 'in', ['run', 'render'])
      .execute();
    return new Set(rows.map((r) => r.environment_key));
  }
}
