import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';
import { newGuid, nowIso } from '../../src/util/ids.js';

after(stopPostgres);

const STATIC_BUNDLE = makeTarGz([
  { name: 'manifest.json', content: JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} }) },
  { name: 'index.html', content: '<h1>report</h1>' },
]);

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

for (const provider of PROVIDERS) {
  describe(`content permissions (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    let viewer: { key: string; guid: string; id: number };
    let collaborator: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('perm-publisher', 'publisher');
      viewer = await t.addUser('perm-viewer', 'viewer');
      collaborator = await t.addUser('perm-collab', 'publisher');
    });
    after(() => t.stop());

    async function createContent(name: string, key: string) {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name }, key });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    }

    test('grant, read, update and revoke permissions; acl content appears only after a grant', async () => {
      const content = await createContent('acl-report', publisher.key);
      const base = `/__api__/v1/content/${content.guid}/permissions`;

      // Nothing granted yet; the owner is not listed.
      assert.deepEqual(await json(await t.api(base, { key: publisher.key })), []);
      // The viewer cannot see the item at all.
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}`, { key: viewer.key })).status, 404);
      // (Only this item counts: what other tests published stays theirs, whichever runs first.)
      assert.ok(!(await json(await t.api('/__api__/v1/content', { key: viewer.key }))).some((c: { guid: string }) => c.guid === content.guid), 'the viewer does not list it');
      assert.equal((await t.api(`/content/${content.guid}/`, { key: viewer.key })).status, 403);
      assert.equal((await t.api(base, { key: viewer.key })).status, 404);

      const created = await json(await t.api(base, { method: 'POST', key: publisher.key, json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } }));
      assert.equal(typeof created.id, 'string');
      assert.deepEqual({ ...created, id: undefined }, { id: undefined, content_guid: content.guid, principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' });

      // Now the viewer sees it, may read the ACL, but may not change it.
      const seen = await json(await t.api(`/__api__/v1/content/${content.guid}`, { key: viewer.key }));
      assert.equal(seen.app_role, 'viewer');
      assert.ok(
        (await json(await t.api('/__api__/v1/content', { key: viewer.key }))).some((c: { guid: string }) => c.guid === content.guid),
        'the viewer lists it',
      );
      const list = await json(await t.api(base, { key: viewer.key }));
      assert.deepEqual(list, [created]);
      assert.deepEqual(await json(await t.api(`${base}/${created.id}`, { key: viewer.key })), created);
      const denied = await t.api(base, { method: 'POST', key: viewer.key, json: { principal_guid: collaborator.guid, principal_type: 'user', role: 'viewer' } });
      assert.equal(denied.status, 403);
      assert.equal((await json(denied)).code, 22);
      assert.equal((await t.api(`${base}/${created.id}`, { method: 'DELETE', key: viewer.key })).status, 403);

      // PUT changes the grant.
      const updated = await json(await t.api(`${base}/${created.id}`, { method: 'PUT', key: publisher.key, json: { principal_guid: collaborator.guid, principal_type: 'user', role: 'owner' } }));
      assert.equal(updated.role, 'owner');
      assert.equal(updated.id, created.id);
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}`, { key: viewer.key })).status, 404);

      // DELETE revokes it.
      const del = await t.api(`${base}/${created.id}`, { method: 'DELETE', key: publisher.key });
      assert.equal(del.status, 204);
      assert.equal((await t.api(`${base}/${created.id}`, { key: publisher.key })).status, 404);
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}`, { key: viewer.key })).status, 404);
    });

    test('a collaborator with role owner can change the content and its ACL', async () => {
      const content = await createContent('shared-app', publisher.key);
      const base = `/__api__/v1/content/${content.guid}/permissions`;
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', key: collaborator.key, json: { title: 'x' } })).status, 404);
      await json(await t.api(base, { method: 'POST', key: publisher.key, json: { principal_guid: collaborator.guid, principal_type: 'user', role: 'owner' } }));
      const patched = await json(await t.api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', key: collaborator.key, json: { title: 'Shared App' } }));
      assert.equal(patched.title, 'Shared App');
      assert.equal(patched.app_role, 'editor');
      const grant = await t.api(base, { method: 'POST', key: collaborator.key, json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } });
      assert.equal(grant.status, 200);
      assert.equal((await json(await t.api(base, { key: collaborator.key }))).length, 2);
    });

    test('validation: unknown principal, bad type/role, the owner, duplicates, missing ids', async () => {
      const content = await createContent('validated', publisher.key);
      const base = `/__api__/v1/content/${content.guid}/permissions`;
      const post = (body: unknown) => t.api(base, { method: 'POST', key: publisher.key, json: body });

      let res = await post({ principal_guid: newGuid(), principal_type: 'user', role: 'viewer' });
      assert.equal(res.status, 400);
      assert.equal((await json(res)).code, 25);
      res = await post({ principal_guid: viewer.guid, principal_type: 'robot', role: 'viewer' });
      assert.equal(res.status, 400);
      res = await post({ principal_guid: viewer.guid, principal_type: 'user', role: 'admin' });
      assert.equal(res.status, 400);
      res = await post({ principal_type: 'user', role: 'viewer' });
      assert.equal(res.status, 400);
      assert.equal((await json(res)).code, 12);
      res = await post({ principal_guid: publisher.guid, principal_type: 'user', role: 'owner' });
      assert.equal(res.status, 400, 'the owner cannot be granted');
      // A user guid given as a group does not exist as a group.
      res = await post({ principal_guid: viewer.guid, principal_type: 'group', role: 'viewer' });
      assert.equal(res.status, 400);

      assert.equal((await post({ principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' })).status, 200);
      res = await post({ principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' });
      assert.equal(res.status, 409);
      const body = await json(res);
      assert.equal(typeof body.code, 'number');
      assert.ok(body.error);

      // PUT onto another principal that already has a grant is also a conflict.
      const second = await json(await post({ principal_guid: collaborator.guid, principal_type: 'user', role: 'viewer' }));
      res = await t.api(`${base}/${second.id}`, { method: 'PUT', key: publisher.key, json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } });
      assert.equal(res.status, 409);

      res = await t.api(`${base}/999999`, { key: publisher.key });
      assert.equal(res.status, 404);
      assert.equal((await json(res)).code, 4);
      res = await t.api(`${base}/999999`, { method: 'DELETE', key: publisher.key });
      assert.equal(res.status, 404);
      // A permission id of another content item is not found under this one.
      const other = await createContent('other', publisher.key);
      res = await t.api(`/__api__/v1/content/${other.guid}/permissions/${second.id}`, { key: publisher.key });
      assert.equal(res.status, 404);
    });

    test('groups can be granted and give their members access', async () => {
      const db = t.app.store.db;
      const group = await db.insertInto('groups').values({ guid: newGuid(), name: 'analysts', owner_guid: null, created_time: nowIso() }).returningAll().executeTakeFirstOrThrow();
      const member = await t.addUser('perm-member', 'viewer');
      await db.insertInto('group_members').values({ group_id: group.id, user_id: member.id }).execute();
      const content = await createContent('group-report', publisher.key);
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}`, { key: member.key })).status, 404);
      const grant = await json(
        await t.api(`/__api__/v1/content/${content.guid}/permissions`, { method: 'POST', key: publisher.key, json: { principal_guid: group.guid, principal_type: 'group', role: 'viewer' } }),
      );
      assert.equal(grant.principal_type, 'group');
      assert.equal((await json(await t.api(`/__api__/v1/content/${content.guid}`, { key: member.key }))).app_role, 'viewer');
    });

    /** Everything an editor does that changes what runs: each must be refused with Connect's 403. */
    async function assertCannotPublish(guid: string, key: string, bundleId: string) {
      const attempts: Array<[string, Promise<Response>]> = [
        ['upload', t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', key, body: STATIC_BUNDLE })],
        ['deploy', t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', key, json: { bundle_id: bundleId } })],
        ['set environment', t.api(`/__api__/v1/content/${guid}/environment`, { method: 'PATCH', key, json: [{ name: 'SECRET', value: 'x' }] })],
        ['update', t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', key, json: { title: 'changed' } })],
        ['grant', t.api(`/__api__/v1/content/${guid}/permissions`, { method: 'POST', key, json: { principal_guid: collaborator.guid, principal_type: 'user', role: 'viewer' } })],
      ];
      for (const [what, pending] of attempts) {
        const res = await pending;
        assert.equal(res.status, 403, `${what}: ${await res.clone().text()}`);
        const body = await json(res);
        assert.equal(body.code, 22, what);
        assert.match(body.error, /publisher role/, what);
      }
    }

    async function deployedContent(name: string, key: string) {
      const content = await createContent(name, key);
      const upload = await t.api(`/__api__/v1/content/${content.guid}/bundles`, { method: 'POST', key, body: STATIC_BUNDLE });
      assert.equal(upload.status, 200, await upload.clone().text());
      const bundle = await json(upload);
      const deploy = await json(await t.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', key, json: { bundle_id: bundle.id } }));
      assert.equal((await waitForTask(t, deploy.task_id, key)).code, 0);
      return { content, bundleId: bundle.id as string };
    }

    async function setRole(guid: string, role: string) {
      const res = await t.api(`/__api__/v1/users/${guid}`, { method: 'PUT', json: { user_role: role } });
      assert.equal(res.status, 200, await res.clone().text());
    }

    test('a publisher demoted to viewer still views its own content but can no longer change it', async () => {
      const demoted = await t.addUser('perm-demoted', 'publisher');
      const { content, bundleId } = await deployedContent('demoted-own', demoted.key);
      await setRole(demoted.guid, 'viewer');

      const seen = await json(await t.api(`/__api__/v1/content/${content.guid}`, { key: demoted.key }));
      assert.equal(seen.app_role, 'viewer');
      assert.equal((await t.api(`/content/${content.guid}/`, { key: demoted.key })).status, 200);
      await assertCannotPublish(content.guid, demoted.key, bundleId);

      // Promoted again, the owner edits again.
      await setRole(demoted.guid, 'publisher');
      assert.equal((await json(await t.api(`/__api__/v1/content/${content.guid}`, { key: demoted.key }))).app_role, 'owner');
    });

    test('a viewer account cannot be made a collaborator, directly or by changing a grant', async () => {
      const content = await createContent('no-viewer-collab', publisher.key);
      const base = `/__api__/v1/content/${content.guid}/permissions`;
      const refused = await t.api(base, { method: 'POST', key: publisher.key, json: { principal_guid: viewer.guid, principal_type: 'user', role: 'owner' } });
      assert.equal(refused.status, 400);
      const body = await json(refused);
      assert.equal(body.code, 25);
      assert.match(body.error, /viewer account/);
      assert.deepEqual(await json(await t.api(base, { key: publisher.key })), [], 'nothing was stored');

      const grant = await json(await t.api(base, { method: 'POST', key: publisher.key, json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } }));
      const put = await t.api(`${base}/${grant.id}`, { method: 'PUT', key: publisher.key, json: { principal_guid: viewer.guid, principal_type: 'user', role: 'owner' } });
      assert.equal(put.status, 400);
      assert.equal((await json(await t.api(`${base}/${grant.id}`, { key: publisher.key }))).role, 'viewer');
    });

    test('collaborator grants of an account later demoted to viewer, direct or through a group, give no edit rights', async () => {
      const db = t.app.store.db;
      const colleague = await t.addUser('perm-colleague', 'publisher');
      const member = await t.addUser('perm-group-collab', 'publisher');
      const group = await db.insertInto('groups').values({ guid: newGuid(), name: 'editors', owner_guid: null, created_time: nowIso() }).returningAll().executeTakeFirstOrThrow();
      await db.insertInto('group_members').values({ group_id: group.id, user_id: member.id }).execute();
      const { content, bundleId } = await deployedContent('demoted-collab', publisher.key);
      const base = `/__api__/v1/content/${content.guid}/permissions`;
      for (const [guid, type] of [
        [colleague.guid, 'user'],
        [group.guid, 'group'],
      ]) {
        assert.equal((await t.api(base, { method: 'POST', key: publisher.key, json: { principal_guid: guid, principal_type: type, role: 'owner' } })).status, 200);
      }
      for (const who of [colleague, member]) assert.equal((await json(await t.api(`/__api__/v1/content/${content.guid}`, { key: who.key }))).app_role, 'editor');

      await setRole(colleague.guid, 'viewer');
      await setRole(member.guid, 'viewer');
      for (const who of [colleague, member]) {
        assert.equal((await json(await t.api(`/__api__/v1/content/${content.guid}`, { key: who.key }))).app_role, 'viewer');
        await assertCannotPublish(content.guid, who.key, bundleId);
      }
      // The listing says the same as the item.
      const listed = (await json(await t.api('/__api__/v1/content', { key: colleague.key }))).find((c: { guid: string }) => c.guid === content.guid);
      assert.equal(listed.app_role, 'viewer');
    });

    test('administrators manage any ACL; anonymous callers are refused', async () => {
      const content = await createContent('admin-managed', publisher.key);
      const res = await t.api(`/__api__/v1/content/${content.guid}/permissions`, { method: 'POST', json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } });
      assert.equal(res.status, 200);
      const anon = await t.api(`/__api__/v1/content/${content.guid}/permissions`, { key: null });
      assert.equal(anon.status, 401);
      assert.equal((await json(anon)).code, 24);
    });
  });
}
