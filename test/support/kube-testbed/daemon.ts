// The test bed's long-lived process, started by `scripts/kube-testbed.sh up` inside the run's network
// namespace: the control plane, the registry with the test bed's images, and a real node; then a
// namespace ready for Lectern. It writes <state dir>/testbed.json (what clients need, read by
// test/support/kube-testbed/client.ts) and <state dir>/env (the `export` lines `up` prints), and
// stops everything on SIGTERM (`down`). Any failure is written to <state dir>/failed, one line.
//   node --import tsx test/support/kube-testbed/daemon.ts <state dir>
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { LECTERN_VERSION } from '../../../src/app.js';
import { KubeApi } from '../../../src/launcher/kubernetes/kube-api.js';
import { kubeBinDir, startControlPlane, type ControlPlane } from '../kube.js';
import { prepareNamespace } from './namespace.js';
import { readNetwork } from './network.js';
import { startNode, type RealNode } from './node.js';
import { builtImages, startRegistry, writeJson, type Registry } from './registry.js';
import { imagesIndexFile, volumesDir, type TestBedState } from './state.js';

const stateDir = process.argv[2];
if (!stateDir) {
  console.error('usage: daemon.ts <state dir>');
  process.exit(2);
}
const REGISTRY_PORT = 5000;

let cp: ControlPlane | undefined;
let registry: Registry | undefined;
let node: RealNode | undefined;
let stopping: Promise<void> | undefined;

async function stop(code: number) {
  stopping ??= (async () => {
    await node?.stop().catch(() => undefined);
    await registry?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
  })();
  await stopping;
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));

