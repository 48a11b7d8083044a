import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { deployWith, fetchContent, shinySession, writeApp } from '../support/apps.js';
import { executionSettings, ROOT } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';

// Every Python content type, published with the newest rsconnect-python exactly as a data scientist
// would, then fetched through Lectern's proxy; each test checks output the app really computed.

function notebook(cells: Array<{ type: 'code' | 'markdown'; source: string; tags?: string[] }>): string {
  return JSON.stringify({
    cells: cells.map((c) =>
      c.type === 'code'
        ? { cell_type: 'code', execution_count: null, metadata: { tags: c.tags ?? [] }, outputs: [], source: c.source }
        : { cell_type: 'markdown', metadata: {}, source: c.source },
    ),
    metadata: { kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' }, language_info: { name: 'python' } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

/** Opens a websocket through the proxy and resolves once the worker accepted the upgrade. */
function upgrade(t: TestServer, url: string): Promise<number> {
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

describe('every Python content type through rsconnect-python and the proxy', () => {
  let t: TestServer;
  const env = { PATH: `${path.join(ROOT, '.cache', 'py', 'tools', 'bin')}:${process.env.PATH}` };

  before(async () => {
    t = await startLectern('sqlite', executionSettings({ quarto: true }));
  });
  after(async () => t?.stop());

  it('FastAPI (python-fastapi): JSON, and the docs page finds its schema under the prefix', async () => {
    const dir = await writeApp('fastapi', {
      'app.py': 'from fastapi import FastAPI\napp = FastAPI()\n@app.get("/double/{n}")\ndef double(n: int):\n    return {"double": n * 2}\n',
      'requirements.txt': 'fastapi\n',
    });
    const { guid } = await deployWith(t, 'fastapi', ['-e', 'app:app', dir]);
    assert.deepEqual(await (await fetchContent(t, guid, 'double/21')).json(), { double: 42 });
    const docs = await (await fetchContent(t, guid, 'docs')).text();
    assert.match(docs, new RegExp(`/content/${guid}/openapi\\.json`));
    assert.equal((await fetchContent(t, guid, 'openapi.json')).status, 200);
  });

  it('Dash (python-dash): the layout the server builds, requested under the prefix', async () => {
    const dir = await writeApp('dash', {
      'app.py': 'from dash import Dash, html\napp = Dash(__name__)\napp.layout = html.Div([html.H1("Hello Dash"), html.P(f"{6 * 7} answers")])\nserver = app.server\n',
      'requirements.txt': 'dash\n',
    });
    const { guid } = await deployWith(t, 'dash', ['-e', 'app:app', dir]);
    const page = await (await fetchContent(t, guid, '')).text();
    assert.match(page, new RegExp(`/content/${guid}/`));
    const layout = JSON.stringify(await (await fetchContent(t, guid, '_dash-layout')).json());
    assert.match(layout, /Hello Dash/);
    assert.match(layout, /42 answers/);
  });

  it('Streamlit (python-streamlit): health, page and its websocket stream', async () => {
    const dir = await writeApp('streamlit', { 'app.py': 'import streamlit as st\nst.title("Hello Streamlit")\nst.write(6 * 7)\n', 'requirements.txt': 'streamlit\n' });
    const { guid } = await deployWith(t, 'streamlit', ['-e', 'app.py', dir]);
    assert.equal(await (await fetchContent(t, guid, '_stcore/health')).text(), 'ok');
    assert.match(await (await fetchContent(t, guid, '')).text(), /<div id="root">/);
    assert.equal(await upgrade(t, `${t.url.replace('http', 'ws')}/content/${guid}/_stcore/stream`), 101);
  });

  it('Bokeh (python-bokeh): the document page loads its scripts under the prefix', async () => {
    const dir = await writeApp('bokeh', {
      'app.py': 'from bokeh.io import curdoc\nfrom bokeh.models import Div\ncurdoc().add_root(Div(text=f"<b>{6 * 7} bokeh answers</b>"))\n',
      'requirements.txt': 'bokeh\n',
    });
    const { guid } = await deployWith(t, 'bokeh', [dir]);
    const page = await (await fetchContent(t, guid, '')).text();
    assert.match(page, /bokeh/i);
    assert.match(page, new RegExp(`/content/${guid}/`));
  });

  it('Panel (python-panel): the app page under the prefix', async () => {
    const dir = await writeApp('panel', { 'app.py': 'import panel as pn\npn.panel(f"# {6 * 7} panel answers").servable()\n', 'requirements.txt': 'panel\n' });
    const { guid } = await deployWith(t, 'panel', ['-e', 'app.py', dir]);
    const res = await fetchContent(t, guid, '');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /panel|bokeh/i);
  });

  it('Shiny for Python (python-shiny): a real websocket session computes an output', async () => {
    const dir = await writeApp('pyshiny', {
      'app.py':
        'from shiny import App, render, ui\n' +
        'app_ui = ui.page_fluid(ui.input_numeric("n", "N", 1), ui.output_text("doubled"))\n' +
        'def server(input, output, session):\n    @render.text\n    def doubled():\n        return f"twice {input.n()} is {input.n() * 2}"\n' +
        'app = App(app_ui, server)\n',
      'requirements.txt': 'shiny\n',
    });
    const { guid } = await deployWith(t, 'shiny', ['-e', 'app:app', dir]);
    assert.match(await (await fetchContent(t, guid, '')).text(), /shiny/i);
    const values = await shinySession(t, `${t.url.replace('http', 'ws')}/content/${guid}/websocket/`, { n: 21 }, 'doubled');
    assert.equal(values.doubled, 'twice 21 is 42');
  });

  it('Voilà (jupyter-voila): the dashboard shows what its notebook computed', async () => {
    const dir = await writeApp('voila', {
      'dashboard.ipynb': notebook([{ type: 'code', source: 'print(f"The voila answer is {6 * 7}")' }]),
      'requirements.txt': 'voila\nipykernel\n',
    });
    const { guid } = await deployWith(t, 'voila', [path.join(dir, 'dashboard.ipynb')]);
    const page = await (await fetchContent(t, guid, '')).text();
    assert.match(page, /The voila answer is 42/);
  });

  it('Jupyter notebook (jupyter-static): rendered on the server; tagged input hidden; re-render keeps history', async () => {
    const dir = await writeApp('notebook', {
      'analysis.ipynb': notebook([
        { type: 'markdown', source: '# Quarterly analysis' },
        { type: 'code', source: 'secret_sauce = 6 * 7\nprint(f"The notebook answer is {secret_sauce}")', tags: ['hide_input'] },
      ]),
      'requirements.txt': 'jupyter\nnbconvert\nipykernel\n',
    });
    const { guid } = await deployWith(t, 'notebook', ['--hide-tagged-input', path.join(dir, 'analysis.ipynb')]);
    const html = await (await fetchContent(t, guid, '')).text();
    assert.match(html, /The notebook answer is 42/);
    assert.doesNotMatch(html, /secret_sauce = 6/);
    const render = await t.api(`/__api__/v1/content/${guid}/render`, { method: 'POST', json: {} });
    assert.equal(render.status, 202);
    const { task_id } = (await render.json()) as { task_id: string };
    for (let i = 0; i < 120; i++) {
      const task = (await (await t.api(`/__api__/v1/tasks/${task_id}?wait=1`)).json()) as { finished: boolean; code: number; error: string };
      if (task.finished) {
        assert.equal(task.code, 0, task.error);
        break;
      }
    }
    const renders = (await (await t.api(`/__api__/v1/content/${guid}/renders`)).json()) as Array<{ state: string; active: boolean }>;
    assert.equal(renders.length, 2);
    assert.deepEqual(renders.map((r) => [r.state, r.active]), [['succeeded', true], ['succeeded', false]]);
  });

  it('Quarto document (quarto-static): rendered on the server with its Python code run', async () => {
    const dir = await writeApp('quarto', {
      'report.qmd': '---\ntitle: "Quarto report"\nformat: html\njupyter: python3\n---\n\n```{python}\nprint(f"The quarto answer is {6 * 7}")\n```\n',
      'requirements.txt': 'jupyter\nnbclient\nnbformat\nipykernel\npyyaml\n',
    });
    const { guid } = await deployWith(t, 'quarto', [path.join(dir, 'report.qmd')], { env });
    const html = await (await fetchContent(t, guid, '')).text();
    assert.match(html, /The quarto answer is 42/);
  });
});
