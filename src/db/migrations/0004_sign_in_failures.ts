import type { Kysely } from 'kysely';

/**
 * Recent failed sign-ins per throttle key (src/auth/sign-in-throttle.ts), in the database so every
 * replica sees the same count (there are no sticky sessions).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sign_in_failures')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('last_failure', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sign_in_failures_last').on('sign_in_failures').column('last_failure').execute();
}
