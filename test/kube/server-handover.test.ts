// Upgrades that restart nothing, with a whole Lectern server on the test bed's real node: a server
// stopped gracefully hands its off-host worker over (the Job and pod keep running), and the next
// server adopts it — under another replica name, as a Deployment's new pod, or under the same one,
// as a StatefulSet's: the same worker process answers through the new server's proxy, and no
// second worker is started.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/server-handover.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SettingKey } from '../../src/config/settings.js';
import { wsgiApiBundle } from '../support/apps.js';
import { openTestBed, type TestBed } from '../support/kube-testbed/client.js';
import { pollTask, startLectern, type TestServer } from '../support/lectern.js';

// The Debian content image's own interpreter (its tag says which Python it has).
const PYTHON = '/usr/bin/python3';
const PYTHON_VERSION = '3.11.2';

/** A WSGI app that says which process and pod answered. */
const APP = `
import json, os
def app(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "host": os.environ.get("LECTERN_HOST")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
`;

function bundle(): Buffer<ArrayBuffer> {
  return wsgiApiBundle(APP, PYTHON_VERSION, { managed: false });
}

describe('a Lectern server stopped gracefully hands its Kubernetes workers over', { timeout: 10 * 60_000 }, () => {
  let bed: TestBed;
  let ns: Awaited<ReturnType<TestBed['namespace']>>;
  const servers = new Set<TestServer>();

  async function server(replica: string): Promise<TestServer> {
    const settings = {
      ...bed.lecternSettings(ns),
      'Launcher.InitContainerImage': bed.state.initImage,
      'Server.ReplicaName': replica,
    } as Partial<Record<SettingKey, string>>;
    const t = await startLectern('sqlite', settings, { dataDir: ns.dataDir });
    servers.add(t);
    return t;
  }

  async function stop(t: TestServer) {
    servers.delete(t);
    await t.stop();
  }

  const jobsOf = async (guid: string) => (await bed.admin.list(`/apis/batch/v1/namespaces/${ns.namespace}/jobs`, { labelSelector: `lectern.dev/content-guid=${guid}` })).items;
  const podsOf = async (guid: string) => (await bed.admin.list(`/api/v1/namespaces/${ns.namespace}/pods`, { labelSelector: `lectern.dev/content-guid=${guid}` })).items;

  /** Waits for the server's scheduler to have adopted the worker (adoption runs beside start-up). */
  async function adopted(t: TestServer) {
    for (let i = 0; t.app.scheduler.describe(contentId).length === 0; i++) {
      assert.ok(i < 300, 'the server adopted no worker within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let contentId = 0;

  before(async () => {
    bed = await openTestBed();
    ns = await bed.namespace('handover');
  });

  after(async () => {
    for (const t of servers) await t.stop().catch(() => undefined);
    await ns?.remove();
    await bed?.close();
  });

  it('the Job and pod outlive the stopped server; a server under another replica name, then under the same one, serves the same worker', async () => {
    const first = await server('lectern-old-7f9c');
    const env = await first.api('/__api__/v1/environments', {
      method: 'POST',
      json: { title: 'Debian', name: bed.image('content-debian'), cluster_name: 'Kubernetes', matching: 'any', python: { installations: [{ version: PYTHON_VERSION, path: PYTHON }] } },
    });
    assert.equal(env.status, 200, await env.text());
    const { guid, id } = (await (await first.api('/__api__/v1/content', { method: 'POST', json: { name: 'survives-upgrades' } })).json()) as { guid: string; id: string };
    contentId = Number(id);
    const uploaded = (await (await first.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle() })).json()) as { id: string };
    const { task_id } = (await (await first.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
    const task = await pollTask((p) => first.api(p), task_id, { timeoutMs: 5 * 60_000 });
    assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
    const served = await first.api(`/content/${guid}/`);
    assert.equal(served.status, 200, await served.clone().text());
    const before = (await served.json()) as { pid: number; host: string };

    await stop(first);
    const [pod] = await podsOf(guid);
    assert.equal(pod?.status?.phase, 'Running', 'the pod outlives the server');
    assert.equal((await jobsOf(guid)).length, 1, 'its Job was not deleted');

    const next = await server('lectern-new-2b1d');
    // The old replica left: the new one takes its rows over at its first heartbeat, and adopts the worker.
    await adopted(next);
    const again = await next.api(`/content/${guid}/`);
    assert.equal(again.status, 200, await again.clone().text());
    assert.deepEqual(await again.json(), before, 'the same worker process answers through the new server');
    const jobs = await jobsOf(guid);
    assert.equal(jobs.length, 1, 'no second worker was started');
    assert.equal(jobs[0]!.metadata.labels?.['lectern.dev/replica'], 'lectern-new-2b1d', 'the Job is the new replica’s now');
    const rows = (await (await next.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ status: number }>;
    assert.equal(rows.filter((r) => r.status === 0).length, 1, 'its job row is still active');

    // The same replica name again (a StatefulSet's pod after a rolling update): its own rows, adopted at start.
    await stop(next);
    const restarted = await server('lectern-new-2b1d');
    await adopted(restarted);
    const third = await restarted.api(`/content/${guid}/`);
    assert.equal(third.status, 200, await third.clone().text());
    assert.deepEqual(await third.json(), before, 'still the same worker process');
    assert.equal((await jobsOf(guid)).length, 1, 'still one worker');
  });
});
