import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { executionSettings, testPython } from '../support/execution.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { wsgiApiBundle } from '../support/apps.js';
import { send, upgrade, type Answer } from '../support/raw-http.js';
import { makeTarGz } from '../support/tarball.js';
import { SESSION_COOKIE } from '../../src/auth/principal.js';

// Hostile and unusual requests to running content, against real workers (a WSGI app in the
// sandbox). The server logs at debug, as an operator chasing a problem runs it: request logging
// is then on the path of every request, so a fault there shows here.
const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const app = (version: string) => `
import base64, hashlib, hmac, json, os, time

def verified(environ):
    # How content checks the identity header: HMAC-SHA256 with its own LECTERN_CREDENTIALS_KEY.
    value = environ.get("HTTP_RSTUDIO_CONNECT_CREDENTIALS")
    signature = environ.get("HTTP_RSTUDIO_CONNECT_CREDENTIALS_SIGNATURE")
    key = os.environ.get("LECTERN_CREDENTIALS_KEY")
    if not value or not signature or not key:
        return False
    parts = dict(p.split("=", 1) for p in signature.split(","))
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    mac = base64.urlsafe_b64encode(hmac.new(raw, (parts["t"] + "." + value).encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(mac, parts.get("v1", ""))

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def chunks():
            for i in range(300):
                yield b"."
                time.sleep(0.1)
        return chunks()
    headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    body = json.dumps({"version": ${JSON.stringify(version)}, "verified": verified(environ), "path": path, "query": environ.get("QUERY_STRING", ""), "headers": headers}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
`;

const appBundle = (version: string) => wsgiApiBundle(app(version), PYTHON_VERSION);

after(stopPostgres);

