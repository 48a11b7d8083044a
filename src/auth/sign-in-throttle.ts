import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { sha256Hex } from '../util/ids.js';

export interface SignInThrottleSettings {
  /** Failed sign-ins of one username from one address before each next one must wait. */
  attempts: number;
  /** First wait (ms), doubled per further failure. */
  delayMs: number;
  /** Longest wait (ms); failures older than this are forgotten. */
  maxDelayMs: number;
}

/** One address may fail this many times the per-username allowance, across every username. */
const ADDRESS_FACTOR = 4;

/**
 * Slows password guessing, on every replica alike (the counts are rows of `sign_in_failures`).
 *
 * Two counts per attempt: one username from one client address (`attempts` allowed), and one
 * address over all usernames (four times as many, for spraying). Past its allowance, each further
 * attempt must wait `delay × 2^n`, at most `maxDelay`; a waiting attempt is refused with the time
 * left and its password is not checked, so the right password is refused too until the wait is
 * over, and refused attempts do not lengthen the wait. Counting by username *and* address means an
 * attacker guessing an administrator's password from elsewhere does not lock the administrator
 * out; a success clears its username's count. Attempts are counted before the password is
 * checked, so parallel guesses cannot all slip through one open slot.
 */
export class SignInThrottle {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: () => SignInThrottleSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts an attempt. Returns 0 when its password may be checked, else the milliseconds to wait
   * (the attempt is then not counted).
   */
  async begin(username: string, address: string): Promise<number> {
    const keys = this.keys(username, address);
    const now = this.now();
    const rows = await this.db.selectFrom('sign_in_failures').selectAll().where('key', 'in', [keys.user, keys.address]).execute();
    const seen = new Map(rows.map((r) => [r.key, r]));
    const wait = Math.max(...[keys.user, keys.address].map((key) => this.waitFor(key, seen.get(key)?.failures ?? 0, seen.get(key)?.last_failure ?? 0, now)));
    if (wait > 0) return wait;
    // Counted atomically: an attempt that raced others past the allowance waits like them.
    let refused = 0;
    for (const key of [keys.user, keys.address]) {
      const before = seen.get(key)?.failures ?? 0;
      const after = await this.count(key, now);
      if (after > this.allowance(key) && after !== this.restart(before, seen.get(key)?.last_failure ?? 0, now) + 1) {
        refused = Math.max(refused, this.delay(after - 1 - this.allowance(key)));
      }
    }
    if (refused > 0) for (const key of [keys.user, keys.address]) await this.uncount(key);
    return refused;
  }

  /** The attempt's password was right: its username starts afresh, and it is not held against the address. */
  async succeeded(username: string, address: string): Promise<void> {
    const keys = this.keys(username, address);
    await this.db.deleteFrom('sign_in_failures').where('key', '=', keys.user).execute();
    await this.uncount(keys.address);
  }

  private keys(username: string, address: string) {
    // Hashed: a username is whatever the caller sent, of any length.
    return { user: `user:${sha256Hex(username.toLowerCase())}@${address}`, address: `address:${address}` };
  }

  private allowance(key: string) {
    return key.startsWith('address:') ? this.settings().attempts * ADDRESS_FACTOR : this.settings().attempts;
  }

  private delay(over: number) {
    const { delayMs, maxDelayMs } = this.settings();
    return Math.min(maxDelayMs, delayMs * 2 ** Math.min(over, 40));
  }

  /** Failures older than the longest wait are forgotten. */
  private restart(failures: number, last: number, now: number) {
    return now - last >= this.settings().maxDelayMs ? 0 : failures;
  }

  private waitFor(key: string, failures: number, last: number, now: number) {
    const counted = this.restart(failures, last, now);
    if (counted < this.allowance(key)) return 0;
    return Math.max(0, last + this.delay(counted - this.allowance(key)) - now);
  }

  private async count(key: string, now: number): Promise<number> {
    const cutoff = now - this.settings().maxDelayMs;
    const row = await this.db
      .insertInto('sign_in_failures')
      .values({ key, failures: 1, last_failure: now })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          failures: sql<number>`CASE WHEN sign_in_failures.last_failure <= ${cutoff} THEN 1 ELSE sign_in_failures.failures + 1 END`,
          last_failure: now,
        }),
      )
      .returning('failures')
      .executeTakeFirstOrThrow();
    // Rows nobody will read again.
    await this.db.deleteFrom('sign_in_failures').where('last_failure', '<=', cutoff).execute();
    return Number(row.failures);
  }

  private async uncount(key: string) {
    await this.db.updateTable('sign_in_failures').set({ failures: sql<number>`failures - 1` }).where('key', '=', key).where('failures', '>', 0).execute();
  }
}
