import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * A SQLite file through Node's built-in node:sqlite, shaped as the database Kysely's SqliteDialect
 * drives (it was written for better-sqlite3: `prepare()` returning statements with a `reader`
 * flag and `all`/`run`/`iterate` taking the parameters as one array). Built in, so nothing is
 * compiled when Lectern is installed.
 */
export function openSqliteFile(file: string): SqliteDatabase {
  // node:sqlite turns foreign keys on by default; the busy timeout lets the CLI and the server
  // write the same file.
  const sqlite = new DatabaseSync(file, { timeout: BUSY_TIMEOUT_MS });
  sqlite.exec('PRAGMA journal_mode = WAL');
  sqlite.exec('PRAGMA synchronous = NORMAL');
  sqlite.exec('PRAGMA foreign_keys = ON');
  return withStatementCache(sqlite);
}

const BUSY_TIMEOUT_MS = 5000;
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; preparing costs more than running a small query. The queries
 * are a fixed set of shapes, so each is prepared once. Kysely runs one query at a time on the
 * connection, so a statement is never in use twice.
 */
function withStatementCache(sqlite: DatabaseSync): SqliteDatabase {
  const statements = new Map<string, KyselyStatement>();
  return {
    prepare(query: string) {
      let statement = statements.get(query);
      if (!statement) {
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
        statement = new KyselyStatement(sqlite.prepare(query));
        statements.set(query, statement);
      }
      return statement;
    },
    close() {
      statements.clear();
      sqlite.close();
    },
  };
}

class KyselyStatement implements SqliteStatement {
  /** Whether the statement returns rows (a SELECT, or a write with RETURNING), as better-sqlite3 reports it. */
  readonly reader: boolean;
  readonly #statement: StatementSync;
  readonly #toRow: (values: unknown[]) => Record<string, unknown>;

  constructor(statement: StatementSync) {
    this.#statement = statement;
    const columns = statement.columns().map((c) => c.name);
    this.reader = columns.length > 0;
    this.#toRow = rowBuilder(columns);
    if (this.reader) statement.setReturnArrays(true);
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    const rows = this.#statement.all(...(parameters as SQLInputValue[])) as unknown as unknown[][];
    const out = new Array<Record<string, unknown>>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.#toRow(rows[i]!);
    return out;
  }

  run(parameters: ReadonlyArray<unknown>) {
    return this.#statement.run(...(parameters as SQLInputValue[]));
  }

  *iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    for (const values of this.#statement.iterate(...(parameters as SQLInputValue[]))) yield this.#toRow(values as unknown as unknown[]);
  }
}

/**
 * A function that makes one plain object of a row's values, as better-sqlite3 returned them.
 * node:sqlite's own rows are objects without a prototype, set one property at a time, which took
 * twice as long for Lectern's wide rows as one object literal per row (bench/RESULTS.md, "SQLite
 * driver"). Column names are only ever written as JSON string literals. A later column of the same
 * name wins, as in node:sqlite's and better-sqlite3's rows.
 */
function rowBuilder(columns: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  // `"__proto__": x` in a literal would set the prototype; the computed form makes a property.
  const properties = columns.map((name, i) => `${name === '__proto__' ? '["__proto__"]' : JSON.stringify(name)}: values[${i}]`);
  return new Function('values', `return { ${properties.join(', ')} };`) as (values: unknown[]) => Record<string, unknown>;
}

// SQLite's primary result codes, by number (sqlite.org/rescode.html).
const RESULT_CODES = [
  'OK',
  'ERROR',
  'INTERNAL',
  'PERM',
  'ABORT',
  'BUSY',
  'LOCKED',
  'NOMEM',
  'READONLY',
  'INTERRUPT',
  'IOERR',
  'CORRUPT',
  'NOTFOUND',
  'FULL',
  'CANTOPEN',
  'PROTOCOL',
  'EMPTY',
  'SCHEMA',
  'TOOBIG',
  'CONSTRAINT',
  'MISMATCH',
  'MISUSE',
  'NOLFS',
  'AUTH',
  'FORMAT',
  'RANGE',
  'NOTADB',
  'NOTICE',
  'WARNING',
];

/**
 * SQLite's name for the result code of a node:sqlite error (`SQLITE_CANTOPEN`), which says more
 * than its `code` (`ERR_SQLITE_ERROR` for every one); undefined for other errors.
 */
export function sqliteResultCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errcode?: unknown } | null | undefined;
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return undefined;
  const name = RESULT_CODES[e.errcode & 0xff];
  return name ? `SQLITE_${name}` : undefined;
}
