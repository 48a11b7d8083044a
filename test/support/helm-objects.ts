import assert from 'node:assert/strict';
import { parseGcfg } from '../../src/config/gcfg.js';
import { find, HelmFailure, type KubeObject, renderChart } from './helm.js';

// Reading what `helm template` rendered for deploy/helm/lectern: the server workload and its pod,
// the gcfg's settings, refusals, and the Pod Security "restricted" rules a pod spec must meet.

export interface Container {
  name: string;
  image?: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, string>> }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  ports?: { containerPort: number; hostPort?: number }[];
}
export interface PodSpec {
  securityContext?: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
  volumes: ({ name: string } & Record<string, unknown>)[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  serviceAccountName?: string;
}

export const workload = (objects: KubeObject[]) => objects.find((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')!;
export const podSpec = (objects: KubeObject[]) => (workload(objects).spec as { template: { spec: PodSpec } }).template.spec;
export const server = (objects: KubeObject[]) => podSpec(objects).containers.find((c) => c.name === 'lectern')!;
export const gcfgText = (objects: KubeObject[]) => (find(objects, 'ConfigMap', `${workload(objects).metadata.name}-config`).data as Record<string, string>)['lectern.gcfg']!;

/** The settings the rendered gcfg gives, as {'Section.Key': [values]}. */
export function settingsOf(objects: KubeObject[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of parseGcfg(gcfgText(objects), 'lectern.gcfg')) (out[`${e.section}.${e.key}`] ??= []).push(e.value);
  return out;
}

export async function refusal(values: Record<string, unknown>, namespace = 'lectern'): Promise<string> {
  try {
    await renderChart(values, namespace);
  } catch (err) {
    assert.ok(err instanceof HelmFailure, String(err));
    return err.message;
  }
  assert.fail(`helm template accepted ${JSON.stringify(values)}`);
}

/**
 * Pod Security Standards "restricted" (v1.37 / latest) for one pod spec: the policy the namespace
 * label pod-security.kubernetes.io/enforce=restricted enforces. Returns the violations.
 */
export function restrictedViolations(spec: PodSpec): string[] {
  const problems: string[] = [];
  const allowedVolumes = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
  for (const volume of spec.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== 'name');
    if (!type || !allowedVolumes.includes(type)) problems.push(`volume ${volume.name} uses ${type}`);
  }
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push('host namespaces');
  const pod = spec.securityContext ?? {};
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) problems.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation must be false`);
    const caps = (sc.capabilities ?? {}) as { drop?: string[]; add?: string[] };
    if (!caps.drop?.includes('ALL')) problems.push(`${c.name}: capabilities must drop ALL`);
    if ((caps.add ?? []).some((a) => a !== 'NET_BIND_SERVICE')) problems.push(`${c.name}: adds capabilities`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${c.name}: runAsNonRoot`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) problems.push(`${c.name}: runAsUser 0`);
    const seccomp = ((sc.seccompProfile ?? pod.seccompProfile) as { type?: string } | undefined)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${c.name}: seccompProfile`);
    if (c.ports?.some((p) => p.hostPort)) problems.push(`${c.name}: hostPort`);
  }
  return problems;
}
