// Lectern's Kubernetes launcher with its pods on the test bed's real node (kubelet, containerd): a
// build's output and exit code, a worker started from the init container's runtime copy and reached
// at its pod IP, an image that cannot be pulled, a real OOM kill, and GPU requests against what the
// node advertises. The Jobs it makes and its start-up checks are in kubernetes-launcher.test.ts.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/kubernetes-launcher-pods.test.ts
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import type { KubeObject } from '../../src/launcher/kubernetes/kube-api.js';
import type { JobSpec } from '../../src/launcher/launcher.js';
import { eventually } from '../support/eventually.js';
import { type TestBed, openTestBed } from '../support/kube-testbed/client.js';
import { CONTENT_UID, IMAGE_PYTHON, type TestBedLaunchers, testBedLaunchers } from '../support/testbed-launcher.js';

type Obj = Record<string, any>;

const WSGI_APP = [
  'import os',
  'def app(environ, start_response):',
  '    start_response("200 OK", [("Content-Type", "text/plain")])',
  '    return [("hello from a pod, HOME=" + os.environ["HOME"] + ", secret=" + os.environ.get("DATABASE_PASSWORD", "")).encode()]',
  '',
].join('\n');

/** Every regular file's mtime (ns) under `dir`: `cp -R` without -p stamps each copy when it is written. */
function mtimes(dir: string): bigint[] {
  const out: bigint[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...mtimes(p));
    else if (e.isFile()) out.push(statSync(p, { bigint: true }).mtimeNs);
  }
  return out;
}

