// Start-up of the Kubernetes backend: settings → connection → "may Lectern do its work here?" →
// watch caches. Every problem stops start-up with a message that says what is missing.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { Config } from '../../config/config.js';
import { resolveConnection } from './connection.js';
import type { DataVolume, ManifestOptions } from './job-manifest.js';
import { KubeApi, KubeApiError, type KubeObject } from './kube-api.js';
import { KubernetesLauncher } from './kubernetes-launcher.js';
import { accessProblem, checkAccess } from './role.js';

export class KubernetesStartError extends Error {}

export interface KubernetesStartDeps {
  config: Config;
  version: string;
  replica: string;
  runtimeDir: string;
  runAs: { uid: number; gid: number };
  prepareWritableDir(dir: string): Promise<void>;
  log?: (msg: string) => void;
}

export async function startKubernetesLauncher(deps: KubernetesStartDeps): Promise<KubernetesLauncher> {
  const { config } = deps;
  if (config.get('Launcher.Enabled') && !config.get('Launcher.Kubernetes')) {
    throw new KubernetesStartError('[Launcher] Enabled = true needs [Launcher] Kubernetes = true: Kubernetes is the only off-host backend.');
  }
  const namespace = config.get('Launcher.KubernetesNamespace');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
    throw new KubernetesStartError(`[Launcher] KubernetesNamespace = ${JSON.stringify(namespace)} is not a valid namespace name.`);
  }
  const dataVolume = dataVolumeFrom(config);
  const base = config.get('Launcher.JobBase') ? loadJobBase(config.get('Launcher.JobBase')) : undefined;
  let connection;
  try {
    connection = resolveConnection(config);
  } catch (err) {
    throw new KubernetesStartError((err as Error).message);
  }
  const api = new KubeApi(connection);
  try {
    let who = "Lectern's Kubernetes identity";
    try {
      const review = await api.create<KubeObject>('/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
      const name = review.status?.userInfo?.username;
      if (name) who = `user "${name}"`;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 401)
        throw new KubernetesStartError(`The Kubernetes API at ${connection.url} refused Lectern's token (401 Unauthorized): check [Launcher] KubernetesAuthToken.`);
      if (!(err instanceof KubeApiError)) throw unreachable(connection.describe, err);
      // Older API servers lack SelfSubjectReview: carry on without the name.
    }
    const access = await checkAccess(api, namespace);
    const problem = accessProblem(access, namespace, who);
    if (problem) throw new KubernetesStartError(problem);
    if (access.missingOptional.length) deps.log?.(`Kubernetes: without ${access.missingOptional.join(', ')} the processes table shows no CPU/memory use of pods.`);
    const launcher = new KubernetesLauncher({
      api,
      manifest: {
        namespace,
        instance: config.get('Launcher.InstanceName'),
        replica: deps.replica,
        dataDir: config.dataDir(),
        dataVolume,
        runtimeDir: deps.runtimeDir,
        initImage: initImage(config.get('Launcher.InitContainerImage'), deps.version),
        initPullPolicy: config.get('Launcher.InitContainerPullPolicy'),
        // An enum setting: Config refuses any other value at load.
        runtimeDelivery: config.get('Launcher.RuntimeDelivery') as ManifestOptions['runtimeDelivery'],
        imagePullSecrets: config.get('Launcher.ImagePullSecrets'),
        ttlSeconds: config.get('Launcher.JobTTL') / 1000,
        batchDeadlineSeconds: config.get('Launcher.BatchDeadline') / 1000,
        runAs: deps.runAs,
        base,
      },
      defaultServiceAccount: config.get('Launcher.DefaultServiceAccount'),
      schedulingTimeoutMs: config.get('Launcher.SchedulingTimeout'),
      prepareWritableDir: deps.prepareWritableDir,
      log: deps.log,
    });
    await launcher.start();
    deps.log?.(`Kubernetes: ${connection.describe}; namespace ${namespace} as ${who}`);
    return launcher;
  } catch (err) {
    await api.close().catch(() => undefined);
    if (err instanceof KubernetesStartError) throw err;
    if (err instanceof KubeApiError && err.status === 403) {
      throw new KubernetesStartError(
        `The Kubernetes API at ${connection.url} refused Lectern (403 Forbidden: ${err.message}). To fix it: apply the Role in docs/kubernetes.md and bind it to Lectern's identity.`,
      );
    }
    if (err instanceof KubeApiError)
      throw new KubernetesStartError(`Kubernetes start-up check failed: ${err.message}. To fix it: check [Launcher] KubernetesAPIURL and Lectern's permissions (docs/kubernetes.md).`);
    throw unreachable(connection.describe, err);
  }
}

/** An image without a tag or digest gets Lectern's version, so runners always match the server. */
export function initImage(image: string, version: string): string {
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  return lastSegment.includes(':') || lastSegment.includes('@') ? image : `${image}:${version}`;
}

function dataVolumeFrom(config: Config): DataVolume {
  const nfs = config.get('Launcher.DataDir');
  const pvc = config.get('Launcher.DataDirPVCName');
  if (nfs && pvc) throw new KubernetesStartError('Set [Launcher] DataDir (NFS) or [Launcher] DataDirPVCName, not both.');
  if (!nfs && !pvc) {
    throw new KubernetesStartError('Content pods need the data directory: set [Launcher] DataDirPVCName (a ReadWriteMany claim holding [Server] DataDir) or [Launcher] DataDir (NFS "host:/path").');
  }
  if (nfs) {
    const m = /^([^:/]+|\[[0-9a-fA-F:]+\]):(\/.*)$/.exec(nfs);
    if (!m) throw new KubernetesStartError(`[Launcher] DataDir = ${JSON.stringify(nfs)} is not an NFS location "host:/path".`);
    return { nfs: { server: m[1]!.replace(/^\[|\]$/g, ''), path: m[2]! } };
  }
  const subPath = config.get('Launcher.DataDirPVCSubPath').replace(/^\/+|\/+$/g, '');
  if (subPath && (path.posix.isAbsolute(subPath) || subPath.split('/').includes('..'))) {
    throw new KubernetesStartError(`[Launcher] DataDirPVCSubPath = ${JSON.stringify(subPath)} must be a relative path without "..".`);
  }
  return { pvc: { claimName: pvc, subPath } };
}

/** The administrator's base Job: one YAML document, kind Job of batch/v1. */
export function loadJobBase(file: string): KubeObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubernetesStartError(`[Launcher] JobBase: cannot read ${file}: ${(err as Error).message}`);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new KubernetesStartError(`[Launcher] JobBase: ${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
  }
  const base = doc.toJS() as KubeObject | null;
  if (!base || typeof base !== 'object' || base.kind !== 'Job' || (base.apiVersion && base.apiVersion !== 'batch/v1')) {
    throw new KubernetesStartError(`[Launcher] JobBase: ${file} must hold one batch/v1 Job (kind: Job).`);
  }
  base.metadata ??= {} as KubeObject['metadata'];
  return base;
}

function unreachable(where: string, err: unknown): KubernetesStartError {
  return new KubernetesStartError(
    `Cannot reach the Kubernetes API at ${where}: ${describeNetworkError(err)}. To fix it: check [Launcher] KubernetesAPIURL (or KUBERNETES_API_URL) and that this host can reach the API server.`,
  );
}

function describeNetworkError(err: unknown): string {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  return [e.code ?? e.cause?.code, e.cause?.message ?? e.message].filter(Boolean).join(' ');
}
