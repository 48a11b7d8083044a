import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

for (const provider of PROVIDERS) {
  describe(`content settings only administrators choose (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('settings-publisher', 'publisher');
    });
    after(() => t.stop());

    test('a publisher cannot choose run_as or run_as_current_user at create, as on update; an administrator can', async () => {
      for (const [i, field] of ([['run_as', 'root'], ['run_as_current_user', true]] as const).entries()) {
        const res = await t.api('/__api__/v1/content', { method: 'POST', key: publisher.key, json: { name: `run-as-${i}`, [field[0]]: field[1] } });
        assert.equal(res.status, 403, await res.clone().text());
        const body = await json(res);
        assert.equal(body.code, 22);
        assert.equal(body.error, `Only administrators can set ${field[0]}.`);
      }
      // Nothing was created.
      assert.deepEqual(await json(await t.api('/__api__/v1/content', { key: publisher.key })), []);

      // The values a new item has anyway (clients send them back) are accepted.
      const created = await t.api('/__api__/v1/content', { method: 'POST', key: publisher.key, json: { name: 'run-as-defaults', run_as: null, run_as_current_user: false } });
      assert.equal(created.status, 200, await created.clone().text());
      const item = await json(created);
      assert.equal(item.run_as, null);
      const update = await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { run_as: 'root' } });
      assert.equal(update.status, 403);
      assert.equal((await json(update)).error, 'Only administrators can set run_as.');

      const byAdmin = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'run-as-admin', run_as: 'rstudio-connect' } }));
      assert.equal(byAdmin.run_as, 'rstudio-connect');
    });
  });
}
