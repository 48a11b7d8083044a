// The CONNECT_API_KEY a content process gets, as in Connect: an API key acting as the content's
// owner that lives exactly as long as the process. It is an ordinary API key row (same hash, same
// cache, same checks on every replica) with scope 'content' and the job it belongs to; whoever
// closes the job row (the replica that ran it, the one that took over a gone replica's rows, or
// the replica's own next start) deletes it, and the deletion reaches every replica's key cache
// as any key deletion does (docs/runtime.md, "What content sees").
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Users } from './users.js';

export class ProcessKeys {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly users: Pick<Users, 'createApiKey'>,
  ) {}

  /** A key acting as `userId` for the process `jobKey`; valid until revoke() names that job. */
  async issue(userId: number, jobKey: string, contentGuid: string): Promise<string> {
    const { key } = await this.users.createApiKey(userId, `content ${contentGuid} process ${jobKey}`, undefined, 'content', jobKey);
    return key;
  }

  /** The processes `jobKeys` have ended: their keys stop working. */
  async revoke(jobKeys: string[]): Promise<void> {
    if (jobKeys.length === 0) return;
    await this.db.deleteFrom('api_keys').where('job_key', 'in', jobKeys).execute();
  }

  /**
   * Keys whose job row is closed (a server that stopped between closing a row and deleting its
   * key): deleted at start-up, so no key outlives its process for longer than a restart.
   */
  async sweep(): Promise<void> {
    await this.db
      .deleteFrom('api_keys')
      .where('job_key', 'is not', null)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('jobs').select('jobs.key').whereRef('jobs.key', '=', 'api_keys.job_key').where('jobs.status', '=', 0))))
      .execute();
  }
}
