import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { deployWith, writeApp } from '../support/apps.js';
import { executionSettings } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';
import { SESSION_COOKIE } from '../../src/auth/principal.js';

// The proxy's contract, checked from inside a real worker (Flask under waitress, in the sandbox):
// what reaches content, what never does, and how the proxy answers when content cannot.
const APP = `
import os, time
from flask import Flask, Response, jsonify, request

app = Flask(__name__)
hits = {"unavailable": 0}

@app.route("/headers", methods=["GET", "HEAD"])
def headers():
    return jsonify(path=request.environ["PATH_INFO"], query=request.query_string.decode(), headers={k.lower(): v for k, v in request.headers.items()})

@app.post("/echo")
def echo():
    return Response(request.get_data(), mimetype="application/octet-stream", headers={"X-Received": str(request.content_length)})

@app.get("/unavailable")
def unavailable():
    hits["unavailable"] += 1
    return Response("down for maintenance", status=503, headers={"Retry-After": "120"})

@app.get("/hits")
def count():
    return jsonify(hits)

@app.get("/slow")
def slow():
    def chunks():
        for i in range(100):
            yield ("chunk %d\\n" % i).encode()
            time.sleep(0.2)
    return Response(chunks(), mimetype="text/plain")

@app.get("/die")
def die():
    os._exit(3)
`;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request with exactly these headers (fetch refuses Connection and friends). */
function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The path goes out as written: a URL object would resolve "%2e%2e" segments first.
    const { host } = new URL(url);
    const raw = url.slice(url.indexOf(host) + host.length);
    const req = httpRequest(`http://${host}`, { path: raw, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('the content proxy: what content sees, and what it never sees', () => {
  let t: TestServer;
  let appDir: string;
  let guid: string;
  let auth: Record<string, string>;
  const seen = async (answer: Answer) => {
    assert.equal(answer.status, 200, answer.body.toString());
    return JSON.parse(answer.body.toString()) as { path: string; query: string; headers: Record<string, string> };
  };

  before(async () => {
    t = await startLectern('sqlite', executionSettings());
    auth = { authorization: `Key ${t.adminKey}` };
    appDir = await writeApp('proxy-contract', { 'app.py': APP, 'requirements.txt': 'flask\n' });
    ({ guid } = await deployWith(t, 'api', ['-e', 'app:app', '--title', 'Proxy contract', appDir]));
  });

  after(async () => {
    await t?.stop();
    if (appDir) await rm(appDir, { recursive: true, force: true });
  });

  it("strips the prefix, keeps the query, and sets who is asking and from where over the client's copies", async () => {
    const got = await seen(
      await send(`${t.url}/content/${guid}/headers?a=1&b=two`, {
        headers: {
          ...auth,
          'rstudio-connect-credentials': '{"user":"mallory"}',
          'x-rsc-request': 'http://evil/',
          'x-forwarded-prefix': '/evil',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'data.example.org',
          connection: 'keep-alive, x-hop',
          'x-hop': 'hop-by-hop',
          'x-kept': 'end-to-end',
        },
      }),
    );
    assert.equal(got.path, '/headers');
    assert.equal(got.query, 'a=1&b=two');
    assert.deepEqual(JSON.parse(got.headers['rstudio-connect-credentials']!), { user: 'admin', groups: [] });
    // The client is no trusted proxy ([HTTP] TrustedProxies is empty): its X-Forwarded-Proto/-Host are ignored.
    assert.equal(got.headers['x-rsc-request'], `${t.url}/content/${guid}/headers?a=1&b=two`);
    assert.equal(got.headers['x-forwarded-prefix'], `/content/${guid}`);
    // (waitress drops X-Forwarded-Proto and -Host from proxies it was not told to trust; the
    // original URL above carries both.)
    assert.equal(got.headers['x-kept'], 'end-to-end');
    assert.equal(got.headers['x-hop'], undefined, 'headers named in Connection stay with the hop');
    // The caller's key stays with Lectern: content that could read it could act as its visitor.
    assert.equal(got.headers.authorization, undefined);
  });

  it("never passes Lectern's session cookie on, but does pass the content's own cookies", async () => {
    const admin = (await t.app.users.findByUsername('admin'))!;
    const session = await t.app.users.createSession(admin.id, 60_000);
    const got = await seen(await send(`${t.url}/content/${guid}/headers`, { headers: { cookie: `theme=dark; ${SESSION_COOKIE}=${session.token}; lang=fr` } }));
    assert.equal(got.headers.cookie, 'theme=dark; lang=fr');
    assert.equal(JSON.parse(got.headers['rstudio-connect-credentials']!).user, 'admin');
  });

  it('serves the same content at its vanity path, with that path as the prefix', async () => {
    assert.equal((await t.api(`/__api__/v1/content/${guid}/vanity`, { method: 'PUT', json: { path: '/proxy-contract/' } })).status, 200);
    const got = await seen(await send(`${t.url}/proxy-contract/headers?x=1`, { headers: auth }));
    assert.equal(got.path, '/headers');
    assert.equal(got.query, 'x=1');
    assert.equal(got.headers['x-forwarded-prefix'], '/proxy-contract');
  });

  it('applies a permission change to the very next request', async () => {
    const viewer = await t.addUser('proxy-viewer', 'viewer');
    const asViewer = { authorization: `Key ${viewer.key}` };
    const denied = await send(`${t.url}/content/${guid}/headers`, { headers: asViewer });
    assert.equal(denied.status, 403);
    assert.equal(JSON.parse(denied.body.toString()).code, 19);
    const grant = (await (await t.api(`/__api__/v1/content/${guid}/permissions`, { method: 'POST', json: { principal_guid: viewer.guid, principal_type: 'user', role: 'viewer' } })).json()) as {
      id: string;
    };
    assert.equal(JSON.parse((await seen(await send(`${t.url}/content/${guid}/headers`, { headers: asViewer }))).headers['rstudio-connect-credentials']!).user, 'proxy-viewer');
    assert.equal((await t.api(`/__api__/v1/content/${guid}/permissions/${grant.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await send(`${t.url}/content/${guid}/headers`, { headers: asViewer })).status, 403);
    const anonymous = await send(`${t.url}/content/${guid}/headers`);
    assert.equal(anonymous.status, 401);
    assert.equal(JSON.parse(anonymous.body.toString()).code, 24);
    assert.equal((await send(`${t.url}/content/${guid}/headers`, { headers: { authorization: 'Key not-a-key' } })).status, 401);
  });

  it('streams bodies both ways, answers HEAD, and refuses paths that climb out of the content', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024 + 3, 5);
    const echoed = await send(`${t.url}/content/${guid}/echo`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body });
    assert.equal(echoed.status, 200);
    assert.equal(echoed.headers['x-received'], String(body.length));
    assert.ok(echoed.body.equals(body));
    const head = await send(`${t.url}/content/${guid}/headers`, { method: 'HEAD', headers: auth });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.match(String(head.headers['content-type']), /application\/json/);
    const climbing = await send(`${t.url}/content/${guid}/a/%2e%2e/%2E%2E/etc/passwd`, { headers: auth });
    assert.equal(climbing.status, 400);
    assert.equal(JSON.parse(climbing.body.toString()).code, 2);
  });

  it("passes the content's own 503 on once, untouched", async () => {
    const answer = await send(`${t.url}/content/${guid}/unavailable`, { headers: auth });
    assert.equal(answer.status, 503);
    assert.equal(answer.body.toString(), 'down for maintenance');
    assert.equal(answer.headers['retry-after'], '120');
    const hits = JSON.parse((await send(`${t.url}/content/${guid}/hits`, { headers: auth })).body.toString());
    assert.deepEqual(hits, { unavailable: 1 });
  });

  it("gives a worker's connection back when the client goes away mid-response", async () => {
    const content = (await t.app.content.find(guid))!;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${t.url}/content/${guid}/slow`, { headers: auth }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.on('close', resolve);
      req.end();
      setTimeout(() => reject(new Error('no first chunk')), 30_000).unref();
    });
    for (let i = 0; ; i++) {
      const busy = t.app.scheduler.describe(content.id).reduce((n, w) => n + w.connections, 0);
      if (busy === 0) break;
      assert.ok(i < 100, `a connection is still held: ${JSON.stringify(t.app.scheduler.describe(content.id))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('answers 502 with the reason when the worker dies mid-request', async () => {
    const answer = await send(`${t.url}/content/${guid}/die`, { headers: auth });
    assert.equal(answer.status, 502);
    assert.match(String(answer.headers['content-type']), /text\/html/);
    assert.match(answer.body.toString(), /The content did not answer/);
  });
});
