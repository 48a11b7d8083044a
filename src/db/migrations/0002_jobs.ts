import type { Kysely } from 'kysely';
import { withId } from './0001_initial.js';

type Dialect = 'sqlite' | 'postgres';

/** Jobs (every build, render and worker process) and the render history of rendered content. */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  await withId(db.schema.createTable('jobs'), dialect)
    .addColumn('key', 'text', (c) => c.notNull().unique())
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('bundle_id', 'integer')
    .addColumn('task_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('launcher', 'text', (c) => c.notNull())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('replica', 'text', (c) => c.notNull())
    .addColumn('remote_id', 'text')
    .addColumn('pid', 'integer')
    .addColumn('run_as', 'text')
    .addColumn('status', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('exit_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('log_path', 'text', (c) => c.notNull())
    .addColumn('queued_time', 'text', (c) => c.notNull())
    .addColumn('start_time', 'text', (c) => c.notNull())
    .addColumn('end_time', 'text')
    .execute();
  await db.schema.createIndex('jobs_content').on('jobs').columns(['content_id', 'start_time']).execute();
  await db.schema.createIndex('jobs_active').on('jobs').columns(['status', 'replica']).execute();

  await withId(db.schema.createTable('renders'), dialect)
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('bundle_id', 'integer', (c) => c.notNull())
    .addColumn('task_id', 'text')
    .addColumn('job_key', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('requested_by', 'integer')
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('finished_time', 'text')
    .execute();
  await db.schema.createIndex('renders_content').on('renders').columns(['content_id', 'id']).execute();

  // Short-lived keys (render jobs' CONNECT_API_KEY) expire on their own.
  await db.schema.alterTable('api_keys').addColumn('expires_at', 'bigint').execute();

  // The render served for rendered content; null = not rendered yet.
  await db.schema.alterTable('content').addColumn('render_id', 'integer').execute();
  // Bumped when environment variables change: workers of an older version are restarted.
  await db.schema
    .alterTable('content')
    .addColumn('env_version', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