describe('Kubernetes launcher on the real node', { timeout: 20 * 60_000 }, () => {
  let tb: TestBed;
  let prepared: Awaited<ReturnType<TestBed['namespace']>>;
  let jobs: TestBedLaunchers;
  let NS: string;
  const jobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/jobs/${name}`;
  const podOf = async (key: string) => (await tb.admin.list(`/api/v1/namespaces/${NS}/pods`, { labelSelector: `lectern.dev/job-key=${key}` })).items[0] as Obj | undefined;

  function spec(files: Record<string, string>, overrides: Partial<JobSpec>): JobSpec {
    const s = jobs.spec(overrides);
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(s.cwd, name), text);
    return s;
  }

  /** A python-api worker served by Lectern's runner (lectern_run.py) from WSGI_APP, with `env` added. */
  function runnerWorker(env: Record<string, string> = {}): JobSpec {
    const base = jobs.spec({ kind: 'run', tag: 'run_python_api', listen: true, command: [IMAGE_PYTHON, path.join(RUNTIME_DIR, 'python', 'lectern_run.py')] });
    writeFileSync(path.join(base.cwd, 'app.py'), WSGI_APP);
    return {
      ...base,
      env: {
        LECTERN_APP_MODE: 'python-api',
        LECTERN_APP_DIR: base.cwd,
        LECTERN_MANIFEST: path.join(base.cwd, 'manifest.json'),
        LECTERN_ENTRYPOINT: 'app:app',
        LECTERN_BASE_PATH: '/content/x',
        PATH: '/usr/bin:/bin',
        ...env,
      },
    };
  }

  before(async () => {
    tb = await openTestBed();
    prepared = await tb.namespace('pods');
    NS = prepared.namespace;
    jobs = testBedLaunchers(tb, prepared);
  });

  after(async () => {
    await jobs?.closeAll();
    await prepared?.remove();
    await tb?.close();
  });

  it("runs a build: its output lands in the job log and stays after the pod is gone; the exit code is the job's", { timeout: 120_000 }, async () => {
    const l = await jobs.launcher({ 'Launcher.InstanceName': 'node-build' });
    const s = spec(
      { 'manifest.json': '{}' },
      { command: ['/bin/sh', '-c', 'echo "building in $PWD as $(id -u)"; echo "to stderr" >&2; echo written > "$HOME/out.txt"; ls /opt/lectern/runtime/python/lectern_run.py; exit 3'] },
    );
    const handle = await l.submit(s);
    const status = await l.wait(s.key);
    assert.equal(status.state, 'failed');
    assert.equal(status.exitCode, 3);
    assert.equal(status.reason, 'The process exited with code 3.');
    const lines: string[] = [];
    for await (const line of l.logs(s.key)) lines.push(line.data);
    // stdout and stderr are two pipes: the order between them is not kept, only within each.
    assert.equal(lines.at(-1), 'The process exited with code 3.');
    assert.deepEqual(lines.slice(0, -1).sort(), [`building in ${s.cwd} as ${CONTENT_UID}`, 'to stderr', '/opt/lectern/runtime/python/lectern_run.py'].sort());
    assert.equal(readFileSync(path.join(s.jobDir, 'out.txt'), 'utf8'), 'written\n', 'the job wrote its home on the shared volume');
    const pod = (await podOf(s.key))!;
    assert.match(pod.status.containerStatuses[0].containerID, /^containerd:\/\//);
    await l.stop(s.key);
    await tb.admin.delete(jobPath(handle.remoteId));
    await eventually('the Job to be gone', async () => !(await tb.admin.find(jobPath(handle.remoteId))));
    const after: string[] = [];
    for await (const line of l.logs(s.key, { logPath: s.logPath })) after.push(line.data);
    assert.deepEqual(after, lines, 'the log outlives the pod');
  });

  it('runs a worker with the runtime from the init container: reachable at its pod IP, its log followed live, stopped with its pod', { timeout: 120_000 }, async () => {
    const l = await jobs.launcher({ 'Launcher.InstanceName': 'node-run' });
    const s = runnerWorker({ PYTHONUNBUFFERED: '1', DATABASE_PASSWORD: 'from-the-secret' });
    const followed: string[] = [];
    const submitted = Date.now();
    await l.submit(s);
    const following = (async () => {
      for await (const line of l.logs(s.key, { follow: true })) followed.push(line.data);
    })();
    const address = await l.ready(s.key, { timeoutMs: 90_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\n${readFileSync(s.logPath, 'utf8')}`);
    });
    const readyMs = Date.now() - submitted;
    assert.match(address.host, /^10\./, 'a pod address on the node bridge');
    assert.equal(address.port, 8080);
    const res = await fetch(`http://${address.host}:${address.port}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(await res.text(), `hello from a pod, HOME=${s.jobDir}, secret=from-the-secret`);
    const [info] = await l.list({ contentGuid: s.contentGuid });
    assert.equal(info!.pod?.node, 'node-1');
    assert.equal(info!.pod?.phase, 'Running');
    assert.deepEqual(info!.address, address);
    assert.ok(info!.pod!.readySeconds !== undefined && info!.pod!.readySeconds >= 0, 'start-up phase times');

    // The init container's copy of Lectern's runtime: it ran, and how long it took (for bench/).
    const pod = (await podOf(s.key))!;
    const init = pod.status.initContainerStatuses[0];
    assert.equal(init.name, 'lectern-runtime');
    assert.equal(init.state.terminated.exitCode, 0);
    assert.equal(init.state.terminated.reason, 'Completed');
    const copyDir = path.join(tb.state.node.dir, 'kubelet', 'pods', pod.metadata.uid, 'volumes', 'kubernetes.io~empty-dir', 'lectern-runtime');
    const stamps = mtimes(copyDir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.ok(stamps.length > 0 && readdirSync(path.join(copyDir, 'python')).includes('lectern_run.py'), `the runtime copied into ${copyDir}`);
    const statusMs = Date.parse(init.state.terminated.finishedAt) - Date.parse(init.state.terminated.startedAt);
    const copyMs = Number(stamps.at(-1)! - stamps[0]!) / 1e6;
    console.log(
      `init copy: ${stamps.length} files; init container started→finished ${statusMs} ms by its status (whole seconds), first→last file written ${copyMs.toFixed(1)} ms; worker submit→ready() ${readyMs} ms (pod ready after ${info!.pod!.readySeconds} s)`,
    );

    await eventually("the runner's start-up line in the log", () => followed.length > 0);
    await l.stop(s.key);
    const status = await l.wait(s.key);
    assert.equal(status.stopped, true);
    await following;
    assert.ok(readFileSync(s.logPath, 'utf8').includes(followed[0]!), "followed lines are the file's");
    await assert.rejects(fetch(`http://${address.host}:${address.port}/`, { signal: AbortSignal.timeout(5_000) }));
  });

  it('with [Launcher] RuntimeDelivery = image-volume, a worker runs with the runtime mounted from the init image, and no init container', { timeout: 120_000 }, async () => {
    const l = await jobs.launcher({ 'Launcher.InstanceName': 'node-image-volume', 'Launcher.RuntimeDelivery': 'image-volume' });
    const s = runnerWorker();
    const submitted = Date.now();
    await l.submit(s);
    const address = await l.ready(s.key, { timeoutMs: 90_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\n${readFileSync(s.logPath, 'utf8')}`);
    });
    const readyMs = Date.now() - submitted;
    const res = await fetch(`http://${address.host}:${address.port}/`, { signal: AbortSignal.timeout(10_000) });
    assert.match(await res.text(), /^hello from a pod/);
    const pod = (await podOf(s.key))!;
    assert.equal(pod.spec.initContainers, undefined, 'no init container');
    assert.deepEqual(pod.spec.volumes.find((v: { name: string }) => v.name === 'lectern-runtime').image.reference, tb.state.initImage);
    console.log(`image-volume runtime: worker submit→ready() ${readyMs} ms`);
    await l.stop(s.key);
    assert.equal((await l.wait(s.key)).stopped, true);
  });

  it('reports an image Kubernetes cannot pull with its reason and message', { timeout: 120_000 }, async () => {
    const l = await jobs.launcher({ 'Launcher.InstanceName': 'node-pull' });
    // ghcr.io resolves to the test bed's registry, which has no such image.
    const s = jobs.spec({ image: 'ghcr.io/example/missing:1', kind: 'run', tag: 'run_app', listen: true, command: ['/bin/true'] });
    const began = Date.now();
    await l.submit(s);
    await assert.rejects(l.ready(s.key, { timeoutMs: 60_000 }), /Kubernetes could not run the process \((ErrImagePull|ImagePullBackOff)\): container: .*ghcr\.io\/example\/missing:1/);
    assert.match(readFileSync(s.logPath, 'utf8'), /ErrImagePull|ImagePullBackOff/);
    // With an init container, the kubelet shows the content container's ErrImagePull only ~13 s after the
    // init container ends (its "Failed to pull image" event comes at once).
    console.log(`image pull failure reported after ${Date.now() - began} ms`);
  });

  it('reports a process killed for its memory limit as OOMKilled', { timeout: 120_000 }, async () => {
    const l = await jobs.launcher({ 'Launcher.InstanceName': 'node-oom' });
    const s = jobs.spec({ command: [IMAGE_PYTHON, '-c', 'x = bytearray(300 * 1024 * 1024); print(len(x))'], resources: { memoryLimitBytes: 64 * 1024 * 1024 } });
    await l.submit(s);
    const status = await l.wait(s.key);
    assert.equal(status.state, 'failed');
    assert.equal(status.exitCode, 137);
    assert.match(status.reason!, /exceeded its memory limit of 64 MiB \(Kubernetes: OOMKilled\)/);
    assert.equal((await podOf(s.key))?.status.containerStatuses[0].state.terminated.reason, 'OOMKilled');
  });

  describe('GPUs', () => {
    const nodeStatus = () => `/api/v1/nodes/${tb.state.node.name}/status`;
    before(async () => {
      // The node has no GPU device: nvidia.com/gpu is advertised as an extended resource (Kubernetes'
      // documented way, a PATCH of the node's status), so this checks scheduling and the limit only.
      await tb.admin.mergePatch(nodeStatus(), { status: { capacity: { 'nvidia.com/gpu': '4' }, allocatable: { 'nvidia.com/gpu': '4' } } });
      await eventually('the node to advertise 4 GPUs', async () => ((await tb.admin.get<KubeObject>(`/api/v1/nodes/${tb.state.node.name}`)).status.allocatable as Obj)['nvidia.com/gpu'] === '4');
    });
    after(async () => {
      await tb.admin.mergePatch(nodeStatus(), { status: { capacity: { 'nvidia.com/gpu': null }, allocatable: { 'nvidia.com/gpu': null } } });
    });

    it('a job asking for GPUs the node advertises runs with its limit; one asking for more is Unschedulable', { timeout: 120_000 }, async () => {
      const l = await jobs.launcher({ 'Launcher.InstanceName': 'node-gpu', 'Launcher.SchedulingTimeout': '0s' });
      const fits = jobs.spec({ resources: { nvidiaGpuLimit: 2 } });
      await l.submit(fits);
      const ran = await l.wait(fits.key);
      assert.deepEqual({ state: ran.state, exitCode: ran.exitCode }, { state: 'succeeded', exitCode: 0 }, ran.reason);
      const pod = (await podOf(fits.key))!;
      assert.equal(pod.spec.nodeName, 'node-1');
      assert.equal(pod.spec.containers.find((c: Obj) => c.name === 'content').resources.limits['nvidia.com/gpu'], '2');

      const tooMany = jobs.spec({ resources: { nvidiaGpuLimit: 5 } });
      await l.submit(tooMany);
      const status = await l.wait(tooMany.key);
      assert.equal(status.state, 'failed');
      assert.match(status.reason!, /Unschedulable/);
      assert.match(status.reason!, /Insufficient nvidia\.com\/gpu/);
    });
  });
});
