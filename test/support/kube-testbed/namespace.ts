// A namespace of the test bed set up as an administrator sets one up for Lectern off-host: Pod
// Security "restricted" enforced, Lectern's documented Role bound to its identity (the static-token user
// "lectern"), and the data directory as a claim `lectern-data` on a local PersistentVolume (one node,
// so a directory of the node's file system is what every pod and the out-of-cluster Lectern share).
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { KubeApi } from '../../../src/launcher/kubernetes/kube-api.js';
import { lecternRole } from '../../../src/launcher/kubernetes/role.js';

export interface PreparedNamespace {
  namespace: string;
  claim: string;
  /** The volume's root on the node (and this host); Lectern's data dir is its `subPath`. */
  volumeRoot: string;
  subPath: string;
  dataDir: string;
}

/** `role: false` leaves the Role to someone else (a Helm release makes its own). */
export async function prepareNamespace(
  admin: KubeApi,
  options: { namespace: string; volumeRoot: string; nodeName: string; user?: string; persistentVolume?: string; role?: boolean },
): Promise<PreparedNamespace> {
  const { namespace: ns, volumeRoot } = options;
  const claim = 'lectern-data';
  const subPath = 'lectern';
  mkdirSync(path.join(volumeRoot, subPath), { recursive: true });
  chmodSync(volumeRoot, 0o755);
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  if (options.role !== false) {
    await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, lecternRole(ns));
    await admin.create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'lectern' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lectern' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: options.user ?? 'lectern' }],
    });
  }
  const pv = options.persistentVolume ?? `${ns}-data`;
  await admin.create('/api/v1/persistentvolumes', {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: pv },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteMany'],
      local: { path: volumeRoot },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [options.nodeName] }] }] } },
      claimRef: { namespace: ns, name: claim },
      storageClassName: '',
      persistentVolumeReclaimPolicy: 'Retain',
    },
  });
  await admin.create(`/api/v1/namespaces/${ns}/persistentvolumeclaims`, {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: claim },
    spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } }, volumeName: pv, storageClassName: '' },
  });
  const deadline = Date.now() + 30_000;
  while (!(await admin.find(`/api/v1/namespaces/${ns}/serviceaccounts/default`))) {
    if (Date.now() > deadline) throw new Error(`the service-account controller made no "default" ServiceAccount in ${ns} within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { namespace: ns, claim, volumeRoot, subPath, dataDir: path.join(volumeRoot, subPath) };
}
