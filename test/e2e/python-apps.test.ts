import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { deployWith, fetchContent, shinySession, writeApp } from '../support/apps.js';
import { executionSettings, QUARTO_MISSING, ROOT, testQuarto } from '../support/execution.js';
import { fastapiScenario, notebook, notebookScenario, streamlitScenario, websocketUpgrade } from '../support/content-scenarios.js';
import { startLectern, type TestServer } from '../support/lectern.js';

// Every Python content type, published with the newest rsconnect-python exactly as a data scientist
// would, then fetched through Lectern's proxy; each test checks output the app really computed.

/**
 * A Bokeh (or Panel) session through the proxy: the page's session token opens the /ws websocket,
 * then the document the server built for that session is pulled, as BokehJS does on load.
 */
async function bokehDocument(t: TestServer, guid: string): Promise<string> {
  const page = await (await fetchContent(t, guid, '')).text();
  const token = /"token":\s*"([^"]+)"/.exec(page)?.[1];
  assert.ok(token, `no Bokeh session token in the page:\n${page.slice(0, 2000)}`);
  const ws = new WebSocket(`${t.url.replace('http', 'ws')}/content/${guid}/ws`, ['bokeh', token], { headers: { authorization: `Key ${t.adminKey}` } });
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no PULL-DOC-REPLY within 60 s')), 60_000);
      ws.on('message', (raw) => {
        const text = raw.toString();
        // Messages are three frames (header, metadata, content); the server ACKs the connection first.
        if (text.includes('"msgtype": "ACK"') || text.includes('"msgtype":"ACK"')) {
          for (const frame of [JSON.stringify({ msgid: '1', msgtype: 'PULL-DOC-REQ' }), '{}', '{}']) ws.send(frame);
        } else if (text.includes('"doc"')) {
          clearTimeout(timer);
          resolve(text);
        }
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`websocket upgrade refused: ${res.statusCode}`));
      });
    });
  } finally {
    ws.close();
  }
}

