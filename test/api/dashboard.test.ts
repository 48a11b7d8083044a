import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

// What the dashboard relies on beyond Connect's API: serving at /connect/ with the right caching,
// the first-run setup link, the session endpoint, the content `state` include, the scheduler
// defaults and effective settings, earlier renderings.

after(stopPostgres);

async function json(res: Response, status = 200) {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  return res.json() as Promise<any>;
}

const post = (t: TestServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(t.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), redirect: 'manual' });

function staticBundle(text: string) {
  const manifest = { version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: { 'index.html': { checksum: '' } } };
  return makeTarGz([
    { name: 'manifest.json', content: JSON.stringify(manifest) },
    { name: 'index.html', content: `<h1>${text}</h1>` },
  ]);
}

for (const provider of PROVIDERS) {
  describe(`first run (${provider})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startLectern(provider, {}, undefined, { firstRun: true });
    });
    after(() => t.stop());

    test('the session says setup is required; only the holder of the setup link creates the administrator, once', async () => {
      assert.ok(t.setupToken);
      const session = await json(await fetch(`${t.url}/__session__`));
      assert.deepEqual(session, { user: null, csrf_token: null, setup_required: true });
      const missing = await json(await post(t, '/__setup__', { username: 'root', password: 'long-enough-1' }), 400);
      assert.equal(missing.code, 12);
      const wrong = await json(await post(t, '/__setup__', { token: 'guess', username: 'root', password: 'long-enough-1' }), 403);
      assert.match(wrong.error, /not valid/);
      // Invalid input leaves the link usable.
      const short = await json(await post(t, '/__setup__', { token: t.setupToken, username: 'root', password: 'short' }), 400);
      assert.match(short.error, /at least 8 characters/);
      const notJson = await fetch(`${t.url}/__setup__`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
      assert.equal(notJson.status, 400);

      const [first, second] = await Promise.all([
        post(t, '/__setup__', { token: t.setupToken, username: 'root', password: 'long-enough-1', email: 'root@example.org' }),
        post(t, '/__setup__', { token: t.setupToken, username: 'other', password: 'long-enough-2' }),
      ]);
      const statuses = [first.status, second.status].sort();
      assert.deepEqual(statuses, [200, 409], 'exactly one of two simultaneous uses wins');
      const winner = first.status === 200 ? first : second;
      const body = (await winner.json()) as { user: { username: string; user_role: string }; csrf_token: string };
      assert.equal(body.user.user_role, 'administrator');
      const cookie = winner.headers.get('set-cookie')!.split(';')[0]!;
      const me = await json(await fetch(`${t.url}/__session__`, { headers: { cookie } }));
      assert.equal(me.user.username, body.user.username);
      assert.equal(me.csrf_token, body.csrf_token);
      assert.equal(me.setup_required, false);
      assert.equal(await t.app.users.count(), 1);
      assert.deepEqual(
        (await readdir(t.dataDir)).filter((f) => f.startsWith('setup-token')),
        [],
        'the token is gone',
      );
      await json(await post(t, '/__setup__', { token: t.setupToken, username: 'late', password: 'long-enough-3' }), 409);
      const anonymous = await json(await fetch(`${t.url}/__session__`));
      assert.equal(anonymous.setup_required, false);
    });
  });

  describe(`dashboard support (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider, { 'Scheduler.MaxProcesses': '5', 'Scheduler.IdleTimeout': '2m' });
      publisher = await t.addUser('pat', 'publisher');
    });
    after(() => t.stop());

    test('serves the dashboard at /connect/ with revalidated HTML, immutable hashed assets and dashboard_url views', async () => {
      const index = await fetch(`${t.url}/connect/`);
      assert.equal(index.status, 200);
      assert.equal(index.headers.get('cache-control'), 'no-cache');
      assert.match(index.headers.get('content-security-policy') ?? '', /frame-ancestors 'self'/);
      const html = await index.text();
      const asset = /\/connect\/assets\/[\w.-]+\.js/.exec(html)?.[0];
      assert.ok(asset, html);
      const js = await fetch(t.url + asset);
      assert.equal(js.status, 200);
      assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      const etag = index.headers.get('etag')!;
      // Not with fetch(): a conditional fetch() also sends Cache-Control: no-cache, which forces a full answer.
      const revalidated = await new Promise<number>((resolve, reject) => {
        http
          .get(`${t.url}/connect/`, { headers: { 'if-none-match': etag } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject);
      });
      assert.equal(revalidated, 304);
      assert.equal((await fetch(`${t.url}/connect/assets/missing.js`)).status, 404);
      const bare = await fetch(`${t.url}/connect`, { redirect: 'manual' });
      assert.equal(bare.status, 301);
      assert.equal(bare.headers.get('location'), '/connect/');
      // Deep links without the hash (and any view path) get the app too.
      assert.equal(await (await fetch(`${t.url}/connect/apps/x/logs`)).text(), html);
    });

    test('a session reports its user and CSRF token; an invalid key is refused', async () => {
      const login = await post(t, '/__login__', { username: 'pat', password: 'pat-password' });
      const { csrf_token } = (await login.json()) as { csrf_token: string };
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const session = await json(await fetch(`${t.url}/__session__`, { headers: { cookie } }));
      assert.equal(session.user.username, 'pat');
      assert.equal(session.csrf_token, csrf_token);
      assert.equal(session.setup_required, false);
      const bad = await json(await fetch(`${t.url}/__session__`, { headers: { authorization: 'Key nope' } }), 401);
      assert.equal(bad.code, 30);
    });

    test('include=state: not deployed, published, failed build, running and stopped', async () => {
      const create = async (name: string) => (await json(await t.api('/__api__/v1/content', { method: 'POST', key: publisher.key, json: { name } }))).guid as string;
      const empty = await create('empty-one');
      const site = await create('site-one');
      const bundle = await json(await t.api(`/__api__/v1/content/${site}/bundles`, { method: 'POST', key: publisher.key, body: staticBundle('v1') }));
      const deployed = await json(await t.api(`/__api__/v1/content/${site}/deploy`, { method: 'POST', key: publisher.key, json: { bundle_id: bundle.id } }), 202);
      assert.equal((await waitForTask(t, deployed.task_id, publisher.key)).code, 0);
      const states = async () =>
        Object.fromEntries(((await json(await t.api('/__api__/v1/content?include=state', { key: publisher.key }))) as Array<{ guid: string; state: string }>).map((c) => [c.guid, c.state]));
      assert.deepEqual(await states(), { [empty]: 'not_deployed', [site]: 'published' });
      // A deploy that fails leaves the earlier bundle live but the item marked as failed.
      const bad = await json(
        await t.api(`/__api__/v1/content/${site}/bundles`, {
          method: 'POST',
          key: publisher.key,
          body: makeTarGz([{ name: 'manifest.json', content: JSON.stringify({ version: 1, metadata: { appmode: 'nodejs' }, files: {} }) }]),
        }),
      );
      const failed = await json(await t.api(`/__api__/v1/content/${site}/deploy`, { method: 'POST', key: publisher.key, json: { bundle_id: bad.id } }), 202);
      assert.notEqual((await waitForTask(t, failed.task_id, publisher.key)).code, 0);
      assert.equal((await states())[site], 'failed');
      const item = await json(await t.api(`/__api__/v1/content/${site}?include=state`, { key: publisher.key }));
      assert.equal(item.state, 'failed');
      assert.equal((await t.api(`/__api__/v1/content?include=nope`, { key: publisher.key })).status, 400);
    });

    test('scheduler defaults for publishers; effective settings for administrators only, secrets hidden', async () => {
      const defaults = await json(await t.api('/__api__/v1/server_settings/scheduler', { key: publisher.key }));
      assert.equal(defaults.max_processes, 5);
      assert.equal(defaults.idle_timeout, 120);
      assert.equal(typeof defaults.limits.max_processes, 'number');
      assert.equal(defaults.off_host_execution, false);
      assert.equal(defaults.limits.nvidia_gpu_limit, 0, 'GPU maximums are there for the execution panel');
      assert.equal(defaults.cpu_request, 0);
      const viewer = await t.addUser('vic', 'viewer');
      assert.equal((await t.api('/__api__/v1/server_settings/scheduler', { key: viewer.key })).status, 403);
      assert.equal((await t.api('/__api__/v1/server_settings/effective', { key: publisher.key })).status, 403);
      const settings = (await json(await t.api('/__api__/v1/server_settings/effective'))) as Array<{ section: string; name: string; value: string; source: string }>;
      const maxProcesses = settings.find((s) => s.section === 'Scheduler' && s.name === 'MaxProcesses');
      assert.equal(maxProcesses?.value, '5');
      const secret = settings.find((s) => s.section === 'Server' && s.name === 'SecretKey');
      assert.ok(secret && (secret.value === '' || secret.value === '(set)'), JSON.stringify(secret));
    });
  });
}
