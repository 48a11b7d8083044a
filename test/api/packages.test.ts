import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { installedPythonPackages, normalizePythonName } from '../../src/execution/restored-packages.js';
import { executionSettings } from '../support/execution.js';
import { deployBundle, flaskBundle } from '../support/flask-bundle.js';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

// v1/packages, v1/content/{guid}/packages and v1/content/{guid}/lockfile after a real restore
// (uv installing Flask into the bundle's venv), asked the way posit-sdk asks: the packages
// paginator with page_size=1000000, find_by(name=…), get_lockfile() reading Generated-By.

after(stopPostgres);

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${res.status} ${await res.clone().text()}`);
  return res.json() as Promise<any>;
}

test('Python names are reported in their normal form, as pip and Connect report them', () => {
  assert.equal(normalizePythonName('Flask'), 'flask');
  assert.equal(normalizePythonName('typing_extensions'), 'typing-extensions');
  assert.equal(normalizePythonName('zope.Interface'), 'zope-interface');
});

for (const provider of PROVIDERS) {
  describe(`restored packages (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    let other: { key: string; guid: string; id: number };
    let content: { guid: string; id: string };
    let bundleId: string;

    before(async () => {
      t = await startLectern(provider, executionSettings());
      publisher = await t.addUser('pkg-publisher', 'publisher');
      other = await t.addUser('pkg-other', 'publisher');
      content = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'TestPackages' }, key: publisher.key }));
      bundleId = await deployBundle(t, content.guid, flaskBundle(), publisher.key);
    });
    after(() => t.stop());

    test("the content's packages are what its environment holds, with Connect's fields", async () => {
      const packages = await json(await t.api(`/__api__/v1/content/${content.guid}/packages`, { key: publisher.key }));
      const flask = packages.find((p: { name: string }) => p.name === 'flask');
      assert.deepEqual(flask, {
        language: 'python',
        language_version: flask.language_version,
        name: 'flask',
        version: '3.0.3',
        bundle_id: bundleId,
        content_id: content.id,
        content_guid: content.guid,
        app_id: content.id,
        app_guid: content.guid,
      });
      assert.match(flask.language_version, /^3\.\d+\.\d+$/);
      // Flask's own dependencies are there too, each once.
      const names = packages.map((p: { name: string }) => p.name);
      for (const dependency of ['werkzeug', 'jinja2', 'itsdangerous', 'click']) assert.ok(names.includes(dependency), `${dependency} in ${names}`);
      assert.equal(new Set(names).size, names.length);
      // The record is what is on disk.
      const env = (await t.app.store.db.selectFrom('bundle_environments').selectAll().where('bundle_id', '=', Number(bundleId)).executeTakeFirstOrThrow()).environment_key;
      const onDisk = await installedPythonPackages(`${t.dataDir}/envs/python/${env}`);
      assert.deepEqual(names.sort(), onDisk.map((p) => p.name).sort());
      // posit-sdk's find_by(name="flask") sends the condition as a query parameter.
      const found = await json(await t.api(`/__api__/v1/content/${content.guid}/packages?name=Flask`, { key: publisher.key }));
      assert.deepEqual(
        found.map((p: { name: string }) => p.name),
        ['flask'],
      );
      assert.deepEqual(await json(await t.api(`/__api__/v1/content/${content.guid}/packages?language=r`, { key: publisher.key })), []);
    });

    test('v1/packages pages over the live bundles of content the caller may edit', async () => {
      // posit-sdk's paginator asks for a million a page: taken as 500.
      const page = await json(await t.api('/__api__/v1/packages?page_number=1&page_size=1000000', { key: publisher.key }));
      assert.deepEqual(Object.keys(page).sort(), ['current_page', 'results', 'total']);
      assert.equal(page.current_page, 1);
      assert.equal(page.total, page.results.length);
      assert.ok(page.results.some((p: { name: string; content_guid: string }) => p.name === 'flask' && p.content_guid === content.guid));
      const names = page.results.map((p: { name: string }) => p.name);
      assert.deepEqual(names, [...names].sort(), 'in name order');

      const flask = await json(await t.api('/__api__/v1/packages?name=flask&page_number=1&page_size=1000000', { key: publisher.key }));
      assert.deepEqual(
        flask.results.map((p: { name: string; version: string }) => `${p.name}==${p.version}`),
        ['flask==3.0.3'],
      );
      const byContent = await json(await t.api(`/__api__/v1/packages?app_guid=${content.guid}&name=werkzeug`, { key: publisher.key }));
      assert.equal(byContent.total, 1);
      // Paging: two rows a page, the total over all pages.
      const first = await json(await t.api('/__api__/v1/packages?page_size=2&page_number=1', { key: publisher.key }));
      const second = await json(await t.api('/__api__/v1/packages?page_size=2&page_number=2', { key: publisher.key }));
      assert.equal(first.total, page.total);
      assert.deepEqual([...first.results, ...second.results], page.results.slice(0, 4));
      // The administrator sees everything; another publisher nothing of this content.
      assert.equal((await json(await t.api('/__api__/v1/packages?name=flask'))).total, 1);
      assert.equal((await json(await t.api('/__api__/v1/packages?name=flask', { key: other.key }))).total, 0);
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}/packages`, { key: other.key })).status, 404);
    });

    test('the lockfile pins every installed distribution and names the Python version in Generated-By', async () => {
      const res = await t.api(`/__api__/v1/content/${content.guid}/lockfile`, { key: publisher.key });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      const generatedBy = res.headers.get('generated-by') ?? '';
      // posit-sdk: re.search(r"python=(\d+\.\d+\.\d+)", generated_by).
      assert.match(generatedBy, /^connect; python=3\.\d+\.\d+$/);
      const text = await res.text();
      assert.match(text, /^flask==3\.0\.3$/m);
      for (const line of text.trimEnd().split('\n')) assert.match(line, /^[a-z0-9-]+==\S+$/);
    });

    test('content never deployed: no packages (204) and no lockfile (404)', async () => {
      const empty = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'never-deployed' }, key: publisher.key }));
      assert.equal((await t.api(`/__api__/v1/content/${empty.guid}/packages`, { key: publisher.key })).status, 204);
      const res = await t.api(`/__api__/v1/content/${empty.guid}/lockfile`, { key: publisher.key });
      assert.equal(res.status, 404);
      const body = await json(res);
      assert.equal(body.code, 4);
      assert.match(body.error, /has no restored Python environment/);
    });

    test('a filter the schema refuses is a 400 naming the field', async () => {
      const res = await t.api('/__api__/v1/packages?language=julia', { key: publisher.key });
      assert.equal(res.status, 400);
      assert.equal((await json(res)).code, 25);
    });
  });
}
