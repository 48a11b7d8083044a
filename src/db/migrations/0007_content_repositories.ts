import type { Kysely } from 'kysely';

/**
 * Git-backed content (Connect's `v1/content/{guid}/repository`): the repository, branch and
 * directory a content item is deployed from, what the last fetch found, and when the next poll is
 * due. `next_poll_at` is claimed with a compare-and-set, so each poll runs on one replica only.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('content_repositories')
    .addColumn('content_id', 'integer', (c) => c.primaryKey().references('content.id').onDelete('cascade'))
    .addColumn('repository', 'text', (c) => c.notNull())
    .addColumn('branch', 'text', (c) => c.notNull())
    .addColumn('directory', 'text', (c) => c.notNull())
    .addColumn('polling', 'integer', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('last_known_commit', 'text')
    .addColumn('last_fetched_time', 'text')
    // Epoch milliseconds, like tasks.lease_expires_at.
    .addColumn('next_poll_at', 'bigint', (c) => c.notNull())
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('updated_time', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('content_repositories_next_poll').on('content_repositories').columns(['polling', 'next_poll_at']).execute();
}
