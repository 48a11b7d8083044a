import type { Kysely } from 'kysely';

/**
 * The replicas that are alive: each renews its row's heartbeat, so any replica can tell that
 * another is gone and close the job rows it left running.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('replicas')
    .addColumn('name', 'text', (c) => c.primaryKey())
    // Random per server process: two live processes never hold one name.
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('started_time', 'text', (c) => c.notNull())
    // Milliseconds since the epoch, like tasks.lease_expires_at.
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .execute();
}
