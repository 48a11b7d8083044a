import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { wsgiApiBundle } from '../support/apps.js';
import { executionSettings } from '../support/execution.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';

// Issue #14 item 4 on this machine: with [Python] Discover on (the default; the test harness turns
// it off elsewhere), the Pythons installed in the usual places (here pyenv's, under /root/.pyenv)
// are listed beside the configured one and a bundle asking for Python 3.12 runs on a 3.12.

const APP = `
import sys

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("python %d.%d.%d" % sys.version_info[:3]).encode()]
`;

interface Listed {
  installations: { version: string; cluster_name: string; image_name: string }[];
}

describe('interpreters discovered in the usual places', () => {
  let t: TestServer;
  let listed: Listed;

  before(async () => {
    t = await startLectern('sqlite', { ...executionSettings(), 'Python.Discover': 'true' });
    listed = (await (await t.api('/__api__/v1/server_settings/python')).json()) as Listed;
  });
  after(async () => {
    await t?.stop();
  });

  async function deploy(guid: string, pythonVersion: string) {
    const uploaded = await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: wsgiApiBundle(APP, pythonVersion) });
    assert.equal(uploaded.status, 200, await uploaded.clone().text());
    const { id } = (await uploaded.json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: id } })).json()) as { task_id: string };
    return waitForTask(t, task_id, undefined, { timeoutMs: 240_000 });
  }

  it('lists every Python found, on this host, and Python among the runtimes', async () => {
    assert.ok(listed.installations.length >= 2, `the configured Python and at least one discovered: ${JSON.stringify(listed.installations)}`);
    for (const i of listed.installations) {
      assert.match(i.version, /^3\.\d+\.\d+$/, 'no Python 2 is listed');
      assert.equal(i.cluster_name, 'Local');
      assert.equal(i.image_name, 'Local');
    }
    assert.equal(new Set(listed.installations.map((i) => i.version)).size, listed.installations.length, 'each installation once');
    const settings = (await (await t.api('/__api__/server_settings', { key: null })).json()) as { runtimes: string[] };
    assert.ok(settings.runtimes.includes('Python'), JSON.stringify(settings.runtimes));
  });

  it('deploys a bundle asking for Python 3.12 on a discovered 3.12, and names what is installed when none fits', async (ctx) => {
    const py312 = listed.installations.find((i) => i.version.startsWith('3.12.'));
    if (!py312) return ctx.skip(`this machine has no Python 3.12 in the usual places (found ${listed.installations.map((i) => i.version).join(', ')})`);
    const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'wants-python-312' } })).json()) as { guid: string };

    const deployed = await deploy(guid, '3.12.0');
    assert.equal(deployed.code, 0, `${deployed.error}\n${deployed.output.join('\n')}`);
    assert.equal(await (await t.api(`/content/${guid}/`)).text(), `python ${py312.version}`);
    const content = (await (await t.api(`/__api__/v1/content/${guid}`)).json()) as { py_version: string };
    assert.equal(content.py_version, py312.version);

    const refused = await deploy(guid, '3.5.10');
    assert.equal(refused.code, 1);
    const installed = listed.installations.map((i) => i.version).sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
    assert.equal(refused.error, `The bundle requires Python 3.5.10, but this server has no Python 3.5 ([Python] VersionMatching = major-minor). Installed: ${installed.join(', ')}.`);
    // The failed deploy left the 3.12 version live.
    assert.equal(await (await t.api(`/content/${guid}/`)).text(), `python ${py312.version}`);
  });
});