describe('every Python content type through rsconnect-python and the proxy', () => {
  let t: TestServer;
  const env = { PATH: `${path.join(ROOT, '.cache', 'py', 'tools', 'bin')}:${process.env.PATH}` };

  before(async () => {
    // With network isolation (the default): the notebook's render calls the Connect API at
    // CONNECT_SERVER, which is the API channel forwarded into its namespace (src/http/api-channel.ts).
    t = await startLectern('sqlite', executionSettings({ quarto: true }));
    assert.ok(t.app.apiChannel, 'content runs in its own network namespace');
  });
  after(async () => t?.stop());

  it('FastAPI (python-fastapi): JSON, and the docs page finds its schema under the prefix', async () => {
    await fastapiScenario(t);
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
    await streamlitScenario(t);
  });

  it('Bokeh (python-bokeh): the page loads its scripts under the prefix; the session websocket brings the document', async () => {
    const dir = await writeApp('bokeh', {
      'app.py': 'from bokeh.io import curdoc\nfrom bokeh.models import Div\ncurdoc().add_root(Div(text=f"<b>{6 * 7} bokeh answers</b>"))\n',
      'requirements.txt': 'bokeh\n',
    });
    const { guid } = await deployWith(t, 'bokeh', [dir]);
    const page = await (await fetchContent(t, guid, '')).text();
    const script = new RegExp(`src="/content/${guid}/(static/js/bokeh[^"?]*\\.js)`).exec(page)?.[1];
    assert.ok(script, page.slice(0, 2000));
    assert.equal((await fetchContent(t, guid, script)).status, 200);
    assert.match(await bokehDocument(t, guid), /42 bokeh answers/);
  });

  it('Panel (python-panel): the app page and its session websocket under the prefix', async () => {
    const dir = await writeApp('panel', { 'app.py': 'import panel as pn\npn.panel(f"# {6 * 7} panel answers").servable()\n', 'requirements.txt': 'panel\n' });
    const { guid } = await deployWith(t, 'panel', ['-e', 'app.py', dir]);
    const res = await fetchContent(t, guid, '');
    assert.equal(res.status, 200);
    const page = await res.text();
    // Relative resource URLs, which resolve under whatever prefix the browser is at.
    const script = /src="(static\/js\/bokeh[^"?]*\.js)/.exec(page)?.[1];
    assert.ok(script, page.slice(0, 2000));
    assert.equal((await fetchContent(t, guid, script)).status, 200);
    assert.match(await bokehDocument(t, guid), /42 panel answers/);
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
    // Shiny for Python computes only outputs the browser reports visible, as a browser does on init.
    const values = await shinySession(t, `${t.url.replace('http', 'ws')}/content/${guid}/websocket/`, { n: 21, '.clientdata_output_doubled_hidden': false }, 'doubled');
    assert.equal(values.doubled, 'twice 21 is 42');
  });

  it('Shiny Express (python-shiny): an app file without an App object (rsconnect names it shiny.express.app:…) runs a session', async () => {
    const dir = await writeApp('pyshiny-express', {
      'app.py': 'from shiny.express import input, render, ui\n' + 'ui.input_numeric("n", "N", 1)\n' + '@render.text\ndef tripled():\n    return f"thrice {input.n()} is {input.n() * 3}"\n',
      'requirements.txt': 'shiny\n',
    });
    const { guid } = await deployWith(t, 'shiny', [dir]);
    const values = await shinySession(t, `${t.url.replace('http', 'ws')}/content/${guid}/websocket/`, { n: 14, '.clientdata_output_tripled_hidden': false }, 'tripled');
    assert.equal(values.tripled, 'thrice 14 is 42');
  });

  it("a Python app that cannot start: the deploy fails with the app's own error and what Lectern tried", async () => {
    const dir = await writeApp('pyshiny-broken', {
      'app.py': 'import lectern_no_such_package\nfrom shiny import App, ui\napp = App(ui.page_fluid(), None)\n',
      'requirements.txt': 'shiny\n',
    });
    const { log } = await deployWith(t, 'shiny', ['-e', 'app:app', dir], { expectFailure: true });
    assert.match(log, /ModuleNotFoundError: No module named 'lectern_no_such_package'/);
    assert.match(log, /lectern: importing app failed; the traceback above comes from the app/);
  });

  it('Gradio (python-gradio): the page, its config rooted at the prefix, and an API call', async () => {
    const dir = await writeApp('gradio', {
      'app.py': 'import gradio as gr\n' + 'def double(n):\n    return f"twice {int(n)} is {int(n) * 2}"\n' + 'demo = gr.Interface(fn=double, inputs=gr.Number(), outputs="text", api_name="double")\n',
      'requirements.txt': 'gradio\n',
    });
    const { guid } = await deployWith(t, 'gradio', ['-e', 'app:demo', dir]);
    const page = await fetchContent(t, guid, '');
    assert.equal(page.status, 200);
    assert.match(await page.text(), /gradio/i);
    const config = (await (await fetchContent(t, guid, 'config')).json()) as { root: string };
    assert.equal(new URL(config.root).pathname, `/content/${guid}`);
    // Gradio's HTTP API: queue the call, then read its result from the event stream.
    const call = await fetchContent(t, guid, 'gradio_api/call/double', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: [21] }) });
    assert.equal(call.status, 200);
    const { event_id } = (await call.json()) as { event_id: string };
    const events = await (await fetchContent(t, guid, `gradio_api/call/double/${event_id}`)).text();
    assert.match(events, /event: complete\s+data: \["twice 21 is 42"\]/);
  });

  it('Voilà (jupyter-voila): the dashboard shows what its notebook computed; its kernel websocket opens', async () => {
    const dir = await writeApp('voila', {
      'dashboard.ipynb': notebook([{ type: 'code', source: 'print(f"The voila answer is {6 * 7}")' }]),
      'requirements.txt': 'voila\nipykernel\n',
    });
    const { guid } = await deployWith(t, 'voila', [path.join(dir, 'dashboard.ipynb')]);
    const page = await (await fetchContent(t, guid, '')).text();
    assert.match(page, /The voila answer is 42/);
    // Its script and the kernel's websocket (widgets talk over it) are addressed under the prefix.
    const script = new RegExp(`src="/content/${guid}/(voila/static/[^"?]+)`).exec(page)?.[1];
    assert.ok(script, page.slice(0, 2000));
    assert.equal((await fetchContent(t, guid, script)).status, 200);
    const kernel = /"kernelId":\s*"([0-9a-f-]+)"/.exec(page)?.[1];
    assert.ok(kernel, 'no kernel id in the page');
    assert.equal(await websocketUpgrade(t, `${t.url.replace('http', 'ws')}/content/${guid}/api/kernels/${kernel}/channels`), 101);
  });

  it('Jupyter notebook (jupyter-static): rendered on the server; tagged input hidden; re-render keeps history', async () => {
    await notebookScenario(t);
  });

  it('Quarto document (quarto-static): rendered on the server with its Python code run', { skip: testQuarto() ? false : QUARTO_MISSING }, async () => {
    const dir = await writeApp('quarto', {
      'report.qmd': '---\ntitle: "Quarto report"\nformat: html\njupyter: python3\n---\n\n```{python}\nprint(f"The quarto answer is {6 * 7}")\n```\n',
      'requirements.txt': 'jupyter\nnbclient\nnbformat\nipykernel\npyyaml\n',
    });
    const { guid } = await deployWith(t, 'quarto', [path.join(dir, 'report.qmd')], { env });
    const html = await (await fetchContent(t, guid, '')).text();
    assert.match(html, /The quarto answer is 42/);
  });
});
