import { randomUUID } from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import type { ContentHitsTable, Database, ShinySessionsTable } from '../db/schema.js';
import { countsAsVisit, isShinyMode, SHINY_DATA_VERSION, VISIT_DATA_VERSION } from './usage-rules.js';

/** What the proxy knows of the content it served: the row it already holds in memory. */
export interface VisitedContent {
  id: number;
  guid: string;
  app_mode: string;
  bundle_id: number | null;
  render_id: number | null;
}

/** The request headers a hit keeps (Node's lower-case names). */
export interface HitHeaders {
  'user-agent'?: string;
  'sec-fetch-dest'?: string | string[];
  'sec-fetch-site'?: string | string[];
}

/** One Shiny websocket session being recorded; `end()` when its socket closes (more calls do nothing). */
export interface ShinySession {
  end(): void;
}

export interface UsageRecorderOptions {
  /** [Metrics] Instrumentation: false records nothing. */
  enabled: boolean;
  /** [Metrics] InstrumentationRetention in ms; 0 keeps everything. */
  retentionMs: number;
  /** This replica's name: its sessions left open by a crash are closed at its next start. */
  replica: string;
  log: (message: string, err?: unknown) => void;
  /** How long a record may wait in memory before it is written. */
  flushIntervalMs?: number;
}

type HitRow = Insertable<ContentHitsTable>;
type SessionRow = Insertable<ShinySessionsTable>;

/** At most this many records wait in memory (the database being down); newer ones are dropped and counted. */
const MAX_PENDING = 100_000;
/** Rows per INSERT are powers of two up to this, so few distinct statements are ever prepared. */
const MAX_INSERT_ROWS = 256;
/** Old rows are deleted this many at a time, so pruning never holds a long write lock. */
const PRUNE_BATCH = 5_000;
const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Records usage without making a request wait for the database: `hit()` and `shinySession()`
 * only append to memory, and the records are written in batches every `flushIntervalMs` (and by
 * `close()`, at shutdown). Each replica records what it proxied itself, so nothing is counted by
 * two; a batch is one INSERT per chunk, retried whole when it fails, so a record is written once.
 * Old rows are pruned hourly in the background ([Metrics] InstrumentationRetention).
 */
