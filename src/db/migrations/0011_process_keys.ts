import type { Kysely } from 'kysely';

/**
 * The API key a content process is given (CONNECT_API_KEY) names the job it belongs to: closing the
 * job row, on whichever replica, deletes the key, so it stops working when the process ends.
 * Null for keys people create and visitor keys.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_keys').addColumn('job_key', 'text').execute();
  await db.schema.createIndex('api_keys_job_key').on('api_keys').column('job_key').execute();
}
