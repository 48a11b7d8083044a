import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deployWith, fetchContent, writeApp } from '../support/apps.js';
import { executionSettings } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';

// A Flask API deployed with the newest rsconnect-python, run by the local launcher in the sandbox,
// reached through the proxy. The app reports what it sees so the tests check Lectern's contract.
const FLASK_APP = `
import os, threading, uuid
from flask import Flask, jsonify, request, Response

app = Flask(__name__)
barrier = threading.Barrier(4, timeout=30)
# Inside the sandbox's PID namespace every worker is pid 2: this tells worker processes apart.
BOOT = uuid.uuid4().hex

@app.get("/")
def index():
    return jsonify(message=os.environ.get("GREETING", "hello") + " from flask", prefix=request.headers.get("X-Forwarded-Prefix"))

@app.get("/sum")
def total():
    return jsonify(total=int(request.args["a"]) + int(request.args["b"]))

@app.get("/headers")
def headers():
    return jsonify(credentials=request.headers.get("RStudio-Connect-Credentials"), rsc_request=request.headers.get("X-RSC-Request"))

@app.get("/env")
def env():
    keys = ["CONNECT_SERVER", "LECTERN_SERVER_ADDRESS", "CONNECT_CONTENT_GUID", "RSTUDIO_PRODUCT", "R_CONFIG_ACTIVE", "GREETING", "HOME"]
    return jsonify({k: os.environ.get(k) for k in keys} | {"uid": os.getuid(), "boot": BOOT})

@app.post("/echo")
def echo():
    return Response(request.get_data(), mimetype="application/octet-stream")

@app.get("/together")
def together():
    # Returns only once four requests are inside the app at the same time.
    barrier.wait()
    return jsonify(ok=True)

@app.get("/read")
def read():
    try:
        with open(request.args["path"], "rb") as f:
            return jsonify(readable=True, size=len(f.read()))
    except OSError as e:
        return jsonify(readable=False, error=str(e))

@app.get("/write")
def write():
    try:
        with open(request.args["path"], "w") as f:
            f.write("x")
        return jsonify(written=True)
    except OSError as e:
        return jsonify(written=False, error=str(e))

@app.get("/alloc")
def alloc():
    block = bytearray(int(request.args["mb"]) * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return jsonify(allocated=len(block))
`;

