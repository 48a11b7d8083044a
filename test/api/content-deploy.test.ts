import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { makeTar, makeTarGz, writeTarGz } from '../support/tarball.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { eventually } from '../support/eventually.js';

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

function staticBundle(html: string, extra: Array<{ name: string; content: string }> = []) {
  return makeTarGz([{ name: 'manifest.json', content: STATIC_MANIFEST }, { name: 'index.html', content: html }, ...extra]);
}

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

const until = (what: string, probe: () => Promise<boolean>) => eventually(what, probe, { intervalMs: 10 });

after(stopPostgres);

for (const provider of PROVIDERS) {
  describe(`content, bundles and deploys (${provider})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startLectern(provider);
    });
    after(() => t.stop());

    async function createContent(name: string, key?: string) {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name }, key });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    }

    async function upload(guid: string, body: Buffer<ArrayBuffer>, headers: Record<string, string> = {}, signal?: AbortSignal) {
      return t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body, headers, signal });
    }

    async function deploy(guid: string, bundleId: string, activate?: boolean) {
      const res = await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: activate === undefined ? { bundle_id: bundleId } : { bundle_id: bundleId, activate } });
      assert.equal(res.status, 202);
      const { task_id } = await json(res);
      return waitForTask(t, task_id);
    }

    test('server_settings answers anonymously with a three-part version', async () => {
      const res = await t.api('/__api__/server_settings', { key: null });
      const body = await json(res);
      assert.match(body.version, /^\d{4}\.\d{1,2}\.\d+$/);
      assert.equal(body.version, '2026.01.0');
      assert.ok(body.lectern_version);
      assert.equal(body.execution_type, 'native', 'content runs on this host');
    });

    test('an invalid key is refused with code 30', async () => {
      const res = await t.api('/__api__/v1/content', { key: 'not-a-key' });
      assert.equal(res.status, 401);
      assert.equal((await json(res)).code, 30);
    });

    test('unknown API routes and missing objects both 404 with Connect error JSON', async () => {
      const unknown = await t.api('/__api__/v1/no-such-thing');
      assert.equal(unknown.status, 404);
      assert.equal((await json(unknown)).code, 4);
      const missing = await t.api('/__api__/v1/content/00000000-0000-0000-0000-000000000000');
      assert.equal(missing.status, 404);
      assert.equal((await json(missing)).code, 4);
    });

    test('create, read, filter, update and validate content', async () => {
      const created = await createContent('my-report');
      assert.match(created.guid, /^[0-9a-f-]{36}$/);
      assert.equal(created.app_mode, 'unknown');
      assert.equal(created.bundle_id, null);
      assert.equal(created.content_url, `${t.url}/content/${created.guid}/`);
      assert.equal(created.dashboard_url, `${t.url}/connect/#/apps/${created.guid}`);
      assert.equal(typeof created.id, 'string');

      const byName = await json(await t.api('/__api__/v1/content?name=my-report'));
      assert.equal(byName.length, 1);
      assert.deepEqual(await json(await t.api('/__api__/v1/content?name=nothing-here')), []);

      const patched = await json(await t.api(`/__api__/v1/content/${created.guid}`, { method: 'PATCH', json: { title: 'My Report', max_processes: 3, access_type: 'logged_in' } }));
      assert.equal(patched.title, 'My Report');
      assert.equal(patched.max_processes, 3);
      assert.equal(patched.access_type, 'logged_in');

      const withOwner = await json(await t.api(`/__api__/v1/content/${created.guid}?include=owner,tags,vanity_url`));
      assert.equal(withOwner.owner.username, 'admin');
      // As Connect: tags and vanity_url only when the item has them (posit-sdk's get() checks).
      assert.ok(!('tags' in withOwner), 'no tags key for an untagged item');
      assert.ok(!('vanity_url' in withOwner), 'no vanity_url key without a vanity path');

      const dup = await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'my-report' } });
      assert.equal(dup.status, 409);
      assert.equal((await json(dup)).code, 26);

      for (const name of ['x', 'has space', 'a'.repeat(65), 42]) {
        const bad = await t.api('/__api__/v1/content', { method: 'POST', json: { name } });
        assert.equal(bad.status, 400, `name ${name}`);
        assert.equal((await json(bad)).code, 5);
      }
      const unknownField = await t.api(`/__api__/v1/content/${created.guid}`, { method: 'PATCH', json: { titel: 'typo' } });
      assert.equal(unknownField.status, 400);
      assert.match((await json(unknownField)).error, /titel/);
      const badType = await t.api(`/__api__/v1/content/${created.guid}`, { method: 'PATCH', json: { max_processes: 'many' } });
      assert.equal(badType.status, 400);
      // Server caps ([Scheduler] MaxProcessesLimit = 20, MinProcessesLimit = 20 by default) are refused, not lowered.
      const overCap = await t.api(`/__api__/v1/content/${created.guid}`, { method: 'PATCH', json: { max_processes: 21 } });
      assert.equal(overCap.status, 400);
      assert.match((await json(overCap)).error, /max_processes \(21\) is above this server's limit of 20 \(\[Scheduler\] MaxProcessesLimit\)/);
      const badAccess = await t.api(`/__api__/v1/content/${created.guid}`, { method: 'PATCH', json: { access_type: 'everyone' } });
      assert.equal(badAccess.status, 400);
      const malformed = await t.api('/__api__/v1/content', { method: 'POST', body: '{"name": ', headers: { 'content-type': 'application/json' } });
      assert.equal(malformed.status, 400);
      assert.equal((await json(malformed)).code, 121);
      const badInclude = await t.api('/__api__/v1/content?include=everything');
      assert.equal(badInclude.status, 400);
      assert.equal((await json(badInclude)).code, 161);
    });

    test('content created with no name (posit-sdk sends {}) is named by its GUID, and found by that name', async () => {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: {} });
      assert.equal(res.status, 200);
      const created = await json(res);
      assert.equal(created.name, created.guid);
      const [found] = await json(await t.api(`/__api__/v1/content?name=${created.name}`));
      assert.deepEqual(found, created);
      const got = await json(await t.api(`/__api__/v1/content/${created.guid}?include=owner,tags,vanity_url`));
      assert.equal(got.owner.username, 'admin');
      assert.deepEqual(
        Object.keys(got).filter((k) => !(k in created)),
        ['owner'],
      );
      assert.equal((await t.api(`/__api__/v1/content/${created.guid}`, { method: 'DELETE' })).status, 204);
    });

    test('viewers cannot create content and cannot see acl content', async () => {
      const viewer = await t.addUser(`viewer-${provider}`, 'viewer');
      const denied = await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'viewer-content' }, key: viewer.key });
      assert.equal(denied.status, 403);
      assert.equal((await json(denied)).code, 22);
      const secret = await createContent('secret-stuff');
      const hidden = await t.api(`/__api__/v1/content/${secret.guid}`, { key: viewer.key });
      assert.equal(hidden.status, 404);
      const list = await json(await t.api('/__api__/v1/content', { key: viewer.key }));
      assert.ok(!list.some((c: { guid: string }) => c.guid === secret.guid));
    });

    test('static deploy end to end: upload, deploy, serve, redeploy, draft, rollback protection', async () => {
      const content = await createContent('static-site');
      // rsconnect-python sends a chunked body with no content type.
      const first = await upload(content.guid, staticBundle('<h1>v1</h1>', [{ name: 'css/site.css', content: 'h1{color:red}' }]));
      assert.equal(first.status, 200, await first.clone().text());
      const bundle1 = await json(first);
      assert.equal(bundle1.active, false);
      assert.match(bundle1.metadata.archive_md5, /^[0-9a-f]{32}$/);

      const task = await deploy(content.guid, bundle1.id);
      assert.equal(task.code, 0, task.output.join('\n'));
      assert.equal(task.error, '');
      assert.ok(task.output.some((l) => /Deployment completed/.test(l)));

      const live = await json(await t.api(`/__api__/v1/content/${content.guid}`));
      assert.equal(live.bundle_id, bundle1.id);
      assert.equal(live.app_mode, 'static');
      assert.ok(live.last_deployed_time);

      const page = await t.api(`/content/${content.guid}/`);
      assert.equal(page.status, 200);
      assert.equal(await page.text(), '<h1>v1</h1>');
      const css = await t.api(`/content/${content.guid}/css/site.css`);
      assert.equal(await css.text(), 'h1{color:red}');
      assert.match(css.headers.get('content-type') ?? '', /text\/css/);
      assert.equal((await t.api(`/content/${content.guid}/missing.html`)).status, 404);
      assert.equal((await t.api(`/content/${content.guid}`)).status, 301);

      // Anonymous access follows access_type.
      const anonymous = await t.api(`/content/${content.guid}/`, { key: null });
      assert.equal(anonymous.status, 401);
      const browser = await t.api(`/content/${content.guid}/`, { key: null, headers: { accept: 'text/html' } });
      assert.equal(browser.status, 302);
      assert.match(browser.headers.get('location') ?? '', /^\/__login__\?url=/);
      await t.api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', json: { access_type: 'all' } });
      assert.equal((await t.api(`/content/${content.guid}/`, { key: null })).status, 200);

      // A draft leaves the live version alone and is served under _bundle{id} to editors only.
      const bundle2 = await json(await upload(content.guid, staticBundle('<h1>v2</h1>'), { 'content-type': 'application/x-gzip' }));
      const draft = await deploy(content.guid, bundle2.id, false);
      assert.equal(draft.code, 0);
      assert.equal(await (await t.api(`/content/${content.guid}/`)).text(), '<h1>v1</h1>');
      assert.equal(await (await t.api(`/content/${content.guid}/_bundle${bundle2.id}/`)).text(), '<h1>v2</h1>');
      assert.notEqual((await t.api(`/content/${content.guid}/_bundle${bundle2.id}/`, { key: null })).status, 200);

      const bundles = await json(await t.api(`/__api__/v1/content/${content.guid}/bundles`));
      assert.deepEqual(
        bundles.map((b: { id: string }) => b.id),
        [bundle2.id, bundle1.id],
      );
      assert.deepEqual(
        bundles.map((b: { active: boolean }) => b.active),
        [false, true],
      );

      // Activate it; then the old bundle may be deleted but the active one may not.
      assert.equal((await deploy(content.guid, bundle2.id)).code, 0);
      assert.equal(await (await t.api(`/content/${content.guid}/`)).text(), '<h1>v2</h1>');
      const refuse = await t.api(`/__api__/v1/content/${content.guid}/bundles/${bundle2.id}`, { method: 'DELETE' });
      assert.equal(refuse.status, 409);
      assert.equal((await json(refuse)).code, 75);
      const download = await t.api(`/__api__/v1/content/${content.guid}/bundles/${bundle1.id}/download`);
      assert.equal(download.status, 200);
      assert.equal(Buffer.from(await download.arrayBuffer()).length, bundle1.size);
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}/bundles/${bundle1.id}`, { method: 'DELETE' })).status, 204);

      // Deploy without bundle_id = newest bundle.
      const bundle3 = await json(await upload(content.guid, staticBundle('<h1>v3</h1>')));
      const res = await t.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: {} });
      const { task_id } = await json(res);
      assert.equal((await waitForTask(t, task_id)).code, 0);
      assert.equal((await json(await t.api(`/__api__/v1/content/${content.guid}`))).bundle_id, bundle3.id);

      // Deleting content removes its files.
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}`, { method: 'DELETE' })).status, 204);
      assert.equal((await t.api(`/content/${content.guid}/`)).status, 404);
      for (const dir of ['bundles', 'apps']) {
        assert.ok(!(await readdir(path.join(t.dataDir, dir))).includes(live.id), `${dir}/${live.id} removed`);
      }
    });

    test("the root of static content is the bundle's only HTML file when the manifest names none", async () => {
      const content = await createContent('rendered-notebook');
      const manifest = JSON.stringify({ version: 1, metadata: { appmode: 'static' }, files: {} });
      const bundle = await json(
        await upload(
          content.guid,
          makeTarGz([
            { name: 'manifest.json', content: manifest },
            { name: 'report.html', content: '<p>report</p>' },
          ]),
        ),
      );
      assert.equal((await deploy(content.guid, bundle.id)).code, 0);
      assert.equal(await (await t.api(`/content/${content.guid}/`)).text(), '<p>report</p>');
    });

    test('multipart upload with metadata', async () => {
      const content = await createContent('multipart-site');
      const form = new FormData();
      form.set('archive', new Blob([staticBundle('<p>multi</p>')], { type: 'application/x-tar' }), 'bundle.tar.gz');
      form.set('metadata', JSON.stringify({ source: 'git', source_repo: 'https://example.org/r.git', source_branch: 'main', source_commit: 'abc123' }));
      const res = await t.api(`/__api__/v1/content/${content.guid}/bundles`, { method: 'POST', body: form });
      const bundle = await json(res);
      assert.equal(res.status, 200);
      assert.equal(bundle.metadata.source, 'git');
      assert.equal(bundle.metadata.source_commit, 'abc123');
    });

    test("a bundle is taken whatever its content type: curl's form type, text, JSON, none; v1 and legacy routes", async () => {
      const content = await createContent('any-content-type');
      const types = ['application/x-www-form-urlencoded', 'text/plain', 'application/json', 'application/x-gzip'];
      for (const [i, type] of types.entries()) {
        const body = staticBundle(`<p>${i}</p>`);
        const res = await upload(content.guid, body, { 'content-type': type });
        assert.equal(res.status, 200, `${type}: ${await res.clone().text()}`);
        assert.equal((await json(res)).size, body.length, type);
      }
      const legacy = await t.api(`/__api__/applications/${content.guid}/upload`, {
        method: 'POST',
        body: staticBundle('<p>legacy</p>'),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(legacy.status, 200, await legacy.clone().text());
      const deployed = await deploy(content.guid, String((await json(legacy)).id));
      assert.equal(deployed.code, 0);
      assert.equal(await (await t.api(`/content/${content.guid}/`)).text(), '<p>legacy</p>');
      // Other routes still parse their form and JSON bodies.
      const patched = await t.api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', json: { title: 'Any type' } });
      assert.equal((await json(patched)).title, 'Any type');
    });

    test('hostile and broken bundles are refused and leave nothing behind; the live version keeps serving', async () => {
      const content = await createContent('hostile-target');
      const good = await json(await upload(content.guid, staticBundle('<p>safe</p>')));
      assert.equal((await deploy(content.guid, good.id)).code, 0);
      const manifest = { name: 'manifest.json', content: STATIC_MANIFEST };
      const cases: Array<[string, Buffer<ArrayBuffer>, RegExp]> = [
        ['dot-dot', makeTarGz([manifest, { name: '../escape.txt', content: 'x' }]), /escape|\.\./],
        ['absolute', makeTarGz([manifest, { name: '/etc/evil', content: 'x' }]), /absolute|escape/],
        ['symlink out', makeTarGz([manifest, { name: 'link', type: 'symlink', linkname: '/etc/passwd' }]), /link|escape/],
        ['hardlink out', makeTarGz([manifest, { name: 'hard', type: 'hardlink', linkname: '../../etc/passwd' }]), /link|escape/],
        ['device', makeTarGz([manifest, { name: 'dev', type: 'chardev' }]), /device/],
        ['no manifest', makeTarGz([{ name: 'index.html', content: 'x' }]), /manifest/],
        ['bad manifest', makeTarGz([{ name: 'manifest.json', content: '{"version": 1,' }]), /manifest/],
        ['unknown mode', makeTarGz([{ name: 'manifest.json', content: '{"version":1,"metadata":{"appmode":"cobol"}}' }]), /appmode|app mode/],
        ['not a tarball', Buffer.from('hello, this is not a tarball'), /gzip|tar/],
        ['gzip of junk', gzipSync(Buffer.from('junk'.repeat(1000))), /tar|archive|manifest/],
      ];
      for (const [label, body, pattern] of cases) {
        const res = await upload(content.guid, body);
        assert.equal(res.status, 400, label);
        const err = await json(res);
        assert.ok([38, 135].includes(err.code), `${label}: code ${err.code}`);
        assert.match(err.error, pattern, label);
      }
      const bundles = await json(await t.api(`/__api__/v1/content/${content.guid}/bundles`));
      assert.equal(bundles.length, 1);
      const leftovers = (await readdir(path.join(t.dataDir, 'apps', content.id))).filter((n) => n !== good.id);
      assert.deepEqual(leftovers, []);
      assert.deepEqual(
        (await readdir(path.join(t.dataDir, 'bundles', content.id))).filter((n) => n !== `${good.id}.tar.gz`),
        [],
      );
      assert.equal(await (await t.api(`/content/${content.guid}/`)).text(), '<p>safe</p>');
    });

    test('oversized uploads and gzip bombs are refused', async () => {
      const small = await startLectern(provider, { 'Bundles.MaxUploadSize': '64KiB', 'Bundles.MaxExtractedSize': '1MiB', 'Bundles.MaxFiles': '10' });
      try {
        const content = await json(await small.api('/__api__/v1/content', { method: 'POST', json: { name: 'small-limits' } }));
        const random = (await import('node:crypto')).randomBytes(200 * 1024);
        const big = makeTarGz([
          { name: 'manifest.json', content: STATIC_MANIFEST },
          { name: 'big.bin', content: random },
        ]);
        const tooBig = await small.api(`/__api__/v1/content/${content.guid}/bundles`, { method: 'POST', body: big });
        assert.equal(tooBig.status, 413);
        assert.match((await json(tooBig)).error, /maximum upload size/);
        const bomb = makeTarGz([
          { name: 'manifest.json', content: STATIC_MANIFEST },
          { name: 'zeros.bin', content: Buffer.alloc(8 * 1024 * 1024) },
        ]);
        assert.ok(bomb.length < 64 * 1024);
        const exploded = await small.api(`/__api__/v1/content/${content.guid}/bundles`, { method: 'POST', body: bomb });
        assert.equal(exploded.status, 400);
        assert.match((await json(exploded)).error, /maximum size|exceeds/);
        // Over MaxFiles: refused from the headers, before any entry is written (writing would have
        // stopped first at x/y, inside the file x).
        const files = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}.txt`, content: 'x' }));
        const many = makeTarGz([{ name: 'manifest.json', content: STATIC_MANIFEST }, { name: 'x', content: 'x' }, { name: 'x/y', content: 'y' }, ...files]);
        const crowded = await small.api(`/__api__/v1/content/${content.guid}/bundles`, { method: 'POST', body: many });
        assert.equal(crowded.status, 400);
        assert.equal((await json(crowded)).error, 'bundle has more than 10 files');
        assert.deepEqual(await readdir(path.join(small.dataDir, 'apps', content.id)), []);
      } finally {
        await small.stop();
      }
    });

    test('bytes after the end-of-archive marker are ignored unread: 64 MiB of trailing zeros are stored as the bundle they follow', async () => {
      const content = await createContent('trailing-zeros');
      const tar = makeTar([
        { name: 'manifest.json', content: STATIC_MANIFEST },
        { name: 'index.html', content: '<p>tail</p>' },
      ]);
      const hostile = gzipSync(Buffer.concat([tar, Buffer.alloc(64 * 1024 * 1024)]));
      assert.ok(hostile.length < 100 * 1024);
      // Reading on past the marker took minutes; this bound only says the upload must not.
      const res = await upload(content.guid, hostile, {}, AbortSignal.timeout(60_000));
      assert.equal(res.status, 200, await res.clone().text());
      const bundle = await json(res);
      assert.equal((await deploy(content.guid, bundle.id)).code, 0);
      assert.equal(await (await t.api(`/content/${content.guid}/`)).text(), '<p>tail</p>');
    });

    test('an expansion-ratio bomb is refused with nothing stored, and the server answers other requests while it is extracted', async () => {
      const content = await createContent('ratio-bomb');
      const file = path.join(t.dataDir, 'ratio-bomb.tar.gz');
      // 300 MiB of zeros from about 1.3 MB, under MaxExtractedSize (8 GiB) but over 100 times the upload.
      await writeTarGz(file, [
        { name: 'manifest.json', content: STATIC_MANIFEST },
        { name: 'zeros.bin', zeros: 300 * 1024 * 1024 },
      ]);
      const bomb = await readFile(file);
      await rm(file);
      let answered = false;
      const refused = upload(content.guid, bomb).then((res) => {
        answered = true;
        return res;
      });
      const appsDir = path.join(t.dataDir, 'apps', content.id);
      await until('the extraction of the bomb to start', async () => (await readdir(appsDir).catch(() => [])).some((n) => n.startsWith('.tmp-')));
      const other = await t.api('/__api__/server_settings', { key: null });
      assert.equal(other.status, 200);
      assert.equal(answered, false, 'another request is answered while the bomb is still being extracted');
      const res = await refused;
      assert.equal(res.status, 400);
      const err = await json(res);
      assert.equal(err.code, 135);
      assert.match(err.error, /^bundle expands to more than 100 times its compressed size of [\d.]+ MiB, the most allowed \(setting Bundles\.MaxExpansionRatio\)$/);
      assert.deepEqual(await json(await t.api(`/__api__/v1/content/${content.guid}/bundles`)), []);
      assert.deepEqual(await readdir(appsDir), []);
      assert.deepEqual(await readdir(path.join(t.dataDir, 'bundles', content.id)), []);
    });

    test('a package file outside the bundle, missing, not a regular file or too large is refused at upload', async () => {
      const content = await createContent('flask-api');
      const pyManifest = (packageFile: string) =>
        JSON.stringify({ version: 1, metadata: { appmode: 'python-api', entrypoint: 'app' }, python: { version: '3.11.2', package_manager: { name: 'pip', package_file: packageFile } }, files: {} });
      const app = { name: 'app.py', content: 'app = None' };
      const cases: Array<[string, Array<{ name: string; content?: string | Buffer; type?: 'symlink' | 'dir'; linkname?: string }>, string]> = [
        ['/dev/zero', [], 'invalid manifest: manifest.json: python.package_manager.package_file "/dev/zero" is an absolute path; it must be relative to the bundle'],
        ['../../../../etc/passwd', [], 'invalid manifest: manifest.json: python.package_manager.package_file "../../../../etc/passwd" leaves the bundle directory (..)'],
        ['requirements.txt', [], "manifest.json names 'requirements.txt' as the package file, but the bundle has no such file"],
        ['reqs', [{ name: 'reqs/', type: 'dir' }], "manifest.json names 'reqs' as the package file, but the bundle has no such file"],
        [
          'requirements.txt',
          [
            { name: 'real.txt', content: 'flask\n' },
            { name: 'requirements.txt', type: 'symlink', linkname: 'real.txt' },
          ],
          "manifest.json names 'requirements.txt' as the package file, but it is a symbolic link; it must be a regular file",
        ],
        ['requirements.txt', [{ name: 'requirements.txt', content: Buffer.alloc(5 * 1024 * 1024, '#') }], "manifest.json names 'requirements.txt' as the package file, which is larger than 4 MiB"],
      ];
      for (const [packageFile, entries, message] of cases) {
        const res = await upload(content.guid, makeTarGz([{ name: 'manifest.json', content: pyManifest(packageFile) }, app, ...entries]));
        assert.equal(res.status, 400, packageFile);
        assert.deepEqual(await json(res), { code: 38, error: message, payload: null }, packageFile);
      }
      assert.deepEqual(await json(await t.api(`/__api__/v1/content/${content.guid}/bundles`)), []);
      // './requirements.txt' is the bundle's requirements.txt.
      const ok = await upload(content.guid, makeTarGz([{ name: 'manifest.json', content: pyManifest('./requirements.txt') }, app, { name: 'requirements.txt', content: 'flask\n' }]));
      assert.equal(ok.status, 200, await ok.clone().text());
    });

    test('tensorflow-saved-model and nodejs deploys fail with code 109 and say what is supported', async () => {
      for (const appmode of ['tensorflow-saved-model', 'nodejs']) {
        const content = await createContent(`unsupported-${appmode}`);
        const manifest = JSON.stringify({ version: 1, metadata: { appmode, entrypoint: 'index.js' }, files: {} });
        const bundle = await json(
          await upload(
            content.guid,
            makeTarGz([
              { name: 'manifest.json', content: manifest },
              { name: 'index.js', content: '' },
            ]),
          ),
        );
        const task = await deploy(content.guid, bundle.id);
        assert.equal(task.code, 109, appmode);
        assert.match(task.error, new RegExp(`does not run ${appmode} content`));
        assert.equal((await json(await t.api(`/__api__/v1/content/${content.guid}`))).bundle_id, null);
      }
    });

    test('task long-poll: wait holds until output arrives; unknown task 404 with code 141', async () => {
      const missing = await t.api('/__api__/v1/tasks/nope?wait=1');
      assert.equal(missing.status, 404);
      assert.equal((await json(missing)).code, 141);
      const bad = await t.api('/__api__/v1/tasks/nope?first=-1');
      assert.equal(bad.status, 400);
    });
  });
}
