// Lectern's Kubernetes launcher against the test bed (a real control plane and node, docs/kubernetes.md),
// running with exactly the Role it documents (lecternRole), never as an administrator: the Jobs it
// makes, what it refuses, stop, adoption, resumed watches and start-up checks. What its pods do on the
// node (builds, workers, limits, GPUs) is in kubernetes-launcher-pods.test.ts.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/kubernetes-launcher.test.ts
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import { KubeApiError, type KubeObject } from '../../src/launcher/kubernetes/kube-api.js';
import type { KubernetesLauncher } from '../../src/launcher/kubernetes/kubernetes-launcher.js';
import { LECTERN_ROLE_RULES } from '../../src/launcher/kubernetes/role.js';
import type { JobSpec } from '../../src/launcher/launcher.js';
import { eventually } from '../support/eventually.js';
import { type TestBed, openTestBed } from '../support/kube-testbed/client.js';
import { IMAGE_PYTHON, type TestBedLaunchers, testBedLaunchers } from '../support/testbed-launcher.js';

// A process that runs until stopped, and ends on SIGTERM as Lectern's runners do (as a pod's PID 1
// it would otherwise ignore the signal until the 30 s grace period's SIGKILL).
const SLEEPER = [IMAGE_PYTHON, '-c', 'import os, signal, time; signal.signal(signal.SIGTERM, lambda *_: os._exit(143)); time.sleep(3600)'];

