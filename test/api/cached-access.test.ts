import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { makeTarGz } from '../support/tarball.js';
import { postgresDatabaseUrl, PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { within } from '../support/eventually.js';

// Who may see content is read from in-memory copies of rows (src/db/table-cache.ts). These tests
// change every input of the access rule and expect the very next request to follow the change:
// on one server, and across replicas of one PostgreSQL database, where the change is announced
// by NOTIFY.

after(stopPostgres);

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

async function publishStatic(t: TestServer, name: string): Promise<string> {
  const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name } })).json()) as { guid: string };
  const bundle = (await (
    await t.api(`/__api__/v1/content/${guid}/bundles`, {
      method: 'POST',
      body: makeTarGz([
        { name: 'manifest.json', content: STATIC_MANIFEST },
        { name: 'index.html', content: '<p>report</p>' },
      ]),
    })
  ).json()) as { id: string };
  const task = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: bundle.id } })).json()) as { task_id: string };
  assert.equal((await waitForTask(t, task.task_id)).code, 0);
  return guid;
}

const status = async (t: TestServer, guid: string, key: string) => (await t.api(`/content/${guid}/`, { key })).status;

for (const provider of PROVIDERS) {
  describe(`access to content follows every change at once (${provider})`, () => {
    test('grants, group membership, access type, vanity paths, locking and key deletion', async () => {
      const t = await startLectern(provider);
      try {
        const guid = await publishStatic(t, 'cached-access');
        const viewer = await t.addUser('cache-viewer', 'viewer');
        assert.equal(await status(t, guid, viewer.key), 403);

        // A grant to a group the viewer then joins and leaves.
        const group = (await (await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'readers' } })).json()) as { guid: string };
        const grant = (await (await t.api(`/__api__/v1/content/${guid}/permissions`, { method: 'POST', json: { principal_guid: group.guid, principal_type: 'group', role: 'viewer' } })).json()) as {
          id: string;
        };
        assert.equal(await status(t, guid, viewer.key), 403);
        assert.equal((await t.api(`/__api__/v1/groups/${group.guid}/members`, { method: 'POST', json: { user_guid: viewer.guid } })).status, 204);
        assert.equal(await status(t, guid, viewer.key), 200);
        assert.equal((await t.api(`/__api__/v1/groups/${group.guid}/members/${viewer.guid}`, { method: 'DELETE' })).status, 204);
        assert.equal(await status(t, guid, viewer.key), 403);
        assert.equal((await t.api(`/__api__/v1/content/${guid}/permissions/${grant.id}`, { method: 'DELETE' })).status, 204);

        // The access type.
        assert.equal((await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'logged_in' } })).status, 200);
        assert.equal(await status(t, guid, viewer.key), 200);
        assert.equal((await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'acl' } })).status, 200);
        assert.equal(await status(t, guid, viewer.key), 403);

        // The caller's account and key.
        assert.equal((await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'logged_in' } })).status, 200);
        assert.equal(await status(t, guid, viewer.key), 200);
        assert.equal((await t.api(`/__api__/v1/users/${viewer.guid}/lock`, { method: 'POST', json: { locked: true } })).status, 200);
        assert.equal(await status(t, guid, viewer.key), 401);
        assert.equal((await t.api(`/__api__/v1/users/${viewer.guid}/lock`, { method: 'POST', json: { locked: false } })).status, 200);
        assert.equal(await status(t, guid, viewer.key), 200);
        // Vanity paths: set, moved, removed.
        const at = async (p: string) => (await t.api(p)).status;
        assert.equal(await at('/reports/q3/'), 404);
        assert.equal((await t.api(`/__api__/v1/content/${guid}/vanity`, { method: 'PUT', json: { path: '/reports/q3/' } })).status, 200);
        assert.equal(await at('/reports/q3/'), 200);
        assert.equal((await t.api(`/__api__/v1/content/${guid}/vanity`, { method: 'PUT', json: { path: '/reports/q4/' } })).status, 200);
        assert.equal(await at('/reports/q3/'), 404);
        assert.equal(await at('/reports/q4/'), 200);
        assert.equal((await t.api(`/__api__/v1/content/${guid}/vanity`, { method: 'DELETE' })).status, 204);
        assert.equal(await at('/reports/q4/'), 404);

        const keys = (await (await t.api('/__api__/v1/user/api_keys', { key: viewer.key })).json()) as Array<{ id: string }>;
        assert.equal((await t.api(`/__api__/v1/user/api_keys/${keys[0]!.id}`, { method: 'DELETE', key: viewer.key })).status, 204);
        assert.equal(await status(t, guid, viewer.key), 401);
      } finally {
        await t.stop();
      }
    });
  });
}

