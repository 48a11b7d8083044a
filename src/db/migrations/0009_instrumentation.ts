import type { Kysely } from 'kysely';
import { withId } from './0001_initial.js';

type Dialect = 'sqlite' | 'postgres';

/**
 * Usage instrumentation (src/instrumentation/): one row per request the content proxy served
 * (`content_hits`; the requests that count as Connect's "visits" are flagged) and one per Shiny
 * websocket session (`shiny_sessions`). Rows name content and users by GUID and hold no foreign
 * keys: a batch written a second after the visits must not fail because the content was deleted
 * meanwhile, and the history of deleted content stays for administrators, as Connect keeps it.
 */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  await withId(db.schema.createTable('content_hits'), dialect)
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('content_id', 'integer', (c) => c.notNull())
    .addColumn('content_guid', 'text', (c) => c.notNull())
    .addColumn('user_guid', 'text')
    .addColumn('bundle_id', 'integer')
    .addColumn('rendering_id', 'integer')
    // Below the content's root, "/" for the root itself; the query apart.
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('query', 'text')
    .addColumn('root', 'integer', (c) => c.notNull())
    // 1 when the request counts as a visit (GET v1/instrumentation/content/visits).
    .addColumn('visit', 'integer', (c) => c.notNull())
    .addColumn('data_version', 'integer', (c) => c.notNull())
    .addColumn('user_agent', 'text')
    .addColumn('sec_fetch_dest', 'text')
    .addColumn('sec_fetch_site', 'text')
    .execute();
  await db.schema.createIndex('content_hits_time').on('content_hits').column('time').execute();
  await db.schema.createIndex('content_hits_content').on('content_hits').columns(['content_guid', 'id']).execute();

  await withId(db.schema.createTable('shiny_sessions'), dialect)
    // Chosen by the replica that proxies the session, so its end finds the row however the start was batched.
    .addColumn('session_key', 'text', (c) => c.notNull().unique())
    .addColumn('replica', 'text', (c) => c.notNull())
    .addColumn('content_id', 'integer', (c) => c.notNull())
    .addColumn('content_guid', 'text', (c) => c.notNull())
    .addColumn('user_guid', 'text')
    .addColumn('started', 'text', (c) => c.notNull())
    .addColumn('ended', 'text')
    .addColumn('data_version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('shiny_sessions_started').on('shiny_sessions').column('started').execute();
  await db.schema.createIndex('shiny_sessions_content').on('shiny_sessions').columns(['content_guid', 'id']).execute();
}