for (const provider of PROVIDERS)
  describe(`the content proxy under hostile and unusual requests (${provider})`, () => {
    let t: TestServer;
    let guid: string;
    let auth: Record<string, string>;

    const json = (answer: Answer) => {
      assert.equal(answer.status, 200, answer.body.toString());
      return JSON.parse(answer.body.toString()) as { version: string; verified: boolean; path: string; query: string; headers: Record<string, string> };
    };

    async function createContent(name: string): Promise<string> {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name } });
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { guid: string }).guid;
    }

    /** Uploads and deploys a bundle; resolves once the deploy task reports it finished. */
    async function deploy(contentGuid: string, bundle: Buffer<ArrayBuffer>) {
      const uploaded = await t.api(`/__api__/v1/content/${contentGuid}/bundles`, { method: 'POST', body: bundle });
      assert.equal(uploaded.status, 200, await uploaded.clone().text());
      const { id } = (await uploaded.json()) as { id: string };
      const queued = await t.api(`/__api__/v1/content/${contentGuid}/deploy`, { method: 'POST', json: { bundle_id: id } });
      assert.equal(queued.status, 202, await queued.clone().text());
      const task = await waitForTask(t, ((await queued.json()) as { task_id: string }).task_id);
      assert.equal(task.code, 0, task.output.join('\n'));
    }

    before(async () => {
      t = await startLectern(provider, { ...executionSettings(), 'Logging.Level': 'debug' });
      auth = { authorization: `Key ${t.adminKey}` };
      guid = await createContent('proxy-hostile');
      await deploy(guid, appBundle('v1'));
      // Public: the crash needed no account.
      const res = await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'all' } });
      assert.equal(res.status, 200, await res.text());
    });

    after(async () => {
      await t?.stop();
    });

    it('survives an anonymous POST with a body the content does not read, and still answers', async () => {
      for (let i = 0; i < 5; i++) {
        const answer = await send(t.url, `/content/${guid}/x`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x' });
        assert.equal(answer.status, 200, answer.body.toString());
      }
      assert.equal(json(await send(t.url, `/content/${guid}/headers`, { headers: auth })).path, '/headers');
      assert.equal((await t.api('/__api__/server_settings')).status, 200);
    });

    it("signs who is visiting so content can verify it, and keeps the visitor's own credentials from content", async () => {
      const admin = (await t.app.users.findByUsername('admin'))!;
      const session = await t.app.users.createSession(admin.id, 60_000);
      for (const credentials of [auth, { cookie: `theme=dark; ${SESSION_COOKIE}=${session.token}` }]) {
        const got = json(await send(t.url, `/content/${guid}/headers`, { headers: { ...credentials, 'rstudio-connect-credentials': '{"user":"mallory"}' } }));
        assert.deepEqual(JSON.parse(got.headers['rstudio-connect-credentials']!), { user: 'admin', groups: [] });
        assert.equal(got.verified, true, 'the content verifies the identity header with its own key');
        assert.equal(got.headers.authorization, undefined, "the visitor's API key stays with Lectern");
        assert.ok(!(got.headers.cookie ?? '').includes(SESSION_COOKIE), 'the session cookie stays with Lectern');
      }
      // A header signed for other content does not verify here: the keys are per content item.
      const identity = '{"user":"admin","groups":[]}';
      const other = t.app.credentials.signCredentials('00000000-0000-4000-8000-000000000000', identity);
      assert.notEqual(other.split(',')[1], t.app.credentials.signCredentials(guid, identity).split(',')[1]);
      // Anonymous visitors get no identity and no token.
      const anonymous = json(await send(t.url, `/content/${guid}/headers`));
      assert.equal(anonymous.headers['rstudio-connect-credentials'], undefined);
      assert.equal(anonymous.headers['posit-connect-user-session-token'], undefined);
    });

    it("lets content exchange its visitor's session token for a short-lived key of that visitor", async () => {
      const viewer = await t.addUser('hostile-viewer', 'viewer');
      const got = json(await send(t.url, `/content/${guid}/headers`, { headers: { authorization: `Key ${viewer.key}` } }));
      const token = got.headers['posit-connect-user-session-token'];
      assert.ok(token, "a signed-in visitor's request carries a user-session token");
      const exchange = (subject: string) =>
        fetch(`${t.url}/__api__/v1/oauth/integrations/credentials`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token_type: 'urn:posit:connect:user-session-token',
            subject_token: subject,
            requested_token_type: 'urn:posit:connect:api-key',
          }),
        });
      const answer = await exchange(token);
      assert.equal(answer.status, 200, await answer.clone().text());
      const issued = (await answer.json()) as { access_token: string; issued_token_type: string };
      assert.equal(issued.issued_token_type, 'urn:posit:connect:api-key');
      assert.notEqual(issued.access_token, viewer.key);
      const me = await t.api('/__api__/v1/user', { key: issued.access_token });
      assert.equal(me.status, 200);
      assert.equal(((await me.json()) as { username: string }).username, 'hostile-viewer');
      // Narrow: it cannot make itself a key that would outlive it.
      const minted = await t.api('/__api__/v1/user/api_keys', { method: 'POST', key: issued.access_token, json: { name: 'forever' } });
      assert.equal(minted.status, 403, await minted.clone().text());
      assert.equal((await t.api('/__api__/v1/user/api_keys', { key: issued.access_token })).status, 403);
      assert.equal((await t.api('/__api__/v1/user/api_keys', { key: viewer.key })).status, 200);
      // Short-lived, stored like every key (hashed), and not among the keys the visitor manages.
      const stored = await t.app.store.db.selectFrom('api_keys').selectAll().where('user_id', '=', viewer.id).execute();
      const visitorKey = stored.find((k) => k.expires_at !== null);
      assert.ok(visitorKey && Number(visitorKey.expires_at) <= Date.now() + 60 * 60_000 + 5_000, JSON.stringify(stored));
      assert.equal(visitorKey.scope, 'visitor');
      assert.ok(!stored.some((k) => k.key_hash === issued.access_token));
      // A forged or altered token gets nothing.
      const [payload, mac] = token.split('.');
      // Another first character of the MAC: one that differs from the real one (base64url), always.
      const altered = `${mac![0] === 'A' ? 'B' : 'A'}${mac!.slice(1)}`;
      const forged = Buffer.from(JSON.stringify({ u: (await t.app.users.findByUsername('admin'))!.guid, c: guid, exp: Date.now() + 60_000 })).toString('base64url');
      for (const bad of [`${forged}.${mac}`, `${payload}.${altered}`, 'not-a-token']) {
        const refused = await exchange(bad);
        assert.equal(refused.status, 401, bad);
        assert.equal(((await refused.json()) as { code: number }).code, 30);
      }
    });

    it('gives content that an administrator visits a key that acts no higher than a viewer', async () => {
      const got = json(await send(t.url, `/content/${guid}/headers`, { headers: auth }));
      const answer = await fetch(`${t.url}/__api__/v1/oauth/integrations/credentials`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token_type: 'urn:posit:connect:user-session-token',
          subject_token: got.headers['posit-connect-user-session-token']!,
          requested_token_type: 'urn:posit:connect:api-key',
        }),
      });
      assert.equal(answer.status, 200, await answer.clone().text());
      const key = ((await answer.json()) as { access_token: string }).access_token;
      const me = (await (await t.api('/__api__/v1/user', { key })).json()) as { username: string; user_role: string };
      assert.deepEqual([me.username, me.user_role], ['admin', 'viewer']);
      // It still reads what the administrator may view…
      assert.equal((await t.api(`/__api__/v1/content/${guid}`, { key })).status, 200);
      // …but cannot administer the server or change content in the administrator's name.
      const created = await t.api('/__api__/v1/users', { method: 'POST', key, json: { username: 'made-by-content', password: 'a-long-password', user_role: 'administrator', email: 'x@example.org' } });
      assert.equal(created.status, 403, await created.clone().text());
      assert.equal((await t.api(`/__api__/v1/content/${guid}/environment`, { key })).status, 403);
      assert.equal((await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', key, json: { title: 'Renamed by content' } })).status, 403);
      assert.equal((await t.app.users.findByUsername('admin'))!.user_role, 'administrator', 'the administrator is unchanged');
    });

    it('serves //content/{guid}/ (how rsconnect-python 1.29 verifies a deploy) as /content/{guid}/', async () => {
      const got = json(await send(t.url, `//content/${guid}/?x=1`, { headers: auth }));
      assert.equal(got.path, '/');
      assert.equal(got.query, 'x=1');
      assert.equal(got.headers['x-forwarded-prefix'], `/content/${guid}`);
      const bare = await send(t.url, `//content/${guid}`, { headers: auth });
      assert.equal(bare.status, 301);
      assert.equal(bare.headers.location, `/content/${guid}/`, 'a redirect to //content/… would name the host "content"');
      const withQuery = await send(t.url, `/content/${guid}?x=1`, { headers: auth });
      assert.equal(withQuery.status, 301);
      assert.equal(withQuery.headers.location, `/content/${guid}/?x=1`);
    });

    it('refuses websocket paths that climb out of the content, as HTTP does', async () => {
      for (const climbing of ['/a/../../etc', '/a/%2e%2e/%2E%2E/etc', '/a/..%2f..%2fetc', '/%2e%2e']) {
        const http = await send(t.url, `/content/${guid}${climbing}`, { headers: auth });
        assert.equal(http.status, 400, `HTTP ${climbing}`);
        const ws = await upgrade(t.url, `/content/${guid}${climbing}`, auth);
        assert.equal(ws.status, 400, `websocket ${climbing}`);
      }
    });

    it('answers a websocket that finds every worker full with 503 and Retry-After after a bounded wait', async () => {
      const busy = await createContent('proxy-full');
      await deploy(busy, appBundle('full'));
      const limits = await t.api(`/__api__/v1/content/${busy}`, { method: 'PATCH', json: { max_processes: 1, max_conns_per_process: 1, init_timeout: 2 } });
      assert.equal(limits.status, 200, await limits.text());
      // One long response holds the only connection slot.
      const held = httpRequest(`${t.url}/content/${busy}/slow`, { headers: auth, agent: false });
      const first = new Promise<void>((resolve, reject) => {
        held.on('response', (res) => res.once('data', () => resolve()));
        held.on('error', reject);
      });
      held.end();
      await first;
      try {
        const ws = await upgrade(t.url, `/content/${busy}/socket`, auth);
        assert.equal(ws.status, 503);
        assert.match(String(ws.headers['retry-after']), /^\d+$/);
      } finally {
        held.destroy();
      }
    });

    it('answers a static content path outside the bundle the same whether a directory exists there or not', async () => {
      const site = await createContent('proxy-static');
      const manifest = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });
      const files = [
        { name: 'manifest.json', content: manifest },
        { name: 'index.html', content: '<h1>site</h1>' },
        { name: 'docs/a b.html', content: 'spaced' },
        { name: '100%.html', content: 'percent' },
      ];
      await deploy(site, makeTarGz(files));
      assert.equal((await send(t.url, `/content/${site}/`, { headers: auth })).status, 200);
      // Names that need escaping are still found.
      assert.equal((await send(t.url, `/content/${site}/docs/a%20b.html`, { headers: auth })).body.toString(), 'spaced');
      assert.equal((await send(t.url, `/content/${site}/100%25.html`, { headers: auth })).body.toString(), 'percent');
      assert.equal((await send(t.url, `/content/${site}/docs`, { headers: auth })).headers.location, `/content/${site}/docs/`);
      // Above the bundle: its content directory exists, the other path does not.
      const existing = await send(t.url, `/content/${site}/%2e%2e`, { headers: auth });
      const missing = await send(t.url, `/content/${site}/%2e%2e/no-such-directory`, { headers: auth });
      assert.equal(existing.status, 400);
      assert.equal(missing.status, 400);
      assert.equal(existing.headers.location, undefined);
    });

    it('serves the new bundle the moment its deploy task reports finished', async () => {
      const live = await createContent('proxy-live');
      await deploy(live, appBundle('one'));
      assert.equal(json(await send(t.url, `/content/${live}/`, { headers: auth })).version, 'one');
      await deploy(live, appBundle('two'));
      assert.equal(json(await send(t.url, `/content/${live}/`, { headers: auth })).version, 'two');
    });
  });

