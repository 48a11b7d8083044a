import type { TableChanges } from './table-changes.js';

/**
 * How long a cached row may be served without a change notice. Every write through Lectern (on
 * this replica, or on another one via PostgreSQL NOTIFY) clears the copies at once; this bound
 * covers what no notice reports: a write by another process on the same SQLite file (the CLI) and
 * the moments a replica's LISTEN connection is down.
 */
export const CACHE_TTL_MS = 2_000;
const MAX_ENTRIES = 10_000;

interface Entry<V> {
  value: V;
  loadedAt: number;
}

/**
 * Read-through copies of rows from `tables`, keyed by the caller, so the hot paths (every request's
 * principal, every content request's row and access rule) need no query. Only found values are
 * kept: a missing row is looked up again, so something created by another process shows at once.
 * Without `changes` (maintenance commands) nothing is cached.
 */
export class TableCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  /** Bumped by every change notice: a load that began before one must not be stored. */
  private generation = 0;

  constructor(
    private readonly changes: TableChanges | undefined,
    tables: readonly string[],
    private readonly ttlMs = CACHE_TTL_MS,
  ) {
    changes?.watch(tables, (changed) => {
      if (changed.includes('*') || changed.some((t) => tables.includes(t))) this.clear();
    });
  }

  /** The cached value, if one is fresh; never loads. */
  peek(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (performance.now() - entry.loadedAt > this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    if (!this.changes) return load();
    const cached = this.peek(key);
    if (cached !== undefined) return cached;
    const generation = this.generation;
    const loadedAt = performance.now();
    const value = await load();
    if (value !== undefined && value !== null && generation === this.generation) {
      // A simple bound: a burst of distinct keys (a scan with random keys) empties the cache.
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(key, { value: freeze(value), loadedAt });
    }
    return value;
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}

/** Cached rows are shared by every request: freezing turns an accidental mutation into an error. */
function freeze<V>(value: V): V {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) freeze(inner);
  }
  return value;
}
