import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fetchContent } from '../support/apps.js';
import { eventually } from '../support/eventually.js';
import { executionSettings } from '../support/execution.js';
import { deployBundle, flaskBundle } from '../support/flask-bundle.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';
import { deployRBundle, installedPackageEntries, rBundle, rVersion } from '../support/r-bundles.js';

// What restores install, recorded and answered across a redeploy and a restart; runtime caches
// deleted under running content, which keeps serving, and rebuilt on the next start. Real uv
// restores from the package index, and a real R library restored from the site library.

type Package = { language: string; language_version: string; name: string; version: string; bundle_id: string };
type Cache = { language: string; version: string; image_name: string };

async function json<T = any>(res: Response): Promise<T> {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${res.status} ${await res.clone().text()}`);
  return res.json() as Promise<T>;
}

const PLUMBER_API = `
#* @get /hello
function() list(message = "hello from plumber")
`;

describe('restored packages and runtime caches with real restores', () => {
  let dataDir: string;
  let t: TestServer;
  let publisher: { key: string };
  let guid: string;
  const bundles: string[] = [];

  after(async () => {
    await t?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const packages = async () => json<Package[]>(await t.api(`/__api__/v1/content/${guid}/packages`, { key: publisher.key }));
  const lockfile = async () => {
    const res = await t.api(`/__api__/v1/content/${guid}/lockfile`, { key: publisher.key });
    assert.equal(res.status, 200, await res.clone().text());
    return { generatedBy: res.headers.get('generated-by') ?? '', text: await res.text() };
  };
  const caches = async () => (await json<{ caches: Cache[] }>(await t.api('/__api__/v1/system/caches/runtime'))).caches;
  const retired = async () => (await readdir(path.join(dataDir, 'envs', 'python'))).filter((e) => e.startsWith('.retired-'));

  it('records what uv installed, and a redeploy replaces it with the new bundle’s packages', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-packages-'));
    t = await startLectern('sqlite', executionSettings({ r: true }), { dataDir });
    publisher = await t.addUser('packages-publisher', 'publisher');
    ({ guid } = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'packages-e2e' }, key: publisher.key })));
    bundles.push(await deployBundle(t, guid, flaskBundle('Flask==3.0.3\n'), publisher.key));
    const first = await packages();
    assert.deepEqual(
      first.filter((p) => p.name === 'flask').map((p) => [p.version, p.bundle_id]),
      [['3.0.3', bundles[0]]],
    );
    assert.ok(!first.some((p) => p.name === 'six'));

    bundles.push(await deployBundle(t, guid, flaskBundle('Flask==3.0.3\nsix==1.16.0\n'), publisher.key));
    const second = await packages();
    assert.ok(
      second.every((p) => p.bundle_id === bundles[1]),
      'only the live bundle',
    );
    assert.deepEqual(
      second.filter((p) => p.name === 'six').map((p) => p.version),
      ['1.16.0'],
    );
    assert.match((await lockfile()).text, /^six==1\.16\.0$/m);
    const six = await json(await t.api('/__api__/v1/packages?name=six&page_number=1&page_size=1000000'));
    assert.equal(six.total, 1);
  });

  it('the record survives a restart: packages and lockfile answer the same', async () => {
    const before = { packages: await packages(), lockfile: await lockfile() };
    await t.stop();
    t = await startLectern('sqlite', executionSettings({ r: true }), { dataDir });
    assert.deepEqual(await packages(), before.packages);
    assert.deepEqual(await lockfile(), before.lockfile);
    assert.match(before.lockfile.generatedBy, /^connect; python=3\.\d+\.\d+$/);
  });

  it('a deleted runtime cache leaves running content serving; the next start rebuilds it', async () => {
    assert.equal((await fetchContent(t, guid)).status, 200, 'a worker runs');
    const [python] = (await caches()).filter((c) => c.language === 'Python');
    assert.ok(python, 'the Python cache is listed');
    const answer = await json(await t.api('/__api__/v1/system/caches/runtime', { method: 'DELETE', json: { ...python, dry_run: false } }));
    const task = await waitForTask(t, answer.task_id);
    assert.equal(task.code, 0, task.output.join('\n'));
    assert.deepEqual(
      (await caches()).filter((c) => c.language === 'Python'),
      [],
    );
    // The worker keeps its environment (kept aside while it runs) and answers as before.
    const res = await fetchContent(t, guid);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello, World!');
    assert.equal((await retired()).length, 1);

    // A restart stops the local workers; the kept environment goes at start-up, nothing runs in it.
    await t.stop();
    t = await startLectern('sqlite', executionSettings({ r: true }), { dataDir });
    assert.deepEqual(await retired(), []);
    // The next visit starts a worker, which finds its environment missing and rebuilds it.
    const body = await eventually(
      'the content to serve again after its environment was rebuilt',
      async () => {
        const visit = await fetchContent(t, guid);
        return visit.status === 200 ? visit.text() : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    assert.equal(body, 'Hello, World!');
    assert.deepEqual(
      (await caches()).filter((c) => c.language === 'Python'),
      [python],
    );
    assert.ok((await packages()).some((p) => p.name === 'six'));
  });

  it("records an R library's packages, and lists its runtime cache", async () => {
    const result = await deployRBundle(t, 'r-packages', await rBundle({ appmode: 'api', files: { 'plumber.R': PLUMBER_API }, packages: await installedPackageEntries(['plumber']) }));
    assert.equal(result.code, 0, `${result.error}\n${result.output.join('\n')}`);
    const version = await rVersion();
    const recorded = await json<Package[]>(await t.api(`/__api__/v1/content/${result.guid}/packages`));
    const plumber = recorded.find((p) => p.name === 'plumber');
    assert.ok(plumber, recorded.map((p) => p.name).join(', '));
    assert.equal(plumber.language, 'r');
    assert.equal(plumber.language_version, version);
    const installed = await installedPackageEntries(['plumber']);
    assert.equal(plumber.version, installed.plumber!.description.Version);
    assert.ok((await caches()).some((c) => c.language === 'R' && c.version === version && c.image_name === 'Local'));
    // R content has no Python lockfile.
    assert.equal((await t.api(`/__api__/v1/content/${result.guid}/lockfile`)).status, 404);
  });
});