// Clients verify a deploy right after its task reports finished, at whichever replica answers.
if (PROVIDERS.includes('postgres')) {
  describe('two replicas serve the new bundle the moment its deploy task reports finished (postgres)', () => {
    let a: TestServer;
    let b: TestServer;

    before(async () => {
      a = await startLectern('postgres', executionSettings());
      b = await startLectern('postgres', executionSettings(), { dataDir: a.dataDir, databaseUrl: a.app.config.get('Postgres.URL') });
    });

    after(async () => {
      await b?.stop();
      await a?.stop();
    });

    it('shows each new version at both replicas, whichever one the task was watched at', async () => {
      const created = await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'proxy-replicas' } });
      const { guid } = (await created.json()) as { guid: string };
      const version = (server: TestServer) =>
        send(server.url, `/content/${guid}/`, { headers: { authorization: `Key ${server.adminKey}` } }).then((answer) => {
          assert.equal(answer.status, 200, answer.body.toString());
          return (JSON.parse(answer.body.toString()) as { version: string }).version;
        });
      for (const [round, watcher] of [a, b, a, b].entries()) {
        const uploaded = await a.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: appBundle(`v${round}`) });
        assert.equal(uploaded.status, 200, await uploaded.clone().text());
        const queued = await a.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: ((await uploaded.json()) as { id: string }).id } });
        const task = await waitForTask(watcher, ((await queued.json()) as { task_id: string }).task_id, watcher.adminKey);
        assert.equal(task.code, 0, task.output.join('\n'));
        assert.deepEqual(await Promise.all([watcher, a, b].map(version)), [`v${round}`, `v${round}`, `v${round}`]);
      }
    });
  });
}
