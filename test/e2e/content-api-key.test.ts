import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deployWith, fetchContent, writeApp } from '../support/apps.js';
import { keyStatus, notebook, sdkApiScenario, stopWorkerAndExpectKeyRefused } from '../support/content-scenarios.js';
import { executionSettings } from '../support/execution.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';

// Content calls the Connect API with no configuration, as on Connect: posit-sdk (from PyPI) inside
// a Flask API and inside a rendered notebook reads CONNECT_SERVER and CONNECT_API_KEY, and the key
// acts as the content's owner until its process ends, then is refused. The Kubernetes half is in
// test/kube/content-types-on-kubernetes.test.ts.
describe("content's own CONNECT_API_KEY: posit-sdk works inside content, and the key ends with the process", () => {
  let t: TestServer;
  const dirs: string[] = [];

  before(async () => {
    t = await startLectern('sqlite', executionSettings());
  });
  after(async () => {
    await t?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('a Flask API lists content as its owner with posit-sdk; once its worker is stopped the key is refused', async () => {
    const { guid, seen } = await sdkApiScenario(t);
    assert.equal(seen.server, t.app.apiChannel?.url ?? `${t.url}/`, 'CONNECT_SERVER: the API channel when isolated, else the public address');
    const keys = (await (await t.api('/__api__/v1/user/api_keys')).json()) as Array<{ name: string }>;
    assert.ok(!keys.some((k) => k.name.includes(guid)), `the owner's key list shows no process keys: ${JSON.stringify(keys)}`);

    await stopWorkerAndExpectKeyRefused(t, guid, seen.key);
    const again = (await (await fetchContent(t, guid, '')).json()) as { key: string; username: string };
    assert.equal(again.username, 'admin', 'the next worker calls the API with a key of its own');
    assert.notEqual(again.key, seen.key);
    assert.equal(await keyStatus(t, seen.key), 401);
  });

  it('a rendered notebook calls the API with posit-sdk as its owner; its key is refused once the render is done', async () => {
    const dir = await writeApp('sdk-notebook', {
      'report.ipynb': notebook([
        {
          type: 'code',
          source:
            'import os\nfrom posit import connect\nclient = connect.Client()\n' +
            'print("posit-sdk sees", client.me["username"], "with", len(client.content.find()), "content items")\n' +
            'print("render key [" + os.environ["CONNECT_API_KEY"] + "]")',
        },
      ]),
      'requirements.txt': 'jupyter\nnbconvert\nipykernel\nposit-sdk\n',
    });
    dirs.push(dir);
    const { guid } = await deployWith(t, 'notebook', [path.join(dir, 'report.ipynb')]);
    const html = await (await fetchContent(t, guid, '')).text();
    assert.match(html, /posit-sdk sees admin with [1-9]\d* content items/);
    const key = /render key \[([A-Za-z0-9_-]+)\]/.exec(html)?.[1];
    assert.ok(key, html.slice(0, 2000));
    assert.equal(await keyStatus(t, key), 401, 'the render has ended, and its key with it');

    const render = await t.api(`/__api__/v1/content/${guid}/render`, { method: 'POST', json: {} });
    const task = await waitForTask(t, ((await render.json()) as { task_id: string }).task_id);
    assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
    const second = /render key \[([A-Za-z0-9_-]+)\]/.exec(await (await fetchContent(t, guid, '')).text())?.[1];
    assert.ok(second && second !== key, 'each render has a key of its own');
    assert.equal(await keyStatus(t, second), 401);
  });
});
