// A whole Lectern server in off-host mode against the test bed (control plane + a real node): content
// published through the API runs as a Kubernetes Job in the image its execution environment names,
// is served through Lectern's proxy from its pod, shows up in the processes table and job list, and
// leaves nothing behind when deleted. Lectern runs with the documented Role only.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/lectern-on-kubernetes.test.ts
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SettingKey } from '../../src/config/settings.js';
import type { KubeApi } from '../../src/launcher/kubernetes/kube-api.js';
import { wsgiApiBundle } from '../support/apps.js';
import { freePort } from '../support/free-port.js';
import { type KubeLectern, startKubeLectern } from '../support/kube-lectern.js';
import { pollTask } from '../support/lectern.js';

// Set in before(): the test bed's content image and its Python, and this file's namespace.
let IMAGE = '';
let PYTHON = '';
let PYTHON_VERSION = '';
let NS = '';

const APP = `
import json, os
def app(environ, start_response):
    body = json.dumps({"script_name": environ.get("SCRIPT_NAME"), "path": environ.get("PATH_INFO"), "host": os.environ.get("LECTERN_HOST"), "secret": os.environ.get("API_TOKEN")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
`;

function bundle(environment: Record<string, unknown> = {}): Buffer<ArrayBuffer> {
  return wsgiApiBundle(APP, PYTHON_VERSION, { managed: false, environment });
}

