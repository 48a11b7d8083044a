// `helm install` of deploy/helm/lectern into the test bed, as an administrator installs it: the server
// image built from deploy/images/server (pulled from the test bed's registry), PostgreSQL, the data
// volume, the chart's own ServiceAccount, Role and content account. Then the real rsconnect-python
// publishes a FastAPI app, a Streamlit app and a notebook to that installed Lectern, and each is served
// from its own pod, built and rendered by Jobs the installed server started; and a `helm upgrade`
// that rolls the server leaves a Shiny app's worker running, with its state.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/helm-install.test.ts
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chownSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { KubeObject } from '../../src/launcher/kubernetes/kube-api.js';
import { deployWith, shinySession, writeApp } from '../support/apps.js';
import { fastapiScenario, notebookScenario, streamlitScenario } from '../support/content-scenarios.js';
import { eventually } from '../support/eventually.js';
import { CHART, helm } from '../support/helm.js';
import { kubeBinDir } from '../support/kube.js';
import { contentImage } from '../support/kube-lectern.js';
import { openTestBed, type TestBed } from '../support/kube-testbed/client.js';
import type { TestServer } from '../support/lectern.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const run = promisify(execFile);
const RELEASE = 'lectern';
/** The uid the chart runs the server and content pods as (values.yaml runAsUser). */
const LECTERN_UID = 999;

