// The test bed's node: a real kubelet and containerd (with runc and the CNI bridge plugin) registered
// with the control plane, inside the test bed's network namespace (this process runs there), started
// by run-node.sh in a private mount namespace. Pods get addresses on a bridge in that network namespace; images are pulled
// from the test bed's registry (containerd's hosts.toml points the public registries' names at it).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { issueCertificate, kubeconfigWithCertificate, type ControlPlane } from '../kube.js';
import type { NodeNetwork } from './network.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface NodeOptions {
  name: string;
  /** Where containerd, the kubelet and their state live; removed by stop(). */
  dir: string;
  bin: string;
  network: NodeNetwork;
  /** The test bed's registry, `127.0.0.1:<port>`: what every image name below resolves to. */
  registry: string;
  /** The pause image, as containerd should pull it. */
  sandboxImage: string;
}

export interface RealNode {
  name: string;
  ip: string;
  /** The kubelet's log so far (for failure messages). */
  kubeletLog(): Promise<string>;
  /** Kills the kubelet (pods keep running, as on a real node) and starts it again. */
  restartKubelet(): Promise<void>;
  stop(): Promise<void>;
}

/** Registries whose image names the node pulls from the test bed's registry instead (no registry is reachable here). */
const MIRRORED = ['docker.io', 'ghcr.io', 'registry.k8s.io', 'quay.io'];

export async function startNode(cp: ControlPlane, options: NodeOptions): Promise<RealNode> {
  const { dir, bin, network, name } = options;
  await mkdir(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  const cgroup = `lectern-kt-${network.id}`;

  // The kubelet's identity (Node authorizer, NodeRestriction) and the certificate it serves its API
  // with, which the API server checks against the test bed's CA for logs and exec.
  const client = await issueCertificate(cp, { name: `kubelet-${name}-client`, commonName: `system:node:${name}`, organizations: ['system:nodes'], usage: 'client' });
  const serving = await issueCertificate(cp, { name: `kubelet-${name}-serving`, commonName: name, usage: 'server', ips: [network.nodeIp], dns: [name] });
  await writeFile(f('kubelet.kubeconfig'), kubeconfigWithCertificate(cp.url, cp.caFile, `system:node:${name}`, client), { mode: 0o600 });
  await writeFile(f('node-ip'), network.nodeIp);
  await writeFile(f('node-name'), name);

  await writeFile(f('containerd.toml'), containerdConfig(dir, bin, options.sandboxImage));
  for (const host of MIRRORED) {
    await mkdir(f(`certs.d/${host}`), { recursive: true });
    await writeFile(f(`certs.d/${host}/hosts.toml`), `server = "http://${options.registry}"\n\n[host."http://${options.registry}"]\n  capabilities = ["pull", "resolve"]\n`);
  }
  await mkdir(f('cni-conf'), { recursive: true });
  await writeFile(f('cni-conf/10-lectern-testbed.conflist'), JSON.stringify(cniConfig(dir, network), null, 2));
  await writeFile(f('kubelet.yaml'), stringify(kubeletConfig(dir, cp, network, cgroup, serving)));

  // The kubelet's pods go under <cgroup> in every hierarchy, which must exist before it starts; the
  // node's own processes go in <cgroup>-node, so stop() finds every one of them.
  const hierarchies = await cgroupHierarchies();
  if (!hierarchies.some((h) => h.endsWith('/pids'))) throw new Error('no cgroup v1 pids hierarchy at /sys/fs/cgroup/pids: the test bed needs the host cgroup v1 hierarchies mounted');
  for (const hierarchy of hierarchies) await makeCgroup(path.join(hierarchy, cgroup));
  await makeCgroup(`/sys/fs/cgroup/pids/${cgroup}-node`);

  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', path.join(HERE, 'run-node.sh'), dir, bin, cgroup], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.unref();

  const node: RealNode = {
    name,
    ip: network.nodeIp,
    kubeletLog: async () => (existsSync(f('kubelet.log')) ? readFile(f('kubelet.log'), 'utf8') : ''),
    async restartKubelet() {
      const pid = Number((await readFile(f('kubelet.pid'), 'utf8')).trim());
      await killAndWait([pid]);
      const shell = child.pid!;
      // Into the node's mount and network namespaces, where run-node.sh started the first one.
      await run('nsenter', ['--target', String(shell), '--mount', '--net', '--', 'bash', path.join(HERE, 'run-node.sh'), dir, bin, cgroup, 'kubelet']);
    },
    async stop() {
      await stopNode(cgroup);
      await removeMadeOnHost(f('made-on-host'));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return node;
}

function containerdConfig(dir: string, bin: string, sandboxImage: string): string {
  const q = (s: string) => `'${s}'`;
  return `version = 3
root = ${q(path.join(dir, 'containerd/root'))}
state = ${q(path.join(dir, 'containerd/state'))}

[grpc]
  address = ${q(path.join(dir, 'containerd/containerd.sock'))}
[ttrpc]
  address = ${q(path.join(dir, 'containerd/containerd.sock.ttrpc'))}

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${q(sandboxImage)}
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = ${q(path.join(dir, 'certs.d'))}
  [plugins.'io.containerd.cri.v1.runtime']
    # runc cannot set the pause container's negative oom_score_adj here (no CAP_SYS_RESOURCE in the
    # bounding set): every sandbox would fail with "failed to update /proc/self/oom_score_adj".
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(path.join(bin, 'runc'))}
        SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [${q(path.join(bin, 'cni'))}]
      conf_dir = ${q(path.join(dir, 'cni-conf'))}
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
`;
}

function cniConfig(dir: string, network: NodeNetwork) {
  return {
    cniVersion: '1.0.0',
    name: 'lectern-testbed',
    plugins: [
      {
        type: 'bridge',
        bridge: network.podBridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: network.podCidr }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(dir, 'cni-ipam') },
      },
    ],
  };
}

function kubeletConfig(dir: string, cp: ControlPlane, network: NodeNetwork, cgroup: string, serving: { certFile: string; keyFile: string }) {
  const socket = `unix://${path.join(dir, 'containerd/containerd.sock')}`;
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: network.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 0,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: cp.caFile } },
    authorization: { mode: 'Webhook' },
    tlsCertFile: serving.certFile,
    tlsPrivateKeyFile: serving.keyFile,
    containerRuntimeEndpoint: socket,
    imageServiceEndpoint: socket,
    // The host has cgroup v1 and no systemd as PID 1.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${cgroup}`,
    failSwapOn: false,
    // It would otherwise set kernel tunables (in the stand-ins run-node.sh binds) and iptables chains (none here).
    protectKernelDefaults: false,
    makeIPTablesUtilChains: false,
    serializeImagePulls: false,
    podPidsLimit: 4096,
    // A shared disk that other work fills: evict on an almost full disk only.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'nodefs.inodesFree': '2%', 'imagefs.available': '2%' },
    imageGCHighThresholdPercent: 99,
    imageGCLowThresholdPercent: 98,
    // Statuses often enough that a test sees a restarted kubelet quickly.
    nodeStatusUpdateFrequency: '5s',
    shutdownGracePeriod: '0s',
    staticPodPath: '',
    containerLogMaxSize: '10Mi',
  };
}