const t0 = Date.now();
/** Progress on stderr (the daemon's log), with the seconds since start. */
function step(what: string) {
  console.error(`kube-testbed: ${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);
}

async function main() {
  const network = await readNetwork(path.join(stateDir!, 'network.json'));
  const bin = kubeBinDir();
  step('starting the control plane');
  cp = await startControlPlane({ advertiseAddress: network.nodeIp });
  step('control plane ready; starting the registry');
  const tControlPlane = Date.now() - t0;
  // Alone in its network namespace: a fixed port is free.
  registry = await startRegistry(bin, path.join(stateDir!, 'registry'), REGISTRY_PORT);
  const built = await builtImages(imagesIndexFile());
  const pause = built.find((i) => i.reference.includes('/pause:'));
  if (!pause) throw new Error(`no pause image in ${imagesIndexFile()}: run \`bash scripts/deps/kube-images.sh\``);
  const images: Record<string, string> = {};
  for (const image of built) {
    // The distribution images (not busybox's init image, not pause) get the machine's CA bundle.
    const siteCa = !/runtime-init|pause/.test(image.reference);
    images[image.reference] = await registry.pushLayout(image.layout, image.reference, { siteCa });
  }
  const sandboxImage = `${registry.address}/${pause.reference}`;
  const tImages = Date.now() - t0;

  step(`images pushed: ${Object.keys(images).join(', ') || 'none'}; starting the node`);
  node = await startNode(cp, { name: 'node-1', dir: path.join(stateDir!, 'node'), bin, network, registry: registry.address, sandboxImage });
  const admin = new KubeApi({ url: cp.url, token: async () => cp!.token, ca: readFileSync(cp.caFile, 'utf8'), skipTlsVerify: false, describe: 'admin' });
  const nodeReady = Date.now() + 60_000;
  let kubeletVersion = '';
  let runtimeVersion = '';
  for (;;) {
    const found = (await admin.find(`/api/v1/nodes/${node.name}`)) as {
      status?: { conditions?: Array<{ type: string; status: string }>; nodeInfo?: { kubeletVersion: string; containerRuntimeVersion: string } };
    } | null;
    if (found?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
      kubeletVersion = found.status.nodeInfo?.kubeletVersion ?? '';
      runtimeVersion = found.status.nodeInfo?.containerRuntimeVersion ?? '';
      break;
    }
    if (Date.now() > nodeReady) throw new Error(`node ${node.name} was not Ready within 60 s; kubelet log:\n${(await node.kubeletLog()).split('\n').slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const tNode = Date.now() - t0;
  step(`node ${node.name} Ready (kubelet ${kubeletVersion}, ${runtimeVersion})`);

  const prepared = await prepareNamespace(admin, { namespace: 'lectern', volumeRoot: path.join(volumesDir(network.id), 'lectern'), nodeName: node.name });
  await admin.close();

  const state: TestBedState = {
    pid: process.pid,
    netns: network.netns,
    // nsenter rather than `ip netns exec`: that one mounts a fresh /sys, without /sys/fs/cgroup.
    exec: `nsenter --net=/run/netns/${network.netns}`,
    apiUrl: cp.url,
    nodeApiUrl: cp.url.replace('127.0.0.1', network.nodeIp),
    caFile: cp.caFile,
    caKeyDir: cp.dir,
    adminToken: cp.token,
    adminKubeconfig: cp.kubeconfig,
    lecternToken: cp.lectern.token,
    lecternKubeconfig: cp.lectern.kubeconfig,
    registry: registry.address,
    node: { name: node.name, ip: node.ip, kubeletVersion, runtimeVersion, dir: path.join(stateDir!, 'node') },
    network,
    images,
    initImage: `ghcr.io/lectern-project/lectern-runtime-init:${LECTERN_VERSION}`,
    namespace: prepared,
    timings: { controlPlaneMs: tControlPlane, imagesMs: tImages - tControlPlane, nodeMs: tNode - tImages, totalMs: Date.now() - t0 },
  };
  await listenForControl();
  await writeJson(path.join(stateDir!, 'testbed.json'), state);
  await writeFile(path.join(stateDir!, 'env'), envLines(state));
}

/**
 * What tests ask of the running test bed, on <state dir>/control.sock: `POST /restart/kube-apiserver`
 * and `POST /restart/kubelet` restart that component as an administrator would (client.ts).
 */
async function listenForControl(): Promise<void> {
  const socket = path.join(stateDir!, 'control.sock');
  await rm(socket, { force: true });
  const actions: Record<string, () => Promise<void>> = {
    '/restart/kube-apiserver': () => cp!.restartApiServer(),
    '/restart/kubelet': () => node!.restartKubelet(),
  };
  const server = createServer((req, res) => {
    const action = req.method === 'POST' ? actions[req.url ?? ''] : undefined;
    if (!action) {
      res.writeHead(404).end(`no such action: ${req.method} ${req.url}\n`);
      return;
    }
    step(`${req.url}`);
    action().then(
      () => res.writeHead(200).end('done\n'),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  server.unref();
}

/** What `lectern start` needs to run content on the test bed, and how to reach it. */
function envLines(s: TestBedState): string {
  const q = (v: string) => `'${v.replace(/'/g, "'\\''")}'`;
  const vars: Record<string, string> = {
    KUBE_TESTBED_DIR: stateDir!,
    KUBE_TESTBED_EXEC: s.exec,
    KUBECONFIG: s.adminKubeconfig,
    LECTERN_LAUNCHER_ENABLED: 'true',
    LECTERN_LAUNCHER_KUBERNETES: 'true',
    LECTERN_LAUNCHER_KUBERNETESAPIURL: s.apiUrl,
    LECTERN_LAUNCHER_KUBERNETESAUTHTOKEN: s.lecternToken,
    LECTERN_LAUNCHER_KUBERNETESCACERTIFICATE: s.caFile,
    LECTERN_LAUNCHER_KUBERNETESNAMESPACE: s.namespace.namespace,
    LECTERN_LAUNCHER_DATADIRPVCNAME: s.namespace.claim,
    LECTERN_LAUNCHER_DATADIRPVCSUBPATH: s.namespace.subPath,
    LECTERN_SERVER_DATADIR: s.namespace.dataDir,
  };
  return `${Object.entries(vars)
    .map(([k, v]) => `export ${k}=${q(v)}`)
    .join('\n')}\n`;
}

main().catch(async (err: Error) => {
  await writeFile(path.join(stateDir!, 'failed'), `${err.message}\n`).catch(() => undefined);
  console.error(err.stack ?? err.message);
  await stop(1);
});
