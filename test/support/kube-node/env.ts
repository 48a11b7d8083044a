// What a container's environment, field references and resource references resolve to.
import type { Obj } from './client.js';

/** Kubernetes' $(VAR) expansion: known names are replaced, $$ escapes a dollar, unknown references stay. */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && Object.hasOwn(vars, name) ? vars[name]! : whole;
  });
}

/** The value of a downward-API fieldPath for this pod, or an error message. */
export function fieldValue(pod: Obj, fieldPath: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return String(pod.metadata?.[m[1]!]?.[m[2]!] ?? '');
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'metadata.labels':
    case 'metadata.annotations':
      return Object.entries((pod.metadata[fieldPath.slice(9)] ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .sort()
        .join('\n');
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
      return pod.status?.hostIP ?? '';
    case 'status.hostIPs':
      return ((pod.status?.hostIPs ?? []) as { ip: string }[]).map((i) => i.ip).join(',');
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.podIPs':
      return ((pod.status?.podIPs ?? []) as { ip: string }[]).map((i) => i.ip).join(',');
    default:
      throw new ConfigError(`unsupported fieldPath ${JSON.stringify(fieldPath)}`);
  }
}

const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
  m: 1e-3,
};

/** A resource.Quantity ("512Mi", "100m", "1.5", "1e3") as a number. */
export function quantity(q: string | number | undefined): number | undefined {
  if (q === undefined || q === null || q === '') return undefined;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/.exec(q.trim());
  if (!m) throw new Error(`invalid quantity ${JSON.stringify(q)}`);
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}

/** resourceFieldRef: limits.* default to the node's allocatable when unset, as kubelet does. */
export function resourceValue(container: Obj, ref: { resource: string; divisor?: string }, allocatable: Record<string, string>): string {
  const [kind, name] = ref.resource.split('.') as [string, string];
  const raw = container.resources?.[kind]?.[name] ?? (kind === 'limits' ? allocatable[name] : '0');
  const divisor = quantity(ref.divisor ?? '1') || 1;
  return String(Math.ceil((quantity(raw) ?? 0) / divisor));
}

/** Where a container's env and volumes read ConfigMaps and Secrets (the pod's namespace). */
export interface ObjectSource {
  configMap(name: string): Promise<Obj | undefined>;
  secret(name: string): Promise<Obj | undefined>;
}

/** A reference kubelet cannot resolve: the container waits with CreateContainerConfigError. */
export class ConfigError extends Error {}

function keyOf(kind: 'configmap' | 'secret', obj: Obj | undefined, name: string, key: string, optional: boolean): string | undefined {
  if (!obj) {
    if (optional) return undefined;
    throw new ConfigError(`${kind} "${name}" not found`);
  }
  const text = obj.data?.[key] as string | undefined;
  if (text !== undefined) return kind === 'secret' ? Buffer.from(text, 'base64').toString('utf8') : text;
  const binary = obj.binaryData?.[key] as string | undefined;
  if (binary !== undefined) return Buffer.from(binary, 'base64').toString('utf8');
  if (optional) return undefined;
  throw new ConfigError(`couldn't find key ${key} in ${kind === 'secret' ? 'Secret' : 'ConfigMap'} ${obj.metadata.namespace}/${name}`);
}

/**
 * A container's environment in kubelet's order: the image's ENV, the API server's address (so an in-cluster
 * client works), envFrom, then env with $(VAR) expansion against everything before it.
 */
export async function containerEnv(pod: Obj, container: Obj, base: Record<string, string>, source: ObjectSource, allocatable: Record<string, string>): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...base };
  for (const from of (container.envFrom ?? []) as Obj[]) {
    const prefix = (from.prefix as string | undefined) ?? '';
    const ref = (from.configMapRef ?? from.secretRef) as { name: string; optional?: boolean };
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const obj = kind === 'configmap' ? await source.configMap(ref.name) : await source.secret(ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw new ConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const key of Object.keys({ ...(obj.data ?? {}), ...(obj.binaryData ?? {}) })) {
      // kubelet skips keys that are not valid variable names (and records an event).
      if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(prefix + key)) continue;
      env[prefix + key] = keyOf(kind, obj, ref.name, key, false)!;
    }
  }
  for (const e of (container.env ?? []) as Obj[]) {
    if (e.valueFrom === undefined) {
      env[e.name] = expand(String(e.value ?? ''), env);
      continue;
    }
    const v = e.valueFrom as Obj;
    let value: string | undefined;
    if (v.fieldRef) value = fieldValue(pod, v.fieldRef.fieldPath);
    else if (v.resourceFieldRef) {
      const named = v.resourceFieldRef.containerName ? [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].find((c: Obj) => c.name === v.resourceFieldRef.containerName) : container;
      value = resourceValue(named ?? container, v.resourceFieldRef, allocatable);
    } else if (v.configMapKeyRef) {
      const r = v.configMapKeyRef;
      value = keyOf('configmap', await source.configMap(r.name), r.name, r.key, !!r.optional);
    } else if (v.secretKeyRef) {
      const r = v.secretKeyRef;
      value = keyOf('secret', await source.secret(r.name), r.name, r.key, !!r.optional);
    } else throw new ConfigError(`env ${e.name}: unsupported valueFrom ${Object.keys(v).join(', ')}`);
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}
