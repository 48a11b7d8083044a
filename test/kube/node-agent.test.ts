// The test bed's node agent (docs/kube-testbed.md) against the real control plane: Jobs whose pods run as
// bubblewrap sandboxes, with volumes, env, probes, status, logs through the API server, memory limits and
// deletion. Run: node --import tsx --test test/kube/node-agent.test.ts
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch } from 'undici';
import { startNodeAgent, type NodeAgent } from '../support/kube-node/agent.js';
import { startControlPlane, type ControlPlane } from '../support/kube.js';

const NS = 'node-test'; // Pod Security "restricted", like Lectern's namespace
const HOST_NS = 'node-test-host'; // no Pod Security label: hostPath and NFS volumes are allowed here
const USER = 1000;

type Obj = Record<string, any>;

/** What Pod Security "restricted" requires of every pod and container. */
const RESTRICTED_POD = { runAsNonRoot: true, runAsUser: USER, runAsGroup: USER, seccompProfile: { type: 'RuntimeDefault' } };
const RESTRICTED_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

const SERVER_JS = `
const http = require('node:http');
const fs = require('node:fs');
const server = http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  if (req.url === '/exit') {
    res.end('bye');
    console.log('exiting on request');
    return server.close(() => process.exit(0));
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({
    message: fs.readFileSync('/work/message.txt', 'utf8'),
    uid: process.getuid(),
    podIP: process.env.POD_IP,
    secret: process.env.SECRET_VALUE,
    setting: process.env.SETTING,
    greeting: process.env.APP_GREETING,
    hostname: require('node:os').hostname(),
    token: fs.readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/token', 'utf8'),
    caBytes: fs.readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/ca.crt').length,
    namespace: fs.readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8'),
  }));
});
server.listen(Number(process.env.PORT), process.env.POD_IP, () => console.log('listening on ' + process.env.POD_IP + ':' + process.env.PORT));
`;