/** A cgroup v1 directory; a new cpuset cgroup holds no task until it has CPUs and memory nodes, its parent's. */
async function makeCgroup(dir: string): Promise<void> {
  await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw new Error(`cannot make the cgroup ${dir}: ${err.message}`);
  });
  if (path.basename(path.dirname(dir)) === 'cpuset') {
    for (const file of ['cpuset.cpus', 'cpuset.mems']) await writeFile(path.join(dir, file), await readFile(path.join(path.dirname(dir), file), 'utf8'));
  }
}

async function cgroupHierarchies(): Promise<string[]> {
  const entries = await readdir('/sys/fs/cgroup', { withFileTypes: true });
  // cgroup v1: one directory per hierarchy (cpu,cpuacct may be links to a shared one).
  return entries.filter((e) => e.isDirectory() && e.name !== 'unified').map((e) => path.join('/sys/fs/cgroup', e.name));
}

/** Every process of the node (containerd, its shims, the kubelet) and of its pods, killed; then the cgroups removed. */
async function stopNode(cgroup: string): Promise<void> {
  const hierarchies = await cgroupHierarchies();
  for (let round = 0; round < 50; round++) {
    const pids = new Set<number>();
    for (const root of [`/sys/fs/cgroup/pids/${cgroup}-node`, ...hierarchies.map((h) => path.join(h, cgroup))]) {
      for (const p of await procsUnder(root)) pids.add(p);
    }
    if (pids.size === 0) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const root of [`/sys/fs/cgroup/pids/${cgroup}-node`, ...hierarchies.map((h) => path.join(h, cgroup))]) await removeCgroupTree(root);
}

async function procsUnder(dir: string): Promise<number[]> {
  if (!existsSync(dir)) return [];
  const pids: number[] = [];
  const text = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  for (const line of text.split('\n')) if (line.trim()) pids.push(Number(line));
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) pids.push(...(await procsUnder(path.join(dir, e.name))));
  }
  return pids;
}

async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) await removeCgroupTree(path.join(dir, e.name));
  }
  await rmdir(dir).catch(() => undefined);
}

async function removeMadeOnHost(list: string): Promise<void> {
  if (!existsSync(list)) return;
  for (const p of (await readFile(list, 'utf8')).split('\n').reverse()) {
    if (p.trim()) await rmdir(p.trim()).catch(() => undefined);
  }
}

async function killAndWait(pids: number[]): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}
