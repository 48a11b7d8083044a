import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { deployWith, writeApp } from '../support/apps.js';
import { executionSettings } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';

// Hostile and unusual requests to running content, against a real worker (Flask under waitress).
// The server logs at debug, as an operator chasing a problem would run it: request logging is on
// the path of every request, so a fault there shows here.
const APP = `
from flask import Flask, jsonify, request

app = Flask(__name__)

@app.route("/headers", methods=["GET", "HEAD", "POST"])
def headers():
    return jsonify(path=request.environ["PATH_INFO"], headers={k.lower(): v for k, v in request.headers.items()})

@app.route("/<path:anything>", methods=["GET", "POST"])
def anything(anything):
    return jsonify(path=request.environ["PATH_INFO"])
`;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on its own connection, the path sent exactly as written. */
function send(base: string, rawPath: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base, { path: rawPath, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer to ${options.method ?? 'GET'} ${rawPath} within 30 s`)));
    req.end(options.body);
  });
}

describe('the content proxy under hostile and unusual requests', () => {
  let t: TestServer;
  let appDir: string;
  let guid: string;
  let auth: Record<string, string>;

  before(async () => {
    t = await startLectern('sqlite', { ...executionSettings(), 'Logging.Level': 'debug' });
    auth = { authorization: `Key ${t.adminKey}` };
    appDir = await writeApp('proxy-hostile', { 'app.py': APP, 'requirements.txt': 'flask\n' });
    ({ guid } = await deployWith(t, 'api', ['-e', 'app:app', '--title', 'Proxy hostile', appDir]));
    // Public: the crash needed no account.
    const res = await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'all' } });
    assert.equal(res.status, 200, await res.text());
  });

  after(async () => {
    await t?.stop();
    if (appDir) await rm(appDir, { recursive: true, force: true });
  });

  it('survives an anonymous POST with a body to a path the content does not read it at, and still answers', async () => {
    for (let i = 0; i < 5; i++) {
      const answer = await send(t.url, `/content/${guid}/x`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x' });
      assert.equal(answer.status, 200, answer.body.toString());
    }
    const after = await send(t.url, `/content/${guid}/headers`, { headers: auth });
    assert.equal(after.status, 200);
    assert.equal((await t.api('/__api__/server_settings')).status, 200);
  });
});