describe('Lectern on Kubernetes', { timeout: 10 * 60_000 }, () => {
  let kube: KubeLectern;
  let admin: KubeApi;
  let settings: Partial<Record<SettingKey, string>>;

  before(async () => {
    kube = await startKubeLectern({}, 'lectern-on-kube');
    ({ admin, settings } = kube);
    IMAGE = kube.content.image;
    PYTHON = kube.content.python.path;
    PYTHON_VERSION = kube.content.python.version;
    NS = kube.namespace;
    const res = await kube.t!.api('/__api__/v1/environments', {
      method: 'POST',
      json: { title: 'Python on the test bed', name: IMAGE, cluster_name: 'Kubernetes', matching: 'any', python: { installations: [{ version: PYTHON_VERSION, path: PYTHON }] } },
    });
    assert.equal(res.status, 200, await res.text());
  });

  /** The current in-process server. */
  const server = async () => kube.t;

  after(async () => kube?.stop());

  it('publishes content that runs in a pod and is served through Lectern, then deleting it leaves nothing behind', async () => {
    const t = (await server())!;
    const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'on-kube' } })).json()) as { guid: string };
    const vars = await t.api(`/__api__/v1/content/${guid}/environment`, { method: 'PATCH', json: [{ name: 'API_TOKEN', value: 'kept-in-a-secret' }] });
    assert.ok(vars.status < 300, await vars.text());
    const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle() })).json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
    const task = await pollTask((p) => t.api(p), task_id, { timeoutMs: 5 * 60_000 });
    assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
    assert.ok(
      task.output.some((l) => l.includes(IMAGE)),
      task.output.join('\n'),
    );

    const res = await t.api(`/content/${guid}/hello`);
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { script_name: string; path: string; host: string; secret: string };
    assert.equal(body.script_name, `/content/${guid}`);
    assert.equal(body.path, '/hello');
    const pod = (await admin.list(`/api/v1/namespaces/${NS}/pods`, { labelSelector: `lectern.dev/content-guid=${guid}` })).items[0];
    assert.equal(body.host, pod?.status.podIP, 'the worker listens on its pod IP');
    assert.equal(body.secret, 'kept-in-a-secret');

    const processes = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; kind: string; pod?: { node: string; image: string; phase: string } }>;
    const worker = processes.find((p) => p.content_guid === guid && p.kind === 'run');
    assert.equal(worker?.pod?.node, kube.nodeName);
    assert.equal(worker?.pod?.image, IMAGE);
    assert.equal(worker?.pod?.phase, 'Running');
    const jobs = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ key: string; cluster: string; image: string; status: number }>;
    const running = jobs.find((j) => j.status === 0);
    assert.equal(running?.cluster, 'Kubernetes');
    assert.equal(running?.image, IMAGE);
    const k8sJobs = await admin.list(`/apis/batch/v1/namespaces/${NS}/jobs`, { labelSelector: `lectern.dev/content-guid=${guid}` });
    assert.equal(k8sJobs.items.length, 1);
    assert.ok(!JSON.stringify(k8sJobs.items[0]).includes('kept-in-a-secret'), 'the Job spec holds no variable value');

    const deleted = await t.api(`/__api__/v1/content/${guid}`, { method: 'DELETE' });
    assert.ok(deleted.status < 300, await deleted.text());
    for (let i = 0; ; i++) {
      const [left, pods] = await Promise.all([
        admin.list(`/apis/batch/v1/namespaces/${NS}/jobs`, { labelSelector: `lectern.dev/content-guid=${guid}` }),
        admin.list(`/api/v1/namespaces/${NS}/pods`, { labelSelector: `lectern.dev/content-guid=${guid}` }),
      ]);
      if (!left.items.length && !pods.items.length) break;
      if (i > 300) assert.fail(`left behind: ${[...left.items, ...pods.items].map((o) => o.metadata.name).join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  it("a worker whose image cannot be pulled fails the deploy with Kubernetes' reason, in the task output and the job list", async () => {
    const t = (await server())!;
    const missing = 'ghcr.io/lectern-test/missing:1';
    const env = await t.api('/__api__/v1/environments', {
      method: 'POST',
      json: { title: 'Not in any registry', name: missing, cluster_name: 'Kubernetes', matching: 'exact', python: { installations: [{ version: PYTHON_VERSION, path: PYTHON }] } },
    });
    assert.equal(env.status, 200, await env.text());
    const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'unpullable' } })).json()) as { guid: string };
    const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle({ image: missing }) })).json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
    const task = await pollTask((p) => t.api(p), task_id, { timeoutMs: 5 * 60_000 });
    assert.notEqual(task.code, 0);
    const text = `${task.error}\n${task.output.join('\n')}`;
    assert.match(text, /Kubernetes could not run the process \((ErrImagePull|ImagePullBackOff)\)/, text);
    assert.match(text, /lectern-test\/missing:1/, text);
    const jobs = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ error: string | null; status: number; image: string }>;
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0]!.status, 1);
    assert.equal(jobs[0]!.image, missing);
    assert.match(jobs[0]!.error ?? '', /ErrImagePull|ImagePullBackOff/);
    const left = await admin.list(`/apis/batch/v1/namespaces/${NS}/jobs`, { labelSelector: `lectern.dev/content-guid=${guid}` });
    assert.equal(left.items.length, 0, 'the failed Job was deleted');
  });

  it("a managed Python environment is restored by a Job in the content user's directories, and a redeploy with the same requirements mounts it without a restore", async () => {
    const t = (await server())!;
    const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'managed-env' } })).json()) as { guid: string };
    const managed = { environment_management: { python: true } };
    const deploy = async (body: Buffer<ArrayBuffer>) => {
      const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body })).json()) as { id: string };
      const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
      const task = await pollTask((p) => t.api(p), task_id, { timeoutMs: 5 * 60_000 });
      assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
      return task.output.join('\n');
    };
    const restores = async () => ((await t.api(`/__api__/v1/content/${guid}/jobs`).then((r) => r.json())) as Array<{ tag: string }>).filter((j) => j.tag === 'python_restore').length;
    const first = await deploy(bundle(managed));
    assert.match(first, /Restoring the Python/, first);
    assert.equal(await restores(), 1);
    const second = await deploy(bundle(managed));
    assert.match(second, /Reusing the cached Python environment/, second);
    assert.doesNotMatch(second, /Restoring the Python/, second);
    assert.equal(await restores(), 1, 'no second restore Job');
    const res = await t.api(`/content/${guid}/`);
    assert.equal(res.status, 200, await res.clone().text());
  });
  it('a Lectern process killed while its worker runs is replaced by one that adopts the running pod', async () => {
    const first = kube.t!;
    const dataDir = first.dataDir;
    await first.stop();
    kube.t = undefined;
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, LECTERN_DATABASE_PROVIDER: 'sqlite', LECTERN_SERVER_DATADIR: dataDir, LECTERN_HTTP_LISTEN: `127.0.0.1:${port}`, LECTERN_LOGGING_LEVEL: 'silent' };
    for (const [key, value] of Object.entries(settings)) env[`LECTERN_${key.replace('.', '_').toUpperCase()}`] = value;
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['start']))"], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      for (let i = 0; !output.includes('is running'); i++) {
        assert.ok(i < 600 && child.exitCode === null, `Lectern did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = `http://127.0.0.1:${port}`;
      const api = (p: string, init: RequestInit & { json?: unknown } = {}) =>
        fetch(url + p, {
          ...init,
          headers: { authorization: `Key ${first.adminKey}`, ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) },
          body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
        });
      const { guid } = (await (await api('/__api__/v1/content', { method: 'POST', json: { name: 'survivor' } })).json()) as { guid: string };
      const uploaded = (await (await api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle() })).json()) as { id: string };
      const { task_id } = (await (await api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
      const task = await pollTask((p) => api(p), task_id, { timeoutMs: 5 * 60_000 });
      assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
      const before = (await (await api(`/content/${guid}/`)).json()) as { host: string };

      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      const pods = await admin.list(`/api/v1/namespaces/${NS}/pods`, { labelSelector: `lectern.dev/content-guid=${guid}` });
      assert.equal(pods.items.length, 1, 'the pod outlives the server');

      const t = await kube.restart();
      const after = await t.api(`/content/${guid}/`);
      assert.equal(after.status, 200, await after.clone().text());
      assert.equal(((await after.json()) as { host: string }).host, before.host, 'the same pod serves');
      const jobs = await admin.list(`/apis/batch/v1/namespaces/${NS}/jobs`, { labelSelector: `lectern.dev/content-guid=${guid}` });
      assert.equal(jobs.items.length, 1, 'no second worker was started');
      const rows = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ status: number }>;
      assert.equal(rows.filter((r) => r.status === 0).length, 1, 'its job row is still active');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
