// node:sqlite behind Kysely (src/db/node-sqlite.ts): what Kysely's SqliteDialect relies on, and
// what better-sqlite3 gave the rest of Lectern (plain row objects, SQLite's result code names).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { Config } from '../../src/config/config.js';
import { openSqliteFile, sqliteResultCode } from '../../src/db/node-sqlite.js';
import { openDatabase } from '../../src/db/open-database.js';
import { StartupError } from '../../src/startup-error.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-node-sqlite-'));
  dirs.push(dir);
  return dir;
}

describe("node:sqlite as the database of Kysely's SqliteDialect", () => {
  test('rows are plain objects named by column, whatever the names; a later column of the same name wins', async () => {
    const db = openSqliteFile(path.join(await tempDir(), 'rows.sqlite'));
    try {
      db.prepare('CREATE TABLE t (id INTEGER PRIMARY KEY, "__proto__" TEXT, "quote""d" TEXT, n REAL)').run([]);
      db.prepare('INSERT INTO t ("__proto__", "quote""d", n) VALUES (?, ?, ?)').run(['p', 'q', 1.5]);
      const select = db.prepare('SELECT id, "__proto__", "quote""d", n, id * 10 AS n FROM t');
      assert.equal(select.reader, true);
      const rows = select.all([]) as Array<Record<string, unknown>>;
      assert.equal(Object.getPrototypeOf(rows[0]), Object.prototype);
      assert.deepEqual(Object.entries(rows[0]!), [
        ['id', 1],
        ['__proto__', 'p'],
        ['quote"d', 'q'],
        ['n', 10],
      ]);
      assert.deepEqual([...select.iterate([])], rows);
    } finally {
      db.close();
    }
  });

  test('a statement returns rows exactly when it has result columns (RETURNING and PRAGMA too); writes report changes and the row id', async () => {
    const db = openSqliteFile(path.join(await tempDir(), 'reader.sqlite'));
    try {
      db.prepare('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)').run([]);
      const insert = db.prepare('INSERT INTO t (name) VALUES (?)');
      assert.equal(insert.reader, false);
      assert.deepEqual({ ...insert.run(['a']) }, { changes: 1, lastInsertRowid: 1 });
      const returning = db.prepare('INSERT INTO t (name) VALUES (?) RETURNING id, name');
      assert.equal(returning.reader, true);
      assert.deepEqual(returning.all(['b']), [{ id: 2, name: 'b' }]);
      assert.deepEqual(db.prepare('PRAGMA journal_mode').all([]), [{ journal_mode: 'wal' }]);
      assert.deepEqual(db.prepare('PRAGMA foreign_keys').all([]), [{ foreign_keys: 1 }]);
      assert.deepEqual(db.prepare('PRAGMA busy_timeout').all([]), [{ timeout: 5000 }]);
      assert.equal(db.prepare('SELECT 1'), db.prepare('SELECT 1'), 'a statement is prepared once and reused');
    } finally {
      db.close();
    }
  });

  test("errors name SQLite's result code, and a data directory whose database cannot be opened is a start-up error saying so", async () => {
    const db = openSqliteFile(path.join(await tempDir(), 'codes.sqlite'));
    try {
      db.prepare('CREATE TABLE t (name TEXT UNIQUE)').run([]);
      db.prepare('INSERT INTO t (name) VALUES (?)').run(['a']);
      assert.throws(
        () => db.prepare('INSERT INTO t (name) VALUES (?)').run(['a']),
        (err) => sqliteResultCode(err) === 'SQLITE_CONSTRAINT' && /UNIQUE constraint failed/.test((err as Error).message),
      );
    } finally {
      db.close();
    }
    assert.equal(sqliteResultCode(new Error('not from SQLite')), undefined);
    assert.equal(sqliteResultCode(null), undefined);

    const dataDir = await tempDir();
    await mkdir(path.join(dataDir, 'db', 'lectern.sqlite'), { recursive: true }); // a directory where the file should be
    const config = Config.load({ env: { LECTERN_SERVER_DATADIR: dataDir } });
    await assert.rejects(
      openDatabase(config, { create: true }),
      (err) => err instanceof StartupError && /cannot open the SQLite database .*lectern\.sqlite \(SQLITE_CANTOPEN: unable to open database file\)/.test(err.message),
    );
  });
});
