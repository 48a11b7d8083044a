import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { Config } from '../../src/config/config.js';
import { migrate, openStore, type Store } from '../../src/db/database.js';
import { TableCache } from '../../src/db/table-cache.js';
import { nowIso } from '../../src/util/ids.js';

// A real SQLite store: what the cache relies on is what the driver reports after each commit.
describe('committed writes by table, and the rows cached from them', () => {
  let dir: string;
  let store: Store;
  const seen: string[][] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-changes-'));
    store = openStore(Config.load({ env: {}, overrides: { 'Server.DataDir': dir } }));
    await migrate(store);
    store.changes.watch(['users', 'groups', 'api_keys'], (tables) => seen.push([...tables]));
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const addUser = (db: Store['db'], username: string) =>
    db
      .insertInto('users')
      .values({
        guid: `g-${username}`,
        username,
        email: '',
        first_name: '',
        last_name: '',
        user_role: 'viewer',
        password_hash: null,
        locked: 0,
        confirmed: 1,
        created_time: nowIso(),
        updated_time: nowIso(),
        active_time: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();

  test('every INSERT, UPDATE and DELETE names its table; reads and unwatched tables do not', async () => {
    seen.length = 0;
    const { id } = await addUser(store.db, 'ada');
    await store.db.updateTable('users').set({ email: 'ada@example.org' }).where('id', '=', id).execute();
    await store.db.selectFrom('users').selectAll().execute();
    await store.db.insertInto('audit_logs').values({ user_id: null, user_guid: null, user_description: '', action: 'x', event_description: '', time: nowIso() }).execute();
    await sql`UPDATE groups SET name = name`.execute(store.db);
    await store.db.deleteFrom('users').where('id', '=', id).execute();
    assert.deepEqual(seen, [['users'], ['users'], ['groups'], ['users']]);
  });

  test('a transaction is reported once, after it commits; a rolled-back one never', async () => {
    seen.length = 0;
    await store.db.transaction().execute(async (trx) => {
      await addUser(trx, 'bob');
      await trx.insertInto('groups').values({ guid: 'g1', name: 'analysts', owner_guid: null, created_time: nowIso() }).execute();
      assert.deepEqual(seen, [], 'nothing is reported before the commit');
    });
    assert.deepEqual(
      seen.map((t) => [...t].sort()),
      [['groups', 'users']],
    );
    seen.length = 0;
    await assert.rejects(
      store.db.transaction().execute(async (trx) => {
        await addUser(trx, 'carol');
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.deepEqual(seen, []);
  });

  test('an update that sets only quiet columns (when a user was last active) is not reported; one that sets more is', async () => {
    const { id } = await addUser(store.db, 'quinn');
    store.changes.quietColumns('users', ['active_time']);
    seen.length = 0;
    await store.db.updateTable('users').set({ active_time: nowIso() }).where('id', '=', id).execute();
    await store.db.transaction().execute((trx) => trx.updateTable('users').set({ active_time: nowIso() }).where('id', '=', id).execute());
    assert.deepEqual(seen, [], 'activity drops no cache');
    await store.db.updateTable('users').set({ active_time: nowIso(), locked: 1 }).where('id', '=', id).execute();
    await sql`UPDATE users SET active_time = NULL`.execute(store.db);
    assert.deepEqual(seen, [['users'], ['users']], 'a lock in the same statement, and raw SQL, are reported');
  });

  test('a cached row is served until a write to its table, then read again', async () => {
    const cache = new TableCache<{ email: string }>(store.changes, ['users']);
    let loads = 0;
    const { id } = await addUser(store.db, 'dora');
    const load = () => {
      loads++;
      return store.db.selectFrom('users').select('email').where('id', '=', id).executeTakeFirst();
    };
    assert.equal((await cache.get('dora', load))?.email, '');
    assert.equal((await cache.get('dora', load))?.email, '');
    assert.equal(loads, 1);
    assert.throws(() => ((cache.peek('dora') as { email: string }).email = 'x'), TypeError, 'cached rows are frozen');
    await store.db.updateTable('users').set({ email: 'dora@example.org' }).where('id', '=', id).execute();
    assert.equal(cache.peek('dora'), undefined);
    assert.equal((await cache.get('dora', load))?.email, 'dora@example.org');
    assert.equal(loads, 2);
  });

  test('a load that overlaps a write is returned but not kept; missing rows are never kept', async () => {
    const cache = new TableCache<{ n: number }>(store.changes, ['users']);
    const value = await cache.get('k', async () => {
      await addUser(store.db, 'erin'); // the write lands while this load is in flight
      return { n: 1 };
    });
    assert.deepEqual(value, { n: 1 });
    assert.equal(cache.peek('k'), undefined);
    assert.equal(await cache.get('missing', async () => undefined), undefined);
    assert.equal(cache.peek('missing'), undefined);
  });

  test('a cached row expires after its time to live even without a notice (writes by other processes)', async () => {
    const cache = new TableCache<{ n: number }>(store.changes, ['users'], 30);
    await cache.get('k', async () => ({ n: 1 }));
    assert.deepEqual(cache.peek('k'), { n: 1 });
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(cache.peek('k'), undefined);
  });

  test('without a change feed (maintenance commands) nothing is cached', async () => {
    const cache = new TableCache<{ n: number }>(undefined, ['users']);
    let loads = 0;
    await cache.get('k', async () => ({ n: ++loads }));
    await cache.get('k', async () => ({ n: ++loads }));
    assert.equal(loads, 2);
  });
});
