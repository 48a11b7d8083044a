import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { normalizeVanityPath } from '../../src/content/vanities.js';
import { makeTarGz } from '../support/tarball.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

after(stopPostgres);

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

test('vanity paths normalize to /a/b/ and reject server prefixes', () => {
  assert.equal(normalizeVanityPath('Team-Dashboard'), '/team-dashboard/');
  assert.equal(normalizeVanityPath('//a//b_c/'), '/a/b_c/');
  for (const bad of ['/', '/__api__/x', '/__login__', '/content/x', '/connect/', 'a b', '/a/../b', '/a.b/']) {
    assert.throws(
      () => normalizeVanityPath(bad),
      (err: { code?: number }) => err.code === 52,
      bad,
    );
  }
  assert.throws(
    () => normalizeVanityPath(''),
    (err: { code?: number }) => err.code === 12,
  );
});

for (const provider of PROVIDERS) {
  describe(`tags and vanity URLs (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    let other: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('tv-publisher', 'publisher');
      other = await t.addUser('tv-other', 'publisher');
    });
    after(() => t.stop());

    async function createContent(name: string, key = publisher.key) {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name }, key });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    }

    test('tag CRUD, hierarchy, filters and sibling-name conflicts', async () => {
      const post = (body: unknown, key?: string) => t.api('/__api__/v1/tags', { method: 'POST', json: body, key });
      const topics = await json(await post({ name: 'Topics' }));
      assert.equal(typeof topics.id, 'string');
      assert.equal(topics.parent_id, null);
      assert.match(topics.created_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(topics.updated_time, /Z$/);
      const finance = await json(await post({ name: 'Finance', parent_id: topics.id }));
      assert.equal(finance.parent_id, topics.id);
      const hr = await json(await post({ name: 'HR', parent_id: Number(topics.id) }));

      let res = await post({ name: 'Finance', parent_id: topics.id });
      assert.equal(res.status, 409);
      assert.equal((await json(res)).code, 26);
      res = await post({ name: 'Topics' });
      assert.equal(res.status, 409);
      // Same name under another parent is fine.
      assert.equal((await post({ name: 'Finance' })).status, 200);
      res = await post({ name: 'Orphan', parent_id: '999999' });
      assert.equal(res.status, 400);
      res = await post({});
      assert.equal(res.status, 400);
      res = await post({ name: 'Not allowed' }, publisher.key);
      assert.equal(res.status, 403);

      assert.deepEqual(await json(await t.api(`/__api__/v1/tags/${finance.id}`, { key: publisher.key })), finance);
      const byParent = await json(await t.api(`/__api__/v1/tags?parent_id=${topics.id}`, { key: publisher.key }));
      assert.deepEqual(
        byParent.map((x: { name: string }) => x.name),
        ['Finance', 'HR'],
      );
      const byName = await json(await t.api('/__api__/v1/tags?name=Finance'));
      assert.equal(byName.length, 2);
      assert.equal((await json(await t.api('/__api__/v1/tags'))).length, 4);

      // PATCH renames and moves; conflicts and cycles are refused.
      const renamed = await json(await t.api(`/__api__/v1/tags/${hr.id}`, { method: 'PATCH', json: { name: 'People' } }));
      assert.equal(renamed.name, 'People');
      assert.equal(renamed.parent_id, topics.id);
      res = await t.api(`/__api__/v1/tags/${hr.id}`, { method: 'PATCH', json: { name: 'Finance' } });
      assert.equal(res.status, 409);
      assert.equal((await json(res)).code, 26);
      res = await t.api(`/__api__/v1/tags/${topics.id}`, { method: 'PATCH', json: { parent_id: finance.id } });
      assert.equal(res.status, 400);
      res = await t.api(`/__api__/v1/tags/${hr.id}`, { method: 'PATCH', key: publisher.key, json: { name: 'x' } });
      assert.equal(res.status, 403);
      const moved = await json(await t.api(`/__api__/v1/tags/${hr.id}`, { method: 'PATCH', json: { parent_id: null } }));
      assert.equal(moved.parent_id, null);

      // DELETE removes the subtree.
      assert.equal((await t.api(`/__api__/v1/tags/${topics.id}`, { method: 'DELETE' })).status, 204);
      res = await t.api(`/__api__/v1/tags/${finance.id}`);
      assert.equal(res.status, 404);
      assert.equal((await json(res)).code, 4);
      assert.equal((await t.api(`/__api__/v1/tags/${hr.id}`)).status, 200);
    });

    test('tagging content; tag content lists only what the caller sees', async () => {
      const tag = await json(await t.api('/__api__/v1/tags', { method: 'POST', json: { name: 'Reports' } }));
      const mine = await createContent('tagged-mine');
      const theirs = await createContent('tagged-theirs', other.key);
      const url = (c: { guid: string }) => `/__api__/v1/content/${c.guid}/tags`;

      assert.deepEqual(await json(await t.api(url(mine), { key: publisher.key })), []);
      const added = await json(await t.api(url(mine), { method: 'POST', key: publisher.key, json: { tag_id: tag.id } }));
      assert.equal(added.id, tag.id);
      // Adding twice is harmless.
      assert.equal((await t.api(url(mine), { method: 'POST', key: publisher.key, json: { tag_id: tag.id } })).status, 200);
      assert.equal((await t.api(url(theirs), { method: 'POST', key: other.key, json: { tag_id: Number(tag.id) } })).status, 200);
      // Not an editor of the other's content (and cannot even see it).
      assert.equal((await t.api(url(theirs), { method: 'POST', key: publisher.key, json: { tag_id: tag.id } })).status, 404);
      let res = await t.api(url(mine), { method: 'POST', key: publisher.key, json: { tag_id: '999999' } });
      assert.equal(res.status, 404);
      res = await t.api(url(mine), { method: 'POST', key: publisher.key, json: {} });
      assert.equal(res.status, 400);

      assert.deepEqual(
        (await json(await t.api(url(mine), { key: publisher.key }))).map((x: { id: string }) => x.id),
        [tag.id],
      );
      const visible = await json(await t.api(`/__api__/v1/tags/${tag.id}/content`, { key: publisher.key }));
      assert.deepEqual(
        visible.map((c: { guid: string }) => c.guid),
        [mine.guid],
      );
      assert.equal(visible[0].app_role, 'owner');
      const all = await json(await t.api(`/__api__/v1/tags/${tag.id}/content`));
      assert.deepEqual(all.map((c: { guid: string }) => c.guid).sort(), [mine.guid, theirs.guid].sort());

      const withTags = await json(await t.api(`/__api__/v1/content/${mine.guid}?include=tags`, { key: publisher.key }));
      assert.deepEqual(
        withTags.tags.map((x: { id: string }) => x.id),
        [tag.id],
      );

      assert.equal((await t.api(`${url(mine)}/${tag.id}`, { method: 'DELETE', key: publisher.key })).status, 204);
      assert.equal((await t.api(`${url(mine)}/${tag.id}`, { method: 'DELETE', key: publisher.key })).status, 404);
      assert.deepEqual(await json(await t.api(url(mine), { key: publisher.key })), []);
    });

    test('a tag brings the tags above it, short of its top-level category; detaching a tag takes the tags under it', async () => {
      const tag = async (name: string, parent?: { id: string }) => json(await t.api('/__api__/v1/tags', { method: 'POST', json: { name, parent_id: parent?.id } }));
      const root = await tag('Category');
      const a = await tag('A', root);
      const b = await tag('B', root);
      const c = await tag('C', a);
      const d = await tag('D', c);
      const item = await createContent('tag-tree', publisher.key);
      const url = `/__api__/v1/content/${item.guid}/tags`;
      const ids = async () => ((await json(await t.api(url, { key: publisher.key }))) as Array<{ id: string }>).map((x) => x.id).sort();
      const sorted = (...tags: Array<{ id: string }>) => tags.map((x) => x.id).sort();

      assert.equal((await t.api(url, { method: 'POST', key: publisher.key, json: { tag_id: d.id } })).status, 200);
      assert.equal((await t.api(url, { method: 'POST', key: publisher.key, json: { tag_id: b.id } })).status, 200);
      assert.deepEqual(await ids(), sorted(a, b, c, d));
      const included = await json(await t.api(`/__api__/v1/content/${item.guid}?include=tags`, { key: publisher.key }));
      assert.deepEqual(included.tags.map((x: { id: string }) => x.id).sort(), sorted(a, b, c, d));
      const taggedWithA = await json(await t.api(`/__api__/v1/tags/${a.id}/content`, { key: publisher.key }));
      assert.deepEqual(
        taggedWithA.map((x: { guid: string }) => x.guid),
        [item.guid],
      );

      assert.equal((await t.api(`/__api__/v1/content/${item.guid}/tags/${c.id}`, { method: 'DELETE', key: publisher.key })).status, 204);
      assert.deepEqual(await ids(), sorted(a, b));
      // Detaching the category clears everything under it, though it was never attached itself.
      assert.equal((await t.api(`/__api__/v1/content/${item.guid}/tags/${root.id}`, { method: 'DELETE', key: publisher.key })).status, 204);
      assert.deepEqual(await ids(), []);

      // Deleting a tag takes its subtree off every item.
      assert.equal((await t.api(url, { method: 'POST', key: publisher.key, json: { tag_id: d.id } })).status, 200);
      assert.equal((await t.api(`/__api__/v1/tags/${a.id}`, { method: 'DELETE' })).status, 204);
      assert.deepEqual(await ids(), []);
      assert.equal((await t.api(`/__api__/v1/tags/${root.id}`, { method: 'DELETE' })).status, 204);
    });

    test('vanity CRUD, listing and conflict codes', async () => {
      const a = await createContent('vanity-a');
      const b = await createContent('vanity-b', other.key);
      const put = (c: { guid: string }, body: unknown, key?: string) => t.api(`/__api__/v1/content/${c.guid}/vanity`, { method: 'PUT', json: body, key });

      let res = await t.api(`/__api__/v1/content/${a.guid}/vanity`, { key: publisher.key });
      assert.equal(res.status, 404);
      assert.equal((await json(res)).code, 4);

      const set = await json(await put(a, { path: 'Sales/Dashboard' }, publisher.key));
      assert.deepEqual({ ...set, created_time: undefined }, { content_guid: a.guid, path: '/sales/dashboard/', created_time: undefined });
      assert.match(set.created_time, /Z$/);
      assert.deepEqual(await json(await t.api(`/__api__/v1/content/${a.guid}/vanity`, { key: publisher.key })), set);
      const withUrl = await json(await t.api(`/__api__/v1/content/${a.guid}?include=vanity_url`, { key: publisher.key }));
      assert.equal(withUrl.vanity_url, `${t.url}/sales/dashboard/`);

      // Same path, a parent and a child of it are all in use.
      for (const path of ['/sales/dashboard/', '/sales/', '/sales/dashboard/daily']) {
        res = await put(b, { path }, other.key);
        assert.equal(res.status, 409, path);
        assert.equal((await json(res)).code, 51);
      }
      // A sibling is fine; reserved prefixes are prohibited.
      assert.equal((await put(b, { path: '/sales/weekly/' }, other.key)).status, 200);
      for (const path of ['/__api__/v1/', '/content/abc/', '/connect/', '/__login__/']) {
        res = await put(b, { path }, other.key);
        assert.equal(res.status, 400, path);
        assert.equal((await json(res)).code, 52);
      }
      // Only administrators may force.
      res = await put(b, { path: '/sales/dashboard/', force: true }, other.key);
      assert.equal(res.status, 403);
      const forced = await json(await put(b, { path: '/sales/dashboard/', force: true }));
      assert.equal(forced.content_guid, b.guid);
      assert.equal((await t.api(`/__api__/v1/content/${a.guid}/vanity`, { key: publisher.key })).status, 404);

      // Listing: admins see all; others only what they can see.
      await put(a, { path: '/alpha/' }, publisher.key);
      const list = await json(await t.api('/__api__/v1/vanities'));
      assert.deepEqual(
        list.map((v: { path: string }) => v.path),
        ['/alpha/', '/sales/dashboard/'],
      );
      assert.deepEqual(
        (await json(await t.api('/__api__/v1/vanities', { key: publisher.key }))).map((v: { content_guid: string }) => v.content_guid),
        [a.guid],
      );

      // Only editors change or remove it.
      assert.equal((await put(a, { path: '/stolen/' }, other.key)).status, 404);
      assert.equal((await t.api(`/__api__/v1/content/${a.guid}/vanity`, { method: 'DELETE', key: publisher.key })).status, 204);
      assert.equal((await t.api(`/__api__/v1/content/${a.guid}/vanity`, { method: 'DELETE', key: publisher.key })).status, 404);
      assert.equal((await json(await t.api('/__api__/v1/vanities'))).length, 1);
    });

    test('a vanity path serves the deployed content with the same access checks', async () => {
      const content = await createContent('vanity-static');
      const bundle = makeTarGz([
        { name: 'manifest.json', content: STATIC_MANIFEST },
        { name: 'index.html', content: '<h1>Team dashboard</h1>' },
        { name: 'css/site.css', content: 'h1{color:red}' },
      ]);
      const uploaded = await json(await t.api(`/__api__/v1/content/${content.guid}/bundles`, { method: 'POST', body: bundle, key: publisher.key }));
      const deploy = await json(await t.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id }, key: publisher.key }));
      assert.equal((await waitForTask(t, deploy.task_id, publisher.key)).code, 0);
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}/vanity`, { method: 'PUT', json: { path: '/team-dashboard/' }, key: publisher.key })).status, 200);

      let res = await t.api('/team-dashboard/', { key: publisher.key });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /Team dashboard/);
      res = await t.api('/team-dashboard/css/site.css', { key: publisher.key });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'h1{color:red}');
      res = await t.api('/Team-Dashboard/css/site.css', { key: publisher.key });
      assert.equal(res.status, 200);
      res = await t.api('/team-dashboard', { key: publisher.key });
      assert.equal(res.status, 301);
      assert.equal(res.headers.get('location'), '/team-dashboard/');
      res = await t.api('/team-dashboard/missing.html', { key: publisher.key });
      assert.equal(res.status, 404);
      res = await t.api('/team-dashboard/', { key: publisher.key, method: 'HEAD' });
      assert.equal(res.status, 200);

      // acl content: anonymous and ungranted callers are refused exactly as at /content/{guid}/.
      res = await t.api('/team-dashboard/', { key: null });
      assert.equal(res.status, 401);
      res = await t.api('/team-dashboard/', { key: other.key });
      assert.equal(res.status, 403);
      await t.api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', json: { access_type: 'all' }, key: publisher.key });
      res = await t.api('/team-dashboard/', { key: null });
      assert.equal(res.status, 200);

      // Other paths fall through to the plain 404; API routes are not shadowed.
      res = await t.api('/no-such-vanity/', { key: null });
      assert.equal(res.status, 404);
      assert.doesNotMatch(res.headers.get('content-type') ?? '', /json/);
      res = await t.api('/__api__/v1/no-such-thing');
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { code: number }).code, 4);
      assert.equal((await t.api('/__api__/server_settings', { key: null })).status, 200);
      assert.equal((await t.api(`/content/${content.guid}/`, { key: null })).status, 200);
    });
  });
}
