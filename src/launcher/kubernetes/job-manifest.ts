// How one JobSpec becomes a batch/v1 Job and the Secret holding its environment. Pure: no API calls,
// so the shape is easy to read and test. docs/kubernetes.md shows a complete example.
import path from 'node:path';
import type { JobSpec } from '../launcher.js';
import type { KubeObject } from './kube-api.js';

/** Where the runtime/ folder appears inside every content container. */
export const POD_RUNTIME_DIR = '/opt/lectern/runtime';
/** Where the init image keeps its copy of runtime/ (docs/kubernetes.md: building the init image). */
export const INIT_IMAGE_RUNTIME_DIR = '/lectern/runtime';
/** What the init container runs: the init image needs runtime/ and a `cp`, nothing else. */
export const INIT_COMMAND = ['cp', '-R', `${INIT_IMAGE_RUNTIME_DIR}/.`, '/mnt/lectern-runtime/'];
/** The port a worker listens on, on its own pod IP. */
export const WORKER_PORT = 8080;
export const CONTENT_CONTAINER = 'content';
export const INIT_CONTAINER = 'lectern-runtime';

export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  instance: 'app.kubernetes.io/instance',
  contentGuid: 'lectern.dev/content-guid',
  jobKey: 'lectern.dev/job-key',
  kind: 'lectern.dev/kind',
  tag: 'lectern.dev/job-tag',
  replica: 'lectern.dev/replica',
} as const;
export const ANNOTATIONS = { replica: 'lectern.dev/replica-name', contentId: 'lectern.dev/content-id', bundleId: 'lectern.dev/bundle-id' } as const;

export type DataVolume = { nfs: { server: string; path: string } } | { pvc: { claimName: string; subPath: string } };

export interface ManifestOptions {
  namespace: string;
  instance: string;
  replica: string;
  /** [Server] DataDir: the root every mount path is relative to. */
  dataDir: string;
  dataVolume: DataVolume;
  /** The server's runtime/ folder; paths under it are rewritten to POD_RUNTIME_DIR. */
  runtimeDir: string;
  initImage: string;
  initPullPolicy: string;
  /** [Launcher] RuntimeDelivery: the init image copied by an init container, or mounted as an image volume. */
  runtimeDelivery: 'init-container' | 'image-volume';
  imagePullSecrets: string[];
  serviceAccount: string;
  ttlSeconds: number;
  /** activeDeadlineSeconds of build and render Jobs. */
  batchDeadlineSeconds: number;
  runAs: { uid: number; gid: number };
  /** The administrator's base Job, merged under Lectern's fields. */
  base?: KubeObject;
}

export class ManifestError extends Error {}

/**
 * Where the runtime comes from: an emptyDir the init container fills, or the init image itself as an
 * image volume (Kubernetes' `image` volume source), whose /lectern/runtime is mounted read-only: the
 * kubelet mounts it before the container starts, so the pod skips the init container's own start,
 * exit and status round.
 */
function runtimeVolume(options: ManifestOptions): Record<string, unknown> {
  if (options.runtimeDelivery === 'image-volume') return { name: 'lectern-runtime', image: { reference: options.initImage, pullPolicy: options.initPullPolicy } };
  return { name: 'lectern-runtime', emptyDir: { sizeLimit: '64Mi' } };
}

function runtimeMount(options: ManifestOptions): Record<string, unknown> {
  const mount = { name: 'lectern-runtime', mountPath: POD_RUNTIME_DIR, readOnly: true };
  return options.runtimeDelivery === 'image-volume' ? { ...mount, subPath: INIT_IMAGE_RUNTIME_DIR.slice(1) } : mount;
}