export class UsageRecorder {
  private hits: Array<HitRow & { at: number }> = [];
  /** Sessions whose start is not written yet, by key (their end is filled in here if it comes first). */
  private sessions = new Map<string, SessionRow>();
  /** Ends of sessions whose start is (being) written. */
  private ends = new Map<string, string>();
  /** Ends of the sessions still open, so a shutdown ends them (upgraded sockets outlive the HTTP server's close). */
  private readonly open = new Set<() => void>();
  private dropped = 0;
  private flushing: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private failing = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: UsageRecorderOptions,
  ) {}

  get enabled(): boolean {
    return this.options.enabled;
  }

  /**
   * Starts the background work: batches written every flush interval, old rows pruned hourly.
   * Sessions this replica left open when it last stopped without closing them (a crash) are
   * ended at the time it comes back, the latest they can have lasted.
   */
  async start(): Promise<void> {
    if (this.options.enabled) {
      await this.db.updateTable('shiny_sessions').set({ ended: new Date().toISOString() }).where('replica', '=', this.options.replica).where('ended', 'is', null).execute();
      const flush = setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 1_000);
      flush.unref();
      this.timers.push(flush);
    }
    if (this.options.retentionMs > 0) {
      const prune = () =>
        void this.prune().catch((err: unknown) => {
          this.options.log('pruning old usage records failed; trying again in an hour', err);
        });
      const first = setTimeout(prune, 60_000);
      const hourly = setInterval(prune, PRUNE_INTERVAL_MS);
      first.unref();
      hourly.unref();
      this.timers.push(first, hourly);
    }
  }

  /**
   * One request the proxy served. `path` is what the content was asked for below its prefix,
   * with the query (`/page?x=1`; "" or "/" is the content's root).
   */
  hit(content: VisitedContent, user: { guid: string } | null, method: string | undefined, path: string, headers: HitHeaders, websocket = false): void {
    if (!this.options.enabled) return;
    if (this.hits.length + this.sessions.size >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    const mark = path.indexOf('?');
    const below = (mark < 0 ? path : path.slice(0, mark)) || '/';
    const dest = first(headers['sec-fetch-dest']);
    this.hits.push({
      at: Date.now(),
      time: '',
      content_id: content.id,
      content_guid: content.guid,
      user_guid: user?.guid ?? null,
      bundle_id: content.bundle_id,
      rendering_id: content.render_id,
      path: below,
      query: mark < 0 || mark === path.length - 1 ? null : path.slice(mark + 1),
      root: below === '/' ? 1 : 0,
      visit: !websocket && countsAsVisit(content.app_mode, method, dest) ? 1 : 0,
      data_version: VISIT_DATA_VERSION,
      user_agent: headers['user-agent'] ?? null,
      sec_fetch_dest: dest ?? null,
      sec_fetch_site: first(headers['sec-fetch-site']) ?? null,
    });
  }

  /** A websocket to `content` was opened; a Shiny app's is a session (nothing is recorded for other apps). */
  shinySession(content: VisitedContent, user: { guid: string } | null): ShinySession | undefined {
    if (!this.options.enabled || !isShinyMode(content.app_mode)) return undefined;
    if (this.hits.length + this.sessions.size >= MAX_PENDING) {
      this.dropped++;
      return undefined;
    }
    const key = randomUUID();
    const row: SessionRow = {
      session_key: key,
      replica: this.options.replica,
      content_id: content.id,
      content_guid: content.guid,
      user_guid: user?.guid ?? null,
      started: new Date().toISOString(),
      ended: null,
      data_version: SHINY_DATA_VERSION,
    };
    this.sessions.set(key, row);
    const end = () => {
      if (!this.open.delete(end)) return;
      const now = new Date().toISOString();
      const pending = this.sessions.get(key);
      if (pending) pending.ended = now;
      else this.ends.set(key, now);
    };
    this.open.add(end);
    return { end };
  }

  /** Writes everything recorded so far; flushes run one at a time, in order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Deletes rows older than the retention, a batch at a time; returns how many went. */
  async prune(now = Date.now()): Promise<number> {
    if (this.options.retentionMs <= 0) return 0;
    const cutoff = new Date(now - this.options.retentionMs).toISOString();
    let removed = 0;
    for (const table of ['content_hits', 'shiny_sessions'] as const) {
      const column = table === 'content_hits' ? 'time' : 'started';
      for (;;) {
        const batch = this.db.selectFrom(table).select('id').where(column, '<', cutoff).orderBy('id').limit(PRUNE_BATCH);
        const result = await this.db.deleteFrom(table).where('id', 'in', batch).executeTakeFirst();
        const n = Number(result.numDeletedRows);
        removed += n;
        if (n < PRUNE_BATCH) break;
      }
    }
    return removed;
  }

  /** Stops the background work, ends the sessions still open (the server is going) and writes what is in memory. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const end of [...this.open]) end();
    await this.flush();
  }

  private async write(): Promise<void> {
    const hits = this.hits;
    const sessions = this.sessions;
    const ends = this.ends;
    if (hits.length === 0 && sessions.size === 0 && ends.size === 0 && this.dropped === 0) return;
    this.hits = [];
    this.sessions = new Map();
    this.ends = new Map();
    let written = 0;
    try {
      for (const hit of hits) if (!hit.time) hit.time = new Date(hit.at).toISOString();
      for (const chunk of chunks(hits)) {
        await this.db
          .insertInto('content_hits')
          .values(chunk.map(({ at: _at, ...row }) => row))
          .execute();
        written += chunk.length;
      }
      const starts = [...sessions.values()];
      for (const chunk of chunks(starts)) {
        await this.db
          .insertInto('shiny_sessions')
          .values(chunk)
          .onConflict((oc) => oc.column('session_key').doNothing())
          .execute();
      }
      sessions.clear();
      for (const [key, ended] of ends) {
        await this.db.updateTable('shiny_sessions').set({ ended }).where('session_key', '=', key).execute();
        ends.delete(key);
      }
      if (this.failing) this.options.log('usage records are being written again');
      this.failing = false;
    } catch (err) {
      // Whatever was not written goes back in front of what came meanwhile and is tried again.
      this.hits = [...hits.slice(written), ...this.hits];
      for (const [key, row] of this.sessions) sessions.set(key, row);
      this.sessions = sessions;
      for (const [key, ended] of this.ends) ends.set(key, ended);
      this.ends = ends;
      if (this.hits.length > MAX_PENDING) {
        this.dropped += this.hits.length - MAX_PENDING;
        this.hits.length = MAX_PENDING;
      }
      if (!this.failing) this.options.log('writing usage records failed; they are kept in memory and tried again', err);
      this.failing = true;
    }
    if (this.dropped > 0) {
      this.options.log(`${this.dropped} usage record(s) were dropped: more than ${MAX_PENDING} were waiting to be written`);
      this.dropped = 0;
    }
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Consecutive slices whose lengths are powers of two up to MAX_INSERT_ROWS. */
function* chunks<T>(rows: T[]): Generator<T[]> {
  let offset = 0;
  while (offset < rows.length) {
    let size = MAX_INSERT_ROWS;
    while (size > rows.length - offset) size /= 2;
    yield rows.slice(offset, offset + size);
    offset += size;
  }
}