describe('Python API content: Flask through rsconnect-python, the sandbox and the proxy', () => {
  let t: TestServer;
  let appDir: string;
  let guid: string;

  before(async () => {
    t = await startLectern('sqlite', executionSettings());
    appDir = await writeApp('flask', { 'app.py': FLASK_APP, 'requirements.txt': 'flask\n' });
    ({ guid } = await deployWith(t, 'api', ['-e', 'app:app', '-E', 'GREETING=bonjour', '--title', 'Flask API', appDir]));
  });

  after(async () => {
    await t?.stop();
    if (appDir) await rm(appDir, { recursive: true, force: true });
  });

  it("answers through the proxy with the app's own JSON, under its prefix", async () => {
    const res = await fetchContent(t, guid, '');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { message: 'bonjour from flask', prefix: `/content/${guid}` });
    const sum = await fetchContent(t, guid, 'sum?a=20&b=22');
    assert.deepEqual(await sum.json(), { total: 42 });
  });

  it('passes who is asking and the original URL; client copies of those headers are dropped', async () => {
    const res = await fetchContent(t, guid, 'headers', { headers: { 'RStudio-Connect-Credentials': '{"user":"mallory"}', 'X-RSC-Request': 'http://evil/' } });
    const body = (await res.json()) as { credentials: string; rsc_request: string };
    assert.deepEqual(JSON.parse(body.credentials), { user: 'admin', groups: [] });
    assert.equal(body.rsc_request, `${t.url}/content/${guid}/headers`);
  });

  it("gives content its variables and Connect's, and runs it as the unprivileged user", async () => {
    const env = (await (await fetchContent(t, guid, 'env')).json()) as Record<string, string | number>;
    // Content in its own network namespace calls the API through the API channel; pages link to the public address.
    assert.ok(t.app.apiChannel, 'content runs with network isolation');
    assert.equal(env.CONNECT_SERVER, t.app.apiChannel.url);
    assert.equal(env.LECTERN_SERVER_ADDRESS, `${t.url}/`);
    assert.equal(env.CONNECT_CONTENT_GUID, guid);
    assert.equal(env.RSTUDIO_PRODUCT, 'CONNECT');
    assert.equal(env.R_CONFIG_ACTIVE, 'rsconnect');
    assert.equal(env.GREETING, 'bonjour');
    if (process.getuid?.() === 0) assert.notEqual(env.uid, 0, 'content must not run as root');
  });

  it('streams request bodies both ways unchanged', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    body.write('start', 0);
    const res = await fetchContent(t, guid, 'echo', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(body));
  });

  it('serves concurrent requests in one WSGI worker', async () => {
    const answers = await Promise.all([0, 1, 2, 3].map(() => fetchContent(t, guid, 'together').then((r) => r.json())));
    assert.deepEqual(answers, [{ ok: true }, { ok: true }, { ok: true }, { ok: true }]);
  });

  it('keeps content away from other content, the database and the configuration', async () => {
    const other = await writeApp('other', { 'secret.txt': 'other content' });
    await writeFile(path.join(other, 'index.html'), '<p>other</p>');
    const { guid: otherGuid } = await deployWith(t, 'html', [other]);
    const otherRow = await t.app.content.find(otherGuid);
    const otherFile = path.join(t.app.dataDir.appDir(otherRow!.id, otherRow!.bundle_id!), 'index.html');
    const databaseFile = path.join(t.dataDir, 'db', 'lectern.sqlite');
    for (const target of [otherFile, databaseFile, path.join(t.dataDir, 'secret.key')]) {
      const res = (await (await fetchContent(t, guid, `read?path=${encodeURIComponent(target)}`)).json()) as { readable: boolean };
      assert.equal(res.readable, false, `content could read ${target}`);
    }
    const row = await t.app.content.find(guid);
    const ownBundle = t.app.dataDir.appDir(row!.id, row!.bundle_id!);
    const own = (await (await fetchContent(t, guid, `read?path=${encodeURIComponent(path.join(ownBundle, 'app.py'))}`)).json()) as { readable: boolean };
    assert.equal(own.readable, true, 'content reads its own bundle');
    const writeOwn = (await (await fetchContent(t, guid, `write?path=${encodeURIComponent(path.join(ownBundle, 'x.txt'))}`)).json()) as { written: boolean };
    assert.equal(writeOwn.written, false, 'the bundle is read-only');
    const writeTmp = (await (await fetchContent(t, guid, `write?path=/tmp/scratch.txt`)).json()) as { written: boolean };
    assert.equal(writeTmp.written, true, '/tmp is writable');
    await rm(other, { recursive: true, force: true });
  });

  it("lists its jobs with Connect's fields, and their logs", async () => {
    const jobs = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ key: string; tag: string; status: number; pid: string | null }>;
    const tags = jobs.map((j) => j.tag);
    assert.ok(tags.includes('python_restore'), tags.join());
    const worker = jobs.find((j) => j.tag === 'run_python_api' && j.status === 0);
    assert.ok(worker, JSON.stringify(jobs));
    const restore = jobs.find((j) => j.tag === 'python_restore')!;
    const log = (await (await t.api(`/__api__/v1/content/${guid}/jobs/${restore.key}/log`)).json()) as { entries: Array<{ source: string; data: string }> };
    assert.ok(
      log.entries.some((e) => /flask/i.test(e.data)),
      JSON.stringify(log.entries.slice(-5)),
    );
    // The same log as a text download, under the name asked for (connectapi, the dashboard).
    const download = await t.api(`/__api__/v1/content/${guid}/jobs/${restore.key}/download?filename=restore.log`);
    assert.equal(download.status, 200);
    assert.match(download.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(download.headers.get('content-disposition'), 'attachment; filename="restore.log"');
    assert.equal(await download.text(), log.entries.map((e) => `${e.data}\n`).join(''));
    // The finished restore's tail is its whole log, then the stream ends (a running job's would follow).
    const tail = await t.api(`/__api__/v1/content/${guid}/jobs/${restore.key}/tail`);
    assert.equal(tail.status, 200);
    assert.match(tail.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    const tailed = (await tail.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { data: string });
    assert.deepEqual(
      tailed.map((e) => e.data),
      log.entries.map((e) => e.data),
    );
    // A job that did not fail has no error to explain: 204, as Connect answers.
    assert.equal((await t.api(`/__api__/v1/content/${guid}/jobs/${restore.key}/error`)).status, 204);
    const processes = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ job_key: string; pid: number; memory_bytes: number | null }>;
    const listed = processes.find((p) => p.job_key === worker.key);
    assert.ok(listed && listed.pid > 0, JSON.stringify(processes));
  });

  it('restarts workers when environment variables change', async () => {
    const before = (await (await fetchContent(t, guid, 'env')).json()) as { boot: string };
    const patch = await t.api(`/__api__/v1/content/${guid}/environment`, { method: 'PATCH', json: [{ name: 'GREETING', value: 'hola' }] });
    assert.equal(patch.status, 200);
    const after = (await (await fetchContent(t, guid, 'env')).json()) as { boot: string; GREETING: string };
    assert.equal(after.GREETING, 'hola');
    assert.notEqual(after.boot, before.boot);
  });

  it('redeploys without downtime; a failing build leaves the live version serving', async () => {
    let stop = false;
    const statuses: number[] = [];
    const poller = (async () => {
      while (!stop) statuses.push((await fetchContent(t, guid, 'sum?a=1&b=1')).status);
    })();
    await writeFile(path.join(appDir, 'app.py'), FLASK_APP.replace('+ " from flask"', '+ " from flask v2"'));
    await deployWith(t, 'api', ['-e', 'app:app', '--app-id', guid, appDir]);
    stop = true;
    await poller;
    assert.ok(statuses.length > 0 && statuses.every((s) => s === 200), `statuses during redeploy: ${[...new Set(statuses)].join(',')}`);
    const v2 = (await (await fetchContent(t, guid, '')).json()) as { message: string };
    assert.equal(v2.message, 'hola from flask v2');

    await writeFile(path.join(appDir, 'requirements.txt'), 'flask\nthis-package-does-not-exist-lectern==9.9.9\n');
    const failed = await deployWith(t, 'api', ['-e', 'app:app', '--app-id', guid, appDir], { expectFailure: true });
    assert.match(failed.log, /this-package-does-not-exist-lectern/);
    const still = (await (await fetchContent(t, guid, '')).json()) as { message: string };
    assert.equal(still.message, 'hola from flask v2');
    await writeFile(path.join(appDir, 'requirements.txt'), 'flask\n');
  });

  it("fails a deploy whose entrypoint is missing, with the runner's message", async () => {
    const broken = await writeApp('missing-entry', { 'app.py': 'print("no app object here")\n', 'requirements.txt': 'flask\n' });
    const { log } = await deployWith(t, 'api', ['-e', 'nothere:app', broken], { expectFailure: true });
    assert.match(log, /nothere/);
    await rm(broken, { recursive: true, force: true });
  });

  it('fails a deploy that asks for a Python this server does not have, naming both', async () => {
    const { log } = await deployWith(t, 'api', ['-e', 'app:app', '--override-python-version', '3.4.1', appDir], { expectFailure: true });
    assert.match(log, /requires Python 3\.4\.1/);
    assert.match(log, /no Python 3\.4\b.*Installed: 3\.\d+\.\d+/);
  });

  it('fails the deploy of an app that never listens, after its init timeout, and keeps nothing running', async () => {
    const created = await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'never-listens', init_timeout: 3 } });
    const content = (await created.json()) as { guid: string };
    const silent = await writeApp('silent', {
      'app.py': 'import time\nclass App:\n    def __call__(self, environ, start_response):\n        pass\ntime.sleep(3600)\napp = App()\n',
      'requirements.txt': 'flask\n',
    });
    const { log } = await deployWith(t, 'api', ['-e', 'app:app', '--app-id', content.guid, silent], { expectFailure: true });
    assert.match(log, /did not accept connections within the init timeout \(3 s\)/);
    await rm(silent, { recursive: true, force: true });
  });

  it('stops a worker that exceeds its memory limit and says so', async () => {
    const updated = await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { memory_limit: 128 * 1024 * 1024 } });
    assert.equal(updated.status, 200);
    // The limit applies to workers started from now on: restart through an environment change.
    await t.api(`/__api__/v1/content/${guid}/environment`, { method: 'PATCH', json: [{ name: 'RESTART', value: '1' }] });
    const ok = await fetchContent(t, guid, 'alloc?mb=16');
    assert.equal(ok.status, 200);
    const res = await fetchContent(t, guid, 'alloc?mb=400');
    assert.ok(res.status >= 500, `status ${res.status}`);
    // The proxy answers as soon as the connection drops; the job row is finished just after.
    let jobs: Array<{ error: string | null; tag: string }> = [];
    for (let i = 0; i < 50 && !jobs.some((j) => /memory limit/.test(j.error ?? '')); i++) {
      if (i) await new Promise((r) => setTimeout(r, 200));
      jobs = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as typeof jobs;
    }
    assert.ok(
      jobs.some((j) => /memory limit/.test(j.error ?? '')),
      JSON.stringify(jobs.slice(0, 3)),
    );
  });
});
