// What a container is created with: its image (from the image map), user, environment, mounts and
// command, or the reason kubelet would report while it cannot be created (ErrImagePull,
// CreateContainerConfigError, CreateContainerError).
import path from 'node:path';
import { ApiError, type Obj } from './client.js';
import { ConfigError, containerEnv, expand, quantity, type ObjectSource } from './env.js';
import { loadImageMap, resolveImage, type Image } from './images.js';
import type { ContainerSpec, Mount } from './sandbox.js';
import { containerMounts, MountError, type PreparedVolume } from './volumes.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Why a container cannot be created yet: kubelet's waiting reason and message. */
export class WaitingError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The image map is read again on every pull, so a test may add an image while the pod waits. */
export function pullImage(imagesFile: string, name: string): Image {
  let image: Image | undefined;
  try {
    image = resolveImage(loadImageMap(imagesFile), name);
  } catch (err) {
    throw new WaitingError('ErrImagePull', `Failed to pull image "${name}": the image map ${imagesFile} cannot be read: ${(err as Error).message}`);
  }
  if (!image)
    throw new WaitingError(
      'ErrImagePull',
      `Failed to pull image "${name}": rpc error: code = NotFound desc = failed to pull and unpack image "${name}": not found (the test bed's image map ${imagesFile} has no such image)`,
    );
  return image;
}

export interface ContainerContext {
  pod: Obj;
  container: Obj;
  /** Names the sandbox's cgroup: unique per pod, container and restart. */
  key: string;
  image: Image;
  hostname: string;
  /** The pod's generated /etc/hosts. */
  hostsFile: string;
  volumes: Map<string, PreparedVolume>;
  objects: ObjectSource;
  allocatable: Record<string, string>;
  apiServer: { host: string; port: string };
}

/** The sandbox settings of one container instance. */
export async function containerConfig(ctx: ContainerContext): Promise<ContainerSpec> {
  const { pod, container, image } = ctx;
  const sc = { ...(pod.spec.securityContext ?? {}), ...(container.securityContext ?? {}) } as Obj;
  const uid = (sc.runAsUser as number | undefined) ?? image.user ?? 0;
  if (sc.runAsNonRoot && uid === 0) throw new WaitingError('CreateContainerConfigError', 'Error: container has runAsNonRoot and image will run as root');
  const base = {
    PATH: DEFAULT_PATH,
    HOME: '/',
    ...image.env,
    HOSTNAME: ctx.hostname,
    // In-cluster clients find the API server here (the real one: nothing routes the Service's ClusterIP).
    KUBERNETES_SERVICE_HOST: ctx.apiServer.host,
    KUBERNETES_SERVICE_PORT: ctx.apiServer.port,
    KUBERNETES_SERVICE_PORT_HTTPS: ctx.apiServer.port,
  };
  let env: Record<string, string>;
  let mounts: Mount[];
  try {
    env = await containerEnv(pod, container, base, ctx.objects, ctx.allocatable);
    mounts = await containerMounts(container, ctx.volumes, env);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof MountError || err instanceof ApiError) throw new WaitingError('CreateContainerConfigError', `Error: ${err.message}`);
    throw err;
  }
  // The image's content first: a volume mounted at (or inside) an image path covers it, as in a container.
  mounts.unshift(...Object.entries(image.paths).map(([target, source]) => ({ source, target, readOnly: true })));
  if (!mounts.some((m) => m.target === '/etc/hosts')) mounts.push({ source: ctx.hostsFile, target: '/etc/hosts', readOnly: true });
  const command = ((container.command as string[] | undefined) ?? image.entrypoint ?? []).map((a) => expand(a, env));
  const args = ((container.args as string[] | undefined) ?? (container.command ? [] : (image.cmd ?? []))).map((a) => expand(a, env));
  if (!command.length && !args.length) throw new WaitingError('CreateContainerError', 'Error: no command specified');
  const limit = container.resources?.limits?.memory as string | undefined;
  const podSc = (pod.spec.securityContext ?? {}) as Obj;
  return {
    key: ctx.key,
    command: [...command, ...args],
    env,
    mounts,
    workingDir: (container.workingDir as string | undefined) ?? image.workingDir ?? '/',
    hostname: ctx.hostname,
    uid,
    gid: (sc.runAsGroup as number | undefined) ?? 0,
    supplementalGroups: [...((podSc.supplementalGroups as number[] | undefined) ?? []), ...(podSc.fsGroup !== undefined ? [podSc.fsGroup as number] : [])],
    memoryLimitBytes: limit ? quantity(limit) : undefined,
    readOnlyRoot: !!sc.readOnlyRootFilesystem,
  };
}

/** The pod's /etc/hosts, as kubelet writes it. */
export function etcHosts(ip: string, hostname: string, aliases: { ip: string; hostnames: string[] }[] = []): string {
  return [
    "# Kubernetes-managed hosts file (the test bed's node agent).",
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${ip}\t${hostname}`,
    ...aliases.map((a) => `${a.ip}\t${a.hostnames.join('\t')}`),
    '',
  ].join('\n');
}

export function hostsFile(podDir: string): string {
  return path.join(podDir, 'hosts');
}
