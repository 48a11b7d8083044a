import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

/** The variables a content process of `contentId` is started with: what src/app.ts gives ContentExecution. */
function processVariables(t: TestServer, contentId: number) {
  return t.app.contentVariables.values(contentId);
}

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

for (const provider of PROVIDERS) {
  describe(`content environment variables (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    let viewer: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('env-publisher', 'publisher');
      viewer = await t.addUser('env-viewer', 'viewer');
    });
    after(() => t.stop());

    async function createContent(name: string, key = publisher.key) {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name }, key });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    }

    test('PATCH sets and deletes, PUT replaces, GET lists sorted names only', async () => {
      const content = await createContent('env-app');
      const url = `/__api__/v1/content/${content.guid}/environment`;
      assert.deepEqual(await json(await t.api(url, { key: publisher.key })), []);

      let res = await t.api(url, {
        method: 'PATCH',
        key: publisher.key,
        json: [
          { name: 'ZETA', value: 'z-secret-value' },
          { name: 'ALPHA', value: 'a-secret-value' },
        ],
      });
      assert.equal(res.status, 200);
      assert.deepEqual(await json(res), ['ALPHA', 'ZETA']);
      assert.deepEqual(await json(await t.api(url, { key: publisher.key })), ['ALPHA', 'ZETA']);

      // Overwrite one, delete another.
      res = await t.api(url, {
        method: 'PATCH',
        key: publisher.key,
        json: [
          { name: 'ALPHA', value: 'a-new-value' },
          { name: 'ZETA', value: null },
        ],
      });
      assert.deepEqual(await json(res), ['ALPHA']);
      const contentId = Number(content.id);
      assert.deepEqual(await processVariables(t, contentId), { ALPHA: 'a-new-value' });

      // PUT replaces everything.
      res = await t.api(url, {
        method: 'PUT',
        key: publisher.key,
        json: [
          { name: 'B', value: 'b' },
          { name: 'A_1', value: '' },
        ],
      });
      assert.deepEqual(await json(res), ['A_1', 'B']);
      assert.deepEqual(await processVariables(t, contentId), { A_1: '', B: 'b' });
      // posit-sdk clear() sends [].
      res = await t.api(url, { method: 'PUT', key: publisher.key, json: [] });
      assert.deepEqual(await json(res), []);
      assert.deepEqual(await processVariables(t, contentId), {});
    });

    test('values are encrypted at rest and never returned', async () => {
      const content = await createContent('env-secret');
      const url = `/__api__/v1/content/${content.guid}/environment`;
      const plaintext = 'hunter2-super-secret-token';
      const res = await t.api(url, { method: 'PATCH', key: publisher.key, json: [{ name: 'API_TOKEN', value: plaintext }] });
      assert.doesNotMatch(await res.text(), /hunter2/);
      assert.doesNotMatch(await (await t.api(url, { key: publisher.key })).text(), /hunter2/);
      assert.doesNotMatch(await (await t.api(`/__api__/v1/content/${content.guid}`, { key: publisher.key })).text(), /hunter2/);

      const rows = await t.app.store.db.selectFrom('content_environment').selectAll().where('content_id', '=', Number(content.id)).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.name, 'API_TOKEN');
      assert.ok(!rows[0]!.value_encrypted.includes(plaintext));
      assert.ok(!Buffer.from(rows[0]!.value_encrypted, 'base64').toString('latin1').includes(plaintext));
      assert.equal(t.app.secrets.open(rows[0]!.value_encrypted), plaintext);
      assert.deepEqual(await processVariables(t, Number(content.id)), { API_TOKEN: plaintext });
    });

    test('validation: duplicate names (149), bad names, reserved prefixes, bad bodies', async () => {
      const content = await createContent('env-validate');
      const url = `/__api__/v1/content/${content.guid}/environment`;
      for (const method of ['PATCH', 'PUT']) {
        const res = await t.api(url, {
          method,
          key: publisher.key,
          json: [
            { name: 'DUP', value: '1' },
            { name: 'DUP', value: '2' },
          ],
        });
        assert.equal(res.status, 400);
        assert.equal((await json(res)).code, 149);
      }
      for (const name of ['1BAD', 'has-dash', 'sp ace', '']) {
        const res = await t.api(url, { method: 'PATCH', key: publisher.key, json: [{ name, value: 'x' }] });
        assert.equal(res.status, 400, name);
      }
      for (const name of ['CONNECT_SERVER', 'RSTUDIO_PANDOC']) {
        const res = await t.api(url, { method: 'PATCH', key: publisher.key, json: [{ name, value: 'x' }] });
        assert.equal(res.status, 400);
        assert.match((await json(res)).error, /reserved/);
      }
      let res = await t.api(url, { method: 'PATCH', key: publisher.key, json: { name: 'A', value: 'b' } });
      assert.equal(res.status, 400);
      res = await t.api(url, { method: 'PATCH', key: publisher.key, json: [{ name: 'A', value: { nested: true } }] });
      assert.equal(res.status, 400);
      // A rejected request changes nothing.
      assert.deepEqual(await json(await t.api(url, { key: publisher.key })), []);
    });

    test('only editors read or change the environment', async () => {
      const content = await createContent('env-access');
      const url = `/__api__/v1/content/${content.guid}/environment`;
      await t.api(`/__api__/v1/content/${content.guid}/permissions`, { method: 'POST', key: publisher.key, json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } });
      let res = await t.api(url, { key: viewer.key });
      assert.equal(res.status, 403);
      res = await t.api(url, { method: 'PATCH', key: viewer.key, json: [{ name: 'A', value: 'b' }] });
      assert.equal(res.status, 403);
      assert.equal((await json(res)).code, 22);
      // Administrators are editors of all content.
      res = await t.api(url, { method: 'PATCH', json: [{ name: 'FROM_ADMIN', value: 'b' }] });
      assert.deepEqual(await json(res), ['FROM_ADMIN']);
      res = await t.api(url, { key: null });
      assert.equal(res.status, 401);
      res = await t.api('/__api__/v1/content/00000000-0000-0000-0000-000000000000/environment', { key: publisher.key });
      assert.equal(res.status, 404);
    });
  });
}
