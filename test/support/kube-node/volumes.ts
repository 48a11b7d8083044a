// A pod's volumes as host paths that the sandbox binds at the containers' mount paths.
//
// emptyDir is a directory per pod; hostPath is the host path; NFS must name this host (127.0.0.1 or
// localhost) and its `path` is a host directory; a PVC resolves to its bound PV's hostPath, local or NFS
// source (the harness pre-creates and binds PVs: no provisioner runs). configMap, secret, downwardAPI and
// projected volumes (service-account token by TokenRequest as the node, kube-root-ca.crt, downward API)
// are written once when the pod starts: unlike kubelet, they are not refreshed.
import { chmod, chown, mkdir, realpath, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KubeClient, Obj } from './client.js';
import { fieldValue, resourceValue, type ObjectSource } from './env.js';
import type { Mount } from './sandbox.js';
import { expand } from './env.js';

/** A volume that cannot be set up (yet): the pod waits in ContainerCreating and kubelet's FailedMount event says why. */
export class MountError extends Error {}

export interface PreparedVolume {
  path: string;
  /** Set by the volume source (API data volumes are always read-only). */
  readOnly: boolean;
}

export interface VolumeContext {
  client: KubeClient;
  pod: Obj;
  /** The pod's own directory on the host (emptyDirs and API data go below it). */
  podDir: string;
  source: ObjectSource;
  allocatable: Record<string, string>;
  /** The uid every container runs as, when they share one (owns service-account tokens, as kubelet does). */
  commonUid?: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function prepareVolumes(ctx: VolumeContext): Promise<Map<string, PreparedVolume>> {
  const out = new Map<string, PreparedVolume>();
  for (const volume of (ctx.pod.spec.volumes ?? []) as Obj[]) out.set(volume.name, await prepare(ctx, volume));
  return out;
}

async function prepare(ctx: VolumeContext, v: Obj): Promise<PreparedVolume> {
  const own = (kind: string) => path.join(ctx.podDir, 'volumes', kind, v.name);
  if (v.emptyDir) {
    const dir = own('empty-dir');
    await mkdir(dir, { recursive: true });
    // World-writable like kubelet's: whichever user the containers run as can use it.
    await chmod(dir, 0o777);
    return { path: dir, readOnly: false };
  }
  if (v.hostPath) return { path: await hostPath(v.hostPath.path, v.hostPath.type ?? ''), readOnly: false };
  if (v.nfs) return { path: await nfsPath(v.nfs), readOnly: !!v.nfs.readOnly };
  if (v.persistentVolumeClaim) {
    const resolved = await claimPath(ctx, v.persistentVolumeClaim.claimName);
    return { path: resolved.path, readOnly: resolved.readOnly || !!v.persistentVolumeClaim.readOnly };
  }
  if (v.configMap || v.secret || v.downwardAPI || v.projected) {
    const dir = own(v.configMap ? 'configmap' : v.secret ? 'secret' : v.downwardAPI ? 'downward-api' : 'projected');
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    const fsGroup = ctx.pod.spec.securityContext?.fsGroup as number | undefined;
    const files = await apiDataFiles(ctx, v);
    for (const f of files) {
      const target = path.join(dir, safeRelative(f.path, `volume ${v.name}`));
      await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
      await writeFile(target, f.content);
      // As kubelet: group fsGroup (and group-readable) when set; tokens owned by the containers' common user.
      const uid = f.token && ctx.commonUid !== undefined && fsGroup === undefined ? ctx.commonUid : 0;
      await chown(target, uid, fsGroup ?? 0);
      await chmod(target, fsGroup !== undefined ? f.mode | 0o440 : f.mode);
    }
    return { path: dir, readOnly: true };
  }
  throw new MountError(
    `volume ${v.name}: the test bed's node agent does not support ${
      Object.keys(v)
        .filter((k) => k !== 'name')
        .join(', ') || 'this volume type'
    }`,
  );
}

async function hostPath(p: string, type: string): Promise<string> {
  const info = await stat(p).catch(() => undefined);
  switch (type) {
    case '':
    case 'DirectoryOrCreate':
      if (!info) await mkdir(p, { recursive: true, mode: 0o755 });
      else if (type && !info.isDirectory()) throw new MountError(`hostPath type check failed: ${p} is not a directory`);
      return p;
    case 'Directory':
      if (!info?.isDirectory()) throw new MountError(`hostPath type check failed: ${p} is not a directory`);
      return p;
    case 'FileOrCreate':
      if (!info) {
        await mkdir(path.dirname(p), { recursive: true, mode: 0o755 });
        await writeFile(p, '', { mode: 0o644 });
      } else if (!info.isFile()) throw new MountError(`hostPath type check failed: ${p} is not a file`);
      return p;
    case 'File':
      if (!info?.isFile()) throw new MountError(`hostPath type check failed: ${p} is not a file`);
      return p;
    case 'Socket':
    case 'CharDevice':
    case 'BlockDevice': {
      const ok = info && (type === 'Socket' ? info.isSocket() : type === 'CharDevice' ? info.isCharacterDevice() : info.isBlockDevice());
      if (!ok) throw new MountError(`hostPath type check failed: ${p} is not a ${type}`);
      return p;
    }
    default:
      throw new MountError(`hostPath ${p}: unknown type ${type}`);
  }
}

/** The test bed's NFS: the server must be this host, and the export path is a host directory. */
async function nfsPath(nfs: { server: string; path: string }): Promise<string> {
  if (!LOOPBACK.has(nfs.server)) throw new MountError(`nfs server ${nfs.server}: the test bed's node agent only mounts "NFS" exports of this host (server 127.0.0.1 or localhost)`);
  const info = await stat(nfs.path).catch(() => undefined);
  if (!info?.isDirectory()) throw new MountError(`mount.nfs: ${nfs.server}:${nfs.path}: no such exported directory`);
  return nfs.path;
}

async function claimPath(ctx: VolumeContext, claimName: string): Promise<{ path: string; readOnly: boolean }> {
  const ns = ctx.pod.metadata.namespace as string;
  const claim = await ctx.client.getOptional(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${encodeURIComponent(claimName)}`);
  if (!claim) throw new MountError(`persistentvolumeclaim "${claimName}" not found`);
  if (claim.status?.phase !== 'Bound' || !claim.spec?.volumeName) throw new MountError(`persistentvolumeclaim "${claimName}" is not bound`);
  const pv = await ctx.client.getOptional(`/api/v1/persistentvolumes/${encodeURIComponent(claim.spec.volumeName)}`);
  if (!pv) throw new MountError(`persistentvolume "${claim.spec.volumeName}" (bound to claim ${claimName}) not found`);
  const readOnlyMany = ((pv.spec.accessModes ?? []) as string[]).every((m) => m === 'ReadOnlyMany');
  if (pv.spec.hostPath) return { path: await hostPath(pv.spec.hostPath.path, pv.spec.hostPath.type ?? ''), readOnly: readOnlyMany };
  if (pv.spec.local) return { path: await hostPath(pv.spec.local.path, 'Directory'), readOnly: readOnlyMany };
  if (pv.spec.nfs) return { path: await nfsPath(pv.spec.nfs), readOnly: readOnlyMany || !!pv.spec.nfs.readOnly };
  throw new MountError(`persistentvolume "${pv.metadata.name}": only hostPath, local and nfs sources are supported by the test bed's node agent`);
}

interface DataFile {
  path: string;
  content: string | Buffer;
  mode: number;
  token?: boolean;
}

/** The files of a configMap, secret, downwardAPI or projected volume. */
async function apiDataFiles(ctx: VolumeContext, v: Obj): Promise<DataFile[]> {
  if (v.configMap) return keyedFiles('ConfigMap', await ctx.source.configMap(v.configMap.name), v.configMap, v.configMap.defaultMode ?? 0o644);
  if (v.secret) return keyedFiles('Secret', await ctx.source.secret(v.secret.secretName), { ...v.secret, name: v.secret.secretName }, v.secret.defaultMode ?? 0o644);
  if (v.downwardAPI) return downwardFiles(ctx, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644);
  const files: DataFile[] = [];
  const mode = (v.projected.defaultMode as number | undefined) ?? 0o644;
  for (const s of (v.projected.sources ?? []) as Obj[]) {
    if (s.configMap) files.push(...keyedFiles('ConfigMap', await ctx.source.configMap(s.configMap.name), s.configMap, mode));
    else if (s.secret) files.push(...keyedFiles('Secret', await ctx.source.secret(s.secret.name), s.secret, mode));
    else if (s.downwardAPI) files.push(...downwardFiles(ctx, s.downwardAPI.items ?? [], mode));
    else if (s.serviceAccountToken) files.push({ path: s.serviceAccountToken.path, content: await serviceAccountToken(ctx, s.serviceAccountToken), mode: 0o600, token: true });
    else throw new MountError(`projected volume ${v.name}: unsupported source ${Object.keys(s).join(', ')}`);
  }
  return files;
}

function keyedFiles(kind: 'ConfigMap' | 'Secret', obj: Obj | undefined, ref: { name: string; items?: Obj[]; optional?: boolean }, mode: number): DataFile[] {
  if (!obj) {
    if (ref.optional) return [];
    throw new MountError(`${kind.toLowerCase()} "${ref.name}" not found`);
  }
  const value = (key: string): Buffer | undefined => {
    const text = obj.data?.[key] as string | undefined;
    if (text !== undefined) return kind === 'Secret' ? Buffer.from(text, 'base64') : Buffer.from(text);
    const binary = obj.binaryData?.[key] as string | undefined;
    return binary !== undefined ? Buffer.from(binary, 'base64') : undefined;
  };
  const items: Obj[] = ref.items ?? Object.keys({ ...(obj.data ?? {}), ...(obj.binaryData ?? {}) }).map((key) => ({ key, path: key }));
  const files: DataFile[] = [];
  for (const item of items) {
    const content = value(item.key);
    if (content === undefined) {
      if (ref.optional) continue;
      throw new MountError(`configuration of ${kind} ${obj.metadata.namespace}/${ref.name}: key ${item.key} not found`);
    }
    files.push({ path: item.path, content, mode: item.mode ?? mode });
  }
  return files;
}

function downwardFiles(ctx: VolumeContext, items: Obj[], mode: number): DataFile[] {
  return items.map((item) => {
    let content: string;
    if (item.fieldRef) content = fieldValue(ctx.pod, item.fieldRef.fieldPath);
    else {
      const name = item.resourceFieldRef.containerName;
      const container = ((ctx.pod.spec.containers ?? []) as Obj[]).find((c) => c.name === name) ?? {};
      content = resourceValue(container, item.resourceFieldRef, ctx.allocatable);
    }
    return { path: item.path, content, mode: item.mode ?? mode };
  });
}

/** TokenRequest as the node: the Node authorizer allows it for service accounts of pods bound to this node. */
async function serviceAccountToken(ctx: VolumeContext, source: { audience?: string; expirationSeconds?: number }): Promise<string> {
  const { pod } = ctx;
  const account = (pod.spec.serviceAccountName as string | undefined) ?? 'default';
  const review = await ctx.client.request('POST', `/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${encodeURIComponent(account)}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: source.audience ? [source.audience] : [],
      expirationSeconds: source.expirationSeconds ?? 3607,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
    },
  });
  return review.status.token as string;
}

function safeRelative(p: string, what: string): string {
  const normal = path.posix.normalize(p);
  if (!p || path.posix.isAbsolute(p) || normal === '..' || normal.startsWith('../')) throw new MountError(`${what}: path ${JSON.stringify(p)} must be relative and stay inside the volume`);
  return normal;
}

/**
 * A container's volumeMounts as sandbox mounts. subPath (or subPathExpr, expanded with the container's
 * env) must stay inside the volume, symlinks included; a missing subPath is created as a directory, as
 * kubelet does. A mount is read-only when the mount or the volume says so.
 */
export async function containerMounts(container: Obj, volumes: Map<string, PreparedVolume>, env: Record<string, string>): Promise<Mount[]> {
  const mounts: Mount[] = [];
  for (const m of (container.volumeMounts ?? []) as Obj[]) {
    const volume = volumes.get(m.name);
    if (!volume) throw new MountError(`volumeMount ${m.name}: the pod has no volume of that name`);
    let source = volume.path;
    const sub = m.subPathExpr !== undefined ? expand(m.subPathExpr, env) : (m.subPath as string | undefined);
    if (sub) {
      const root = await realpath(volume.path);
      source = path.join(volume.path, safeRelative(sub, `volumeMount ${m.name} subPath`));
      if (!(await stat(source).catch(() => undefined))) {
        if (volume.readOnly) throw new MountError(`volumeMount ${m.name}: subPath ${sub} does not exist in the read-only volume`);
        await mkdir(source, { recursive: true });
        // As writable as the volume's own root (an emptyDir's is 0777), no more.
        await chmod(source, (await stat(volume.path)).mode & 0o777);
      }
      const real = await realpath(source);
      if (real !== root && !real.startsWith(root + '/')) throw new MountError(`volumeMount ${m.name}: subPath ${sub} resolves outside the volume`);
      source = real;
    }
    mounts.push({ source, target: m.mountPath, readOnly: !!m.readOnly || volume.readOnly });
  }
  return mounts;
}
