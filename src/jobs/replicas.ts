import { hostname } from 'node:os';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { StartupError } from '../startup-error.js';
import { nowIso, randomToken } from '../util/ids.js';

/** Replica registrations of this process, to tell a second App of this process from a dead one. */
const LIVE_INSTANCES = new Set<string>();

/**
 * Which Lectern server processes are alive. Each renews a heartbeat row; one whose heartbeat is
 * older than `expiryMs` is gone, and any live replica closes the job rows it left running.
 */
export class Replicas {
  private readonly instance = randomToken(12);
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Database>,
    readonly name: string,
    private readonly options: { expiryMs: number; onGone: (replicas: string[], liveSince: number) => Promise<void>; log?: (msg: string, err?: unknown) => void },
  ) {}

  /**
   * Claims the name. A previous process of the same name that is gone (it stopped, crashed or its
   * heartbeat expired) is taken over; a live one stops start-up.
   */
  async join(): Promise<void> {
    const now = Date.now();
    const held = await this.db.selectFrom('replicas').selectAll().where('name', '=', this.name).executeTakeFirst();
    if (held && held.heartbeat_at > now - this.options.expiryMs && !this.isPreviousRun(held)) {
      throw new StartupError(
        `another Lectern server (process ${held.pid} on ${held.hostname}) is running as replica "${this.name}"`,
        'give each server its own [Server] ReplicaName (LECTERN_SERVER_REPLICANAME), or stop the other one',
      );
    }
    const row = { instance: this.instance, hostname: hostname(), pid: process.pid, started_time: nowIso(), heartbeat_at: now };
    await this.db
      .insertInto('replicas')
      .values({ name: this.name, ...row })
      .onConflict((oc) => oc.column('name').doUpdateSet(row))
      .execute();
    LIVE_INSTANCES.add(this.instance);
  }

  /** Renews the heartbeat and reconciles the replicas that are gone, now and every third of the expiry. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(
      () => {
        this.beating = this.beating.then(() => this.beat());
      },
      Math.max(250, Math.floor(this.options.expiryMs / 3)),
    );
    this.timer.unref();
  }

  /** Replicas that left job rows active and have no live heartbeat. */
  async gone(): Promise<string[]> {
    const live = this.db
      .selectFrom('replicas')
      .select('name')
      .where('heartbeat_at', '>=', Date.now() - this.options.expiryMs);
    const rows = await this.db.selectFrom('jobs').select('replica').distinct().where('status', '=', 0).where('replica', '!=', this.name).where('replica', 'not in', live).execute();
    return rows.map((r) => r.replica);
  }

  async leave(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    LIVE_INSTANCES.delete(this.instance);
    await this.db.deleteFrom('replicas').where('name', '=', this.name).where('instance', '=', this.instance).execute();
  }

  private async beat(): Promise<void> {
    try {
      const updated = await this.db.updateTable('replicas').set({ heartbeat_at: Date.now() }).where('name', '=', this.name).where('instance', '=', this.instance).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) {
        this.options.log?.(`another server process took over the replica name "${this.name}": give each server its own [Server] ReplicaName`);
      }
      const gone = await this.gone();
      if (gone.length) await this.options.onGone(gone, Date.now() - this.options.expiryMs);
      // Rows of replicas gone for a day only remember them.
      await this.db
        .deleteFrom('replicas')
        .where('heartbeat_at', '<', Date.now() - DAY_MS)
        .execute();
    } catch (err) {
      this.options.log?.('replica heartbeat failed', err);
    }
  }

  /**
   * The same host's earlier run of this replica: its process is gone, or it is this very process id
   * again (a container restarted with its pid namespace) and not a registration of this process.
   */
  private isPreviousRun(held: { hostname: string; pid: number; instance: string }): boolean {
    if (held.hostname !== hostname()) return false;
    if (held.pid === process.pid) return !LIVE_INSTANCES.has(held.instance);
    return !processExists(held.pid);
  }
}

const DAY_MS = 24 * 3_600_000;

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
