import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deployWith, fetchContent, shinySession, writeApp } from '../support/apps.js';
import { notebook } from '../support/content-scenarios.js';
import { executionSettings, QUARTO_MISSING, ROOT, testQuarto } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';
import { type RsconnectVersion, rsconnectBin, rsconnectMatrix } from '../support/python.js';

// rsconnect-python from 1.29.0 up to the newest: each release between (test/rsconnect-versions.txt;
// the newest itself is test/e2e/python-apps.test.ts and rsconnect-python.test.ts) deploys every
// content type those tests deploy, and each is served. One Lectern for the whole matrix, and the
// same app files for every version (a copy each), so each set of requirements is restored once and the other
// versions' deploys reuse that environment: the matrix costs deploys and worker starts, not restores
// (each case removes its content again, so workers do not pile up).
// A client's own bug shows as a skipped case naming the version and the reason (none so far).

interface ContentType {
  /** `rsconnect deploy <kind>`. */
  kind: string;
  files: Record<string, string>;
  /** Arguments after the kind, given the app's directory. */
  args(dir: string): string[];
  /** Checks what the deployed content serves, computed by the app. */
  served(t: TestServer, guid: string): Promise<void>;
  skip?: string | false;
}

async function text(t: TestServer, guid: string, rest = ''): Promise<string> {
  const res = await fetchContent(t, guid, rest);
  const body = await res.text();
  assert.equal(res.status, 200, `${rest || '/'}: ${body.slice(0, 500)}`);
  return body;
}

