import type { Kysely } from 'kysely';
import { withId } from './0001_initial.js';

type Dialect = 'sqlite' | 'postgres';

/**
 * OAuth integrations (Connect's v1/oauth/integrations) and the content each is associated with.
 * An integration's configuration is split in two: the values anyone who may list integrations
 * reads (`config`, JSON) and the template's secret fields (client secrets, private keys), sealed
 * with the server key (`secrets_sealed`) and never answered.
 */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  await withId(db.schema.createTable('oauth_integrations'), dialect)
    .addColumn('guid', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text')
    .addColumn('description', 'text')
    .addColumn('template', 'text', (c) => c.notNull())
    // "Viewer", "Service Account" or "Visitor API Key": from the template and its auth_type option.
    .addColumn('auth_type', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    // AES-256-GCM of a JSON object of the secret fields; "" when the integration has none.
    .addColumn('secrets_sealed', 'text', (c) => c.notNull())
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('updated_time', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('oauth_associations')
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('integration_id', 'integer', (c) => c.notNull().references('oauth_integrations.id').onDelete('cascade'))
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('oauth_associations_pk', ['content_id', 'integration_id'])
    .execute();
  await db.schema.createIndex('oauth_associations_integration').on('oauth_associations').column('integration_id').execute();
}
