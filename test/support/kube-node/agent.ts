// The test bed's node agent: a small kubelet for tests. It registers a Node as system:node:<name>, keeps
// it Ready (status and Lease), runs the pods bound to it as bubblewrap sandboxes (PodWorker), and serves
// the kubelet API (container logs) that the API server proxies pods/log to. See docs/kube-testbed.md.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { CgroupLayout } from '../../../src/launcher/local/cgroup.js';
import { issueCertificate, startWatchdog, type ControlPlane } from '../kube.js';
import { PodAddresses } from './addresses.js';
import { ApiError, KubeClient, type Obj } from './client.js';
import { now } from './container.js';
import { startKubeletServer } from './logs.js';
import { deletePodNow, PodWorker, type PodHost } from './pod.js';
import { findTools } from './sandbox.js';

export interface NodeAgentOptions {
  /** The Node's name (a DNS label). */
  name: string;
  /** The image map (YAML or JSON): image name → host directories standing in for its content; see images.ts. */
  imagesFile: string;
  /** Where pods' emptyDirs and API data go; default a directory in the control plane's (removed with it). */
  dataDir?: string;
  /** Capacity (= allocatable) to report; defaults: this machine's CPUs and memory, 110 pods. Extended resources such as `nvidia.com/gpu` may be added. */
  capacity?: Record<string, string>;
  /** Extra Node labels (NodeRestriction refuses node-role.kubernetes.io/* and other kubernetes.io labels). */
  labels?: Record<string, string>;
  /** Taints to register with (kubelet's --register-with-taints). */
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** First restart back-off of a crashed container; kubelet's is 10 s (doubling to 5 min). */
  restartBackoffSeconds?: number;
  /** How long each pod watch request lasts before the agent resumes from its last resourceVersion (default 300). */
  watchTimeoutSeconds?: number;
}

export interface NodeAgent {
  name: string;
  /** The loopback range pod IPs come from (127.N.0.0/16). */
  podCIDR: string;
  /** The kubelet API's port on 127.0.0.1 (status.daemonEndpoints.kubeletEndpoint.Port). */
  kubeletPort: number;
  /** How memory limits are enforced here (cgroup v1/v2, or RLIMIT_AS when no cgroup is writable). */
  memoryLimits: string;
  /** Host pids of a running pod's container processes (not the sandbox's own), for tests of clean-up. */
  processes(namespace: string, pod: string): Promise<number[]>;
  /** Stops every pod (SIGKILL), the watch and the lease, deletes the Node, removes what the agent wrote. Idempotent. */
  stop(): Promise<void>;
}

const LEASE_SECONDS = 40;
const RENEW_MS = 10_000;
const STATUS_MS = 60_000;

