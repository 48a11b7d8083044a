import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

async function json(res: Response, status = 200) {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

async function apiError(res: Response, status: number, code: number) {
  const body = await json(res, status);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'payload']);
  assert.equal(body.code, code, body.error);
  assert.equal(typeof body.error, 'string');
  return body;
}

const USER_KEYS = ['active_time', 'confirmed', 'created_time', 'email', 'first_name', 'guid', 'last_name', 'locked', 'updated_time', 'user_role', 'username'];
const PAGE_KEYS = ['current_page', 'results', 'total'];
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

for (const provider of PROVIDERS) {
  describe(`users and groups (${provider})`, () => {
    let t: TestServer;
    let viewer: { key: string; guid: string; id: number };
    let publisher: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      viewer = await t.addUser('users-viewer', 'viewer');
      publisher = await t.addUser('users-publisher', 'publisher');
    });
    after(() => t.stop());

    test('GET v1/user and the legacy forms; bad keys', async () => {
      const me = await json(await t.api('/__api__/v1/user'));
      assert.deepEqual(Object.keys(me).sort(), USER_KEYS);
      assert.equal(me.username, 'admin');
      assert.equal(me.user_role, 'administrator');
      assert.match(me.created_time, TIME);
      assert.equal(me.locked, false);
      assert.equal(me.confirmed, true);

      for (const path of ['/__api__/me', '/__api__/users/current']) {
        const legacy = await json(await t.api(path, { key: viewer.key }));
        assert.equal(legacy.id, viewer.id);
        assert.ok(Number.isInteger(legacy.id));
        assert.equal(legacy.username, 'users-viewer');
        assert.equal(legacy.guid, viewer.guid);
      }

      await apiError(await t.api('/__api__/v1/user', { key: 'not-a-real-key' }), 401, 30);
      await apiError(await t.api('/__api__/me', { key: 'not-a-real-key' }), 401, 30);
      await apiError(await t.api('/__api__/v1/user', { key: null }), 401, 24);
    });

    test('create users: admin only, validation, duplicates', async () => {
      await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'nope' }, key: viewer.key }), 403, 22);
      await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'nope' }, key: publisher.key }), 403, 22);

      const created = await json(
        await t.api('/__api__/v1/users', {
          method: 'POST',
          json: { username: 'alice', email: 'alice@example.org', first_name: 'Alice', last_name: 'Liddell', password: 'wonderland-1', user_role: 'publisher', unique_id: 'x1' },
        }),
      );
      assert.deepEqual(Object.keys(created).sort(), USER_KEYS);
      assert.equal(created.username, 'alice');
      assert.equal(created.user_role, 'publisher');
      assert.equal(created.email, 'alice@example.org');
      assert.equal(created.first_name, 'Alice');
      // The password works for signing in.
      assert.ok(await t.app.users.verifyPassword('alice', 'wonderland-1'));

      const minimal = await json(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'bob', user_must_set_password: true } }));
      assert.equal(minimal.user_role, 'viewer');

      await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'ALICE' } }), 409, 26);
      const unknown = await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'carol', favourite_colour: 'red' } }), 400, 25);
      assert.match(unknown.error, /favourite_colour/);
      await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'carol', user_role: 'superuser' } }), 400, 25);
      await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'carol', password: 'short' } }), 400, 25);
      await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'bad name!' } }), 400, 25);
      await apiError(await t.api('/__api__/v1/users', { method: 'POST', json: { email: 'x@example.org' } }), 400, 12);
      await apiError(await t.api('/__api__/v1/users', { method: 'POST', body: '{oops', headers: { 'content-type': 'application/json' } }), 400, 121);
    });

    test('list users: offset paging, filters, exact keys', async () => {
      for (let i = 0; i < 5; i++) await t.addUser(`pager-${i}`, i % 2 ? 'publisher' : 'viewer');

      const all = await json(await t.api('/__api__/v1/users', { key: viewer.key }));
      assert.deepEqual(Object.keys(all).sort(), PAGE_KEYS);
      assert.equal(all.current_page, 1);
      assert.equal(all.total, all.results.length);
      assert.deepEqual(Object.keys(all.results[0]).sort(), USER_KEYS);

      const p1 = await json(await t.api('/__api__/v1/users?prefix=pager&page_size=2'));
      assert.deepEqual(Object.keys(p1).sort(), PAGE_KEYS);
      assert.equal(p1.total, 5);
      assert.deepEqual(
        p1.results.map((u: any) => u.username),
        ['pager-0', 'pager-1'],
      );
      const p3 = await json(await t.api('/__api__/v1/users?prefix=pager&page_size=2&page_number=3'));
      assert.equal(p3.current_page, 3);
      assert.deepEqual(
        p3.results.map((u: any) => u.username),
        ['pager-4'],
      );
      const p4 = await json(await t.api('/__api__/v1/users?prefix=pager&page_size=2&page_number=4'));
      assert.deepEqual(p4.results, []);
      assert.equal(p4.total, 5);

      const desc = await json(await t.api('/__api__/v1/users?prefix=PAGER&asc_order=false&page_size=1'));
      assert.equal(desc.results[0].username, 'pager-4');

      const pubs = await json(await t.api('/__api__/v1/users?prefix=pager&user_role=publisher'));
      assert.deepEqual(
        pubs.results.map((u: any) => u.username),
        ['pager-1', 'pager-3'],
      );
      const both = await json(await t.api('/__api__/v1/users?prefix=pager&user_role=publisher|viewer'));
      assert.equal(both.total, 5);

      // Prefix matching treats LIKE wildcards literally.
      assert.equal((await json(await t.api('/__api__/v1/users?prefix=%25'))).total, 0);

      for (const bad of ['page_size=0', 'page_size=501', 'page_size=abc', 'page_number=0', 'page_number=-1', 'user_role=root', 'account_status=gone', 'asc_order=maybe']) {
        await apiError(await t.api(`/__api__/v1/users?${bad}`), 400, 25);
      }
      await apiError(await t.api('/__api__/v1/users', { key: 'bogus' }), 401, 30);
    });

    test('get one user', async () => {
      const got = await json(await t.api(`/__api__/v1/users/${viewer.guid}`, { key: publisher.key }));
      assert.equal(got.username, 'users-viewer');
      await apiError(await t.api('/__api__/v1/users/00000000-0000-0000-0000-000000000000'), 404, 4);
    });

    test('update users: PUT and PATCH, self-service limits, admin self-protection', async () => {
      const target = await t.addUser('updatee', 'viewer');
      const put = await json(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PUT', json: { first_name: 'Up', last_name: 'Datee', email: 'u@example.org', user_role: 'publisher' } }));
      assert.equal(put.first_name, 'Up');
      assert.equal(put.user_role, 'publisher');
      const patch = await json(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { username: 'updated-name' } }));
      assert.equal(patch.username, 'updated-name');
      assert.equal(patch.first_name, 'Up');

      // The user may change their own names and email but not their role or username.
      const self = await json(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { last_name: 'Self' }, key: target.key }));
      assert.equal(self.last_name, 'Self');
      await apiError(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { user_role: 'administrator' }, key: target.key }), 403, 22);
      await apiError(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { username: 'sneaky' }, key: target.key }), 403, 22);
      // Restating the current role is harmless.
      await json(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PUT', json: { user_role: 'publisher', first_name: 'Again' }, key: target.key }));
      // Others cannot change someone else.
      await apiError(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { first_name: 'X' }, key: viewer.key }), 403, 22);

      const admin = await json(await t.api('/__api__/v1/user'));
      await apiError(await t.api(`/__api__/v1/users/${admin.guid}`, { method: 'PATCH', json: { user_role: 'viewer' } }), 403, 22);
      await apiError(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { password: 'whatever-123' } }), 400, 25);
      await apiError(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { user_role: 'boss' } }), 400, 25);
      await apiError(await t.api(`/__api__/v1/users/${target.guid}`, { method: 'PATCH', json: { username: 'users-viewer' } }), 409, 26);
      await apiError(await t.api('/__api__/v1/users/00000000-0000-0000-0000-000000000000', { method: 'PATCH', json: { first_name: 'x' } }), 404, 4);
    });

    test('lock and unlock: a locked user’s key stops working', async () => {
      const target = await t.addUser('lockee', 'publisher');
      const before = await json(await t.api('/__api__/v1/user', { key: target.key }));
      await apiError(await t.api(`/__api__/v1/users/${target.guid}/lock`, { method: 'POST', json: { locked: true }, key: publisher.key }), 403, 22);
      await apiError(await t.api(`/__api__/v1/users/${target.guid}/lock`, { method: 'POST', json: { locked: 'yes' } }), 400, 25);

      const locked = await json(await t.api(`/__api__/v1/users/${target.guid}/lock`, { method: 'POST', json: { locked: true } }));
      assert.equal(locked.locked, true);
      await apiError(await t.api('/__api__/v1/user', { key: target.key }), 401, 30);
      const lockedList = await json(await t.api('/__api__/v1/users?account_status=locked'));
      assert.deepEqual(
        lockedList.results.map((u: any) => u.username),
        ['lockee'],
      );
      const licensed = await json(await t.api('/__api__/v1/users?account_status=licensed&page_size=500'));
      assert.ok(!licensed.results.some((u: any) => u.username === 'lockee'));

      const unlocked = await json(await t.api(`/__api__/v1/users/${target.guid}/lock`, { method: 'POST', json: { locked: false } }));
      assert.equal(unlocked.locked, false);
      // Locking is a status, not an edit of the record (posit-sdk compares users after lock()).
      assert.equal(unlocked.updated_time, before.updated_time);
      assert.equal(locked.updated_time, before.updated_time);
      assert.equal((await t.api('/__api__/v1/user', { key: target.key })).status, 200);

      const admin = await json(await t.api('/__api__/v1/user'));
      await apiError(await t.api(`/__api__/v1/users/${admin.guid}/lock`, { method: 'POST', json: { locked: true } }), 403, 22);
    });

    test('API keys of the signed-in user', async () => {
      const owner = await t.addUser('key-owner', 'viewer');
      const before = await json(await t.api('/__api__/v1/user/api_keys', { key: owner.key }));
      assert.equal(before.length, 1);
      assert.deepEqual(Object.keys(before[0]).sort(), ['created_time', 'id', 'key_hint', 'last_used_time', 'name']);

      const created = await json(await t.api('/__api__/v1/user/api_keys', { method: 'POST', json: { name: 'laptop' }, key: owner.key }));
      assert.deepEqual(Object.keys(created).sort(), ['created_time', 'id', 'key', 'name']);
      assert.equal(created.name, 'laptop');
      assert.match(created.created_time, TIME);
      const me = await json(await t.api('/__api__/v1/user', { key: created.key }));
      assert.equal(me.username, 'key-owner');

      const listed = await json(await t.api('/__api__/v1/user/api_keys', { key: owner.key }));
      assert.equal(listed.length, 2);
      const entry = listed.find((k: any) => k.id === created.id);
      assert.equal(entry.key_hint, created.key.slice(0, 4));
      assert.ok(!('key' in entry));

      await apiError(await t.api('/__api__/v1/user/api_keys', { method: 'POST', json: {}, key: owner.key }), 400, 12);
      await apiError(await t.api('/__api__/v1/user/api_keys', { method: 'POST', json: { name: 'x', scope: 'all' }, key: owner.key }), 400, 25);
      // Someone else's key id is not found for another user.
      await apiError(await t.api(`/__api__/v1/user/api_keys/${created.id}`, { method: 'DELETE', key: viewer.key }), 404, 4);

      const del = await t.api(`/__api__/v1/user/api_keys/${created.id}`, { method: 'DELETE', key: owner.key });
      assert.equal(del.status, 204);
      await apiError(await t.api('/__api__/v1/user', { key: created.key }), 401, 30);
      await apiError(await t.api(`/__api__/v1/user/api_keys/${created.id}`, { method: 'DELETE', key: owner.key }), 404, 4);
      await apiError(await t.api('/__api__/v1/user/api_keys/abc', { method: 'DELETE', key: owner.key }), 404, 4);
    });

    test('groups: create, list, get, members, delete', async () => {
      await apiError(await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'Viewers Club' }, key: viewer.key }), 403, 22);
      const group = await json(await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'Data Science' }, key: publisher.key }));
      assert.deepEqual(Object.keys(group).sort(), ['guid', 'name', 'owner_guid']);
      assert.equal(group.owner_guid, publisher.guid);
      await apiError(await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'data science' } }), 409, 26);
      await apiError(await t.api('/__api__/v1/groups', { method: 'POST', json: {} }), 400, 12);
      await apiError(await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'x', owner: 'y' } }), 400, 25);
      await json(await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'Data Engineering' } }));
      await json(await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'Finance' } }));

      const list = await json(await t.api('/__api__/v1/groups', { key: viewer.key }));
      assert.deepEqual(Object.keys(list).sort(), PAGE_KEYS);
      assert.equal(list.total, 3);
      assert.deepEqual(Object.keys(list.results[0]).sort(), ['guid', 'name', 'owner_guid']);
      const prefixed = await json(await t.api('/__api__/v1/groups?prefix=data&page_size=1&page_number=2'));
      assert.deepEqual(prefixed, { results: [prefixed.results[0]], current_page: 2, total: 2 });
      assert.equal(prefixed.results[0].name, 'Data Science');
      await apiError(await t.api('/__api__/v1/groups?page_size=1000'), 400, 25);

      assert.deepEqual(await json(await t.api(`/__api__/v1/groups/${group.guid}`, { key: viewer.key })), group);
      await apiError(await t.api('/__api__/v1/groups/00000000-0000-0000-0000-000000000000'), 404, 4);

      // Members: the owner manages them; others cannot.
      const members = `/__api__/v1/groups/${group.guid}/members`;
      assert.deepEqual(await json(await t.api(members)), { results: [], current_page: 1, total: 0 });
      assert.equal((await t.api(members, { method: 'POST', json: { user_guid: viewer.guid }, key: publisher.key })).status, 204);
      assert.equal((await t.api(members, { method: 'POST', json: { user_guid: viewer.guid }, key: publisher.key })).status, 204);
      assert.equal((await t.api(members, { method: 'POST', json: { user_guid: publisher.guid } })).status, 204);
      await apiError(await t.api(members, { method: 'POST', json: { user_guid: publisher.guid }, key: viewer.key }), 403, 22);
      await apiError(await t.api(members, { method: 'POST', json: { user_guid: '00000000-0000-0000-0000-000000000000' } }), 404, 4);
      await apiError(await t.api(members, { method: 'POST', json: {} }), 400, 12);

      const page = await json(await t.api(`${members}?page_size=1`, { key: viewer.key }));
      assert.deepEqual(Object.keys(page).sort(), PAGE_KEYS);
      assert.equal(page.total, 2);
      assert.equal(page.results.length, 1);
      assert.deepEqual(Object.keys(page.results[0]).sort(), USER_KEYS);
      const all = await json(await t.api(members));
      assert.deepEqual(all.results.map((u: any) => u.username).sort(), ['users-publisher', 'users-viewer']);

      await apiError(await t.api(`${members}/${viewer.guid}`, { method: 'DELETE', key: viewer.key }), 403, 22);
      assert.equal((await t.api(`${members}/${viewer.guid}`, { method: 'DELETE', key: publisher.key })).status, 204);
      await apiError(await t.api(`${members}/${viewer.guid}`, { method: 'DELETE' }), 404, 4);
      assert.equal((await json(await t.api(members))).total, 1);

      await apiError(await t.api(`/__api__/v1/groups/${group.guid}`, { method: 'DELETE', key: viewer.key }), 403, 22);
      assert.equal((await t.api(`/__api__/v1/groups/${group.guid}`, { method: 'DELETE', key: publisher.key })).status, 204);
      await apiError(await t.api(`/__api__/v1/groups/${group.guid}`), 404, 4);
      // An admin may delete any group.
      const other = (await json(await t.api('/__api__/v1/groups?prefix=finance'))).results[0];
      assert.equal((await t.api(`/__api__/v1/groups/${other.guid}`, { method: 'DELETE' })).status, 204);
    });

    test('state changes are audited', async () => {
      const page = await json(await t.api('/__api__/v1/audit_logs?limit=500'));
      const actions = new Set(page.results.map((r: any) => r.action));
      for (const action of ['add_user', 'update_user', 'lock_user', 'unlock_user', 'add_api_key', 'remove_api_key', 'add_group', 'add_group_member', 'remove_group_member', 'remove_group']) {
        assert.ok(actions.has(action), `missing ${action}`);
      }
    });
  });
}
