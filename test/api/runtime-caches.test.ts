import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fetchContent } from '../support/apps.js';
import { executionSettings } from '../support/execution.js';
import { deployBundle, flaskBundle } from '../support/flask-bundle.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';

// v1/system/caches/runtime as posit-sdk's system.caches.runtime and rsconnect-python's
// `system caches list|delete` send it: GET, then DELETE with {language, version, image_name, dry_run}.

after(stopPostgres);

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${res.status} ${await res.clone().text()}`);
  return res.json() as Promise<any>;
}

for (const provider of PROVIDERS) {
  describe(`runtime caches (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    let guid: string;

    before(async () => {
      t = await startLectern(provider, executionSettings());
      publisher = await t.addUser('cache-publisher', 'publisher');
      ({ guid } = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'TestSystem' }, key: publisher.key })));
      await deployBundle(t, guid, flaskBundle(), publisher.key);
    });
    after(() => t.stop());

    const list = async () => (await json(await t.api('/__api__/v1/system/caches/runtime'))).caches as Array<{ language: string; version: string; image_name: string }>;

    test('the restored environments are listed per language, interpreter version and image', async () => {
      const caches = await list();
      assert.equal(caches.length, 1);
      assert.equal(caches[0]!.language, 'Python');
      assert.match(caches[0]!.version, /^3\.\d+\.\d+$/);
      assert.equal(caches[0]!.image_name, 'Local');
      assert.deepEqual(Object.keys(caches[0]!).sort(), ['image_name', 'language', 'version']);
      // Administrators only.
      const res = await t.api('/__api__/v1/system/caches/runtime', { key: publisher.key });
      assert.equal(res.status, 403);
      assert.equal((await json(res)).code, 22);
    });

    test('a dry run checks and changes nothing; an unknown cache is a 404', async () => {
      const [cache] = await list();
      const dry = await json(await t.api('/__api__/v1/system/caches/runtime', { method: 'DELETE', json: { ...cache, dry_run: true } }));
      assert.deepEqual(dry, { ...cache, task_id: null });
      assert.deepEqual(await list(), [cache]);
      const missing = await t.api('/__api__/v1/system/caches/runtime', { method: 'DELETE', json: { language: 'Python', version: '2.7.18', image_name: 'Local', dry_run: false } });
      assert.equal(missing.status, 404);
      assert.match((await json(missing)).error, /no Python 2\.7\.18 runtime cache/);
      const incomplete = await t.api('/__api__/v1/system/caches/runtime', { method: 'DELETE', json: { language: 'Python' } });
      assert.equal(incomplete.status, 400);
      assert.equal((await json(incomplete)).code, 12);
      const byPublisher = await t.api('/__api__/v1/system/caches/runtime', { method: 'DELETE', json: { ...cache, dry_run: true }, key: publisher.key });
      assert.equal(byPublisher.status, 403);
    });

    test('deleting runs as a task; the running app keeps serving from its environment', async () => {
      const [cache] = await list();
      assert.equal((await fetchContent(t, guid)).status, 200);
      // rsconnect-python sends the language in lower case.
      const answer = await json(await t.api('/__api__/v1/system/caches/runtime', { method: 'DELETE', json: { ...cache, language: 'python', dry_run: false } }));
      assert.equal(answer.language, 'Python');
      assert.equal(typeof answer.task_id, 'string');
      const task = await waitForTask(t, answer.task_id);
      assert.equal(task.code, 0, task.output.join('\n'));
      assert.match(task.output.join('\n'), /1 restored environment taken out of the cache/);
      assert.deepEqual(await list(), []);
      // The worker started by the deploy still runs in it, so its files are kept aside.
      const res = await fetchContent(t, guid);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'Hello, World!');
      const entries = await readdir(path.join(t.dataDir, 'envs', 'python'));
      assert.equal(entries.filter((e) => e.startsWith('.retired-')).length, 1, entries.join(', '));
    });
  });
}
