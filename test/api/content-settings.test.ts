import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

after(stopPostgres);

const bundle = (html: string) =>
  makeTarGz([
    { name: 'manifest.json', content: JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} }) },
    { name: 'index.html', content: html },
  ]);

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

for (const provider of PROVIDERS) {
  describe(`content settings: run_as and locking (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('settings-publisher', 'publisher');
    });
    after(() => t.stop());

    test('a publisher cannot choose run_as or run_as_current_user at create, as on update; an administrator can', async () => {
      for (const [i, field] of (
        [
          ['run_as', 'root'],
          ['run_as_current_user', true],
        ] as const
      ).entries()) {
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

    test('locked content takes no deploy, bundle, variables or settings, and shows its lock message instead of itself', async () => {
      const key = publisher.key;
      const item = await json(await t.api('/__api__/v1/content', { method: 'POST', key, json: { name: 'to-be-locked', access_type: 'logged_in' } }));
      const base = `/__api__/v1/content/${item.guid}`;
      const upload = async (html: string) => t.api(`${base}/bundles`, { method: 'POST', key, body: bundle(html) });
      const first = await json(await upload('<p>version one</p>'));
      const deployed = await json(await t.api(`${base}/deploy`, { method: 'POST', key, json: { bundle_id: first.id } }));
      assert.equal((await waitForTask(t, deployed.task_id, key)).code, 0);
      assert.match(await (await t.api(`/content/${item.guid}/`, { key })).text(), /version one/);

      const locked = await json(await t.api(base, { method: 'PATCH', key, json: { locked: true, locked_message: 'Moved to <the new report>' } }));
      assert.equal(locked.locked, true);

      const refusals: Array<[string, Promise<Response>]> = [
        ['upload', upload('<p>version two</p>')],
        ['deploy', t.api(`${base}/deploy`, { method: 'POST', key, json: { bundle_id: first.id } })],
        ['build', t.api(`${base}/build`, { method: 'POST', key, json: { bundle_id: first.id } })],
        ['delete bundle', t.api(`${base}/bundles/${first.id}`, { method: 'DELETE', key })],
        ['set variables', t.api(`${base}/environment`, { method: 'PATCH', key, json: [{ name: 'A', value: '1' }] })],
        ['change settings', t.api(base, { method: 'PATCH', key, json: { title: 'Renamed' } })],
        ['legacy deploy', t.api(`/__api__/applications/${item.guid}/deploy`, { method: 'POST', key, json: { bundle: Number(first.id) } })],
      ];
      for (const [what, pending] of refusals) {
        const res = await pending;
        assert.equal(res.status, 403, `${what}: ${await res.clone().text()}`);
        const body = await json(res);
        assert.equal(body.code, 22, what);
        assert.match(body.error, /is locked: unlock it/, what);
        assert.deepEqual(body.payload, { locked: true, locked_message: 'Moved to <the new report>' }, what);
      }
      const after = await json(await t.api(base, { key }));
      assert.equal(after.title, null, 'nothing was changed');
      assert.equal(after.bundle_id, first.id);
      assert.equal((await json(await t.api(`${base}/bundles`, { key }))).length, 1, 'no bundle was stored');

      // Visitors see the message (as text), not the content.
      const page = await t.api(`/content/${item.guid}/`, { key });
      assert.equal(page.status, 403);
      const html = await page.text();
      assert.match(html, /Moved to &lt;the new report&gt;/);
      assert.doesNotMatch(html, /version one/);

      // The lock and its message can still change; unlocking (with other changes at once) frees it.
      assert.equal((await json(await t.api(base, { method: 'PATCH', key, json: { locked_message: 'Gone for good' } }))).locked_message, 'Gone for good');
      const unlocked = await json(await t.api(base, { method: 'PATCH', key, json: { locked: false, title: 'Open again' } }));
      assert.equal(unlocked.locked, false);
      assert.equal(unlocked.title, 'Open again');
      assert.match(await (await t.api(`/content/${item.guid}/`, { key })).text(), /version one/);
      assert.equal((await upload('<p>version two</p>')).status, 200);
    });

    test('a deploy queued before the content was locked fails when it runs and leaves the live version', async () => {
      const key = publisher.key;
      const item = await json(await t.api('/__api__/v1/content', { method: 'POST', key, json: { name: 'locked-while-queued' } }));
      const base = `/__api__/v1/content/${item.guid}`;
      const first = await json(await t.api(`${base}/bundles`, { method: 'POST', key, body: bundle('<p>live</p>') }));
      assert.equal((await waitForTask(t, (await json(await t.api(`${base}/deploy`, { method: 'POST', key, json: { bundle_id: first.id } }))).task_id, key)).code, 0);
      const second = await json(await t.api(`${base}/bundles`, { method: 'POST', key, body: bundle('<p>queued</p>') }));
      // No replica takes the task until the lock is in place.
      await t.app.queue.stop();
      try {
        const queued = await json(await t.api(`${base}/deploy`, { method: 'POST', key, json: { bundle_id: second.id } }));
        assert.equal((await json(await t.api(base, { method: 'PATCH', key, json: { locked: true } }))).locked, true);
        t.app.queue.start();
        const task = await waitForTask(t, queued.task_id, key);
        assert.notEqual(task.code, 0);
        assert.match(task.error, /was locked before this task could change it/);
      } finally {
        t.app.queue.start();
      }
      assert.equal((await json(await t.api(base, { key }))).bundle_id, first.id, 'the live bundle is unchanged');
    });
  });
}
