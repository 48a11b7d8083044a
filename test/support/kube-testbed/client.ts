// What a test uses of the running test bed (scripts/kube-testbed.sh up; `npm run test:kube` starts it
// and runs the suite inside its network namespace): clients for the API server, the node's facts,
// image names, and namespaces of the test's own, so test files share one cluster without sharing state.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { KubeApi } from '../../../src/launcher/kubernetes/kube-api.js';
import { prepareNamespace, type PreparedNamespace } from './namespace.js';
import { testBedStateDir, volumesDir, type TestBedState } from './state.js';

export interface TestBed {
  state: TestBedState;
  /** A cluster-admin client, for what a test checks behind Lectern's back. */
  admin: KubeApi;
  /** Settings for a Lectern in Kubernetes mode against `namespace` (the static-token user "lectern", the documented Role). */
  lecternSettings(ns: PreparedNamespace): Record<string, string>;
  /**
   * A namespace of the test's own, prepared as an administrator would for Lectern (Pod Security
   * "restricted", the Role, the data volume claim); `remove()` deletes it and its volume.
   */
  namespace(prefix: string, options?: { role?: boolean }): Promise<PreparedNamespace & { remove(): Promise<void> }>;
  /**
   * The name pods use for a built image whose reference contains `part` (e.g. `content-debian`): under
   * ghcr.io, which the node resolves to the test bed's registry.
   */
  image(part: string): string;
  /** Restarts the API server (SIGTERM, then the same flags again); resolves once it is ready. */
  restartApiServer(): Promise<void>;
  /** Kills the kubelet and starts it again, as on a real node: its pods keep running. */
  restartKubelet(): Promise<void>;
  close(): Promise<void>;
}

/** POSTs an action to the daemon's control socket (daemon.ts). */
async function control(action: string): Promise<void> {
  const agent = new Agent({ connect: { socketPath: path.join(testBedStateDir(), 'control.sock') } });
  try {
    const res = await fetch(`http://test-bed${action}`, { method: 'POST', dispatcher: agent, signal: AbortSignal.timeout(180_000) });
    if (!res.ok) throw new Error(`the test bed could not ${action}: ${(await res.text()).trim()}`);
  } finally {
    await agent.close();
  }
}

const HOW = 'start it with `bash scripts/kube-testbed.sh up` and run the test inside it: `bash scripts/kube-testbed.sh run node --import tsx --test <file>` (npm run test:kube does both)';

export async function openTestBed(): Promise<TestBed> {
  const file = path.join(testBedStateDir(), 'testbed.json');
  if (!existsSync(file)) throw new Error(`no Kubernetes test bed is running (${file} is missing): ${HOW}`);
  const state = JSON.parse(readFileSync(file, 'utf8')) as TestBedState;
  const admin = new KubeApi({ url: state.apiUrl, token: async () => state.adminToken, ca: readFileSync(state.caFile, 'utf8'), skipTlsVerify: false, describe: 'admin' });
  try {
    await admin.get('/api/v1/nodes');
  } catch (err) {
    await admin.close();
    throw new Error(`the Kubernetes test bed's API server (${state.apiUrl}) cannot be reached from here (${(err as Error).message}): ${HOW}`);
  }
  const volumes = volumesDir(state.network.id);
  return {
    state,
    admin,
    lecternSettings: (ns) => ({
      'Launcher.Enabled': 'true',
      'Launcher.Kubernetes': 'true',
      'Launcher.KubernetesAPIURL': state.apiUrl,
      'Launcher.KubernetesAuthToken': state.lecternToken,
      'Launcher.KubernetesCACertificate': state.caFile,
      'Launcher.KubernetesNamespace': ns.namespace,
      'Launcher.DataDirPVCName': ns.claim,
      'Launcher.DataDirPVCSubPath': ns.subPath,
    }),
    async namespace(prefix, options = {}) {
      const name = `${prefix}-${randomBytes(3).toString('hex')}`;
      const prepared = await prepareNamespace(admin, { namespace: name, volumeRoot: path.join(volumes, name), nodeName: state.node.name, role: options.role });
      return {
        ...prepared,
        async remove() {
          await admin.delete(`/api/v1/namespaces/${name}`).catch(() => undefined);
          await admin.delete(`/api/v1/persistentvolumes/${name}-data`).catch(() => undefined);
        },
      };
    },
    image(part) {
      const found = Object.keys(state.images).find((r) => r.includes(part));
      if (!found)
        throw new Error(
          `the test bed has no image matching "${part}" (it has ${Object.keys(state.images).join(', ')}): run \`bash scripts/deps/kube-images.sh\`, then \`bash scripts/kube-testbed.sh down\` and \`up\``,
        );
      return `ghcr.io/${found}`;
    },
    restartApiServer: () => control('/restart/kube-apiserver'),
    restartKubelet: () => control('/restart/kubelet'),
    close: () => admin.close(),
  };
}
