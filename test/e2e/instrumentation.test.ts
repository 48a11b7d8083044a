import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deployWith, fetchContent, shinySession, writeApp } from '../support/apps.js';
import { eventually } from '../support/eventually.js';
import { rShinyScenario } from '../support/content-scenarios.js';
import { executionSettings, ROOT } from '../support/execution.js';
import { installedPackageEntries } from '../support/r-bundles.js';
import { startLectern, type TestServer } from '../support/lectern.js';

// Usage as an administrator reads it after people used content: a static site and a Shiny for
// Python app published with rsconnect-python, and an R Shiny app, visited through Lectern's proxy (the app over a
// real websocket session that computes an output), then read back from v1/instrumentation as the
// records arrive from the recorder's background batches.

describe('usage instrumentation of real visits', () => {
  let t: TestServer;
  const env = { PATH: `${path.join(ROOT, '.cache', 'py', 'tools', 'bin')}:${process.env.PATH}` };
  const api = async (pathname: string) => {
    const res = await t.api(pathname);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as any;
  };

  before(async () => {
    t = await startLectern('sqlite', executionSettings({ r: true }));
  });
  after(async () => t?.stop());

  it('a static site: its pages are visits, its stylesheet a hit', async () => {
    const dir = await writeApp('usage-site', { 'index.html': '<link rel="stylesheet" href="site.css"><p>usage</p>', 'site.css': 'p { color: teal }', 'more.html': '<p>more</p>' });
    const { guid } = await deployWith(t, 'html', [dir], { env });
    for (const [rest, dest] of [
      ['', 'document'],
      ['site.css', 'style'],
      ['more.html', 'document'],
    ]) {
      const res = await fetchContent(t, guid, rest, { headers: { 'sec-fetch-dest': dest!, 'user-agent': 'Mozilla/5.0 (usage e2e)' } });
      assert.equal(res.status, 200, rest);
      await res.arrayBuffer();
    }
    // rsconnect-python's own check of the deploy fetched the site too: a visit by a script.
    const mine = (rows: any[]) => rows.filter((r: any) => (r.user_agent ?? r.data?.user_agent) === 'Mozilla/5.0 (usage e2e)');
    const visits = await eventually('the two page visits to be recorded', async () => {
      const page = await api(`/__api__/v1/instrumentation/content/visits?content_guid=${guid}`);
      return mine(page.results).length >= 2 ? mine(page.results) : undefined;
    });
    assert.deepEqual(
      visits.map((v: any) => v.path),
      ['/', '/more.html'],
    );
    const content = await api(`/__api__/v1/content/${guid}`);
    assert.equal(visits[0].bundle_id, content.bundle_id);
    assert.equal(visits[0].user_agent, 'Mozilla/5.0 (usage e2e)');
    const hits = mine(await api(`/__api__/v1/instrumentation/content/hits?content_guid=${guid}`));
    assert.deepEqual(
      hits.map((h: any) => [h.data.path, h.data.sec_fetch_dest]),
      [
        ['/', 'document'],
        ['/site.css', 'style'],
        ['/more.html', 'document'],
      ],
    );
  });

  it('a Shiny for Python app: its websocket session is Shiny usage, with a start and an end', async () => {
    const dir = await writeApp('usage-pyshiny', {
      'app.py':
        'from shiny import App, render, ui\n' +
        'app_ui = ui.page_fluid(ui.input_numeric("n", "N", 1), ui.output_text("doubled"))\n' +
        'def server(input, output, session):\n    @render.text\n    def doubled():\n        return f"twice {input.n()} is {input.n() * 2}"\n' +
        'app = App(app_ui, server)\n',
      'requirements.txt': 'shiny\n',
    });
    const { guid } = await deployWith(t, 'shiny', ['-e', 'app:app', dir], { env });
    assert.match(await (await fetchContent(t, guid, '', { headers: { 'sec-fetch-dest': 'document' } })).text(), /shiny/i);
    const opened = Date.now();
    const values = await shinySession(t, `${t.url.replace('http', 'ws')}/content/${guid}/websocket/`, { n: 21, '.clientdata_output_doubled_hidden': false }, 'doubled');
    assert.match(String(values.doubled), /twice 21 is 42/);

    const [session] = await eventually('the Shiny session to be recorded as ended', async () => {
      const page = await api(`/__api__/v1/instrumentation/shiny/usage?content_guid=${guid}`);
      return page.results.length === 1 && page.results[0].ended !== null ? page.results : undefined;
    });
    const admin = (await t.app.users.findByUsername('admin'))!;
    assert.equal(session.user_guid, admin.guid);
    assert.equal(session.data_version, 1);
    assert.ok(Date.parse(session.started) >= Math.floor(opened / 1000) * 1000 - 1000, `${session.started} is when the session opened`);
    assert.ok(session.ended >= session.started);
    // A Shiny app is counted by its sessions: its page load and websocket are hits, not visits.
    assert.deepEqual((await api(`/__api__/v1/instrumentation/content/visits?content_guid=${guid}`)).results, []);
    const hits = await api(`/__api__/v1/instrumentation/content/hits?content_guid=${guid}`);
    assert.ok(
      hits.some((h: any) => h.data.path === '/websocket/'),
      JSON.stringify(hits.map((h: any) => h.data.path)),
    );
  });

  it('an R Shiny app: each websocket session is one Shiny usage record', async () => {
    // Two sessions over the websocket (the scenario reads two outputs), each ended when it closes.
    const { guid } = await rShinyScenario(t, await installedPackageEntries(['shiny']));
    const sessions = await eventually('the R Shiny sessions to be recorded as ended', async () => {
      const page = await api(`/__api__/v1/instrumentation/shiny/usage?content_guid=${guid}`);
      return page.results.length >= 1 && page.results.every((r: any) => r.ended !== null) ? page.results : undefined;
    });
    assert.ok(sessions.length <= 2, JSON.stringify(sessions));
    for (const s of sessions) assert.ok(s.ended >= s.started);
    assert.deepEqual((await api(`/__api__/v1/instrumentation/content/visits?content_guid=${guid}`)).results, []);
  });
});
