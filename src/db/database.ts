import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import pg from 'pg';
import type { Config } from '../config/config.js';
import * as initial from './migrations/0001_initial.js';
import * as jobs from './migrations/0002_jobs.js';
import * as environments from './migrations/0003_environments.js';
import * as signInFailures from './migrations/0004_sign_in_failures.js';
import * as keyScopes from './migrations/0005_key_scopes.js';
import * as replicas from './migrations/0006_replicas.js';
import * as contentRepositories from './migrations/0007_content_repositories.js';
import * as oauthIntegrations from './migrations/0008_oauth_integrations.js';
import * as instrumentation from './migrations/0009_instrumentation.js';
import * as bundleEnvironments from './migrations/0010_bundle_environments.js';
import * as processKeys from './migrations/0011_process_keys.js';
import type { Database } from './schema.js';
import { openSqliteFile } from './node-sqlite.js';
import { reportingChanges, TableChanges } from './table-changes.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** PostgreSQL connection string, for LISTEN/NOTIFY; null on SQLite. */
  postgresUrl: string | null;
  /** Committed writes by table, for in-memory copies of rows (TableCache). */
  changes: TableChanges;
  close(): Promise<void>;
}

// int8 and numeric come back from pg as strings; every such column here fits in a double.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export function openStore(config: Config): Store {
  const provider = config.get('Database.Provider');
  if (provider === 'postgres') {
    const url = config.get('Postgres.URL');
    if (!url) throw new Error('[Database] Provider is postgres but [Postgres] URL is empty (set LECTERN_POSTGRES_URL)');
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle connection that PostgreSQL closes (restart, failover, idle timeout) emits 'error' on
    // the pool; unhandled, that would end the server. The pool drops it and reconnects on demand.
    pool.on('error', () => undefined);
    const changes = new TableChanges();
    const db = new Kysely<Database>({ dialect: reportingChanges(new PostgresDialect({ pool }), changes) });
    return { db, dialect: 'postgres', postgresUrl: url, changes, close: () => db.destroy() };
  }
  const dir = path.join(config.dataDir(), 'db');
  mkdirSync(dir, { recursive: true });
  const sqlite = openSqliteFile(path.join(dir, 'lectern.sqlite'));
  const changes = new TableChanges();
  const db = new Kysely<Database>({ dialect: reportingChanges(new SqliteDialect({ database: sqlite }), changes) });
  return { db, dialect: 'sqlite', postgresUrl: null, changes, close: () => db.destroy() };
}

const MIGRATIONS: Record<string, { up(db: Kysely<any>, dialect: Dialect): Promise<void> }> = {
  '0001_initial': initial,
  '0002_jobs': jobs,
  '0003_environments': environments,
  '0004_sign_in_failures': signInFailures,
  '0005_key_scopes': keyScopes,
  '0006_replicas': replicas,
  '0007_content_repositories': contentRepositories,
  '0008_oauth_integrations': oauthIntegrations,
  '0009_instrumentation': instrumentation,
  '0010_bundle_environments': bundleEnvironments,
  '0011_process_keys': processKeys,
};

export async function migrate(store: Store): Promise<string[]> {
  const provider: MigrationProvider = {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, m] of Object.entries(MIGRATIONS)) out[name] = { up: (db) => m.up(db, store.dialect) };
      return out;
    },
  };
  const { error, results } = await new Migrator({ db: store.db, provider }).migrateToLatest();
  if (error) throw new Error(`database migration failed: ${(error as Error).message ?? error}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