/** Registers the node and resolves once it is Ready and schedulable (the not-ready taint removed). */
export async function startNodeAgent(cp: Pick<ControlPlane, 'url' | 'caFile' | 'dir' | 'token'>, options: NodeAgentOptions): Promise<NodeAgent> {
  const { name } = options;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) throw new Error(`node name ${JSON.stringify(name)} is not a DNS label`);
  // Containers run as their runAsUser and cgroups are created for them: only root can do that.
  if (process.getuid?.() !== 0) throw new Error("the test bed node agent must run as root (it switches to each pod's runAsUser and creates cgroups)");
  const [cgroups, tools] = await Promise.all([CgroupLayout.detect(), findTools()]);
  const user = `system:node:${name}`;
  // The certificates live in the control plane's directory and go with it.
  const clientCert = await issueCertificate(cp, { name: `node-${name}-client`, commonName: user, organizations: ['system:nodes'], usage: 'client' });
  const servingCert = await issueCertificate(cp, { name: `node-${name}-serving`, commonName: user, organizations: ['system:nodes'], usage: 'server', ips: ['127.0.0.1'], dns: [name, 'localhost'] });

  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(cp.dir, `node-${name}-`)));
  const podsDir = path.join(dataDir, 'pods');
  // Container processes die with this process (bwrap --die-with-parent); the watchdog removes the files
  // pods leave when it dies without stop() (even by SIGKILL), as the control plane's does.
  const watchdog = startWatchdog(ownDataDir ? dataDir : podsDir);
  const client = new KubeClient(cp.url, { caFile: cp.caFile, ...clientCert });
  const addresses = PodAddresses.claim();
  const workers = new Map<string, PodWorker>();
  const abort = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  let kubelet: Awaited<ReturnType<typeof startKubeletServer>> | undefined;
  let registered = false;
  const warn = (message: string) => {
    if (!abort.signal.aborted) console.error(`[kube-node ${name}] ${message}`);
  };

  const cleanup = async () => {
    abort.abort();
    for (const t of timers) clearInterval(t);
    await Promise.all(
      [...workers.values()].map(async (w) => {
        await w.halt(0);
        await w.cleanUp();
      }),
    );
    workers.clear();
    await kubelet?.close();
    addresses.close();
    // As the administrator: the pods still bound to the Node are then removed by the pod GC.
    if (registered) await fetchAsAdmin(cp, 'DELETE', `/api/v1/nodes/${name}`).catch(() => undefined);
    await client.close();
    if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
    else await rm(podsDir, { recursive: true, force: true });
    watchdog.stdin?.end('stop\n');
  };

  try {
    await mkdir(podsDir, { recursive: true, mode: 0o755 });
    kubelet = await startKubeletServer({
      host: '127.0.0.1',
      caFile: cp.caFile,
      ...servingCert,
      lookup: (ns, podName, containerName, previous) => {
        const worker = workers.get(`${ns}/${podName}`);
        if (!worker) return { status: 404, error: `pod "${podName}" in namespace "${ns}" not found` };
        const c = worker.container(containerName);
        if (!c) return { status: 400, error: `container ${containerName} is not valid for pod ${podName}` };
        if (previous) return c.previousLog ? { log: c.previousLog } : { status: 400, error: `previous terminated container "${containerName}" in pod "${podName}" not found` };
        if (!c.containerID) {
          const reason = 'waiting' in c.state ? c.state.waiting.reason : 'ContainerCreating';
          return { status: 400, error: `container "${containerName}" in pod "${podName}" is waiting to start: ${reason}` };
        }
        return { log: c.log };
      },
    });

    const version = ((await client.get('/version')).gitVersion as string | undefined) ?? 'v0.0.0';
    const cpus = os.cpus().length;
    const capacity: Record<string, string> = { cpu: String(cpus), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110', 'ephemeral-storage': '100Gi', ...options.capacity };
    const labels = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': goArch(), ...options.labels };
    try {
      await client.request('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: { ...(options.taints ? { taints: options.taints } : {}) } });
      registered = true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) throw new Error(`Node ${name} already exists: another node agent registered it; give this one another name`);
      throw err;
    }
    const machineID = randomBytes(16).toString('hex');
    const nodeStatus = () => ({
      status: {
        capacity,
        allocatable: capacity,
        conditions: [
          { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
          { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
          { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
          { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
        ].map((c) => ({ ...c, lastHeartbeatTime: now(), lastTransitionTime: startedAt })),
        addresses: [
          { type: 'InternalIP', address: '127.0.0.1' },
          { type: 'Hostname', address: name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: kubelet!.port } },
        nodeInfo: {
          machineID,
          systemUUID: machineID,
          bootID: machineID,
          kernelVersion: os.release(),
          osImage: 'Lectern test bed node agent (bubblewrap sandboxes)',
          containerRuntimeVersion: 'lectern-kube-node://1',
          kubeletVersion: version,
          operatingSystem: 'linux',
          architecture: goArch(),
        },
      },
    });
    const startedAt = now();
    const postStatus = () => client.mergePatch(`/api/v1/nodes/${name}/status`, nodeStatus());
    const node = await postStatus();
    await renewLease(client, name, node.metadata.uid as string, true);
    timers.push(
      setInterval(() => void renewLease(client, name, node.metadata.uid as string, false).catch((err: Error) => warn(`lease renewal failed: ${err.message}`)), RENEW_MS),
      setInterval(() => void postStatus().catch((err: Error) => warn(`node status update failed: ${err.message}`)), STATUS_MS),
    );
    for (const t of timers) t.unref();

    const host: PodHost = {
      client,
      hostIP: '127.0.0.1',
      apiServer: { host: new URL(cp.url).hostname, port: new URL(cp.url).port || '443' },
      imagesFile: options.imagesFile,
      cgroups,
      tools,
      allocatable: capacity,
      podsDir,
      restartBackoffSeconds: options.restartBackoffSeconds ?? 10,
      warn,
      event: (pod, type, reason, message) => void postEvent(client, name, pod, type, reason, message).catch((err: Error) => warn(`event ${reason} not recorded: ${err.message}`)),
    };

    const onPod = async (type: string, pod: Obj) => {
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      let worker = workers.get(key);
      if (worker && worker.pod.metadata.uid !== pod.metadata.uid) {
        // A new pod of the same name: the old one is gone.
        await retire(worker);
        worker = undefined;
      }
      if (type === 'DELETED') {
        if (worker) await retire(worker);
        return;
      }
      if (!worker) {
        const phase = pod.status?.phase as string | undefined;
        // Deleted before it ran, or over before this agent started: nothing to run, at most the final delete.
        if (pod.metadata.deletionTimestamp) return deletePodNow(client, pod);
        if (phase === 'Succeeded' || phase === 'Failed' || abort.signal.aborted) return;
        // hostNetwork pods have the node's address; the others one of their own.
        worker = new PodWorker(host, pod, pod.spec.hostNetwork ? host.hostIP : addresses.allocate());
        workers.set(key, worker);
        worker.start();
      } else worker.update(pod);
      if (pod.metadata.deletionTimestamp) void worker.remove();
    };
    const retire = async (worker: PodWorker) => {
      workers.delete(worker.key);
      await worker.halt(0);
      await worker.cleanUp();
      if (!worker.pod.spec.hostNetwork) addresses.release(worker.ip);
    };
    // Events of one pod are handled in order; different pods do not wait for each other.
    const queues = new Map<string, Promise<void>>();
    void client.listWatch(
      `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${name}`)}`,
      (e) => {
        const key = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
        const next = (queues.get(key) ?? Promise.resolve()).then(() => onPod(e.type, e.object)).catch((err: Error) => warn(`pod ${key}: ${err.stack ?? err.message}`));
        queues.set(key, next);
        void next.then(() => {
          if (queues.get(key) === next) queues.delete(key);
        });
      },
      abort.signal,
      (err) => warn(`pod watch: ${err.message}`),
      options.watchTimeoutSeconds,
    );

    await waitSchedulable(client, name, new Set((options.taints ?? []).map((t) => t.key)));
    let stopped: Promise<void> | undefined;
    return {
      name,
      podCIDR: addresses.cidr,
      kubeletPort: kubelet.port,
      memoryLimits: cgroups.has('memory') ? cgroups.describe() : `RLIMIT_AS (${cgroups.describe()})`,
      async processes(namespace, pod) {
        return (await workers.get(`${namespace}/${pod}`)?.processes()) ?? [];
      },
      stop() {
        stopped ??= cleanup();
        return stopped;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
}

async function fetchAsAdmin(cp: Pick<ControlPlane, 'url' | 'caFile' | 'token'>, method: string, p: string): Promise<void> {
  const dispatcher = new Agent({ connect: { ca: readFileSync(cp.caFile, 'utf8') } });
  try {
    const res = await fetch(`${cp.url}${p}`, { method, dispatcher, headers: { authorization: `Bearer ${cp.token}` } });
    await res.body?.cancel();
  } finally {
    await dispatcher.close();
  }
}

/** The node's Lease in kube-node-lease: what the node-lifecycle controller watches to know the node is alive. */
async function renewLease(client: KubeClient, name: string, nodeUid: string, create: boolean): Promise<void> {
  const renewTime = new Date().toISOString().replace(/Z$/, '000Z');
  const leases = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';
  if (create) {
    try {
      await client.request('POST', leases, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: 'kube-node-lease', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: nodeUid }] },
        spec: { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime },
      });
      return;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
    }
  }
  await client.mergePatch(`${leases}/${name}`, { spec: { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime } });
}

/** Until the node-lifecycle controller has removed the node.kubernetes.io/* taints (other than the agent's own). */
async function waitSchedulable(client: KubeClient, name: string, own: Set<string>): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const node = await client.get(`/api/v1/nodes/${name}`);
    const taints = ((node.spec?.taints ?? []) as { key: string }[]).filter((t) => t.key.startsWith('node.kubernetes.io/') && !own.has(t.key));
    if (!taints.length) return;
    if (Date.now() > deadline) throw new Error(`node ${name} still has taints ${taints.map((t) => t.key).join(', ')} after 90 s (is the node-lifecycle controller running?)`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function postEvent(client: KubeClient, node: string, pod: Obj, type: string, reason: string, message: string): Promise<void> {
  const at = now();
  await client.request('POST', `/api/v1/namespaces/${pod.metadata.namespace}/events`, {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${pod.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: pod.metadata.namespace },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid, resourceVersion: pod.metadata.resourceVersion },
    reason,
    message,
    type,
    source: { component: 'kubelet', host: node },
    reportingComponent: 'kubelet',
    reportingInstance: node,
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  });
}
