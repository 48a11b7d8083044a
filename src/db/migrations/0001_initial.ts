import { sql, type Kysely, type CreateTableBuilder } from 'kysely';

type Dialect = 'sqlite' | 'postgres';

// Auto-increment ids differ per database; everything else in this file is portable SQL.
export function withId<T extends string>(table: CreateTableBuilder<T, never>, dialect: Dialect) {
  return dialect === 'postgres' ? table.addColumn('id', 'serial', (c) => c.primaryKey()) : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  await withId(db.schema.createTable('users'), dialect)
    .addColumn('guid', 'text', (c) => c.notNull().unique())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('first_name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('last_name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('user_role', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('locked', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('confirmed', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('updated_time', 'text', (c) => c.notNull())
    .addColumn('active_time', 'text')
    .execute();
  // Usernames are unique regardless of case, as in Connect.
  await sql`CREATE UNIQUE INDEX users_username_lower ON users (lower(username))`.execute(db);

  await withId(db.schema.createTable('api_keys'), dialect)
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('key_hint', 'text', (c) => c.notNull())
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('last_used_time', 'text')
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  await withId(db.schema.createTable('groups'), dialect)
    .addColumn('guid', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_guid', 'text')
    .addColumn('created_time', 'text', (c) => c.notNull())
    .execute();
  await sql`CREATE UNIQUE INDEX groups_name_lower ON groups (lower(name))`.execute(db);

  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'integer', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
    .execute();

  await withId(db.schema.createTable('content'), dialect)
    .addColumn('guid', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('title', 'text')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('owner_id', 'integer', (c) => c.notNull().references('users.id'))
    .addColumn('access_type', 'text', (c) => c.notNull().defaultTo('acl'))
    .addColumn('locked', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_message', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('app_mode', 'text', (c) => c.notNull().defaultTo('unknown'))
    .addColumn('content_category', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('parameterized', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bundle_id', 'integer')
    .addColumn('connection_timeout', 'integer')
    .addColumn('read_timeout', 'integer')
    .addColumn('init_timeout', 'integer')
    .addColumn('idle_timeout', 'integer')
    .addColumn('max_processes', 'integer')
    .addColumn('min_processes', 'integer')
    .addColumn('max_conns_per_process', 'integer')
    .addColumn('load_factor', 'double precision')
    .addColumn('memory_request', 'bigint')
    .addColumn('memory_limit', 'bigint')
    .addColumn('cpu_request', 'double precision')
    .addColumn('cpu_limit', 'double precision')
    .addColumn('amd_gpu_limit', 'integer')
    .addColumn('nvidia_gpu_limit', 'integer')
    .addColumn('service_account_name', 'text')
    .addColumn('default_image_name', 'text')
    .addColumn('default_r_environment_management', 'integer')
    .addColumn('default_py_environment_management', 'integer')
    .addColumn('run_as', 'text')
    .addColumn('run_as_current_user', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('r_version', 'text')
    .addColumn('py_version', 'text')
    .addColumn('quarto_version', 'text')
    .addColumn('r_environment_management', 'integer')
    .addColumn('py_environment_management', 'integer')
    .addColumn('image_name', 'text')
    .addColumn('cluster_name', 'text')
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('updated_time', 'text', (c) => c.notNull())
    .addColumn('last_deployed_time', 'text')
    .execute();
  // Names are unique per owner (Connect's rule), compared without case.
  await sql`CREATE UNIQUE INDEX content_owner_name ON content (owner_id, lower(name))`.execute(db);
  await db.schema.createIndex('content_name').on('content').column('name').execute();

  await withId(db.schema.createTable('content_permissions'), dialect)
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('principal_type', 'text', (c) => c.notNull())
    .addColumn('principal_guid', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addUniqueConstraint('content_permissions_unique', ['content_id', 'principal_guid'])
    .execute();
  await db.schema.createIndex('content_permissions_principal').on('content_permissions').column('principal_guid').execute();

  await db.schema
    .createTable('content_environment')
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value_encrypted', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('content_environment_pk', ['content_id', 'name'])
    .execute();

  await withId(db.schema.createTable('tags'), dialect)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('parent_id', 'integer', (c) => c.references('tags.id').onDelete('cascade'))
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('updated_time', 'text', (c) => c.notNull())
    .execute();
  // Tag names are unique among siblings; coalesce makes top-level tags (null parent) collide too.
  await sql`CREATE UNIQUE INDEX tags_sibling_name ON tags (coalesce(parent_id, 0), name)`.execute(db);

  await db.schema
    .createTable('content_tags')
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('tag_id', 'integer', (c) => c.notNull().references('tags.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('content_tags_pk', ['content_id', 'tag_id'])
    .execute();

  await db.schema
    .createTable('vanities')
    .addColumn('content_id', 'integer', (c) => c.primaryKey().references('content.id').onDelete('cascade'))
    .addColumn('path', 'text', (c) => c.notNull().unique())
    .addColumn('created_time', 'text', (c) => c.notNull())
    .execute();

  await withId(db.schema.createTable('bundles'), dialect)
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('created_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('manifest', 'text')
    .addColumn('app_mode', 'text')
    .addColumn('py_version', 'text')
    .addColumn('r_version', 'text')
    .addColumn('quarto_version', 'text')
    .execute();
  await db.schema.createIndex('bundles_content').on('bundles').column('content_id').execute();

  await db.schema
    .createTable('tasks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('content_id', 'integer', (c) => c.references('content.id').onDelete('set null'))
    .addColumn('bundle_id', 'integer')
    .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('params', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('claimed_by', 'text')
    .addColumn('lease_expires_at', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('output_lines', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('code', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('result', 'text')
    .addColumn('created_time', 'text', (c) => c.notNull())
    .addColumn('started_time', 'text')
    .addColumn('finished_time', 'text')
    .execute();
  await db.schema.createIndex('tasks_claim').on('tasks').columns(['state', 'created_time']).execute();

  await db.schema
    .createTable('task_output')
    .addColumn('task_id', 'text', (c) => c.notNull().references('tasks.id').onDelete('cascade'))
    .addColumn('line_no', 'integer', (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .addColumn('time', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('task_output_pk', ['task_id', 'line_no'])
    .execute();

  await withId(db.schema.createTable('audit_logs'), dialect)
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('user_id', 'integer')
    .addColumn('user_guid', 'text')
    .addColumn('user_description', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('event_description', 'text', (c) => c.notNull())
    .execute();
}
