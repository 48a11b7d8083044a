// A whole Lectern in Kubernetes mode against the test bed, as an administrator would set it up off-host:
// a control plane, one node agent with an image map, a namespace enforcing Pod Security "restricted",
// Lectern's documented Role bound to its identity, the data dir on an NFS PersistentVolume claimed by
// `lectern-data`, and Lectern running outside the cluster with KubernetesAPIURL + token.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { LECTERN_VERSION } from '../../src/app.js';
import type { SettingKey } from '../../src/config/settings.js';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import { KubeApi } from '../../src/launcher/kubernetes/kube-api.js';
import { lecternRole } from '../../src/launcher/kubernetes/role.js';
import { startNodeAgent, type NodeAgent } from './kube-node/agent.js';
import { startControlPlane, type ControlPlane } from './kube.js';
import { startLectern, type TestServer } from './lectern.js';

export const KUBE_NAMESPACE = 'lectern';

export interface KubeLectern {
  cp: ControlPlane;
  /** A cluster-admin client, for what the test checks behind Lectern's back. */
  admin: KubeApi;
  node: NodeAgent;
  /** Lectern's settings (Kubernetes mode plus the caller's), to start another server on the same data. */
  settings: Partial<Record<SettingKey, string>>;
  dataDir: string;
  /** The current server; a test that replaces it assigns the new one here so `stop()` stops it. */
  t: TestServer | undefined;
  stop(): Promise<void>;
}

/**
 * `images` maps image names to the host paths they hold (the test bed's image map, docs/kube-testbed.md);
 * the runtime's init image is added. `settings` are Lectern settings on top of Kubernetes mode.
 */
export async function startKubeLectern(images: Record<string, { paths?: Record<string, string> }>, settings: Partial<Record<SettingKey, string>> = {}): Promise<KubeLectern> {
  const cp = await startControlPlane();
  const admin = new KubeApi({ url: cp.url, token: async () => cp.token, ca: readFileSync(cp.caFile, 'utf8'), skipTlsVerify: false, describe: 'admin' });
  const volumeRoot = mkdtempSync(path.join('/var/tmp', 'lectern-kube-e2e-'));
  chmodSync(volumeRoot, 0o755);
  const dataDir = path.join(volumeRoot, 'lectern');
  mkdirSync(dataDir, { mode: 0o755 });
  const imagesFile = path.join(volumeRoot, 'images.yaml');
  const init = { [`ghcr.io/lectern-project/lectern-runtime-init:${LECTERN_VERSION}`]: { paths: { '/lectern/runtime': RUNTIME_DIR } } };
  writeFileSync(imagesFile, stringify({ images: { ...init, ...images } }));
  const node = await startNodeAgent(cp, { name: 'n1', imagesFile });
  const NS = KUBE_NAMESPACE;

  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, lecternRole(NS));
  await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'lectern' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lectern' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: cp.lectern.name }],
  });
  await admin.create('/api/v1/persistentvolumes', {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: 'lectern-data' },
    spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteMany'], nfs: { server: '127.0.0.1', path: volumeRoot }, claimRef: { namespace: NS, name: 'lectern-data' }, storageClassName: '' },
  });
  await admin.create(`/api/v1/namespaces/${NS}/persistentvolumeclaims`, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'lectern-data' },
    spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } }, volumeName: 'lectern-data', storageClassName: '' },
  });
  for (let i = 0; !(await admin.find(`/api/v1/namespaces/${NS}/serviceaccounts/default`)); i++) {
    if (i > 300) throw new Error('no default service account');
    await new Promise((r) => setTimeout(r, 100));
  }

  const all: Partial<Record<SettingKey, string>> = {
    'Server.ReplicaName': 'lectern-0',
    'Launcher.Enabled': 'true',
    'Launcher.Kubernetes': 'true',
    'Launcher.KubernetesAPIURL': cp.url,
    'Launcher.KubernetesAuthToken': cp.lectern.token,
    'Launcher.KubernetesCACertificate': cp.caFile,
    'Launcher.KubernetesNamespace': NS,
    'Launcher.DataDirPVCName': 'lectern-data',
    'Launcher.DataDirPVCSubPath': 'lectern',
    ...settings,
  };
  const kube: KubeLectern = {
    cp,
    admin,
    node,
    settings: all,
    dataDir,
    t: await startLectern('sqlite', all, { dataDir }),
    async stop() {
      await kube.t?.stop();
      await node.stop();
      await admin.close();
      await cp.stop();
      rmSync(volumeRoot, { recursive: true, force: true });
    },
  };
  return kube;
}
