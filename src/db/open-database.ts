import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import { sql } from 'kysely';
import type { Config } from '../config/config.js';
import { oneLine, StartupError } from '../startup-error.js';
import { migrate, openStore, type Store } from './database.js';
import { sqliteResultCode } from './node-sqlite.js';

const POSTGRES_URL_FIX = '[Postgres] URL (LECTERN_POSTGRES_URL)';

/**
 * The database, reachable and migrated, or a StartupError naming what is wrong and what to do.
 * `create: false` (maintenance commands) refuses a data directory or PostgreSQL database that has
 * no Lectern database yet, so a mistyped directory never silently becomes a new, empty server.
 */
export async function openDatabase(config: Config, options: { create: boolean; migrate?: boolean }): Promise<Store> {
  const dataDir = config.dataDir();
  const sqlite = config.get('Database.Provider') === 'sqlite';
  if (sqlite && !options.create && !existsSync(sqliteFile(config))) throw noDatabase(`the data directory ${dataDir}`);
  if (options.create || !sqlite) prepareDataDir(dataDir);
  if (!sqlite && !config.get('Postgres.URL')) {
    throw new StartupError('[Database] Provider is postgres but [Postgres] URL is empty', `set ${POSTGRES_URL_FIX}, e.g. postgres://lectern:secret@db.example.org/lectern`);
  }
  let store: Store;
  try {
    store = openStore(config);
    await answersWithin(sql`SELECT 1`.execute(store.db), CONNECT_TIMEOUT_MS);
  } catch (err) {
    throw sqlite ? sqliteProblem(err, sqliteFile(config)) : postgresProblem(err, config.get('Postgres.URL'));
  }
  try {
    if (!options.create) {
      const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true });
      if (!tables.some((t) => t.name === 'kysely_migration')) throw noDatabase(sqlite ? `the data directory ${dataDir}` : describePostgres(config.get('Postgres.URL')));
    }
    if (options.migrate !== false) await migrate(store);
    return store;
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}

/** pg waits forever for a server that never answers (a firewall dropping packets). */
const CONNECT_TIMEOUT_MS = 20_000;

async function answersWithin<T>(query: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('connection timeout'), { code: 'ETIMEDOUT' })), ms);
    timer.unref();
  });
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sqliteFile(config: Config): string {
  return path.join(config.dataDir(), 'db', 'lectern.sqlite');
}

function noDatabase(where: string): StartupError {
  return new StartupError(`no Lectern database in ${where}`, 'start the server once, or pass --config/LECTERN_SERVER_DATADIR');
}

/** The data directory exists and this user may write it (bundles, logs and keys go there). */
export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StartupError(
      `cannot use the data directory ${dir} (${e.code ?? oneLine(e.message)})`,
      `set [Server] DataDir (LECTERN_SERVER_DATADIR) to a directory that user ${userInfo().username} may write`,
    );
  }
}

function sqliteProblem(err: unknown, file: string): StartupError {
  const e = err as Error & { code?: string };
  const code = sqliteResultCode(err) ?? e.code;
  return new StartupError(
    `cannot open the SQLite database ${file} (${[code, oneLine(e.message)].filter(Boolean).join(': ')})`,
    `make ${path.dirname(file)} writable by user ${userInfo().username}, or set [Server] DataDir (LECTERN_SERVER_DATADIR)`,
  );
}

/** host:port/database of a PostgreSQL URL, without its password. */
function describePostgres(url: string): string {
  try {
    const u = new URL(url);
    return `PostgreSQL database "${decodeURIComponent(u.pathname.slice(1)) || u.username}" at ${u.hostname}:${u.port || 5432}`;
  } catch {
    return 'PostgreSQL';
  }
}

function postgresProblem(err: unknown, url: string): StartupError {
  const e = err as Error & { code?: string; errors?: Array<{ code?: string }> };
  const code = e.code ?? e.errors?.find((x) => x.code)?.code;
  let user = '';
  let host = '';
  let database = '';
  try {
    const u = new URL(url);
    user = decodeURIComponent(u.username);
    host = `${u.hostname}:${u.port || 5432}`;
    database = decodeURIComponent(u.pathname.slice(1)) || user;
  } catch {
    return new StartupError('[Postgres] URL is not a valid URL', `set ${POSTGRES_URL_FIX} to postgres://user:password@host:port/database`);
  }
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new StartupError(`cannot reach PostgreSQL at ${host} (${code})`, `start PostgreSQL there, or correct the host and port in ${POSTGRES_URL_FIX}`);
    case '28P01':
    case '28000':
      return new StartupError(`PostgreSQL at ${host} refused user "${user}" (${oneLine(e.message)})`, `correct the user and password in ${POSTGRES_URL_FIX}, or allow the user in pg_hba.conf`);
    case '3D000':
      return new StartupError(`PostgreSQL at ${host} has no database "${database}"`, `create it (createdb -O ${user || 'lectern'} ${database}), or correct the database name in ${POSTGRES_URL_FIX}`);
    default:
      if (/timeout/i.test(e.message))
        return new StartupError(`cannot reach PostgreSQL at ${host} (no answer)`, `check that PostgreSQL runs there and that the network allows it, or correct ${POSTGRES_URL_FIX}`);
      return new StartupError(`cannot use ${describePostgres(url)} (${[code, oneLine(e.message)].filter(Boolean).join(': ')})`, `check ${POSTGRES_URL_FIX} and the server's log`);
  }
}