describe('Lectern installed with its Helm chart on the test bed', { timeout: 20 * 60_000 }, () => {
  let bed: TestBed;
  let ns: Awaited<ReturnType<TestBed['namespace']>>;
  let postgres: TestPostgres;
  let server: TestServer;
  let service: Server;
  const kubectl = (...args: string[]) => run(path.join(kubeBinDir(), 'kubectl'), ['--kubeconfig', bed.state.adminKubeconfig, '-n', ns.namespace, ...args]);
  const serverPod = () => bed.admin.find<KubeObject>(`/api/v1/namespaces/${ns.namespace}/pods/${RELEASE}-0`);

  before(async () => {
    bed = await openTestBed();
    // The chart makes its own Role and accounts.
    ns = await bed.namespace('helm', { role: false });
    // The volume is the administrator's to prepare: the chart's pods run as the content user.
    chownSync(ns.dataDir, LECTERN_UID, LECTERN_UID);
    // Pods reach the host's PostgreSQL at the node address.
    postgres = await startPostgres({ host: bed.state.node.ip });
    // The test bed has no kube-proxy, so the chart's Service routes nowhere. This relay on the node
    // address stands in for it: each connection goes to the server pod's current IP. Content pods reach
    // the server there (CONNECT_SERVER, [Server] Address), and so does this test.
    service = createServer((client) => {
      void serverPod().then((pod) => {
        const upstream = connect(3939, pod?.status?.podIP ?? '127.0.0.1');
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
    });
    await new Promise<void>((resolve) => service.listen(0, bed.state.node.ip, resolve));
    const url = `http://${bed.state.node.ip}:${(service.address() as { port: number }).port}`;
    const content = contentImage(bed);
    const values = {
      address: `${url}/`,
      database: { provider: 'postgres', postgres: { url: postgres.url } },
      storage: { create: false, existingClaim: ns.claim, subPath: ns.subPath },
      executionEnvironments: [{ name: content.image, title: 'Debian bookworm', matching: 'any', python: { installations: [{ version: content.python.version, path: content.python.path }] } }],
      config: {
        // The test bed has no kube-proxy, so the in-cluster Service address leads nowhere: the API
        // server's own address, as for a cluster whose API endpoint is external.
        Launcher: { KubernetesAPIURL: bed.state.nodeApiUrl },
        Python: { UvExecutable: content.uv },
      },
    };
    await helm(['install', RELEASE, CHART, '--namespace', ns.namespace, '--kubeconfig', bed.state.adminKubeconfig, '--wait=hookOnly'], values);

    await eventually(
      'the installed server pod to be Ready',
      async () => (await serverPod())?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'),
      { timeoutMs: 5 * 60_000 },
    ).catch(async (err: Error) => {
      const logs = await kubectl('logs', `${RELEASE}-0`, '--tail=40').catch((e: Error) => ({ stdout: e.message }));
      throw new Error(`${err.message}\n${logs.stdout}`);
    });

    // The first administrator and a key, with the server's own CLI inside its pod.
    const lectern = (...args: string[]) => kubectl('exec', `${RELEASE}-0`, '--', 'node', '/opt/lectern/bin/lectern.js', ...args);
    await lectern('user', 'add', '--username', 'admin', '--password', 'installed-by-helm', '--role', 'administrator', '--email', 'admin@example.org');
    const adminKey = (await lectern('key', 'create', '--username', 'admin', '--name', 'helm-test')).stdout.trim();
    server = {
      url,
      adminKey,
      api: (pathname: string, init: RequestInit & { json?: unknown } = {}) => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Key ${adminKey}`);
        if (init.json !== undefined) headers.set('content-type', 'application/json');
        return fetch(`${url}${pathname}`, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
      },
    } as unknown as TestServer;
  });

  after(async () => {
    if (bed && ns) await helm(['uninstall', RELEASE, '--namespace', ns.namespace, '--kubeconfig', bed.state.adminKubeconfig, '--wait']).catch(() => undefined);
    await ns?.remove();
    await postgres?.stop();
    service?.close();
    await bed?.close();
  });

  /** Every job of the content ran as a Kubernetes Job, on the test bed's node, started by the installed server. */
  async function ranInPods(guid: string) {
    const jobs = (await bed.admin.list(`/apis/batch/v1/namespaces/${ns.namespace}/jobs`, { labelSelector: `lectern.dev/content-guid=${guid}` })).items;
    assert.ok(jobs.length > 0, `no Kubernetes Job for ${guid}`);
    for (const job of jobs) assert.equal(job.metadata.labels?.['app.kubernetes.io/instance'], RELEASE, 'Jobs carry the release as their instance');
    const pods = (await bed.admin.list(`/api/v1/namespaces/${ns.namespace}/pods`, { labelSelector: `lectern.dev/content-guid=${guid}` })).items;
    for (const p of pods) assert.equal(p.spec.nodeName, bed.state.node.name);
  }

  it('serves a FastAPI app rsconnect-python deployed, from its pod', async () => {
    const guid = await fastapiScenario(server);
    await ranInPods(guid);
  });

  it('serves a Streamlit app rsconnect-python deployed, with its websocket', async () => {
    const guid = await streamlitScenario(server);
    await ranInPods(guid);
  });

  it('renders a notebook rsconnect-python deployed, in a Job that calls the installed server back', async () => {
    const guid = await notebookScenario(server);
    await ranInPods(guid);
  });

  it('a helm upgrade that rolls the server restarts no app: the Shiny worker keeps its process and state and serves sessions after it', async () => {
    const dir = await writeApp('pyshiny-upgrade', {
      'app.py':
        'import itertools, os\n' +
        'from shiny import App, render, ui\n' +
        'SESSIONS = itertools.count(1)\n' +
        'app_ui = ui.page_fluid(ui.output_text("who"))\n' +
        'def server(input, output, session):\n    n = next(SESSIONS)\n    @render.text\n    def who():\n        return f"process {os.getpid()} session {n}"\n' +
        'app = App(app_ui, server)\n',
      'requirements.txt': 'shiny\n',
    });
    const { guid } = await deployWith(server, 'shiny', ['-e', 'app:app', dir]);
    const ws = `${server.url.replace('http', 'ws')}/content/${guid}/websocket/`;
    const before = (await shinySession(server, ws, {}, 'who')).who as string;
    const match = /^process (\d+) session (\d+)$/.exec(before);
    assert.ok(match, before);
    const workers = async () =>
      (await bed.admin.list(`/api/v1/namespaces/${ns.namespace}/pods`, { labelSelector: `lectern.dev/content-guid=${guid},lectern.dev/kind=run` })).items.map((p) => p.metadata.uid);
    const workersBefore = await workers();
    assert.equal(workersBefore.length, 1);
    const serverBefore = (await serverPod())!.metadata.uid;

    // Any change to the pod template rolls the StatefulSet's pod, as an image or config change does.
    await helm(['upgrade', RELEASE, CHART, '--namespace', ns.namespace, '--kubeconfig', bed.state.adminKubeconfig, '--reuse-values', '--wait=hookOnly'], {
      podAnnotations: { 'lectern.test/rolled': String(Date.now()) },
    });
    await eventually(
      'a new server pod to be Ready',
      async () => {
        const pod = await serverPod();
        return pod && pod.metadata.uid !== serverBefore && pod.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs: 5 * 60_000 },
    );

    const after = (await shinySession(server, ws, {}, 'who')).who as string;
    assert.equal(after, `process ${match[1]} session ${Number(match[2]) + 1}`, 'the same process served the next session, with its state');
    assert.deepEqual(await workers(), workersBefore, 'the worker pod is the one from before the upgrade');
  });
});
