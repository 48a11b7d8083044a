// Lectern's Kubernetes launcher against the real control plane (docs/kubernetes.md), running with
// exactly the Role it documents (lecternRole), never as an administrator.
// Run: node --import tsx --test test/kube/kubernetes-launcher.test.ts
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import type { JobSpec } from '../../src/launcher/launcher.js';
import { KubeApi, KubeApiError, type KubeObject } from '../../src/launcher/kubernetes/kube-api.js';
import type { KubernetesLauncher } from '../../src/launcher/kubernetes/kubernetes-launcher.js';
import { lecternRole, LECTERN_ROLE_RULES } from '../../src/launcher/kubernetes/role.js';
import { startKubernetesLauncher } from '../../src/launcher/kubernetes/start.js';
import { startNodeAgent, type NodeAgent } from '../support/kube-node/agent.js';
import { startControlPlane, type ControlPlane } from '../support/kube.js';

const NS = 'lectern-test';
const VERSION = '0.1.0';

describe('Kubernetes launcher', { timeout: 20 * 60_000 }, () => {
  let cp: ControlPlane;
  let admin: KubeApi;
  let dataDir: string;
  let volumeRoot: string;
  const launchers: KubernetesLauncher[] = [];
  let counter = 0;

  function config(overrides: Record<string, string> = {}) {
    return Config.load({
      env: {},
      overrides: {
        'Server.DataDir': dataDir,
        'Launcher.Enabled': 'true',
        'Launcher.Kubernetes': 'true',
        'Launcher.KubernetesAPIURL': cp.url,
        'Launcher.KubernetesAuthToken': cp.lectern.token,
        'Launcher.KubernetesCACertificate': cp.caFile,
        'Launcher.KubernetesNamespace': NS,
        'Launcher.DataDirPVCName': 'lectern-data',
        'Launcher.DataDirPVCSubPath': 'lectern',
        'Launcher.SchedulingTimeout': '1h',
        ...overrides,
      } as never,
    });
  }

  async function launcher(overrides: Record<string, string> = {}, replica = 'replica-1'): Promise<KubernetesLauncher> {
    const l = await startKubernetesLauncher({
      config: config(overrides),
      version: VERSION,
      replica,
      runtimeDir: RUNTIME_DIR,
      runAs: { uid: 1000, gid: 1000 },
      // What Lectern does on shared storage: the content user owns its job's home.
      prepareWritableDir: async (dir) => {
        mkdirSync(dir, { recursive: true });
        chownSync(dir, 1000, 1000);
      },
    });
    launchers.push(l);
    return l;
  }

  function spec(overrides: Partial<JobSpec> = {}): JobSpec {
    const key = `Key${++counter}x${Date.now().toString(36)}`;
    const jobDir = path.join(dataDir, 'jobs', '7', key);
    return {
      key,
      kind: 'build',
      tag: 'python_restore',
      contentId: 7,
      contentGuid: '0b7c1f2e-1111-4222-8333-944455556666',
      bundleId: 3,
      command: ['/opt/python/3.11/bin/python', path.join(RUNTIME_DIR, 'python', 'lectern_restore.py')],
      cwd: path.join(dataDir, 'apps', '7', '3'),
      env: { LECTERN_APP_DIR: path.join(dataDir, 'apps', '7', '3'), DATABASE_PASSWORD: 'hunter2-never-printed', PATH: '/usr/bin:/bin' },
      mounts: [
        { path: '/opt/python/3.11', readOnly: true },
        { path: RUNTIME_DIR, readOnly: true },
        { path: path.join(dataDir, 'apps', '7', '3'), readOnly: true },
        { path: path.join(dataDir, 'envs', 'python', 'abc123'), readOnly: false },
      ],
      jobDir: path.join(jobDir, 'home'),
      logPath: path.join(jobDir, 'log.jsonl'),
      resources: { cpuRequest: 0.25, cpuLimit: 1, memoryRequestBytes: 128 * 1024 * 1024, memoryLimitBytes: 512 * 1024 * 1024, nvidiaGpuLimit: 1 },
      listen: false,
      image: 'ghcr.io/example/content:3.11',
      serviceAccount: 'content',
      ...overrides,
    };
  }

  const jobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/jobs/${name}`;

  async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    cp = await startControlPlane();
    admin = new KubeApi({ url: cp.url, token: async () => cp.token, ca: readFileSync(cp.caFile, 'utf8'), skipTlsVerify: false, describe: 'admin' });
    // The shared storage: an NFS export (the node agent maps 127.0.0.1:<path> to the directory), bound
    // to the claim content pods mount. Pod Security "restricted" allows claims, not nfs volumes.
    // Not under /tmp: pods mount an emptyDir there, and data paths keep their absolute paths.
    volumeRoot = mkdtempSync(path.join('/var/tmp', 'lectern-kube-data-'));
    dataDir = path.join(volumeRoot, 'lectern');
    mkdirSync(dataDir);
    chmodSync(volumeRoot, 0o755);
    await admin.create('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } },
    });
    await admin.create(`/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'content' } });
    await admin.create('/api/v1/persistentvolumes', {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'lectern-data' },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        nfs: { server: '127.0.0.1', path: volumeRoot },
        claimRef: { namespace: NS, name: 'lectern-data' },
        storageClassName: '',
      },
    });
    await admin.create(`/api/v1/namespaces/${NS}/persistentvolumeclaims`, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'lectern-data' },
      spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } }, volumeName: 'lectern-data', storageClassName: '' },
    });
    await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, lecternRole(NS));
    await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'lectern' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lectern' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: cp.lectern.name }],
    });
    // The namespace's "default" service account comes from the controller-manager.
    await eventually('ServiceAccount default', () => admin.find(`/api/v1/namespaces/${NS}/serviceaccounts/default`));
  });

  after(async () => {
    for (const l of launchers) await l.close().catch(() => undefined);
    await admin?.close();
    await cp?.stop();
    if (volumeRoot) rmSync(volumeRoot, { recursive: true, force: true });
  });

  it('creates a Job that passes Pod Security "restricted", with its labels, sub-path volumes, resources, init container and a Secret for its environment', { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'shape', 'Launcher.ImagePullSecrets': 'registry-cred' });
    const s = spec();
    const handle = await l.submit(s);
    const job = await admin.get(jobPath(handle.remoteId));
    const labels = job.metadata.labels!;
    assert.equal(labels['app.kubernetes.io/managed-by'], 'lectern');
    assert.equal(labels['app.kubernetes.io/instance'], 'shape');
    assert.equal(labels['lectern.dev/content-guid'], s.contentGuid);
    assert.equal(labels['lectern.dev/job-key'], s.key);
    assert.equal(labels['lectern.dev/kind'], 'build');
    assert.equal(labels['lectern.dev/replica'], 'replica-1');
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.suspend, false, 'started once its Secret exists');
    assert.equal(job.spec.ttlSecondsAfterFinished, 600);
    assert.equal(job.spec.activeDeadlineSeconds, 7200, 'builds have a deadline');
    const pod = job.spec.template.spec;
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.serviceAccountName, 'content');
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'registry-cred' }]);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 1000);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');

    const [init] = pod.initContainers;
    assert.equal(init.image, `ghcr.io/lectern-project/lectern-runtime-init:${VERSION}`, "the init image tag defaults to Lectern's version");
    assert.deepEqual(init.volumeMounts, [{ name: 'lectern-runtime', mountPath: '/mnt/lectern-runtime' }]);
    const content = pod.containers.find((c: { name: string }) => c.name === 'content');
    assert.equal(content.image, s.image);
    assert.deepEqual(content.command, ['/opt/python/3.11/bin/python', '/opt/lectern/runtime/python/lectern_restore.py'], "the runtime path is the init container's copy");
    assert.deepEqual(content.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(content.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(content.resources, {
      requests: { cpu: '250m', memory: String(128 * 1024 * 1024) },
      limits: { cpu: '1', memory: String(512 * 1024 * 1024), 'nvidia.com/gpu': '1' },
    });

    // Only this job's sub-paths of the data volume: the bundle read-only, its environment, its home.
    const data = pod.volumes.find((v: { name: string }) => v.name === 'lectern-data');
    assert.deepEqual(data.persistentVolumeClaim, { claimName: 'lectern-data' });
    const dataMounts = content.volumeMounts.filter((m: { name: string }) => m.name === 'lectern-data');
    assert.deepEqual(
      dataMounts.map((m: { subPath: string; mountPath: string; readOnly?: boolean }) => [m.subPath, m.mountPath, m.readOnly ?? false]),
      [
        ['lectern/apps/7/3', path.join(dataDir, 'apps/7/3'), true],
        ['lectern/envs/python/abc123', path.join(dataDir, 'envs/python/abc123'), false],
        [`lectern/jobs/7/${s.key}/home`, s.jobDir, false],
      ],
    );
    assert.ok(!content.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/opt/python/3.11'), 'interpreters come from the image, not the server');
    assert.ok(content.volumeMounts.some((m: { mountPath: string; name: string }) => m.name === 'lectern-runtime' && m.mountPath === '/opt/lectern/runtime'));

    // The environment lives in a Secret owned by the Job; the Job itself never shows a value.
    assert.ok(!JSON.stringify(job).includes('hunter2-never-printed'), 'no secret value in the Job');
    assert.deepEqual(content.envFrom, [{ secretRef: { name: `${handle.remoteId}-env` } }]);
    const secret = await admin.get(`/api/v1/namespaces/${NS}/secrets/${handle.remoteId}-env`);
    assert.equal(Buffer.from((secret.data as Record<string, string>).DATABASE_PASSWORD!, 'base64').toString(), 'hunter2-never-printed');
    assert.equal(secret.metadata.ownerReferences?.[0]?.uid, job.metadata.uid);

    // The job controller's pod was admitted by PodSecurity "restricted".
    const created = await eventually('the pod', () => l.podCache.list().find((p) => p.metadata.labels?.['lectern.dev/job-key'] === s.key));
    assert.equal(created.spec.serviceAccountName, 'content');
    assert.equal((await l.status(s.key)).state, 'pending');
    const listed = await l.list({ contentGuid: s.contentGuid });
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.pod?.image, s.image);
    assert.equal(listed[0]!.pod?.memoryLimitBytes, 512 * 1024 * 1024);
    assert.equal(listed[0]!.pod?.cpuRequest, 0.25);
    await l.stop(s.key);
  });

  it('refuses a service account that does not exist, and environment names a pod cannot take', { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'refuse' });
    await assert.rejects(l.submit(spec({ serviceAccount: 'nobody' })), /Service account "nobody" does not exist in Kubernetes namespace "lectern-test"/);
    await assert.rejects(l.submit(spec({ env: { 'BAD NAME': 'x' } })), /"BAD NAME" cannot be passed/);
    const jobs = await admin.list(`/apis/batch/v1/namespaces/${NS}/jobs`, { labelSelector: 'app.kubernetes.io/instance=refuse' });
    assert.equal(jobs.items.length, 0, 'nothing half-created');
  });

  it("reports Unschedulable at once with Kubernetes' message, in the status, the log and the address", { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'unschedulable', 'Launcher.SchedulingTimeout': '0s' });
    const s = spec();
    const began = Date.now();
    const handle = await l.submit(s);
    const status = await l.wait(s.key);
    assert.equal(status.state, 'failed');
    assert.match(status.reason!, /Unschedulable/);
    assert.match(status.reason!, /no nodes available/);
    assert.ok(Date.now() - began < 20_000, `reported after ${Date.now() - began} ms`);
    const log = readFileSync(s.logPath, 'utf8');
    assert.match(log, /Unschedulable/);
    await eventually('the Job to be deleted', async () => !(await admin.find(jobPath(handle.remoteId))));

    const run = spec({ kind: 'run', tag: 'run_python_api', listen: true });
    await l.submit(run);
    await assert.rejects(l.ready(run.key, { timeoutMs: 60_000 }), /Unschedulable.*no nodes available/);
  });

  it('a pod the namespace refuses (an nfs volume under Pod Security "restricted") fails the job with Kubernetes\' message', { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'refused', 'Launcher.DataDirPVCName': '', 'Launcher.DataDirPVCSubPath': '', 'Launcher.DataDir': `127.0.0.1:${dataDir}` });
    const s = spec();
    const handle = await l.submit(s);
    const status = await l.wait(s.key);
    assert.equal(status.state, 'failed');
    assert.match(status.reason!, /FailedCreate.*violates PodSecurity "restricted:latest": restricted volume types \(volume "lectern-data" uses restricted volume type "nfs"\)/);
    assert.match(readFileSync(s.logPath, 'utf8'), /violates PodSecurity/);
    await eventually('the Job to be deleted', async () => !(await admin.find(jobPath(handle.remoteId))));
  });

  it('stop deletes the Job and its pod', { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'stop' });
    const s = spec({ kind: 'run', tag: 'run_app', listen: true });
    const handle = await l.submit(s);
    const pod = await eventually('the pod', () => l.podCache.list().find((p) => p.metadata.labels?.['lectern.dev/job-key'] === s.key));
    await l.stop(s.key);
    const status = await l.wait(s.key);
    assert.equal(status.stopped, true);
    await eventually('the Job to be gone', async () => !(await admin.find(jobPath(handle.remoteId))));
    await eventually('the pod to be gone', async () => !(await admin.find(`/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`)));
    await eventually('the Secret to be gone', async () => !(await admin.find(`/api/v1/namespaces/${NS}/secrets/${handle.remoteId}-env`)));

    // Deleting content stops its jobs on every replica: another replica's launcher deletes this one's Job.
    const elsewhere = await launcher({ 'Launcher.InstanceName': 'stop' }, 'replica-2');
    const s2 = spec();
    const handle2 = await l.submit(s2);
    await eventually('the other replica to see the pod', () => elsewhere.podCache.list().find((p) => p.metadata.labels?.['lectern.dev/job-key'] === s2.key));
    for (const info of await elsewhere.list({ contentGuid: s2.contentGuid })) await elsewhere.stop(info.key);
    await eventually('the Job to be gone', async () => !(await admin.find(jobPath(handle2.remoteId))));
    assert.equal((await l.wait(s2.key)).state, 'failed');
  });

  it("a restarted launcher adopts the Jobs its database still runs and deletes orphans, leaving other replicas' alone", { timeout: 90_000 }, async () => {
    const first = await launcher({ 'Launcher.InstanceName': 'adopt' }, 'replica-a');
    const other = await launcher({ 'Launcher.InstanceName': 'adopt' }, 'replica-b');
    const kept = spec();
    const orphan = spec();
    const foreign = spec();
    const keptJob = await first.submit(kept);
    const orphanJob = await first.submit(orphan);
    const foreignJob = await other.submit(foreign);
    await first.close();

    const second = await launcher({ 'Launcher.InstanceName': 'adopt' }, 'replica-a');
    const adopted = await second.reconcile([{ key: kept.key, logPath: kept.logPath }]);
    assert.deepEqual(adopted, [kept.key]);
    await eventually('the orphan to be deleted', async () => !(await admin.find(jobPath(orphanJob.remoteId))));
    assert.ok(await admin.find(jobPath(keptJob.remoteId)), 'the adopted Job stays');
    assert.ok(await admin.find(jobPath(foreignJob.remoteId)), "another replica's Job stays");
    assert.equal((await second.status(kept.key)).state, 'pending');
    await second.stop(kept.key);
    assert.equal((await second.wait(kept.key)).stopped, true);
    await eventually('the adopted Job to be gone after stop', async () => !(await admin.find(jobPath(keptJob.remoteId))));
    await other.stop(foreign.key);
  });

  it('its watches resume from the last resourceVersion after the API server connection drops', { timeout: 90_000 }, async () => {
    // A TCP relay between Lectern and the API server, whose connections the test cuts.
    const target = new URL(cp.url);
    const sockets = new Set<Socket>();
    const relay: Server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const port = (relay.address() as { port: number }).port;
      const l = await launcher({ 'Launcher.InstanceName': 'resume', 'Launcher.KubernetesAPIURL': `https://127.0.0.1:${port}` });
      const before = { jobs: { ...l.jobCache.stats }, pods: { ...l.podCache.stats } };
      assert.equal(before.pods.lists, 1);
      for (const s of [...sockets]) s.destroy();
      sockets.clear();
      // A change made while the watch reconnects must still arrive.
      const s = spec();
      await l.submit(s);
      await eventually('the new pod in the cache', () => l.podCache.list().find((p) => p.metadata.labels?.['lectern.dev/job-key'] === s.key));
      assert.ok(l.podCache.stats.resumes > before.pods.resumes, 'the pod watch resumed');
      assert.ok(l.jobCache.stats.resumes > before.jobs.resumes, 'the job watch resumed');
      assert.equal(l.podCache.stats.lists, 1, 'no relist was needed');
      assert.equal(l.jobCache.stats.lists, 1, 'no relist was needed');
      await l.stop(s.key);
    } finally {
      for (const s of sockets) s.destroy();
      relay.close();
    }
  });

  it('start-up names the permissions its Role lacks', { timeout: 90_000 }, async () => {
    // A service account bound to the documented Role minus two verbs.
    const rules = LECTERN_ROLE_RULES.map(({ apiGroups, resources, verbs }) => ({
      apiGroups,
      resources,
      verbs: verbs.filter((v) => !((resources[0] === 'jobs' && v === 'delete') || (resources[0] === 'secrets' && v === 'create'))),
    })).filter((r) => r.verbs.length);
    await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'partial' }, rules });
    await admin.create(`/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'partial' } });
    await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'partial' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'partial' },
      subjects: [{ kind: 'ServiceAccount', name: 'partial', namespace: NS }],
    });
    const tokenRequest = await admin.create<KubeObject>(`/api/v1/namespaces/${NS}/serviceaccounts/partial/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    });
    const token = tokenRequest.status.token as string;
    await assert.rejects(launcher({ 'Launcher.KubernetesAuthToken': token }), (err: Error) => {
      assert.match(err.message, /Missing permissions: delete batch\/jobs, create secrets\./);
      assert.match(err.message, /system:serviceaccount:lectern-test:partial/);
      assert.doesNotMatch(err.message, /get pods/);
      return true;
    });
  });

  it('start-up says when the namespace does not exist', { timeout: 90_000 }, async () => {
    // With the namespaced Role only, Lectern cannot tell a missing namespace from a missing binding.
    await assert.rejects(launcher({ 'Launcher.KubernetesNamespace': 'nowhere' }), /namespace "nowhere" may not exist, or no Role is bound to user "lectern"/);
    // With the right to read namespaces, it can.
    await assert.rejects(launcher({ 'Launcher.KubernetesNamespace': 'nowhere', 'Launcher.KubernetesAuthToken': cp.token }), /Kubernetes namespace "nowhere" does not exist/);
  });

  it('start-up refuses settings it cannot use', { timeout: 90_000 }, async () => {
    await assert.rejects(launcher({ 'Launcher.DataDir': 'not-nfs', 'Launcher.DataDirPVCName': '' }), /is not an NFS location/);
    await assert.rejects(launcher({ 'Launcher.DataDir': '127.0.0.1:/export' }), /not both/);
    await assert.rejects(launcher({ 'Launcher.DataDirPVCSubPath': '../up' }), /without "\.\."/);
    await assert.rejects(launcher({ 'Launcher.DataDir': '', 'Launcher.DataDirPVCName': '' }), /set \[Launcher\] DataDirPVCName/);
    await assert.rejects(launcher({ 'Launcher.KubernetesAuthToken': 'wrong' }), /refused Lectern's token \(401 Unauthorized\)/);
    const badTarget = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    await assert.rejects(launcher({ 'Launcher.KubernetesAPIURL': `https://127.0.0.1:${badTarget}` }), /Cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1/);
    assert.ok(KubeApiError);
  });
  describe("on a node (the test bed's node agent)", () => {
    let node: NodeAgent;
    const WSGI_APP = [
      'import os',
      'def app(environ, start_response):',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [("hello from a pod, HOME=" + os.environ["HOME"] + ", secret=" + os.environ.get("DATABASE_PASSWORD", "")).encode()]',
      '',
    ].join('\n');

    before(async () => {
      const imagesFile = path.join(volumeRoot, 'images.yaml');
      // The init image holds runtime/ at /lectern/runtime; the content image is the host's system
      // (its /usr/bin/python3), as the test bed's image map allows.
      writeFileSync(
        imagesFile,
        ['images:', `  ghcr.io/lectern-project/lectern-runtime-init:${VERSION}:`, '    paths:', `      /lectern/runtime: ${RUNTIME_DIR}`, '  ghcr.io/example/content:3.11: {}', ''].join('\n'),
      );
      node = await startNodeAgent(cp, { name: 'n1', imagesFile, capacity: { 'nvidia.com/gpu': '4' } });
    });

    after(async () => {
      await node?.stop();
    });

    function bundle(files: Record<string, string>): string {
      const dir = path.join(dataDir, 'apps', '7', '3');
      mkdirSync(dir, { recursive: true });
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
      return dir;
    }

    it("runs a build: its output lands in the job log and stays after the pod is gone; the exit code is the job's", { timeout: 120_000 }, async () => {
      const l = await launcher({ 'Launcher.InstanceName': 'node-build' });
      bundle({ 'manifest.json': '{}' });
      const s = spec({
        command: ['/bin/sh', '-c', 'echo "building in $PWD as $(id -u)"; echo "to stderr" >&2; echo written > "$HOME/out.txt"; ls /opt/lectern/runtime/python/lectern_run.py; exit 3'],
      });
      const handle = await l.submit(s);
      const status = await l.wait(s.key);
      assert.equal(status.state, 'failed');
      assert.equal(status.exitCode, 3);
      assert.equal(status.reason, 'The process exited with code 3.');
      const lines: string[] = [];
      for await (const line of l.logs(s.key)) lines.push(line.data);
      // stdout and stderr are two pipes: the order between them is not kept, only within each.
      assert.equal(lines.at(-1), 'The process exited with code 3.');
      assert.deepEqual(lines.slice(0, -1).sort(), [`building in ${path.join(dataDir, 'apps/7/3')} as 1000`, 'to stderr', '/opt/lectern/runtime/python/lectern_run.py'].sort());
      assert.equal(readFileSync(path.join(s.jobDir, 'out.txt'), 'utf8'), 'written\n', 'the job wrote its home on the shared volume');
      await l.stop(s.key);
      await admin.delete(jobPath(handle.remoteId));
      await eventually('the Job to be gone', async () => !(await admin.find(jobPath(handle.remoteId))));
      const after: string[] = [];
      for await (const line of l.logs(s.key, { logPath: s.logPath })) after.push(line.data);
      assert.deepEqual(after, lines, 'the log outlives the pod');
    });

    it('runs a worker with the runtime from the init container: reachable at its pod IP, its log followed live, stopped with its pod', { timeout: 120_000 }, async () => {
      const l = await launcher({ 'Launcher.InstanceName': 'node-run' });
      const appDir = bundle({ 'app.py': WSGI_APP });
      const s = spec({
        kind: 'run',
        tag: 'run_python_api',
        listen: true,
        command: ['/usr/bin/python3', path.join(RUNTIME_DIR, 'python', 'lectern_run.py')],
        env: {
          LECTERN_APP_MODE: 'python-api',
          LECTERN_APP_DIR: appDir,
          LECTERN_MANIFEST: path.join(appDir, 'manifest.json'),
          LECTERN_ENTRYPOINT: 'app:app',
          LECTERN_BASE_PATH: '/content/x',
          PYTHONUNBUFFERED: '1',
          DATABASE_PASSWORD: 'from-the-secret',
          PATH: '/usr/bin:/bin',
        },
        resources: { memoryLimitBytes: 256 * 1024 * 1024 },
      });
      const followed: string[] = [];
      await l.submit(s);
      const following = (async () => {
        for await (const line of l.logs(s.key, { follow: true })) followed.push(line.data);
      })();
      const address = await l.ready(s.key, { timeoutMs: 60_000 }).catch((err: Error) => {
        throw new Error(`${err.message}\n${readFileSync(s.logPath, 'utf8')}`);
      });
      assert.match(address.host, /^127\./);
      assert.equal(address.port, 8080);
      const res = await fetch(`http://${address.host}:${address.port}/`);
      assert.equal(await res.text(), `hello from a pod, HOME=${s.jobDir}, secret=from-the-secret`);
      const [info] = await l.list({ contentGuid: s.contentGuid });
      assert.equal(info!.pod?.node, 'n1');
      assert.equal(info!.pod?.phase, 'Running');
      assert.deepEqual(info!.address, address);
      assert.ok(info!.pod!.readySeconds !== undefined && info!.pod!.readySeconds >= 0, 'start-up phase times');
      await eventually("the runner's start-up line in the log", () => followed.length > 0);
      await l.stop(s.key);
      const status = await l.wait(s.key);
      assert.equal(status.stopped, true);
      await following;
      assert.ok(readFileSync(s.logPath, 'utf8').includes(followed[0]!), "followed lines are the file's");
      await assert.rejects(fetch(`http://${address.host}:${address.port}/`));
    });

    it('reports an image Kubernetes cannot pull with its reason and message', { timeout: 120_000 }, async () => {
      const l = await launcher({ 'Launcher.InstanceName': 'node-pull' });
      const s = spec({ image: 'ghcr.io/example/missing:1', kind: 'run', tag: 'run_app', listen: true, command: ['/bin/true'] });
      await l.submit(s);
      await assert.rejects(l.ready(s.key, { timeoutMs: 60_000 }), /Kubernetes could not run the process \((ErrImagePull|ImagePullBackOff)\): container: .*ghcr\.io\/example\/missing:1/);
      assert.match(readFileSync(s.logPath, 'utf8'), /ErrImagePull|ImagePullBackOff/);
    });

    it('reports a process killed for its memory limit as OOMKilled', { timeout: 120_000 }, async () => {
      if (node.memoryLimits.startsWith('RLIMIT')) {
        // Without a writable cgroup the agent cannot OOM-kill; say so rather than pass silently.
        assert.fail(`this machine enforces memory limits by ${node.memoryLimits}: OOMKilled cannot be observed`);
      }
      const l = await launcher({ 'Launcher.InstanceName': 'node-oom' });
      const s = spec({
        command: ['/usr/bin/python3', '-c', 'x = bytearray(300 * 1024 * 1024); print(len(x))'],
        resources: { memoryLimitBytes: 64 * 1024 * 1024 },
      });
      await l.submit(s);
      const status = await l.wait(s.key);
      assert.equal(status.state, 'failed');
      assert.match(status.reason!, /exceeded its memory limit of 64 MiB \(Kubernetes: OOMKilled\)/);
    });
  });
});