/** DNS-1123 label value of the Job (pods add a 5-character suffix; both stay under 63). */
export function jobName(spec: Pick<JobSpec, 'kind' | 'key'>): string {
  return `lectern-${spec.kind}-${spec.key.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 52).replace(/-+$/, '');
}

/** A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. */
export function labelValue(text: string): string {
  return (
    text
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 63)
      .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '') || 'x'
  );
}

export function jobLabels(spec: Pick<JobSpec, 'key' | 'kind' | 'tag' | 'contentGuid'>, options: Pick<ManifestOptions, 'instance' | 'replica'>): Record<string, string> {
  return {
    [LABELS.managedBy]: 'lectern',
    [LABELS.instance]: labelValue(options.instance),
    [LABELS.contentGuid]: labelValue(spec.contentGuid),
    [LABELS.jobKey]: labelValue(spec.key),
    [LABELS.kind]: spec.kind,
    [LABELS.tag]: spec.tag,
    [LABELS.replica]: labelValue(options.replica),
  };
}

/** Selects every object of this Lectern instance (all replicas). */
export function instanceSelector(instance: string): string {
  return `${LABELS.managedBy}=lectern,${LABELS.instance}=${labelValue(instance)}`;
}

/**
 * The Job (created suspended, so its Secret can be owned by it before any pod starts) and the
 * Secret with the job's environment. Throws ManifestError for a spec the cluster cannot run.
 */
export function buildJobManifests(spec: JobSpec, options: ManifestOptions): { job: KubeObject; secret: KubeObject; secretName: string } {
  if (!spec.image) throw new ManifestError('No image was chosen for this job: off-host execution needs an execution environment (image) for every process.');
  if (options.runAs.uid === 0) throw new ManifestError("Content pods never run as root: Lectern's content user resolved to uid 0.");
  const name = jobName(spec);
  const secretName = `${name}-env`;
  const labels = jobLabels(spec, options);
  const annotations = { [ANNOTATIONS.replica]: options.replica, [ANNOTATIONS.contentId]: String(spec.contentId), [ANNOTATIONS.bundleId]: String(spec.bundleId) };
  const rewrite = (text: string) => rewriteRuntimePath(text, options.runtimeDir);

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...spec.env, HOME: spec.jobDir })) {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) throw new ManifestError(`Environment variable name ${JSON.stringify(key)} cannot be passed to a Kubernetes pod (letters, digits, "-", "." and "_" only).`);
    env[key] = rewrite(value);
  }

  const { volumes, mounts } = dataMounts(spec, options);
  const resources = containerResources(spec);
  const containerSecurity = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
  const content: Record<string, unknown> = {
    name: CONTENT_CONTAINER,
    image: spec.image,
    command: spec.command.map(rewrite),
    workingDir: rewrite(spec.cwd),
    envFrom: [{ secretRef: { name: secretName } }],
    // The pod's own address is known only once it runs: the downward API fills it in.
    env: spec.listen
      ? [
          { name: 'LECTERN_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'LECTERN_PORT', value: String(WORKER_PORT) },
        ]
      : [],
    resources,
    securityContext: containerSecurity,
    volumeMounts: [runtimeMount(options), { name: 'tmp', mountPath: '/tmp' }, ...mounts],
  };
  if (spec.listen) {
    content.ports = [{ name: 'http', containerPort: WORKER_PORT, protocol: 'TCP' }];
    // For what reads pod readiness (disruption budgets, the processes table); Lectern itself routes on
    // its own TCP connect to the pod IP, without waiting for this probe's period (worker-readiness.ts).
    content.readinessProbe = { tcpSocket: { port: WORKER_PORT }, periodSeconds: 1, failureThreshold: 1, successThreshold: 1, timeoutSeconds: 1 };
  }
  const init = {
    name: INIT_CONTAINER,
    image: options.initImage,
    imagePullPolicy: options.initPullPolicy,
    command: [...INIT_COMMAND],
    // Quota policies refuse containers without requests; copying a few hundred kB needs little.
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '500m', memory: '64Mi' } },
    securityContext: containerSecurity,
    volumeMounts: [{ name: 'lectern-runtime', mountPath: '/mnt/lectern-runtime' }],
  };
  const podSpec: Record<string, unknown> = {
    restartPolicy: 'Never',
    enableServiceLinks: false,
    serviceAccountName: options.serviceAccount,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: options.runAs.uid,
      runAsGroup: options.runAs.gid,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(options.runtimeDelivery === 'init-container' ? { initContainers: [init] } : {}),
    containers: [content],
    volumes: [runtimeVolume(options), { name: 'tmp', emptyDir: {} }, ...volumes],
  };
  if (options.imagePullSecrets.length) podSpec.imagePullSecrets = options.imagePullSecrets.map((n) => ({ name: n }));

  const required: KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: options.namespace, labels, annotations },
    spec: {
      suspend: true,
      backoffLimit: 0,
      ttlSecondsAfterFinished: Math.round(options.ttlSeconds),
      ...(spec.kind === 'run' ? {} : { activeDeadlineSeconds: Math.max(1, Math.round(options.batchDeadlineSeconds)) }),
      template: { metadata: { labels, annotations }, spec: podSpec },
    },
  };
  const job = options.base ? mergeUnder(stripBase(options.base), required) : required;
  const secret: KubeObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName, namespace: options.namespace, labels },
    type: 'Opaque',
    immutable: true,
    stringData: env,
  };
  return { job: job as KubeObject, secret, secretName };
}

/** Whether `p` is inside the data dir (the one directory tree pods share with the server). */
export function insideDataDir(dataDir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dataDir), path.resolve(p));
  return !!rel && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Data-dir paths become sub-paths of the one shared volume, mounted at the same absolute paths the
 * server uses, so every path in the job's environment means the same inside the pod. Paths outside
 * the data dir (interpreters, the runtime) come from the image and the init container instead.
 */
function dataMounts(spec: JobSpec, options: ManifestOptions) {
  const root = path.resolve(options.dataDir);
  const wanted = [...spec.mounts, { path: spec.jobDir, readOnly: false }];
  const mounts: Array<{ name: string; mountPath: string; subPath: string; readOnly: boolean }> = [];
  for (const m of wanted) {
    const abs = path.resolve(m.path);
    const rel = path.relative(root, abs);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    if (!rel) throw new ManifestError('A job may not mount the whole data directory.');
    const prefix = 'pvc' in options.dataVolume ? options.dataVolume.pvc.subPath : '';
    mounts.push({ name: 'lectern-data', mountPath: abs, subPath: prefix ? path.posix.join(prefix, rel) : rel, readOnly: m.readOnly });
  }
  const volume = 'nfs' in options.dataVolume ? { name: 'lectern-data', nfs: options.dataVolume.nfs } : { name: 'lectern-data', persistentVolumeClaim: { claimName: options.dataVolume.pvc.claimName } };
  return { volumes: mounts.length ? [volume] : [], mounts };
}

function containerResources(spec: JobSpec) {
  const r = spec.resources;
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpuRequest) requests.cpu = cpuQuantity(r.cpuRequest);
  if (r.cpuLimit) limits.cpu = cpuQuantity(r.cpuLimit);
  if (r.memoryRequestBytes) requests.memory = String(Math.round(r.memoryRequestBytes));
  if (r.memoryLimitBytes) limits.memory = String(Math.round(r.memoryLimitBytes));
  if (r.nvidiaGpuLimit) limits['nvidia.com/gpu'] = String(r.nvidiaGpuLimit);
  if (r.amdGpuLimit) limits['amd.com/gpu'] = String(r.amdGpuLimit);
  return { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
}

function cpuQuantity(cores: number): string {
  return `${Math.max(1, Math.round(cores * 1000))}m`;
}

function rewriteRuntimePath(text: string, runtimeDir: string): string {
  if (text === runtimeDir) return POD_RUNTIME_DIR;
  return text.split(`${runtimeDir}/`).join(`${POD_RUNTIME_DIR}/`);
}

/** What of an administrator's base Job Lectern never takes: identity, status, selectors. */
function stripBase(base: KubeObject): KubeObject {
  const copy = structuredClone(base);
  delete copy.status;
  const meta = copy.metadata ?? {};
  copy.metadata = { labels: meta.labels, annotations: meta.annotations } as KubeObject['metadata'];
  if (copy.spec) {
    delete copy.spec.selector;
    delete copy.spec.manualSelector;
  }
  return copy;
}

/**
 * Lectern's fields over the base: objects merge key by key, lists of named items (containers,
 * volumes, env, volumeMounts) merge by name with Lectern's item winning, other lists are Lectern's
 * when it sets one. Labels and annotations of the base stay unless Lectern sets the same key.
 */
export function mergeUnder(base: unknown, required: unknown): unknown {
  if (required === undefined) return base;
  if (Array.isArray(required)) {
    if (!Array.isArray(base)) return required;
    const named = (l: unknown[]) => l.every((i) => i && typeof i === 'object' && typeof (i as { name?: unknown }).name === 'string');
    if (!named(required) || !named(base)) return required;
    const out = base.map((b) => {
      const match = required.find((r) => (r as { name: string }).name === (b as { name: string }).name);
      return match ? mergeUnder(b, match) : b;
    });
    for (const r of required) if (!base.some((b) => (b as { name: string }).name === (r as { name: string }).name)) out.push(r);
    return out;
  }
  if (required && typeof required === 'object') {
    if (!base || typeof base !== 'object' || Array.isArray(base)) return required;
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(required)) out[k] = mergeUnder((base as Record<string, unknown>)[k], v);
    return out;
  }
  return required;
}
