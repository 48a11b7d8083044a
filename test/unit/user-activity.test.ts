import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Config } from '../../src/config/config.js';
import { migrate, openStore, type Store } from '../../src/db/database.js';
import { Users } from '../../src/users/users.js';

// Recording when a user or key was last used must not drop the caches every request relies on.
let dir: string;
let store: Store;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-activity-'));
  store = openStore(Config.load({ env: {}, overrides: { 'Server.DataDir': dir } }));
  await migrate(store);
});

after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

test('activity is written once a minute and reported to no cache; a change to the user still is', async () => {
  const users = new Users(store.db, store.changes);
  const seen: string[][] = [];
  store.changes.watch(['users', 'api_keys'], (tables) => seen.push([...tables]));
  const user = await users.create({ username: 'active', password: 'active-password', user_role: 'viewer' });
  const { key } = await users.createApiKey(user.id, 'tests');
  seen.length = 0;

  const found = await users.userForApiKey(key);
  assert.ok(found);
  await users.touch(found.user);
  const stored = async () => (await store.db.selectFrom('users').select('active_time').where('id', '=', user.id).executeTakeFirstOrThrow()).active_time;
  const keyUsed = async () => (await store.db.selectFrom('api_keys').select('last_used_time').where('user_id', '=', user.id).executeTakeFirstOrThrow()).last_used_time;
  const first = await stored();
  assert.ok(first, 'active_time is recorded');
  assert.ok(await keyUsed(), 'last_used_time is recorded');
  assert.deepEqual(seen, [], 'no cache is dropped for it');

  // The cached row still carries the old time; the second request within the minute writes nothing.
  await new Promise((r) => setTimeout(r, 5));
  await users.touch(found.user);
  assert.equal(await stored(), first);

  await store.db.updateTable('users').set({ locked: 1 }).where('id', '=', user.id).execute();
  assert.deepEqual(seen, [['users']], 'locking the user is reported as before');
});