describe('Kubernetes launcher', { timeout: 20 * 60_000 }, () => {
  let tb: TestBed;
  let prepared: Awaited<ReturnType<TestBed['namespace']>>;
  let jobs: TestBedLaunchers;
  let NS: string;
  let dataDir: string;

  const launcher = (overrides: Record<string, string> = {}, replica = 'replica-1'): Promise<KubernetesLauncher> => jobs.launcher(overrides, replica);

  /** A build of content 7 with the secret it must keep, in the image's interpreter; runs until stopped unless told otherwise. */
  function spec(overrides: Partial<JobSpec> = {}): JobSpec {
    const base = jobs.spec();
    return {
      ...base,
      command: SLEEPER,
      env: { ...base.env, DATABASE_PASSWORD: 'hunter2-never-printed' },
      serviceAccount: 'content',
      ...overrides,
    };
  }

  const jobPath = (name: string) => `/apis/batch/v1/namespaces/${NS}/jobs/${name}`;

  before(async () => {
    tb = await openTestBed();
    prepared = await tb.namespace('launcher');
    NS = prepared.namespace;
    dataDir = prepared.dataDir;
    jobs = testBedLaunchers(tb, prepared);
    await tb.admin.create(`/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'content' } });
  });

  after(async () => {
    await jobs?.closeAll();
    await prepared?.remove();
    await tb?.close();
  });

  it('creates a Job that passes Pod Security "restricted", with its labels, sub-path volumes, resources, init container and a Secret for its environment', { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'shape', 'Launcher.ImagePullSecrets': 'registry-cred' });
    const appDir = path.join(dataDir, 'apps', '7', '3');
    // A GPU no node advertises here: the pod stays Pending (Unschedulable, within the 1 h scheduling timeout).
    const s = spec({
      command: ['/opt/python/3.11.2/bin/python', path.join(RUNTIME_DIR, 'python', 'lectern_restore.py')],
      cwd: appDir,
      env: { LECTERN_APP_DIR: appDir, DATABASE_PASSWORD: 'hunter2-never-printed', PATH: '/usr/bin:/bin' },
      mounts: [
        { path: '/opt/python/3.11.2', readOnly: true },
        { path: RUNTIME_DIR, readOnly: true },
        { path: appDir, readOnly: true },
        { path: path.join(dataDir, 'envs', 'python', 'abc123'), readOnly: false },
      ],
      resources: { cpuRequest: 0.25, cpuLimit: 1, memoryRequestBytes: 128 * 1024 * 1024, memoryLimitBytes: 512 * 1024 * 1024, nvidiaGpuLimit: 1 },
    });
    const handle = await l.submit(s);
    const job = await tb.admin.get(jobPath(handle.remoteId));
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
    assert.equal(init.image, tb.state.initImage, "the init image tag defaults to Lectern's version");
    assert.deepEqual(init.volumeMounts, [{ name: 'lectern-runtime', mountPath: '/mnt/lectern-runtime' }]);
    const content = pod.containers.find((c: { name: string }) => c.name === 'content');
    assert.equal(content.image, s.image);
    assert.deepEqual(content.command, ['/opt/python/3.11.2/bin/python', '/opt/lectern/runtime/python/lectern_restore.py'], "the runtime path is the init container's copy");
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
    assert.ok(!content.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/opt/python/3.11.2'), 'interpreters come from the image, not the server');
    assert.ok(content.volumeMounts.some((m: { mountPath: string; name: string }) => m.name === 'lectern-runtime' && m.mountPath === '/opt/lectern/runtime'));

    // The environment lives in a Secret owned by the Job; the Job itself never shows a value.
    assert.ok(!JSON.stringify(job).includes('hunter2-never-printed'), 'no secret value in the Job');
    assert.deepEqual(content.envFrom, [{ secretRef: { name: `${handle.remoteId}-env` } }]);
    const secret = await tb.admin.get(`/api/v1/namespaces/${NS}/secrets/${handle.remoteId}-env`);
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
    await assert.rejects(l.submit(spec({ serviceAccount: 'nobody' })), new RegExp(`Service account "nobody" does not exist in Kubernetes namespace "${NS}"`));
    await assert.rejects(l.submit(spec({ env: { 'BAD NAME': 'x' } })), /"BAD NAME" cannot be passed/);
    const jobs = await tb.admin.list(`/apis/batch/v1/namespaces/${NS}/jobs`, { labelSelector: 'app.kubernetes.io/instance=refuse' });
    assert.equal(jobs.items.length, 0, 'nothing half-created');
  });

  it("reports Unschedulable at once with Kubernetes' message, in the status, the log and the address", { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'unschedulable', 'Launcher.SchedulingTimeout': '0s' });
    // More CPU than the test bed's node (or any small one) has.
    const s = spec({ resources: { cpuRequest: 64, cpuLimit: 64 } });
    const began = Date.now();
    const handle = await l.submit(s);
    const status = await l.wait(s.key);
    assert.equal(status.state, 'failed');
    assert.match(status.reason!, /Unschedulable/);
    assert.match(status.reason!, /nodes are available: .*Insufficient cpu/);
    assert.ok(Date.now() - began < 20_000, `reported after ${Date.now() - began} ms`);
    const log = readFileSync(s.logPath, 'utf8');
    assert.match(log, /Unschedulable/);
    await eventually('the Job to be deleted', async () => !(await tb.admin.find(jobPath(handle.remoteId))));

    const run = spec({ kind: 'run', tag: 'run_python_api', listen: true, resources: { memoryRequestBytes: 1024 ** 4, memoryLimitBytes: 1024 ** 4 } });
    await l.submit(run);
    await assert.rejects(l.ready(run.key, { timeoutMs: 60_000 }), /Unschedulable.*Insufficient memory/);
  });

  it('a pod the namespace refuses (an nfs volume under Pod Security "restricted") fails the job with Kubernetes\' message', { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'refused', 'Launcher.DataDirPVCName': '', 'Launcher.DataDirPVCSubPath': '', 'Launcher.DataDir': `127.0.0.1:${dataDir}` });
    const s = spec();
    const handle = await l.submit(s);
    const status = await l.wait(s.key);
    assert.equal(status.state, 'failed');
    assert.match(status.reason!, /FailedCreate.*violates PodSecurity "restricted:latest": restricted volume types \(volume "lectern-data" uses restricted volume type "nfs"\)/);
    assert.match(readFileSync(s.logPath, 'utf8'), /violates PodSecurity/);
    await eventually('the Job to be deleted', async () => !(await tb.admin.find(jobPath(handle.remoteId))));
  });

  it('stop deletes the Job and its pod', { timeout: 90_000 }, async () => {
    const l = await launcher({ 'Launcher.InstanceName': 'stop' });
    const s = spec({ kind: 'run', tag: 'run_app', listen: true });
    const handle = await l.submit(s);
    const pod = await eventually('the pod', () => l.podCache.list().find((p) => p.metadata.labels?.['lectern.dev/job-key'] === s.key));
    await l.stop(s.key);
    const status = await l.wait(s.key);
    assert.equal(status.stopped, true, JSON.stringify(status) + readFileSync(s.logPath, 'utf8'));
    await eventually('the Job to be gone', async () => !(await tb.admin.find(jobPath(handle.remoteId))));
    await eventually('the pod to be gone', async () => !(await tb.admin.find(`/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`)));
    await eventually('the Secret to be gone', async () => !(await tb.admin.find(`/api/v1/namespaces/${NS}/secrets/${handle.remoteId}-env`)));

    // Deleting content stops its jobs on every replica: another replica's launcher deletes this one's Job.
    const elsewhere = await launcher({ 'Launcher.InstanceName': 'stop' }, 'replica-2');
    const s2 = spec();
    const handle2 = await l.submit(s2);
    await eventually('the other replica to see the pod', () => elsewhere.podCache.list().find((p) => p.metadata.labels?.['lectern.dev/job-key'] === s2.key));
    for (const info of await elsewhere.list({ contentGuid: s2.contentGuid })) await elsewhere.stop(info.key);
    await eventually('the Job to be gone', async () => !(await tb.admin.find(jobPath(handle2.remoteId))));
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
    // Adopted while its pod runs, as after a crash of a replica whose workers serve on.
    await eventually('the kept job to run', async () => (await first.status(kept.key)).state === 'running', { timeoutMs: 60_000 });
    await first.close();

    const second = await launcher({ 'Launcher.InstanceName': 'adopt' }, 'replica-a');
    const adopted = await second.reconcile([{ key: kept.key, logPath: kept.logPath }]);
    assert.deepEqual(adopted, [kept.key]);
    await eventually('the orphan to be deleted', async () => !(await tb.admin.find(jobPath(orphanJob.remoteId))));
    assert.ok(await tb.admin.find(jobPath(keptJob.remoteId)), 'the adopted Job stays');
    assert.ok(await tb.admin.find(jobPath(foreignJob.remoteId)), "another replica's Job stays");
    assert.equal((await second.status(kept.key)).state, 'running');
    await second.stop(kept.key);
    assert.equal((await second.wait(kept.key)).stopped, true);
    await eventually('the adopted Job to be gone after stop', async () => !(await tb.admin.find(jobPath(keptJob.remoteId))));
    await other.stop(foreign.key);
  });

  it('its watches resume from the last resourceVersion after the API server connection drops', { timeout: 90_000 }, async () => {
    // A TCP relay between Lectern and the API server, whose connections the test cuts.
    const target = new URL(tb.state.apiUrl);
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
    await tb.admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'partial' }, rules });
    await tb.admin.create(`/api/v1/namespaces/${NS}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'partial' } });
    await tb.admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'partial' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'partial' },
      subjects: [{ kind: 'ServiceAccount', name: 'partial', namespace: NS }],
    });
    const tokenRequest = await tb.admin.create<KubeObject>(`/api/v1/namespaces/${NS}/serviceaccounts/partial/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    });
    const token = tokenRequest.status.token as string;
    await assert.rejects(launcher({ 'Launcher.KubernetesAuthToken': token }), (err: Error) => {
      assert.match(err.message, /Missing permissions: delete batch\/jobs, create secrets\./);
      assert.match(err.message, new RegExp(`system:serviceaccount:${NS}:partial`));
      assert.doesNotMatch(err.message, /get pods/);
      return true;
    });
  });

  it('start-up says when the namespace does not exist', { timeout: 90_000 }, async () => {
    // With the namespaced Role only, Lectern cannot tell a missing namespace from a missing binding.
    await assert.rejects(launcher({ 'Launcher.KubernetesNamespace': 'nowhere' }), /namespace "nowhere" may not exist, or no Role is bound to user "lectern"/);
    // With the right to read namespaces, it can.
    await assert.rejects(launcher({ 'Launcher.KubernetesNamespace': 'nowhere', 'Launcher.KubernetesAuthToken': tb.state.adminToken }), /Kubernetes namespace "nowhere" does not exist/);
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
});
