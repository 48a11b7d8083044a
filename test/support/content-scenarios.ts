// Content-type scenarios that run unchanged on either backend (local sandboxes or Kubernetes Jobs):
// each publishes real content to a running Lectern and checks what the app really computed, through
// the proxy. test/e2e/* runs them locally, test/kube/content-types-on-kubernetes.test.ts on the test bed.
import assert from 'node:assert/strict';
import path from 'node:path';
import WebSocket from 'ws';
import { deployWith, fetchContent, shinySession, writeApp } from './apps.js';
import { eventually } from './eventually.js';
import { waitForTask, type TestServer } from './lectern.js';
import { deployRBundle, rBundle, type DeployResult, type RPackageEntry } from './r-bundles.js';
import { makeTarGz } from './tarball.js';

/** A notebook document with the given cells (code cells may carry tags such as hide_input). */
export function notebook(cells: Array<{ type: 'code' | 'markdown'; source: string; tags?: string[] }>): string {
  return JSON.stringify({
    cells: cells.map((c) =>
      c.type === 'code' ? { cell_type: 'code', execution_count: null, metadata: { tags: c.tags ?? [] }, outputs: [], source: c.source } : { cell_type: 'markdown', metadata: {}, source: c.source },
    ),
    metadata: { kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' }, language_info: { name: 'python' } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

/** A jupyter-static bundle for `python`: one markdown cell with math, one code cell that prints "six sevens are 42". */
export function mathNotebookBundle(markdown: string, python: string): Buffer<ArrayBuffer> {
  const files: Record<string, string> = {
    'analysis.ipynb': notebook([
      { type: 'markdown', source: markdown },
      { type: 'code', source: 'print(f"six sevens are {6 * 7}")' },
    ]),
    'requirements.txt': 'nbconvert\nipykernel\n',
  };
  const manifest = {
    version: 1,
    metadata: { appmode: 'jupyter-static', entrypoint: 'analysis.ipynb' },
    python: { version: python, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
    files: Object.fromEntries(Object.keys(files).map((f) => [f, { checksum: '' }])),
  };
  return makeTarGz([{ name: 'manifest.json', content: JSON.stringify(manifest) }, ...Object.entries(files).map(([name, content]) => ({ name, content }))]);
}

/** Opens a websocket through the proxy and resolves once the worker accepted the upgrade. */
export function websocketUpgrade(t: TestServer, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Key ${t.adminKey}` } });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', reject);
  });
}

const wsBase = (t: TestServer, guid: string) => `${t.url.replace(/^http/, 'ws')}/content/${guid}`;

/** FastAPI (python-fastapi) through rsconnect-python: JSON, and the docs page finds its schema under the prefix. */
export async function fastapiScenario(t: TestServer): Promise<string> {
  const dir = await writeApp('fastapi', {
    'app.py': 'from fastapi import FastAPI\napp = FastAPI()\n@app.get("/double/{n}")\ndef double(n: int):\n    return {"double": n * 2}\n',
    'requirements.txt': 'fastapi\n',
  });
  const { guid } = await deployWith(t, 'fastapi', ['-e', 'app:app', dir]);
  assert.deepEqual(await (await fetchContent(t, guid, 'double/21')).json(), { double: 42 });
  const docs = await (await fetchContent(t, guid, 'docs')).text();
  assert.match(docs, new RegExp(`/content/${guid}/openapi\\.json`));
  assert.equal((await fetchContent(t, guid, 'openapi.json')).status, 200);
  return guid;
}

/** Streamlit (python-streamlit) through rsconnect-python: health, page and its websocket stream. */
export async function streamlitScenario(t: TestServer): Promise<string> {
  const dir = await writeApp('streamlit', { 'app.py': 'import streamlit as st\nst.title("Hello Streamlit")\nst.write(6 * 7)\n', 'requirements.txt': 'streamlit\n' });
  const { guid } = await deployWith(t, 'streamlit', ['-e', 'app.py', dir]);
  assert.equal(await (await fetchContent(t, guid, '_stcore/health')).text(), 'ok');
  assert.match(await (await fetchContent(t, guid, '')).text(), /<div id="root">/);
  assert.equal(await websocketUpgrade(t, `${wsBase(t, guid)}/_stcore/stream`), 101);
  return guid;
}

/**
 * A Jupyter notebook (jupyter-static) through rsconnect-python: rendered on the server, tagged input
 * hidden, the render calling the Connect API as its owner; a re-render keeps the first in history.
 */
export async function notebookScenario(t: TestServer): Promise<string> {
  const dir = await writeApp('notebook', {
    'analysis.ipynb': notebook([
      { type: 'markdown', source: '# Quarterly analysis' },
      { type: 'code', source: 'secret_sauce = 6 * 7\nprint(f"The notebook answer is {secret_sauce}")', tags: ['hide_input'] },
      {
        type: 'code',
        // A render may call the Connect API as its owner with the short-lived key it is given.
        source:
          'import json, os, urllib.request\n' +
          'req = urllib.request.Request(os.environ["CONNECT_SERVER"].rstrip("/") + "/__api__/v1/user", headers={"Authorization": "Key " + os.environ["CONNECT_API_KEY"]})\n' +
          'print("rendered for", json.load(urllib.request.urlopen(req))["username"])',
      },
    ]),
    'requirements.txt': 'jupyter\nnbconvert\nipykernel\n',
  });
  const { guid } = await deployWith(t, 'notebook', ['--hide-tagged-input', path.join(dir, 'analysis.ipynb')]);
  const html = await (await fetchContent(t, guid, '')).text();
  assert.match(html, /The notebook answer is 42/);
  assert.doesNotMatch(html, /secret_sauce = 6/);
  assert.match(html, /rendered for admin/);
  const render = await t.api(`/__api__/v1/content/${guid}/render`, { method: 'POST', json: {} });
  assert.equal(render.status, 202);
  const { task_id } = (await render.json()) as { task_id: string };
  const task = await waitForTask(t, task_id);
  assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
  const renders = (await (await t.api(`/__api__/v1/content/${guid}/renders`)).json()) as Array<{ state: string; active: boolean }>;
  assert.equal(renders.length, 2);
  assert.deepEqual(
    renders.map((r) => [r.state, r.active]),
    [
      ['succeeded', true],
      ['succeeded', false],
    ],
  );
  return guid;
}

export const R_SHINY_APP = `
library(shiny)
ui <- fluidPage(
  numericInput("n", "A number", 3),
  textOutput("square"),
  textOutput("prefix")
)
server <- function(input, output, session) {
  output$square <- renderText(sprintf("%d squared is %d", as.integer(input$n), as.integer(input$n)^2L))
  # What the proxy told the app about its public prefix, on the websocket request itself.
  output$prefix <- renderText(paste("prefix:", session$request$HTTP_X_FORWARDED_PREFIX))
}
shinyApp(ui, server)
`;

/**
 * An R Shiny app (bundle as rsconnect builds it, every package reused from the site library since
 * CRAN is unreachable) whose websocket session computes outputs through the proxy, under its prefix.
 */
export async function rShinyScenario(t: TestServer, shinyPackages: Record<string, RPackageEntry>): Promise<DeployResult> {
  const result = await deployRBundle(t, 'r-shiny', await rBundle({ appmode: 'shiny', files: { 'app.R': R_SHINY_APP }, packages: shinyPackages }));
  assert.equal(result.code, 0, `${result.error}\n${result.output.join('\n')}`);
  assert.ok(
    result.output.some((l) => /reusing shiny \d/.test(l)),
    result.output.join('\n'),
  );
  assert.ok(!result.output.some((l) => /installing /.test(l)), result.output.join('\n'));

  const page = await fetchContent(t, result.guid, '');
  assert.equal(page.status, 200);
  const html = await page.text();
  // Shiny's assets are relative to the page, so they resolve under /content/<guid>/.
  const asset = /src="([^"/][^"]*shiny\.min\.js)"/.exec(html)?.[1];
  assert.ok(asset, `the page loads shiny.js relatively:\n${html.slice(0, 2000)}`);
  assert.equal((await fetchContent(t, result.guid, asset)).status, 200);

  // R Shiny computes only outputs the browser reports visible (.clientdata_output_<id>_hidden).
  const visible = { '.clientdata_output_square_hidden': false, '.clientdata_output_prefix_hidden': false };
  const values = await shinySession(t, `${wsBase(t, result.guid)}/websocket/`, { n: 7, ...visible }, 'square');
  assert.equal(values.square, '7 squared is 49');
  const prefix = values.prefix ?? (await shinySession(t, `${wsBase(t, result.guid)}/websocket/`, { n: 1, ...visible }, 'prefix')).prefix;
  assert.equal(prefix, `prefix: /content/${result.guid}`);
  return result;
}

/** A Flask API that calls the Connect API with posit-sdk and no configuration, as content does on Connect. */
const SDK_FLASK_APP = `
import os
import requests
from flask import Flask, jsonify
from posit import connect

app = Flask(__name__)

@app.get("/")
def index():
    client = connect.Client()
    return jsonify(
        username=client.me["username"],
        content=[c["guid"] for c in client.content.find()],
        key=os.environ["CONNECT_API_KEY"],
        server=os.environ["CONNECT_SERVER"],
        content_guid=os.environ["CONNECT_CONTENT_GUID"],
        session_token=os.environ.get("CONNECT_CONTENT_SESSION_TOKEN"),
    )

@app.get("/mint")
def mint():
    # A process's key must not make a key that would outlive the process.
    response = requests.post(os.environ["CONNECT_SERVER"].rstrip("/") + "/__api__/v1/user/api_keys", json={"name": "escape"}, headers={"Authorization": "Key " + os.environ["CONNECT_API_KEY"]})
    return jsonify(status=response.status_code)
`;

/** What the posit-sdk app saw inside its process. */
export interface SdkView {
  username: string;
  content: string[];
  key: string;
  server: string;
  content_guid: string;
  session_token: string | null;
}

/** The status Lectern answers `GET /__api__/v1/user` with for `key`. */
export async function keyStatus(t: TestServer, key: string): Promise<number> {
  return (await fetch(`${t.url}/__api__/v1/user`, { headers: { authorization: `Key ${key}` } })).status;
}

/**
 * A Flask API with posit-sdk (from PyPI) through rsconnect-python: inside its worker,
 * `connect.Client()` with no arguments lists content as the content's owner (admin); its key works
 * while the worker runs and cannot mint keys of its own.
 */
export async function sdkApiScenario(t: TestServer): Promise<{ guid: string; seen: SdkView }> {
  const dir = await writeApp('sdk-flask', { 'app.py': SDK_FLASK_APP, 'requirements.txt': 'flask\nposit-sdk\n' });
  const { guid } = await deployWith(t, 'api', ['-e', 'app:app', '--title', 'posit-sdk inside', dir]);
  const res = await fetchContent(t, guid, '');
  const body = await res.text();
  assert.equal(res.status, 200, body);
  const seen = JSON.parse(body) as SdkView;
  assert.equal(seen.username, 'admin', "the key acts as the content's owner");
  assert.ok(seen.content.includes(guid), 'posit-sdk lists the content itself');
  assert.equal(seen.content_guid, guid);
  assert.equal(seen.session_token, null, 'no content session token: Lectern has no OAuth integrations to exchange it for');
  assert.equal(await keyStatus(t, seen.key), 200, 'the key works from outside too while the process runs');
  const mint = await fetchContent(t, guid, 'mint');
  assert.deepEqual(await mint.json(), { status: 403 });
  return { guid, seen };
}

/** Stops the content's one running worker (Connect's DELETE …/jobs/{key}); its key is then refused. */
export async function stopWorkerAndExpectKeyRefused(t: TestServer, guid: string, key: string): Promise<void> {
  const jobs = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ key: string; status: number }>;
  const running = jobs.filter((j) => j.status === 0);
  assert.equal(running.length, 1, JSON.stringify(jobs));
  const stop = await t.api(`/__api__/v1/content/${guid}/jobs/${running[0]!.key}`, { method: 'DELETE' });
  assert.equal(stop.status, 200, await stop.text());
  await eventually("the stopped worker's key to be refused", async () => (await keyStatus(t, key)) === 401, { timeoutMs: 60_000 });
}
