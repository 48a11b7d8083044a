import type { Kysely } from 'kysely';
import { withId } from './0001_initial.js';

type Dialect = 'sqlite' | 'postgres';

/**
 * What each bundle's restore installed: one row per (bundle, language) naming the restored
 * environment it uses, and one row per package in it. `v1/packages`, `v1/content/{guid}/packages`,
 * the lockfile and the runtime caches read them.
 */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  await withId(db.schema.createTable('bundle_environments'), dialect)
    .addColumn('bundle_id', 'integer', (c) => c.notNull().references('bundles.id').onDelete('cascade'))
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    // 'python' or 'r'.
    .addColumn('language', 'text', (c) => c.notNull())
    .addColumn('language_version', 'text', (c) => c.notNull())
    // The execution environment (image) off-host; null for the server's own interpreters.
    .addColumn('image_name', 'text')
    // The restored environment's cache key (its directory under <DataDir>/envs/<kind>/).
    .addColumn('environment_key', 'text', (c) => c.notNull())
    .addColumn('recorded_time', 'text', (c) => c.notNull())
    .addUniqueConstraint('bundle_environments_bundle_language', ['bundle_id', 'language'])
    .execute();
  await db.schema.createIndex('bundle_environments_content').on('bundle_environments').column('content_id').execute();

  await withId(db.schema.createTable('bundle_packages'), dialect)
    .addColumn('bundle_environment_id', 'integer', (c) => c.notNull().references('bundle_environments.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('hash', 'text')
    .execute();
  await db.schema.createIndex('bundle_packages_environment').on('bundle_packages').column('bundle_environment_id').execute();
  await db.schema.createIndex('bundle_packages_name').on('bundle_packages').column('name').execute();
}