if (PROVIDERS.includes('postgres')) {
  describe('several replicas on one PostgreSQL database', () => {
    test("a change made through one replica reaches the others' cached rows", { timeout: 120_000 }, async () => {
      const databaseUrl = await postgresDatabaseUrl();
      const a = await startLectern('postgres', { 'Server.ReplicaName': 'replica-a' }, { dataDir: await mkdtemp(path.join(os.tmpdir(), 'lectern-cache-')), databaseUrl });
      const b = await startLectern('postgres', { 'Server.ReplicaName': 'replica-b' }, { dataDir: a.dataDir, databaseUrl });
      try {
        const guid = await publishStatic(a, 'replicated-access');
        const viewer = await a.addUser('replica-viewer', 'viewer');
        // B caches the content row, the (empty) grants and the viewer's key.
        assert.equal(await status(b, guid, viewer.key), 403);
        assert.equal(await status(b, guid, viewer.key), 403);

        // Waiting for B to hear of the commit, not for the cache to expire (CACHE_TTL_MS): the
        // test checks that the notice itself arrives. Other notices of the same table (a login's
        // activity time) may come first; then the next one is awaited.
        const heard = (table: string) =>
          new Promise<void>((resolve) => {
            const stop = b.app.store.changes.watch([table], (tables) => {
              if (tables.includes(table)) {
                stop();
                resolve();
              }
            });
          });
        const afterNotice = async (table: string, change: () => Promise<void>, expected: number) => {
          let notice = heard(table);
          await change();
          // Bounded: a notice that never comes fails the test instead of hanging it.
          const deadline = Date.now() + 30_000;
          let seen: number | undefined;
          while (Date.now() < deadline) {
            await within(`replica B to hear of a change to ${table} (last status ${seen ?? 'none'}, expected ${expected})`, notice, Math.max(deadline - Date.now(), 1));
            notice = heard(table);
            seen = await status(b, guid, viewer.key);
            if (seen === expected) return;
          }
          assert.fail(`replica B answered ${seen} after changes to ${table}, expected ${expected}`);
        };
        let grantId = '';
        await afterNotice(
          'content_permissions',
          async () => {
            const res = await a.api(`/__api__/v1/content/${guid}/permissions`, { method: 'POST', json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } });
            grantId = ((await res.json()) as { id: string }).id;
          },
          200,
        );
        await afterNotice('content_permissions', async () => assert.equal((await a.api(`/__api__/v1/content/${guid}/permissions/${grantId}`, { method: 'DELETE' })).status, 204), 403);
        // A content row change (what a redeploy or an environment change makes, and what switches a
        // pool to the new generation) reaches B the same way.
        await afterNotice('content', async () => assert.equal((await a.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'logged_in' } })).status, 200), 200);
        await afterNotice('content', async () => assert.equal((await a.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'acl' } })).status, 200), 403);
        assert.equal((await b.app.content.find(guid))?.access_type, 'acl');
        await afterNotice('users', async () => assert.equal((await a.api(`/__api__/v1/users/${viewer.guid}/lock`, { method: 'POST', json: { locked: true } })).status, 200), 401);
      } finally {
        await b.stop();
        await a.stop();
      }
    });
  });
}
