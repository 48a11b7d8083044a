// What the test bed's real node (kubelet, containerd, runc, the CNI bridge) does, as seen through
// the API server: the facts every other Kubernetes test stands on. Nothing of Lectern runs here.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/real-node.test.ts
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { KubeObject } from '../../src/launcher/kubernetes/kube-api.js';
import { eventually } from '../support/eventually.js';
import { kubeBinDir } from '../support/kube.js';
import { type TestBed, openTestBed } from '../support/kube-testbed/client.js';

type Obj = Record<string, any>;
const run = promisify(execFile);

// Pod Security "restricted", which every namespace the test bed prepares enforces.
const RESTRICTED_POD = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } };
const RESTRICTED_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

// A server that answers with what it sees, and exits when asked (so its Job completes).
const SERVER = `
import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"uid": os.getuid(), "message": open("/work/message.txt").read(), "podIP": os.environ["POD_IP"], "hostname": os.uname().nodename}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers(); self.wfile.write(body)
        if self.path == "/exit":
            print("exiting on request", flush=True); os._exit(0)
    def log_message(self, *a): pass
print("listening on", os.environ["POD_IP"], flush=True)
http.server.HTTPServer(("0.0.0.0", 8080), H).serve_forever()
`;

describe('the real node', { timeout: 10 * 60_000 }, () => {
  let tb: TestBed;
  let ns: Awaited<ReturnType<TestBed['namespace']>>;
  let content: string;
  let init: string;
  const pods = () => `/api/v1/namespaces/${ns.namespace}/pods`;

  /** `kubectl exec` as the administrator: API server → the kubelet's serving certificate → containerd. */
  async function exec(pod: string, container: string, command: string[]): Promise<string> {
    const { stdout } = await run(path.join(kubeBinDir(), 'kubectl'), ['--kubeconfig', tb.state.adminKubeconfig, '-n', ns.namespace, 'exec', pod, '-c', container, '--', ...command], {
      timeout: 30_000,
    });
    return stdout;
  }

  /** pods/log through the API server (the kubelet serves it). */
  async function podLog(pod: string, query: Record<string, string>): Promise<string> {
    const signal = AbortSignal.timeout(60_000);
    const lines: string[] = [];
    for await (const line of tb.admin.lines(`${pods()}/${pod}/log`, query, signal)) lines.push(line);
    return lines.join('\n');
  }

  function pod(name: string, spec: Obj): Obj {
    return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { restartPolicy: 'Never', securityContext: RESTRICTED_POD, ...spec } };
  }

  function container(name: string, command: string[], extra: Obj = {}): Obj {
    return { name, image: content, command, securityContext: RESTRICTED_CONTAINER, ...extra };
  }

  async function podWhen(name: string, what: string, check: (p: Obj) => boolean, timeoutMs = 90_000): Promise<Obj> {
    return eventually(
      `pod ${name} ${what}`,
      async () => {
        const p = await tb.admin.find<KubeObject>(`${pods()}/${name}`);
        return p && check(p) ? (p as Obj) : undefined;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  const ready = (p: Obj) => p.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True');

  before(async () => {
    tb = await openTestBed();
    ns = await tb.namespace('real-node');
    content = tb.image('content-debian');
    init = tb.image('runtime-init');
  });

  after(async () => {
    await ns?.remove();
    await tb?.close();
  });

  it('registers node-1 Ready, with the kubelet and containerd versions the test bed builds', async () => {
    const node = (await tb.admin.get(`/api/v1/nodes/${tb.state.node.name}`)) as Obj;
    assert.equal(node.metadata.name, 'node-1');
    assert.equal(node.status.conditions.find((c: Obj) => c.type === 'Ready').status, 'True');
    assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.37.2');
    // containerd built with `go install` (no VCS stamp) reports its version as "2.4.2+unknown".
    assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/2\.4\.2(\+unknown)?$/);
    assert.deepEqual(
      node.status.addresses.find((a: Obj) => a.type === 'InternalIP'),
      { type: 'InternalIP', address: tb.state.node.ip },
    );
    assert.ok(!(node.spec.taints ?? []).length, `taints: ${JSON.stringify(node.spec.taints)}`);
    const lease = (await tb.admin.get('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1')) as Obj;
    assert.equal(lease.spec.holderIdentity, 'node-1');
    console.log(`node-1: kubelet ${node.status.nodeInfo.kubeletVersion}, runtime ${node.status.nodeInfo.containerRuntimeVersion}, kernel ${node.status.nodeInfo.kernelVersion}`);
  });

  it('runs a Job whose init container fills an emptyDir; the server answers on its pod IP; logs follow through the API server; the Job completes', async () => {
    const created = Date.now();
    await tb.admin.create(`/apis/batch/v1/namespaces/${ns.namespace}/jobs`, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'web' },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            restartPolicy: 'Never',
            securityContext: RESTRICTED_POD,
            volumes: [{ name: 'work', emptyDir: {} }],
            initContainers: [
              {
                name: 'copy',
                image: init,
                command: ['sh', '-c', 'cp -r /lectern/runtime /work/runtime && echo "copied by the init container" > /work/message.txt && echo copied as $(id -u)'],
                securityContext: RESTRICTED_CONTAINER,
                volumeMounts: [{ name: 'work', mountPath: '/work' }],
              },
            ],
            containers: [
              container('server', ['/usr/bin/python3', '-c', SERVER], {
                env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
                ports: [{ name: 'http', containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 },
                volumeMounts: [{ name: 'work', mountPath: '/work' }],
              }),
            ],
          },
        },
      },
    });
    const name = await eventually('the Job controller to create a pod', async () => {
      const list = await tb.admin.list(pods(), { labelSelector: 'job-name=web' });
      return list.items[0]?.metadata.name;
    });
    const running = await podWhen(name, 'Running', (p) => p.status?.phase === 'Running');
    const runningMs = Date.now() - created;
    const p = await podWhen(name, 'Ready', ready);
    // The first pod of a fresh test bed also pulls the content image from the registry.
    console.log(`Job web: pod Running ${runningMs} ms and Ready ${Date.now() - created} ms after the Job was created`);
    assert.equal(running.spec.nodeName, 'node-1');
    assert.ok(p.status.podIP.startsWith('10.'), `pod IP ${p.status.podIP} on the node's bridge`);
    assert.equal(p.status.podIP.split('.').slice(0, 3).join('.'), tb.state.network.podCidr.split('.').slice(0, 3).join('.'));
    const [initStatus] = p.status.initContainerStatuses;
    assert.equal(initStatus.state.terminated.exitCode, 0);
    assert.equal(initStatus.state.terminated.reason, 'Completed');
    for (const c of [...p.status.initContainerStatuses, ...p.status.containerStatuses]) {
      assert.match(c.containerID, /^containerd:\/\/[0-9a-f]{64}$/, `${c.name}'s container id`);
      assert.match(c.imageID, /@sha256:[0-9a-f]{64}$/, `${c.name}'s image id`);
    }
    console.log(`container ids: ${p.status.containerStatuses[0].containerID}`);

    const served = (await (await fetch(`http://${p.status.podIP}:8080/`, { signal: AbortSignal.timeout(10_000) })).json()) as Obj;
    assert.deepEqual(served, { uid: 1000, message: 'copied by the init container\n', podIP: p.status.podIP, hostname: name });
    assert.ok((await exec(name, 'server', ['ls', '/work/runtime/python'])).includes('lectern_run.py'), "the init image's runtime was copied");

    assert.equal(await podLog(name, { container: 'copy' }), 'copied as 1000');
    assert.match(await podLog(name, { container: 'server', timestamps: 'true' }), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z listening on /);
    // Followed: the stream stays open until the container exits.
    const followed = podLog(name, { container: 'server', follow: 'true' });
    await new Promise((r) => setTimeout(r, 300));
    await fetch(`http://${p.status.podIP}:8080/exit`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    assert.match(await followed, /listening on .*\nexiting on request$/);

    const done = await eventually(
      'Job web Complete',
      async () => {
        const j = (await tb.admin.get(`/apis/batch/v1/namespaces/${ns.namespace}/jobs/web`)) as Obj;
        return j.status?.conditions?.some((c: Obj) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(done.status.succeeded, 1);
    const finished = await podWhen(name, 'Succeeded', (x) => x.status?.phase === 'Succeeded');
    assert.equal(finished.status.containerStatuses[0].state.terminated.reason, 'Completed');
    assert.equal(await podLog(name, { container: 'server', tailLines: '1' }), 'exiting on request', 'logs stay readable after the pod completed');
  });

  it('OOMKills a container over its memory limit (exit 137)', async () => {
    await tb.admin.create(
      pods(),
      pod('oom', { containers: [container('c', ['/usr/bin/python3', '-c', 'x = bytearray(300 * 1024 * 1024); print(len(x))'], { resources: { limits: { memory: '64Mi' } } })] }),
    );
    const p = await podWhen('oom', 'Failed', (x) => x.status?.phase === 'Failed');
    const terminated = p.status.containerStatuses[0].state.terminated;
    assert.equal(terminated.reason, 'OOMKilled');
    assert.equal(terminated.exitCode, 137);
  });

  it("puts a CPU limit into the container's cgroup (cgroup v1 cpu.cfs_quota_us, seen by exec)", async () => {
    const created = Date.now();
    await tb.admin.create(
      pods(),
      pod('cpu', {
        terminationGracePeriodSeconds: 1,
        containers: [container('c', ['/usr/bin/python3', '-c', 'import time; time.sleep(3600)'], { resources: { limits: { cpu: '250m', memory: '64Mi' } } })],
      }),
    );
    await podWhen('cpu', 'Running', (x) => x.status?.phase === 'Running');
    console.log(`pod cpu (image already pulled): Running ${Date.now() - created} ms after it was created`);
    // The container's own cgroup is the root of its view of the cpu hierarchy.
    const quota = await exec('cpu', 'c', ['sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/memory/memory.limit_in_bytes']);
    const [q, period, memory] = quota.trim().split('\n').map(Number);
    assert.equal(q! / period!, 0.25, `quota ${q} / period ${period}`);
    assert.equal(memory, 64 * 1024 * 1024);
    await tb.admin.delete(`${pods()}/cpu`, { gracePeriodSeconds: 0 });
  });

  it("mounts the projected service-account token when the pod's service account asks for it, and only then", async () => {
    const accounts = `/api/v1/namespaces/${ns.namespace}/serviceaccounts`;
    await tb.admin.create(accounts, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'with-token' }, automountServiceAccountToken: true });
    await tb.admin.create(accounts, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'without-token' }, automountServiceAccountToken: false });
    const sleeper = (account: string) =>
      pod(`sa-${account}`, { serviceAccountName: account, terminationGracePeriodSeconds: 1, containers: [container('c', ['/usr/bin/python3', '-c', 'import time; time.sleep(3600)'])] });
    await tb.admin.create(pods(), sleeper('with-token'));
    await tb.admin.create(pods(), sleeper('without-token'));
    const withToken = await podWhen('sa-with-token', 'Running', (x) => x.status?.phase === 'Running');
    await podWhen('sa-without-token', 'Running', (x) => x.status?.phase === 'Running');

    const projected = withToken.spec.volumes.find((v: Obj) => v.projected)?.projected;
    assert.ok(
      projected?.sources.some((s: Obj) => s.serviceAccountToken),
      `a projected token volume: ${JSON.stringify(withToken.spec.volumes)}`,
    );
    const token = await exec('sa-with-token', 'c', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']);
    const review = (await tb.admin.create('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } })) as Obj;
    assert.equal(review.status.authenticated, true, JSON.stringify(review.status));
    assert.equal(review.status.user.username, `system:serviceaccount:${ns.namespace}:with-token`);
    // The kubelet binds the token to the pod (TokenRequest as the node).
    assert.equal(review.status.user.extra?.['authentication.kubernetes.io/pod-name']?.[0], 'sa-with-token');
    const ca = await exec('sa-with-token', 'c', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt']);
    assert.match(ca, /^-----BEGIN CERTIFICATE-----/);

    await assert.rejects(exec('sa-without-token', 'c', ['ls', '/var/run/secrets/kubernetes.io/serviceaccount']), /No such file or directory/);
    for (const account of ['with-token', 'without-token']) await tb.admin.delete(`${pods()}/sa-${account}`, { gracePeriodSeconds: 0 });
  });
});
