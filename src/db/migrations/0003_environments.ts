import type { Kysely } from 'kysely';
import { withId } from './0001_initial.js';

type Dialect = 'sqlite' | 'postgres';

/**
 * Execution environments (container images content runs in off-host), who may use them, and
 * what the content and its jobs ran in.
 */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  await withId(db.schema.createTable('environments'), dialect)
    .addColumn('guid', 'text', (c) => c.notNull().unique())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('cluster_name', 'text', (c) => c.notNull())
    .addColumn('environment_type', 'text', (c) => c.notNull())
    // The container image; one record per image, so a manifest's environment.image names one record.
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('matching', 'text', (c) => c.notNull())
    .addColumn('supervisor', 'text')
    // JSON {python, r, quarto, tensorflow: [{version, path}]}.
    .addColumn('installations', 'text', (c) => c.notNull())
    // JSON [{source: {volume_type, …}, target: {path, read_only}}].
    .addColumn('volume_mounts', 'text', (c) => c.notNull())
    // Where the record comes from: api | cluster-definition | file. Only file records are managed.
    .addColumn('origin', 'text', (c) => c.notNull())
    // The declarative file that owns the record; null = owned by the API.
    .addColumn('managed_by', 'text')
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('updated_time', 'text', (c) => c.notNull())
    .execute();

  // No rows = usable by everyone; otherwise only by the users and groups listed.
  await withId(db.schema.createTable('environment_permissions'), dialect)
    .addColumn('guid', 'text', (c) => c.notNull().unique())
    .addColumn('environment_id', 'integer', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('principal_type', 'text', (c) => c.notNull())
    .addColumn('principal_guid', 'text', (c) => c.notNull())
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addUniqueConstraint('environment_permissions_principal', ['environment_id', 'principal_guid'])
    .execute();

  // The environment the live bundle was selected into (image_name / cluster_name already exist).
  await db.schema.alterTable('content').addColumn('environment_guid', 'text').execute();
  // Connect's Job carries the cluster and image it ran in.
  await db.schema.alterTable('jobs').addColumn('image', 'text').execute();
}