const TYPES: Record<string, ContentType> = {
  'static site (html)': {
    kind: 'html',
    files: { 'index.html': '<html><body><h1>Matrix site</h1></body></html>', 'img/note.txt': 'nested file' },
    args: (dir) => [dir],
    async served(t, guid) {
      assert.match(await text(t, guid), /Matrix site/);
      assert.equal(await text(t, guid, 'img/note.txt'), 'nested file');
    },
  },
  'Flask (python-api)': {
    kind: 'api',
    files: {
      'app.py': 'from flask import Flask, jsonify, request\napp = Flask(__name__)\n@app.get("/sum")\ndef total():\n    return jsonify(total=int(request.args["a"]) + int(request.args["b"]))\n',
      'requirements.txt': 'flask\n',
    },
    args: (dir) => ['-e', 'app:app', dir],
    async served(t, guid) {
      assert.deepEqual(JSON.parse(await text(t, guid, 'sum?a=20&b=22')), { total: 42 });
    },
  },
  'FastAPI (python-fastapi)': {
    kind: 'fastapi',
    files: { 'app.py': 'from fastapi import FastAPI\napp = FastAPI()\n@app.get("/double/{n}")\ndef double(n: int):\n    return {"double": n * 2}\n', 'requirements.txt': 'fastapi\n' },
    args: (dir) => ['-e', 'app:app', dir],
    async served(t, guid) {
      assert.deepEqual(JSON.parse(await text(t, guid, 'double/21')), { double: 42 });
    },
  },
  'Dash (python-dash)': {
    kind: 'dash',
    files: { 'app.py': 'from dash import Dash, html\napp = Dash(__name__)\napp.layout = html.Div([html.P(f"{6 * 7} answers")])\nserver = app.server\n', 'requirements.txt': 'dash\n' },
    args: (dir) => ['-e', 'app:app', dir],
    async served(t, guid) {
      assert.match(await text(t, guid, '_dash-layout'), /42 answers/);
    },
  },
  'Streamlit (python-streamlit)': {
    kind: 'streamlit',
    files: { 'app.py': 'import streamlit as st\nst.write(6 * 7)\n', 'requirements.txt': 'streamlit\n' },
    args: (dir) => ['-e', 'app.py', dir],
    async served(t, guid) {
      assert.equal(await text(t, guid, '_stcore/health'), 'ok');
    },
  },
  'Bokeh (python-bokeh)': {
    kind: 'bokeh',
    files: { 'app.py': 'from bokeh.io import curdoc\nfrom bokeh.models import Div\ncurdoc().add_root(Div(text="bokeh"))\n', 'requirements.txt': 'bokeh\n' },
    args: (dir) => [dir],
    async served(t, guid) {
      assert.match(await text(t, guid), new RegExp(`src="/content/${guid}/static/js/bokeh`));
    },
  },
  'Panel (python-panel)': {
    kind: 'panel',
    files: { 'app.py': 'import panel as pn\npn.panel("# panel").servable()\n', 'requirements.txt': 'panel\n' },
    args: (dir) => ['-e', 'app.py', dir],
    async served(t, guid) {
      assert.match(await text(t, guid), /src="static\/js\/bokeh/);
    },
  },
  'Shiny for Python (python-shiny)': {
    kind: 'shiny',
    files: {
      'app.py':
        'from shiny import App, render, ui\n' +
        'app_ui = ui.page_fluid(ui.input_numeric("n", "N", 1), ui.output_text("doubled"))\n' +
        'def server(input, output, session):\n    @render.text\n    def doubled():\n        return f"twice {input.n()} is {input.n() * 2}"\n' +
        'app = App(app_ui, server)\n',
      'requirements.txt': 'shiny\n',
    },
    args: (dir) => ['-e', 'app:app', dir],
    async served(t, guid) {
      const values = await shinySession(t, `${t.url.replace('http', 'ws')}/content/${guid}/websocket/`, { n: 21, '.clientdata_output_doubled_hidden': false }, 'doubled');
      assert.equal(values.doubled, 'twice 21 is 42');
    },
  },
  'Gradio (python-gradio)': {
    kind: 'gradio',
    files: { 'app.py': 'import gradio as gr\ndemo = gr.Interface(fn=lambda n: f"twice {int(n)} is {int(n) * 2}", inputs=gr.Number(), outputs="text")\n', 'requirements.txt': 'gradio\n' },
    args: (dir) => ['-e', 'app:demo', dir],
    async served(t, guid) {
      const config = JSON.parse(await text(t, guid, 'config')) as { root: string };
      assert.equal(new URL(config.root).pathname, `/content/${guid}`);
    },
  },
  'Voilà (jupyter-voila)': {
    kind: 'voila',
    files: { 'dashboard.ipynb': notebook([{ type: 'code', source: 'print(f"The voila answer is {6 * 7}")' }]), 'requirements.txt': 'voila\nipykernel\n' },
    args: (dir) => [path.join(dir, 'dashboard.ipynb')],
    async served(t, guid) {
      assert.match(await text(t, guid), /The voila answer is 42/);
    },
  },
  'Jupyter notebook (jupyter-static)': {
    kind: 'notebook',
    files: { 'analysis.ipynb': notebook([{ type: 'code', source: 'print(f"The notebook answer is {6 * 7}")' }]), 'requirements.txt': 'jupyter\nnbconvert\nipykernel\n' },
    args: (dir) => [path.join(dir, 'analysis.ipynb')],
    async served(t, guid) {
      assert.match(await text(t, guid), /The notebook answer is 42/);
    },
  },
  'Quarto document (quarto-static)': {
    kind: 'quarto',
    files: {
      'report.qmd': '---\ntitle: "Quarto report"\nformat: html\njupyter: python3\n---\n\n```{python}\nprint(f"The quarto answer is {6 * 7}")\n```\n',
      'requirements.txt': 'jupyter\nnbclient\nnbformat\nipykernel\npyyaml\n',
    },
    args: (dir) => [path.join(dir, 'report.qmd')],
    async served(t, guid) {
      assert.match(await text(t, guid), /The quarto answer is 42/);
    },
    skip: testQuarto() ? false : QUARTO_MISSING,
  },
};

/** Client bugs of a release, by version and content type: the case is skipped with this reason. */
const CLIENT_BUGS: Partial<Record<RsconnectVersion, Record<string, string>>> = {};

// Two versions at a time: a deploy spends much of its time waiting (rsconnect polling the task,
// a worker importing its framework), so two share the CI machine's two cores well.
describe('rsconnect-python from 1.29.0 to the newest deploys every content type', { concurrency: 2 }, () => {
  let t: TestServer;
  const dirs = new Map<string, string>();
  const env = { PATH: `${path.join(ROOT, '.cache', 'py', 'tools', 'bin')}:${process.env.PATH}` };

  before(async () => {
    for (const version of rsconnectMatrix()) rsconnectBin(version);
    t = await startLectern('sqlite', executionSettings({ quarto: true }));
    // A directory per version: rsconnect records each deployment in the app's directory and would
    // otherwise redeploy the previous version's content instead of creating its own.
    for (const version of rsconnectMatrix()) for (const [name, type] of Object.entries(TYPES)) dirs.set(`${version} ${name}`, await writeApp(type.kind, type.files));
  });
  after(async () => {
    await t?.stop();
    for (const dir of dirs.values()) await rm(dir, { recursive: true, force: true });
  });

  for (const version of rsconnectMatrix()) {
    describe(`rsconnect-python ${version}`, () => {
      for (const [name, type] of Object.entries(TYPES)) {
        it(name, { skip: type.skip || CLIENT_BUGS[version]?.[name] || false }, async () => {
          const { guid } = await deployWith(t, type.kind, ['--title', `${name} ${version}`, ...type.args(dirs.get(`${version} ${name}`)!)], { version, env });
          assert.ok(guid, 'the deploy printed the content URL');
          await type.served(t, guid);
          // Forty workers at once would not fit a CI machine: each case removes its content (and its worker).
          const removed = await t.api(`/__api__/v1/content/${guid}`, { method: 'DELETE' });
          assert.equal(removed.status, 204, await removed.text());
        });
      }
    });
  }
});
