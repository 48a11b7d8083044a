// A whole Lectern in Kubernetes mode against the test bed, as an administrator would set it up off-host:
// a control plane, one node agent with an image map, a namespace enforcing Pod Security "restricted",
// Lectern's documented Role bound to its identity, the data dir on an NFS PersistentVolume claimed by
// `lectern-data`, and Lectern running outside the cluster with KubernetesAPIURL + token.
// `startKubeTestBed` is the cluster side alone, for benchmarks that drive the launcher directly.
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

/** The cluster side of the set-up, for a caller that drives the launcher itself rather than a Lectern. */
export interface KubeTestBed {
  cp: ControlPlane;
  /** A cluster-admin client, for what the test checks behind Lectern's back. */
  admin: KubeApi;
  node: NodeAgent;
  /** Lectern's data dir: the `lectern` sub-path of the volume behind the `lectern-data` claim. */
  dataDir: string;
  /** Lectern's settings for Kubernetes mode against this test bed. */
  settings: Partial<Record<SettingKey, string>>;
  stop(): Promise<void>;
}

/** `settings` here also hold the caller's, to start another server on the same data. */
export interface KubeLectern extends KubeTestBed {
  /** The current server; a test that replaces it assigns the new one here so `stop()` stops it. */
  t: TestServer | undefined;
}

/**
 * Everything but Lectern: control plane, node agent, namespace, Role and storage.
 * `images` maps image names to the host paths they hold (the test bed's image map, docs/kube-testbed.md);
 * the runtime's init image is added.
 */
export async function startKubeTestBed(images: Record<string, { paths?: Record<string, string> }>): Promise<KubeTestBed> {
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

  return {
    cp,
    admin,
    node,
    dataDir,
    settings: {
      'Server.ReplicaName': 'lectern-0',
      'Launcher.Enabled': 'true',
      'Launcher.Kubernetes': 'true',
      'Launcher.KubernetesAPIURL': cp.url,
      'Launcher.KubernetesAuthToken': cp.lectern.token,
      'Launcher.KubernetesCACertificate': cp.caFile,
      'Launcher.KubernetesNamespace': NS,
      'Launcher.DataDirPVCName': 'lectern-data',
      'Launcher.DataDirPVCSubPath': 'lectern',
    },
    async stop() {
      await node.stop();
      await admin.close();
      await cp.stop();
      rmSync(volumeRoot, { recursive: true, force: true });
    },
  };
}

/** The test bed plus Lectern running off-host against it; `settings` are Lectern settings on top of Kubernetes mode. */
export async function startKubeLectern(images: Record<string, { paths?: Record<string, string> }>, settings: Partial<Record<SettingKey, string>> = {}): Promise<KubeLectern> {
  const bed = await startKubeTestBed(images);
  const all = { ...bed.settings, ...settings };
  const kube: KubeLectern = {
    ...bed,
    settings: all,
    t: await startLectern('sqlite', all, { dataDir: bed.dataDir }),
    async stop() {
      await kube.t?.stop();
      await bed.stop();
    },
  };
  return kube;
}