describe('Kubernetes test bed node agent', { timeout: 10 * 60_000 }, () => {
  let cp: ControlPlane;
  let agent: NodeAgent;
  let dispatcher: Agent;
  let work: string;
  let imagesFile: string;

  async function api<T = Obj>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${cp.url}${p}`, {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${cp.token}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* plain text (logs) */
    }
    return { status: res.status, body: parsed as T };
  }

  async function ok<T = Obj>(method: string, p: string, body?: unknown): Promise<T> {
    const r = await api<T>(method, p, body);
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${p} → ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v) return v;
      } catch (err) {
        // An assertion inside the check is a verdict, not a reason to keep waiting.
        if (err instanceof assert.AssertionError) throw err;
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function jobPods(ns: string, job: string): Promise<Obj[]> {
    return (await ok<{ items: Obj[] }>('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`job-name=${job}`)}`)).items;
  }

  function alive(pid: number): boolean {
    // A zombie (state Z, left for PID 1 to reap) has exited: it holds nothing but its pid.
    try {
      return !/^\S+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  }

  async function podLog(ns: string, pod: string, query = ''): Promise<string> {
    return ok<string>('GET', `/api/v1/namespaces/${ns}/pods/${pod}/log${query}`);
  }

  function job(name: string, podSpec: Obj, extra: Obj = {}): Obj {
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name },
      spec: { backoffLimit: 0, ttlSecondsAfterFinished: 600, ...extra, template: { metadata: { labels: { app: name } }, spec: { restartPolicy: 'Never', ...podSpec } } },
    };
  }

  before(async () => {
    cp = await startControlPlane();
    dispatcher = new Agent({ connect: { ca: await readFile(cp.caFile, 'utf8') } });
    work = await mkdtemp(path.join(tmpdir(), 'lectern-kube-node-test-'));
    await chmod(work, 0o755);
    await mkdir(path.join(work, 'app'));
    await writeFile(path.join(work, 'app', 'server.js'), SERVER_JS);
    await writeFile(path.join(work, 'app', 'message.txt'), 'from the image');
    imagesFile = path.join(work, 'images.yaml');
    await writeFile(
      imagesFile,
      [
        'images:',
        '  # The host system only: sh, coreutils and node from /usr.',
        '  lectern-test/tools:1: {}',
        '  lectern-test/app:1:',
        '    paths:',
        `      /opt/app: ${path.join(work, 'app')}`,
        '    env:',
        '      APP_GREETING: hello from the image',
        '    workingDir: /opt/app',
        '',
      ].join('\n'),
    );
    agent = await startNodeAgent(cp, { name: 'n1', imagesFile, restartBackoffSeconds: 1 });
    await ok('POST', '/api/v1/namespaces', { metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    await ok('POST', '/api/v1/namespaces', { metadata: { name: HOST_NS } });
    for (const ns of [NS, HOST_NS]) await until(`ServiceAccount ${ns}/default`, async () => (await api('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200);
  });

  after(async () => {
    await agent?.stop();
    await cp?.stop();
    await dispatcher?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('registers a Ready, schedulable Node with its kubelet endpoint and a Lease', async () => {
    const node = await ok('GET', '/api/v1/nodes/n1');
    assert.equal(node.status.conditions.find((c: Obj) => c.type === 'Ready').status, 'True');
    assert.deepEqual(
      node.status.addresses.find((a: Obj) => a.type === 'InternalIP'),
      { type: 'InternalIP', address: '127.0.0.1' },
    );
    assert.equal(node.status.daemonEndpoints.kubeletEndpoint.Port, agent.kubeletPort);
    assert.ok(Number(node.status.allocatable.pods) > 0 && node.status.allocatable.memory && node.status.allocatable.cpu);
    assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.37.2');
    assert.ok(!(node.spec.taints ?? []).length, `taints: ${JSON.stringify(node.spec.taints)}`);
    const lease = await ok('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1');
    assert.equal(lease.spec.holderIdentity, 'n1');
  });

  it('runs a Job: init container fills an emptyDir, the server is Ready on its pod IP, logs follow through the API server, the Job completes', async () => {
    await ok('POST', `/api/v1/namespaces/${NS}/secrets`, { metadata: { name: 'app-secret' }, stringData: { value: 's3cret' } });
    await ok('POST', `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'app-config' }, data: { setting: 'on' } });
    await ok(
      'POST',
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      job('web', {
        securityContext: RESTRICTED_POD,
        volumes: [{ name: 'work', emptyDir: {} }],
        initContainers: [
          {
            name: 'copy',
            image: 'lectern-test/app:1',
            command: ['sh', '-c', 'cp /opt/app/server.js /work/ && echo "copied by the init container" > /work/message.txt && echo copied as $(id -u)'],
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [{ name: 'work', mountPath: '/work' }],
          },
        ],
        containers: [
          {
            name: 'server',
            image: 'lectern-test/app:1',
            command: ['node', '/work/server.js'],
            env: [
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'PORT', value: '8080' },
              { name: 'SECRET_VALUE', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'value' } } },
              { name: 'SETTING', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'setting' } } },
            ],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 1 },
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [{ name: 'work', mountPath: '/work' }],
          },
        ],
      }),
    );
    const pod = await until('the web pod Ready', async () => {
      const [p] = await jobPods(NS, 'web');
      return p?.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    assert.equal(pod.spec.nodeName, 'n1');
    assert.equal(pod.status.phase, 'Running');
    assert.ok(pod.status.podIP.startsWith(agent.podCIDR.replace(/\.0\.0\/16$/, '.')), `${pod.status.podIP} in ${agent.podCIDR}`);
    assert.deepEqual(pod.status.podIPs, [{ ip: pod.status.podIP }]);
    const types = Object.fromEntries(pod.status.conditions.map((c: Obj) => [c.type, c.status]));
    assert.deepEqual(types, { PodScheduled: 'True', PodReadyToStartContainers: 'True', Initialized: 'True', Ready: 'True', ContainersReady: 'True' });
    const init = pod.status.initContainerStatuses[0];
    assert.equal(init.state.terminated.exitCode, 0);
    assert.equal(init.state.terminated.reason, 'Completed');
    assert.ok(pod.status.containerStatuses[0].state.running.startedAt);
    assert.equal(pod.status.containerStatuses[0].ready, true);

    const served = (await (await fetch(`http://${pod.status.podIP}:8080/`)).json()) as Obj;
    assert.equal(served.message, 'copied by the init container\n');
    assert.equal(served.uid, USER);
    assert.equal(served.podIP, pod.status.podIP);
    assert.equal(served.secret, 's3cret');
    assert.equal(served.setting, 'on');
    assert.equal(served.greeting, 'hello from the image');
    assert.equal(served.hostname, pod.metadata.name);
    assert.equal(served.namespace, NS);
    assert.ok(served.caBytes > 100);
    // The projected service-account token (TokenRequest as the node) authenticates as the pod's account.
    const review = await ok('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: served.token } });
    assert.equal(review.status.authenticated, true, JSON.stringify(review.status));
    assert.equal(review.status.user.username, `system:serviceaccount:${NS}:default`);

    const logs = `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}/log`;
    assert.equal((await ok<string>('GET', `${logs}?container=copy`)).trim(), `copied as ${USER}`);
    const stamped = await ok<string>('GET', `${logs}?container=server&timestamps=true`);
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z listening on /);
    // Follow: the stream stays open until the container exits.
    const follow = await fetch(`${cp.url}${logs}?container=server&follow=true`, { dispatcher, headers: { authorization: `Bearer ${cp.token}` } });
    assert.equal(follow.status, 200);
    const followed = follow.text();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await (await fetch(`http://${pod.status.podIP}:8080/exit`)).text(), 'bye');
    const text = await followed;
    assert.match(text, /listening on .*\nexiting on request\n$/);

    const done = await until('Job web Complete', async () => {
      const j = await ok('GET', `/apis/batch/v1/namespaces/${NS}/jobs/web`);
      return j.status?.conditions?.some((c: Obj) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
    });
    assert.equal(done.status.succeeded, 1);
    const [finished] = await jobPods(NS, 'web');
    assert.equal(finished!.status.phase, 'Succeeded');
    assert.equal(finished!.status.containerStatuses[0].state.terminated.reason, 'Completed');
    assert.equal(finished!.status.conditions.find((c: Obj) => c.type === 'Ready').reason, 'PodCompleted');
    // Logs stay readable after the pod completed; tailLines cuts them.
    assert.equal(await ok<string>('GET', `${logs}?container=server&tailLines=1`), 'exiting on request\n');
  });

  it('mounts a PVC (pre-bound PV) with subPath and readOnly enforced', async () => {
    const data = path.join(work, 'pv-data');
    await mkdir(path.join(data, 'seed'), { recursive: true });
    await writeFile(path.join(data, 'seed', 'in.txt'), 'seeded');
    await chmod(data, 0o777);
    await ok('POST', '/api/v1/persistentvolumes', {
      metadata: { name: 'pv-data' },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'manual',
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: data, type: 'Directory' },
        claimRef: { namespace: NS, name: 'data' },
      },
    });
    await ok('POST', `/api/v1/namespaces/${NS}/persistentvolumeclaims`, {
      metadata: { name: 'data' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'manual', volumeName: 'pv-data', resources: { requests: { storage: '1Gi' } } },
    });
    await until('PVC data Bound', async () => (await ok('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/data`)).status?.phase === 'Bound');
    await ok(
      'POST',
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      job('pvc', {
        securityContext: RESTRICTED_POD,
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
        containers: [
          {
            name: 'main',
            image: 'lectern-test/tools:1',
            command: [
              'sh',
              '-c',
              'cat /seed/in.txt; echo; (echo x > /seed/new.txt) 2>/dev/null && echo seed-writable || echo seed-read-only; echo written > /out/result.txt && echo out-writable; ls /out',
            ],
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [
              { name: 'data', mountPath: '/seed', subPath: 'seed', readOnly: true },
              { name: 'data', mountPath: '/out', subPath: 'results' },
            ],
          },
        ],
      }),
    );
    await until('Job pvc Complete', async () => (await ok('GET', `/apis/batch/v1/namespaces/${NS}/jobs/pvc`)).status?.succeeded === 1);
    const [pod] = await jobPods(NS, 'pvc');
    const log = await ok<string>('GET', `/api/v1/namespaces/${NS}/pods/${pod!.metadata.name}/log`);
    assert.equal(log, 'seeded\nseed-read-only\nout-writable\nresult.txt\n');
    assert.equal(await readFile(path.join(data, 'results', 'result.txt'), 'utf8'), 'written\n');
    assert.equal((await stat(path.join(data, 'results', 'result.txt'))).uid, USER);
    await assert.rejects(stat(path.join(data, 'seed', 'new.txt')));
  });

  it('mounts hostPath and NFS (this host) volumes with subPath and readOnly', async () => {
    const hostDir = path.join(work, 'host');
    const exportDir = path.join(work, 'export');
    await mkdir(path.join(hostDir, 'conf'), { recursive: true });
    await mkdir(exportDir);
    await writeFile(path.join(hostDir, 'conf', 'app.conf'), 'conf=1');
    await writeFile(path.join(exportDir, 'shared.txt'), 'over nfs');
    await chmod(exportDir, 0o777);
    await ok('POST', `/api/v1/namespaces/${HOST_NS}/pods`, {
      metadata: { name: 'volumes' },
      spec: {
        restartPolicy: 'Never',
        securityContext: { runAsUser: USER, runAsGroup: USER },
        volumes: [
          { name: 'host', hostPath: { path: hostDir, type: 'Directory' } },
          { name: 'nfs', nfs: { server: '127.0.0.1', path: exportDir } },
          { name: 'nfs-ro', nfs: { server: 'localhost', path: exportDir, readOnly: true } },
          { name: 'scratch', emptyDir: {} },
        ],
        containers: [
          {
            name: 'main',
            image: 'lectern-test/tools:1',
            command: [
              'sh',
              '-c',
              'cat /etc/app/app.conf; echo; (touch /etc/app/x) 2>/dev/null && echo conf-writable || echo conf-read-only; cat /nfs/shared.txt; echo; echo back > /nfs/reply.txt && echo nfs-writable; (touch /nfs-ro/y) 2>/dev/null && echo ro-writable || echo nfs-ro-read-only; echo nested > /tmp/data/job/n.txt && echo nested-ok',
            ],
            volumeMounts: [
              { name: 'host', mountPath: '/etc/app', subPath: 'conf', readOnly: true },
              { name: 'nfs', mountPath: '/nfs' },
              { name: 'nfs-ro', mountPath: '/nfs-ro' },
              // A volume inside another (Lectern's data directory under an emptyDir /tmp).
              { name: 'scratch', mountPath: '/tmp' },
              { name: 'nfs', mountPath: '/tmp/data/job', subPath: 'job' },
            ],
          },
        ],
      },
    });
    const pod = await until('pod volumes Succeeded', async () => {
      const p = await ok('GET', `/api/v1/namespaces/${HOST_NS}/pods/volumes`);
      assert.notEqual(p.status.phase, 'Failed', JSON.stringify(p.status));
      return p.status.phase === 'Succeeded' ? p : undefined;
    });
    assert.equal(pod.status.containerStatuses[0].state.terminated.exitCode, 0);
    const log = await ok<string>('GET', `/api/v1/namespaces/${HOST_NS}/pods/volumes/log`);
    assert.equal(log, 'conf=1\nconf-read-only\nover nfs\nnfs-writable\nnfs-ro-read-only\nnested-ok\n');
    assert.equal(await readFile(path.join(exportDir, 'reply.txt'), 'utf8'), 'back\n');
    assert.equal(await readFile(path.join(exportDir, 'job', 'n.txt'), 'utf8'), 'nested\n');

    // An NFS server other than this host cannot be emulated: the pod waits with a FailedMount event.
    await ok('POST', `/api/v1/namespaces/${HOST_NS}/pods`, {
      metadata: { name: 'remote-nfs' },
      spec: {
        restartPolicy: 'Never',
        volumes: [{ name: 'n', nfs: { server: 'nfs.example.com', path: '/x' } }],
        containers: [{ name: 'main', image: 'lectern-test/tools:1', command: ['true'], volumeMounts: [{ name: 'n', mountPath: '/n' }] }],
      },
    });
    const event = await until('FailedMount event', async () => {
      const events = (await ok<{ items: Obj[] }>('GET', `/api/v1/namespaces/${HOST_NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=remote-nfs')}`)).items;
      return events.find((e) => e.reason === 'FailedMount');
    });
    assert.match(event.message, /nfs server nfs\.example\.com/);
    const waiting = await ok('GET', `/api/v1/namespaces/${HOST_NS}/pods/remote-nfs`);
    assert.equal(waiting.status.phase, 'Pending');
    assert.equal(waiting.status.containerStatuses[0].state.waiting.reason, 'ContainerCreating');
  });

  it('reports an image missing from the image map as ErrImagePull', async () => {
    const t0 = Date.now();
    await ok(
      'POST',
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      job('missing', { securityContext: RESTRICTED_POD, containers: [{ name: 'main', image: 'example.com/nope:1', command: ['true'], securityContext: RESTRICTED_CONTAINER }] }),
    );
    const waiting = await until(
      'ErrImagePull',
      async () => {
        const [p] = await jobPods(NS, 'missing');
        const w = p?.status?.containerStatuses?.[0]?.state?.waiting;
        return w?.reason === 'ErrImagePull' ? w : undefined;
      },
      20_000,
    );
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
    assert.match(waiting.message, /Failed to pull image "example\.com\/nope:1"/);
    const [pod] = await jobPods(NS, 'missing');
    assert.equal(pod!.status.phase, 'Pending');
    await ok('DELETE', `/apis/batch/v1/namespaces/${NS}/jobs/missing?propagationPolicy=Background`);
  });

  it('kills a container over its memory limit and reports OOMKilled', async () => {
    await ok(
      'POST',
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      job('oom', {
        securityContext: RESTRICTED_POD,
        containers: [
          {
            name: 'main',
            image: 'lectern-test/tools:1',
            // tail keeps all of a line in memory, and /dev/zero has no newline.
            command: ['tail', '/dev/zero'],
            resources: { limits: { memory: '64Mi' }, requests: { memory: '64Mi' } },
            securityContext: RESTRICTED_CONTAINER,
          },
        ],
      }),
    );
    const terminated = await until('OOMKilled', async () => {
      const [p] = await jobPods(NS, 'oom');
      return p?.status?.containerStatuses?.[0]?.state?.terminated;
    });
    assert.equal(terminated.reason, 'OOMKilled', `${agent.memoryLimits}: ${JSON.stringify(terminated)}`);
    assert.equal(terminated.exitCode, 137);
    await until('Job oom Failed', async () => (await ok('GET', `/apis/batch/v1/namespaces/${NS}/jobs/oom`)).status?.conditions?.some((c: Obj) => c.type === 'Failed' && c.status === 'True'));
  });

  it('gives parallel pods distinct IPs; deleting the Job stops them gracefully and removes the pods', async () => {
    await ok(
      'POST',
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      job(
        'sleepers',
        {
          securityContext: RESTRICTED_POD,
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'main',
              image: 'lectern-test/tools:1',
              command: ['sh', '-c', 'trap "echo got SIGTERM; exit 0" TERM; echo started; while :; do sleep 0.2; done'],
              securityContext: RESTRICTED_CONTAINER,
            },
          ],
        },
        { parallelism: 2, completions: 2 },
      ),
    );
    const pods = await until('two running sleepers', async () => {
      const ps = await jobPods(NS, 'sleepers');
      return ps.length === 2 && ps.every((p) => p.status?.phase === 'Running') ? ps : undefined;
    });
    // The trap is set once the shell said so: a SIGTERM before that would be ignored by the container's PID 1.
    for (const p of pods) await until(`${p.metadata.name} started`, async () => (await podLog(NS, p.metadata.name)).includes('started'));
    const [a, b] = pods.map((p) => p.status.podIP as string);
    assert.notEqual(a, b);
    const pids = await until('the container processes', async () => {
      const ps = await Promise.all(pods.map((p) => agent.processes(NS, p.metadata.name)));
      return ps.every((p) => p.length >= 2) ? ps.flat() : undefined;
    });
    // Watch them go: the last state each pod reports before it is deleted.
    const list = await ok('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Dsleepers`);
    const watch = await fetch(`${cp.url}/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Dsleepers&watch=true&timeoutSeconds=30&resourceVersion=${list.metadata.resourceVersion}`, {
      dispatcher,
      headers: { authorization: `Bearer ${cp.token}` },
    });
    await ok('DELETE', `/apis/batch/v1/namespaces/${NS}/jobs/sleepers?propagationPolicy=Background`);
    const last = new Map<string, Obj>();
    let buffer = '';
    for await (const chunk of watch.body!) {
      buffer += Buffer.from(chunk as Uint8Array).toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines.filter(Boolean)) {
        const e = JSON.parse(line) as { type: string; object: Obj };
        if (e.type === 'DELETED') last.set(e.object.metadata.name, e.object);
      }
      if (last.size === 2) break;
    }
    await watch.body?.cancel().catch(() => undefined);
    assert.equal(last.size, 2, 'both pods deleted');
    for (const p of last.values()) {
      // SIGTERM reached the shell's trap, which exited 0 well within terminationGracePeriodSeconds.
      assert.equal(p.status.containerStatuses[0].state.terminated?.exitCode, 0, JSON.stringify(p.status.containerStatuses[0]));
      assert.ok(p.metadata.deletionTimestamp);
    }
    await until('the sleepers gone', async () => (await jobPods(NS, 'sleepers')).length === 0, 30_000);
    assert.deepEqual(pids.filter(alive), []);
  });

  it('restarts a failed container under OnFailure (previous logs kept); tcpSocket and exec readiness probes', async () => {
    await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: 'restarts' },
      spec: {
        restartPolicy: 'OnFailure',
        terminationGracePeriodSeconds: 1,
        securityContext: RESTRICTED_POD,
        volumes: [{ name: 'state', emptyDir: {} }],
        containers: [
          {
            name: 'flaky',
            image: 'lectern-test/tools:1',
            command: [
              'sh',
              '-c',
              'if [ -f /state/ran ]; then echo second run; exec node -e "require(\'net\').createServer().listen(9090, process.env.POD_IP)"; fi; touch /state/ran; echo first run; exit 3',
            ],
            env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
            readinessProbe: { tcpSocket: { port: 9090 }, periodSeconds: 1 },
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [{ name: 'state', mountPath: '/state' }],
          },
          {
            name: 'probed',
            image: 'lectern-test/tools:1',
            // /tmp is the container's own: the exec probe only finds the file when it runs inside the container.
            command: ['sh', '-c', 'sleep 1; touch /tmp/ready; exec sleep 3600'],
            readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1 },
            securityContext: RESTRICTED_CONTAINER,
          },
        ],
      },
    });
    const pod = await until('pod restarts Ready', async () => {
      const p = await ok('GET', `/api/v1/namespaces/${NS}/pods/restarts`);
      return p.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    });
    const flaky = pod.status.containerStatuses.find((c: Obj) => c.name === 'flaky');
    assert.equal(flaky.restartCount, 1);
    assert.equal(flaky.lastState.terminated.exitCode, 3);
    assert.equal(flaky.lastState.terminated.reason, 'Error');
    assert.ok(flaky.state.running);
    assert.equal(await podLog(NS, 'restarts', '?container=flaky&previous=true'), 'first run\n');
    assert.equal(await podLog(NS, 'restarts', '?container=flaky'), 'second run\n');
    const later = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal(await podLog(NS, 'restarts', `?container=flaky&sinceTime=${encodeURIComponent(later)}`), '');
    assert.equal(await podLog(NS, 'restarts', '?container=flaky&limitBytes=6'), 'second');
    const noPrevious = await api('GET', `/api/v1/namespaces/${NS}/pods/restarts/log?container=probed&previous=true`);
    assert.equal(noPrevious.status, 400);
    const events = (await ok<{ items: Obj[] }>('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=restarts')}`)).items.map((e) => e.reason);
    for (const reason of ['Pulled', 'Created', 'Started', 'BackOff']) assert.ok(events.includes(reason), `${reason} in ${events}`);
    await ok('DELETE', `/api/v1/namespaces/${NS}/pods/restarts`);
    await until('pod restarts gone', async () => (await api('GET', `/api/v1/namespaces/${NS}/pods/restarts`)).status === 404, 30_000);
  });

  it('writes configMap, secret and downwardAPI volumes (fsGroup, modes, items) and resolves envFrom and resourceFieldRef', async () => {
    await ok('POST', `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: 'files' }, data: { 'a.txt': 'A', 'b.txt': 'B' } });
    await ok('POST', `/api/v1/namespaces/${NS}/secrets`, { metadata: { name: 'creds' }, stringData: { user: 'u', pass: 'p' } });
    await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: 'api-data', labels: { app: 'api-data' } },
      spec: {
        restartPolicy: 'Never',
        securityContext: { ...RESTRICTED_POD, fsGroup: 2000 },
        volumes: [
          { name: 'cm', configMap: { name: 'files', items: [{ key: 'a.txt', path: 'sub/renamed.txt' }] } },
          { name: 'sec', secret: { secretName: 'creds', defaultMode: 0o400 } },
          {
            name: 'info',
            downwardAPI: {
              items: [
                { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                { path: 'mem', resourceFieldRef: { containerName: 'main', resource: 'limits.memory', divisor: '1Mi' } },
              ],
            },
          },
        ],
        containers: [
          {
            name: 'main',
            image: 'lectern-test/tools:1',
            command: [
              'sh',
              '-c',
              'cat /cm/sub/renamed.txt; echo; ls /cm; cat /sec/pass; echo; stat -c "%a %g" /sec/pass; cat /info/labels; echo; cat /info/mem; echo; echo $S_user $LIMIT $NODE $(id -G); (echo x > /cm/new) 2>/dev/null || echo cm-read-only',
            ],
            envFrom: [{ secretRef: { name: 'creds' }, prefix: 'S_' }],
            env: [
              { name: 'LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
              { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            ],
            resources: { limits: { memory: '128Mi' } },
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [
              { name: 'cm', mountPath: '/cm' },
              { name: 'sec', mountPath: '/sec' },
              { name: 'info', mountPath: '/info' },
            ],
          },
        ],
      },
    });
    await until('pod api-data Succeeded', async () => {
      const p = await ok('GET', `/api/v1/namespaces/${NS}/pods/api-data`);
      assert.notEqual(p.status.phase, 'Failed', JSON.stringify(p.status));
      return p.status.phase === 'Succeeded';
    });
    assert.equal(await podLog(NS, 'api-data'), `A\nsub\np\n440 2000\napp="api-data"\n128\nu 128 n1 ${USER} 2000\ncm-read-only\n`);
  });

  it('runs a second node (extended resources, labels); stop() kills its pods and deletes the Node', async () => {
    // Watch requests of 1 s: the pod below arrives on a watch resumed from the last resourceVersion.
    const n2 = await startNodeAgent(cp, { name: 'n2', imagesFile, capacity: { 'nvidia.com/gpu': '1' }, labels: { 'lectern.test/pool': 'gpu' }, watchTimeoutSeconds: 1 });
    let stopped = false;
    try {
      const node = await ok('GET', '/api/v1/nodes/n2');
      assert.equal(node.status.allocatable['nvidia.com/gpu'], '1');
      assert.notEqual(n2.podCIDR, agent.podCIDR);
      // A second agent of the same name is refused and leaves the first one's Node alone.
      await assert.rejects(startNodeAgent(cp, { name: 'n2', imagesFile }), /Node n2 already exists/);
      assert.equal((await api('GET', '/api/v1/nodes/n2')).status, 200);
      await new Promise((r) => setTimeout(r, 2500));
      await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
        metadata: { name: 'on-gpu' },
        spec: {
          restartPolicy: 'Never',
          nodeSelector: { 'lectern.test/pool': 'gpu' },
          securityContext: RESTRICTED_POD,
          containers: [{ name: 'main', image: 'lectern-test/tools:1', command: ['sleep', '3600'], resources: { limits: { 'nvidia.com/gpu': '1' } }, securityContext: RESTRICTED_CONTAINER }],
        },
      });
      const pod = await until('pod on-gpu Running', async () => {
        const p = await ok('GET', `/api/v1/namespaces/${NS}/pods/on-gpu`);
        return p.status?.phase === 'Running' ? p : undefined;
      });
      assert.equal(pod.spec.nodeName, 'n2');
      assert.ok(pod.status.podIP.startsWith(n2.podCIDR.replace(/\.0\.0\/16$/, '.')));
      // bwrap and sleep (the container's PID 1)
      const pids = await until('the container processes', async () => {
        const ps = await n2.processes(NS, 'on-gpu');
        return ps.length >= 2 ? ps : undefined;
      });
      assert.ok(pids.every(alive), `pids ${pids}`);
      await n2.stop();
      stopped = true;
      assert.deepEqual(pids.filter(alive), []);
      assert.equal((await api('GET', '/api/v1/nodes/n2')).status, 404);
    } finally {
      if (!stopped) await n2.stop();
    }
  });

  it('runs postStart and preStop hooks inside the container and fails a pod past activeDeadlineSeconds', async () => {
    const out = path.join(work, 'hooks');
    await mkdir(out, { mode: 0o777 });
    await chmod(out, 0o777);
    await ok('POST', `/api/v1/namespaces/${HOST_NS}/pods`, {
      metadata: { name: 'hooks' },
      spec: {
        restartPolicy: 'Never',
        // sleep, PID 1 of its container, ignores SIGTERM: SIGKILL follows after the grace period.
        terminationGracePeriodSeconds: 2,
        securityContext: { runAsUser: USER, runAsGroup: USER },
        volumes: [{ name: 'out', hostPath: { path: out } }],
        containers: [
          {
            name: 'main',
            image: 'lectern-test/tools:1',
            // $$ is Kubernetes' escape for a literal $ in command and args.
            command: ['sh', '-c', 'echo $$$$ > /tmp/pid; exec sleep 3600'],
            lifecycle: {
              postStart: { exec: { command: ['sh', '-c', 'echo started as $(id -u) > /out/post-start'] } },
              // Reads the container's own /tmp: only possible from inside it.
              preStop: { exec: { command: ['sh', '-c', 'echo "stopping $(cat /tmp/pid)" > /out/pre-stop'] } },
            },
            volumeMounts: [{ name: 'out', mountPath: '/out' }],
          },
        ],
      },
    });
    await until('pod hooks Running', async () => {
      const p = await ok('GET', `/api/v1/namespaces/${HOST_NS}/pods/hooks`);
      assert.notEqual(p.status?.phase, 'Failed', JSON.stringify(p.status));
      return p.status?.phase === 'Running';
    });
    assert.equal(await readFile(path.join(out, 'post-start'), 'utf8'), `started as ${USER}\n`);
    await ok('DELETE', `/api/v1/namespaces/${HOST_NS}/pods/hooks`);
    await until('pod hooks gone', async () => (await api('GET', `/api/v1/namespaces/${HOST_NS}/pods/hooks`)).status === 404, 30_000);
    assert.match(await readFile(path.join(out, 'pre-stop'), 'utf8'), /^stopping \d+\n$/);

    await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: 'deadline' },
      spec: {
        restartPolicy: 'Never',
        activeDeadlineSeconds: 2,
        terminationGracePeriodSeconds: 1,
        securityContext: RESTRICTED_POD,
        containers: [{ name: 'main', image: 'lectern-test/tools:1', command: ['sleep', '3600'], securityContext: RESTRICTED_CONTAINER }],
      },
    });
    const failed = await until(
      'pod deadline Failed',
      async () => {
        const p = await ok('GET', `/api/v1/namespaces/${NS}/pods/deadline`);
        return p.status?.phase === 'Failed' ? p : undefined;
      },
      30_000,
    );
    assert.equal(failed.status.reason, 'DeadlineExceeded');
    assert.ok(failed.status.containerStatuses[0].state.terminated);
  });

  it('restarts a container that fails its liveness probe; a startup probe holds back started and ready', async () => {
    await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: 'liveness' },
      spec: {
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 1,
        securityContext: RESTRICTED_POD,
        containers: [
          {
            name: 'live',
            image: 'lectern-test/tools:1',
            command: ['sh', '-c', 'touch /tmp/healthy; sleep 1; rm /tmp/healthy; exec sleep 3600'],
            livenessProbe: { exec: { command: ['test', '-f', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2 },
            securityContext: RESTRICTED_CONTAINER,
          },
          {
            name: 'slow',
            image: 'lectern-test/tools:1',
            command: ['sh', '-c', 'sleep 4; touch /tmp/up; exec sleep 3600'],
            startupProbe: { exec: { command: ['test', '-f', '/tmp/up'] }, periodSeconds: 1, failureThreshold: 30 },
            securityContext: RESTRICTED_CONTAINER,
          },
        ],
      },
    });
    const early = await until('pod liveness Running', async () => {
      const p = await ok('GET', `/api/v1/namespaces/${NS}/pods/liveness`);
      return p.status?.phase === 'Running' ? p : undefined;
    });
    const slowEarly = early.status.containerStatuses.find((c: Obj) => c.name === 'slow');
    assert.equal(slowEarly.started, false);
    assert.equal(slowEarly.ready, false);
    const later = await until(
      'a liveness restart and the slow container started',
      async () => {
        const p = await ok('GET', `/api/v1/namespaces/${NS}/pods/liveness`);
        const [live, slow] = ['live', 'slow'].map((n) => p.status.containerStatuses.find((c: Obj) => c.name === n));
        return live.restartCount >= 1 && slow.started && slow.ready ? p : undefined;
      },
      60_000,
    );
    const live = later.status.containerStatuses.find((c: Obj) => c.name === 'live');
    assert.equal(live.lastState.terminated.reason, 'Error');
    const events = (await ok<{ items: Obj[] }>('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=liveness')}`)).items.map(
      (e) => `${e.reason}: ${e.message}`,
    );
    assert.ok(
      events.some((e) => /^Killing: Container live failed liveness probe/.test(e)),
      events.join('\n'),
    );
    assert.ok(
      events.some((e) => /^Unhealthy: Startup probe failed/.test(e)),
      events.join('\n'),
    );
    await ok('DELETE', `/api/v1/namespaces/${NS}/pods/liveness`);
    await until('pod liveness gone', async () => (await api('GET', `/api/v1/namespaces/${NS}/pods/liveness`)).status === 404, 30_000);
  });

  it('reports configuration errors (missing Secret key, runAsNonRoot as root) and fails a pod whose init container fails', async () => {
    const waitingReason = async (pod: string) =>
      until(`a waiting reason for ${pod}`, async () => {
        const p = await ok('GET', `/api/v1/namespaces/${NS}/pods/${pod}`);
        const w = p.status?.containerStatuses?.[0]?.state?.waiting;
        return w && w.reason !== 'ContainerCreating' ? w : undefined;
      });
    await ok('POST', `/api/v1/namespaces/${NS}/secrets`, { metadata: { name: 'partial' }, stringData: { present: 'yes' } });
    await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: 'no-key' },
      spec: {
        securityContext: RESTRICTED_POD,
        containers: [
          {
            name: 'main',
            image: 'lectern-test/tools:1',
            command: ['true'],
            env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'partial', key: 'nope' } } }],
            securityContext: RESTRICTED_CONTAINER,
          },
        ],
      },
    });
    const noKey = await waitingReason('no-key');
    assert.equal(noKey.reason, 'CreateContainerConfigError');
    assert.match(noKey.message, /couldn't find key nope in Secret node-test\/partial/);

    // Pod Security lets runAsNonRoot through without a uid; the image (no USER) would run as root.
    await ok('POST', `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: 'as-root' },
      spec: {
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{ name: 'main', image: 'lectern-test/tools:1', command: ['true'], securityContext: RESTRICTED_CONTAINER }],
      },
    });
    const asRoot = await waitingReason('as-root');
    assert.equal(asRoot.reason, 'CreateContainerConfigError');
    assert.match(asRoot.message, /runAsNonRoot and image will run as root/);

    await ok(
      'POST',
      `/apis/batch/v1/namespaces/${NS}/jobs`,
      job('init-fails', {
        securityContext: RESTRICTED_POD,
        initContainers: [{ name: 'setup', image: 'lectern-test/tools:1', command: ['sh', '-c', 'echo cannot set up >&2; exit 4'], securityContext: RESTRICTED_CONTAINER }],
        containers: [{ name: 'main', image: 'lectern-test/tools:1', command: ['true'], securityContext: RESTRICTED_CONTAINER }],
      }),
    );
    await until('Job init-fails Failed', async () =>
      (await ok('GET', `/apis/batch/v1/namespaces/${NS}/jobs/init-fails`)).status?.conditions?.some((c: Obj) => c.type === 'Failed' && c.status === 'True'),
    );
    const [pod] = await jobPods(NS, 'init-fails');
    assert.equal(pod!.status.phase, 'Failed');
    assert.equal(pod!.status.initContainerStatuses[0].state.terminated.exitCode, 4);
    assert.equal(pod!.status.containerStatuses[0].state.waiting.reason, 'PodInitializing');
    assert.equal(await podLog(NS, pod!.metadata.name, '?container=setup'), 'cannot set up\n');
    for (const name of ['no-key', 'as-root']) await ok('DELETE', `/api/v1/namespaces/${NS}/pods/${name}`);
  });

  it('falls back to RLIMIT_AS for memory limits when no cgroup is writable', async () => {
    const { CgroupLayout } = await import('../../src/launcher/local/cgroup.js');
    const { SandboxedContainer, findTools } = await import('../support/kube-node/sandbox.js');
    let stderr = '';
    const container = await SandboxedContainer.start(
      {
        key: 'rlimit-test',
        command: ['tail', '/dev/zero'],
        env: { PATH: '/usr/bin:/bin' },
        mounts: [],
        workingDir: '/',
        hostname: 'rlimit',
        uid: USER,
        gid: USER,
        supplementalGroups: [],
        memoryLimitBytes: 64 << 20,
      },
      await findTools(),
      CgroupLayout.none('testing the fallback'),
      (stream, chunk) => {
        if (stream === 'stderr') stderr += chunk.toString();
      },
    );
    const exit = await container.exited;
    assert.notEqual(exit.exitCode, 0);
    assert.equal(exit.oomKilled, false);
    assert.match(stderr, /memory exhausted|Cannot allocate memory/i);
  });
});
