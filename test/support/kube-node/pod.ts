// One pod bound to the node, run the way kubelet runs it: volumes, init containers in order, then the
// containers side by side with their probes and restart policy, its status written back after every
// change, graceful termination when it is deleted, and the final DELETE that lets the API server remove it.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CgroupLayout } from '../../../src/launcher/local/cgroup.js';
import { ApiError, type KubeClient, type Obj } from './client.js';
import { ContainerRun, now } from './container.js';
import { ConfigError, containerEnv, expand, quantity, type ObjectSource } from './env.js';
import { loadImageMap, resolveImage, type Image } from './images.js';
import { probeOnce, ProbeWorker, type ProbeResult } from './probes.js';
import { SandboxedContainer, type ContainerSpec, type Exit, type Mount } from './sandbox.js';
import { containerMounts, MountError, prepareVolumes, type PreparedVolume } from './volumes.js';

/** What a pod needs from its node agent. */
export interface PodHost {
  client: KubeClient;
  nodeName: string;
  hostIP: string;
  /** host:port of the API server, given to containers as KUBERNETES_SERVICE_HOST/PORT. */
  apiServer: { host: string; port: string };
  imagesFile: string;
  cgroups: CgroupLayout;
  bwrap: string;
  allocatable: Record<string, string>;
  podsDir: string;
  restartBackoffSeconds: number;
  event(pod: Obj, type: 'Normal' | 'Warning', reason: string, message: string): void;
  warn(message: string): void;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** How long a pull or configuration error is shown before the next attempt (kubelet backs off from 10 s). */
const RETRY_SECONDS = [1, 5, 10, 20, 40];

type Condition = { type: string; status: 'True' | 'False'; reason?: string; message?: string; lastTransitionTime: string; lastProbeTime: null };

export class PodWorker {
  pod: Obj;
  readonly initContainers: ContainerRun[];
  readonly containers: ContainerRun[];
  readonly dir: string;
  private phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' = 'Pending';
  private initialized: boolean;
  private failedInit = false;
  private readonly startTime = now();
  private readonly transitions = new Map<string, { status: string; at: string }>();
  private volumes = new Map<string, PreparedVolume>();
  private stopping = false;
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;
  private removed?: Promise<void>;
  private deadline?: NodeJS.Timeout;
  /** status.reason/message of a pod the node failed (activeDeadlineSeconds). */
  private failure?: { reason: string; message: string };

  constructor(
    private readonly host: PodHost,
    pod: Obj,
    readonly ip: string,
  ) {
    this.pod = pod;
    this.dir = path.join(host.podsDir, pod.metadata.uid as string);
    const init = (pod.spec.initContainers ?? []) as Obj[];
    this.initialized = init.length === 0;
    this.initContainers = init.map((c) => new ContainerRun(c, true, 'PodInitializing', host.restartBackoffSeconds));
    this.containers = ((pod.spec.containers ?? []) as Obj[]).map((c) => new ContainerRun(c, false, init.length ? 'PodInitializing' : 'ContainerCreating', host.restartBackoffSeconds));
    if (init.length) this.initContainers[0]!.state = { waiting: { reason: 'ContainerCreating' } };
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  get terminal(): boolean {
    return this.phase === 'Succeeded' || this.phase === 'Failed';
  }

  container(name: string): ContainerRun | undefined {
    return [...this.initContainers, ...this.containers].find((c) => c.name === name);
  }

  start(): void {
    this.running = this.run().catch((err: Error) => {
      this.host.warn(`pod ${this.key}: ${err.stack ?? err.message}`);
    });
    const seconds = this.pod.spec.activeDeadlineSeconds as number | undefined;
    if (seconds !== undefined) {
      this.deadline = setTimeout(() => void this.exceedDeadline(), seconds * 1000);
      this.deadline.unref();
    }
  }

  /** activeDeadlineSeconds passed: kubelet stops the containers and fails the pod. */
  private async exceedDeadline(): Promise<void> {
    if (this.terminal || this.stopping) return;
    this.failure = { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' };
    this.host.event(this.pod, 'Normal', 'DeadlineExceeded', this.failure.message);
    await this.halt((this.pod.spec.terminationGracePeriodSeconds as number | undefined) ?? 30);
    this.phase = 'Failed';
    this.changed();
  }

  /** A newer version of the pod from the watch. */
  update(pod: Obj): void {
    this.pod = pod;
  }

  // ------------------------------------------------------------------------------------ the pod's run

  private async run(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    this.changed();
    while (!this.stopping) {
      try {
        this.volumes = await prepareVolumes({ client: this.host.client, pod: this.pod, podDir: this.dir, source: this.objects(), allocatable: this.host.allocatable, commonUid: this.commonUid() });
        break;
      } catch (err) {
        if (!(err instanceof MountError || err instanceof ApiError || err instanceof ConfigError)) throw err;
        this.host.event(this.pod, 'Warning', 'FailedMount', `MountVolume.SetUp failed: ${err.message}`);
        await this.sleep(2);
      }
    }
    await writeFile(path.join(this.dir, 'hosts'), this.etcHosts());
    for (const init of this.initContainers) {
      for (;;) {
        const exit = await this.runContainer(init);
        if (this.stopping || !exit) return;
        if (exit.exitCode === 0) break;
        if (this.restartPolicy === 'Never') {
          this.failedInit = true;
          this.changed();
          return this.finish();
        }
        if (!(await this.backOff(init))) return;
      }
    }
    this.initialized = true;
    this.changed();
    await Promise.all(this.containers.map((c) => this.containerLoop(c)));
    if (!this.stopping) await this.finish();
  }

  private async containerLoop(c: ContainerRun): Promise<void> {
    for (;;) {
      const exit = await this.runContainer(c);
      if (this.stopping || !exit) return;
      const policy = this.restartPolicy;
      if (!(policy === 'Always' || (policy === 'OnFailure' && exit.exitCode !== 0))) return;
      if (!(await this.backOff(c))) return;
    }
  }

  /** The pod is done: its containers are over and will not restart. */
  private async finish(): Promise<void> {
    this.changed();
    await this.flushed();
    if (this.pod.metadata.deletionTimestamp) await this.remove();
  }

  private async backOff(c: ContainerRun): Promise<boolean> {
    const seconds = c.backoffSeconds;
    c.backoffSeconds = Math.min(c.backoffSeconds * 2, 300);
    c.wait('CrashLoopBackOff', `back-off ${seconds}s restarting failed container=${c.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.pod.metadata.uid})`);
    this.host.event(this.pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.pod.metadata.uid})`);
    this.changed();
    return this.sleep(seconds);
  }

  /** Pulls (looks up) the image, creates and starts the container, waits for it to exit. Undefined when the pod stops first. */
  private async runContainer(c: ContainerRun): Promise<Exit | undefined> {
    let attempt = 0;
    let spec: ContainerSpec | undefined;
    while (!spec) {
      if (this.stopping) return undefined;
      const failure = await this.prepare(c).then(
        (s) => {
          spec = s;
          return undefined;
        },
        (err: Error) => err,
      );
      if (!failure) break;
      if (!(failure instanceof PrepareError)) throw failure;
      c.wait(failure.reason, failure.message);
      this.host.event(this.pod, 'Warning', 'Failed', failure.message);
      this.changed();
      const seconds = RETRY_SECONDS[Math.min(attempt++, RETRY_SECONDS.length - 1)]!;
      if (failure.reason === 'ErrImagePull') {
        // kubelet shows the pull error, then ImagePullBackOff until the next attempt.
        if (!(await this.sleep(Math.min(seconds, 2)))) return undefined;
        c.wait('ImagePullBackOff', `Back-off pulling image "${c.spec.image}"`);
        this.changed();
      }
      if (!(await this.sleep(seconds))) return undefined;
    }
    c.created();
    const terminationFile = path.join(this.dir, 'termination', `${c.name}-${c.restartCount}`);
    await mkdir(path.dirname(terminationFile), { recursive: true });
    await writeFile(terminationFile, '');
    await chmod(terminationFile, 0o666);
    spec!.mounts.push({ source: terminationFile, target: c.spec.terminationMessagePath ?? '/dev/termination-log', readOnly: false });
    this.host.event(this.pod, 'Normal', 'Created', `Created container: ${c.name}`);
    let sandbox: SandboxedContainer;
    try {
      sandbox = await SandboxedContainer.start(spec!, this.host.bwrap, this.host.cgroups, (stream, chunk) => c.log.write(stream, chunk));
    } catch (err) {
      const message = `failed to start container "${c.name}": ${(err as Error).message}`;
      const exit = { exitCode: 128, oomKilled: false };
      c.exited(exit, now(), message, 'StartError');
      this.host.event(this.pod, 'Warning', 'Failed', `Error: ${message}`);
      this.changed();
      return exit;
    }
    c.sandbox = sandbox;
    c.runningSpec = spec!;
    const startedAt = now();
    const postStart = c.spec.lifecycle?.postStart as Obj | undefined;
    // kubelet reports the container running once its postStart hook has returned.
    const hook = postStart ? await this.runHook(c, spec!, postStart, this.gracePeriod()) : { ok: true };
    if (!hook.ok) {
      this.host.event(this.pod, 'Warning', 'FailedPostStartHook', `PostStartHook failed: ${hook.message ?? ''}`);
      void this.stopContainer(c, this.gracePeriod());
    } else {
      c.state = { running: { startedAt } };
      this.host.event(this.pod, 'Normal', 'Started', `Started container ${c.name}`);
      this.startProbes(c, spec!);
      this.changed();
    }
    const exit = await sandbox.exited;
    const message = await this.terminationMessage(c, terminationFile, exit);
    c.exited(exit, startedAt, message);
    if (exit.oomKilled) this.host.event(this.pod, 'Warning', 'OOMKilling', `Memory cgroup out of memory: container ${c.name} was killed`);
    this.changed();
    return exit;
  }

  /** The container's sandbox settings, or why it cannot be created yet. */
  private async prepare(c: ContainerRun): Promise<ContainerSpec> {
    const image = this.pullImage(c);
    const sc = { ...(this.pod.spec.securityContext ?? {}), ...(c.spec.securityContext ?? {}) } as Obj;
    const uid = (sc.runAsUser as number | undefined) ?? image.user ?? 0;
    if (sc.runAsNonRoot && uid === 0) throw new PrepareError('CreateContainerConfigError', 'Error: container has runAsNonRoot and image will run as root');
    let env: Record<string, string>;
    let mounts: Mount[];
    try {
      env = await containerEnv(this.pod, c.spec, this.baseEnv(image), this.objects(), this.host.allocatable);
      mounts = await containerMounts(c.spec, this.volumes, env);
    } catch (err) {
      if (err instanceof ConfigError || err instanceof MountError || err instanceof ApiError) throw new PrepareError('CreateContainerConfigError', `Error: ${err.message}`);
      throw err;
    }
    for (const [target, source] of Object.entries(image.paths)) mounts.push({ source, target, readOnly: true });
    if (!mounts.some((m) => m.target === '/etc/hosts')) mounts.push({ source: path.join(this.dir, 'hosts'), target: '/etc/hosts', readOnly: true });
    const command = ((c.spec.command as string[] | undefined) ?? image.entrypoint ?? []).map((a) => expand(a, env));
    const args = ((c.spec.args as string[] | undefined) ?? (c.spec.command ? [] : (image.cmd ?? []))).map((a) => expand(a, env));
    if (!command.length && !args.length) throw new PrepareError('CreateContainerError', 'Error: no command specified');
    const limit = c.spec.resources?.limits?.memory as string | undefined;
    const podSc = (this.pod.spec.securityContext ?? {}) as Obj;
    return {
      key: `${this.pod.metadata.uid}-${c.name}-${c.restartCount}`,
      command: [...command, ...args],
      env,
      mounts,
      workingDir: (c.spec.workingDir as string | undefined) ?? image.workingDir ?? '/',
      hostname: ((this.pod.spec.hostname as string | undefined) ?? (this.pod.metadata.name as string)).slice(0, 63),
      uid,
      gid: (sc.runAsGroup as number | undefined) ?? 0,
      supplementalGroups: [...((podSc.supplementalGroups as number[] | undefined) ?? []), ...(podSc.fsGroup !== undefined ? [podSc.fsGroup as number] : [])],
      memoryLimitBytes: limit ? quantity(limit) : undefined,
      readOnlyRoot: !!sc.readOnlyRootFilesystem,
    };
  }

  /** The image map is read again on every pull, so a test may add an image while the pod waits. */
  private pullImage(c: ContainerRun): Image {
    const name = c.spec.image as string;
    let image: Image | undefined;
    try {
      image = resolveImage(loadImageMap(this.host.imagesFile), name);
    } catch (err) {
      throw new PrepareError('ErrImagePull', `Failed to pull image "${name}": the image map ${this.host.imagesFile} cannot be read: ${(err as Error).message}`);
    }
    if (!image) throw new PrepareError('ErrImagePull', `Failed to pull image "${name}": rpc error: code = NotFound desc = failed to pull and unpack image "${name}": not found (the test bed's image map ${this.host.imagesFile} has no such image)`);
    if (!c.imageID) this.host.event(this.pod, 'Normal', 'Pulled', `Container image "${name}" already present on machine`);
    c.imageID = `lectern-kube-node://${name}`;
    return image;
  }

  private baseEnv(image: Image): Record<string, string> {
    return {
      PATH: DEFAULT_PATH,
      HOME: '/',
      ...image.env,
      HOSTNAME: ((this.pod.spec.hostname as string | undefined) ?? (this.pod.metadata.name as string)).slice(0, 63),
      // In-cluster clients find the API server here (the real one: nothing routes the Service's ClusterIP).
      KUBERNETES_SERVICE_HOST: this.host.apiServer.host,
      KUBERNETES_SERVICE_PORT: this.host.apiServer.port,
      KUBERNETES_SERVICE_PORT_HTTPS: this.host.apiServer.port,
    };
  }

  private etcHosts(): string {
    const name = ((this.pod.spec.hostname as string | undefined) ?? (this.pod.metadata.name as string)).slice(0, 63);
    const extra = ((this.pod.spec.hostAliases ?? []) as { ip: string; hostnames: string[] }[]).map((a) => `${a.ip}\t${a.hostnames.join('\t')}`);
    return ['# Kubernetes-managed hosts file (the test bed\'s node agent).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${this.ip}\t${name}`, ...extra, ''].join('\n');
  }

  private async terminationMessage(c: ContainerRun, file: string, exit: Exit): Promise<string | undefined> {
    const written = (await readFile(file, 'utf8').catch(() => '')).slice(0, 4096);
    if (written) return written;
    if (c.spec.terminationMessagePolicy === 'FallbackToLogsOnError' && exit.exitCode !== 0) {
      return c.log.lines.slice(-80).map((l) => l.text).join('').slice(-2048) || undefined;
    }
    return undefined;
  }

  private startProbes(c: ContainerRun, spec: ContainerSpec): void {
    const target = {
      podIP: this.ip,
      container: c.spec,
      exec: (command: string[], timeoutMs: number) => this.exec(c, spec, command, timeoutMs),
    };
    const readiness = c.spec.readinessProbe as Obj | undefined;
    const startup = c.spec.startupProbe as Obj | undefined;
    const liveness = c.spec.livenessProbe as Obj | undefined;
    const unhealthy = (kind: string) => (message: string) => this.host.event(this.pod, 'Warning', 'Unhealthy', `${kind} probe failed: ${message}`);
    let ready: ProbeWorker | undefined;
    let live: ProbeWorker | undefined;
    const afterStartup = () => {
      c.started = true;
      if (!readiness) c.ready = true;
      if (readiness) {
        ready = new ProbeWorker(readiness, target, false, {
          changed: (ok) => {
            c.ready = ok;
            this.changed();
          },
          failed: unhealthy('Readiness'),
        });
        c.probes.push(ready);
        ready.start();
      }
      if (liveness) {
        live = new ProbeWorker(liveness, target, true, {
          changed: (ok) => {
            if (ok || !c.sandbox) return;
            this.host.event(this.pod, 'Normal', 'Killing', `Container ${c.name} failed liveness probe, will be restarted`);
            void this.stopContainer(c, this.gracePeriod());
          },
          failed: unhealthy('Liveness'),
        });
        c.probes.push(live);
        live.start();
      }
      this.changed();
    };
    if (!startup) return afterStartup();
    const worker = new ProbeWorker(startup, target, false, {
      changed: (ok) => {
        if (!ok) return;
        worker.stop();
        afterStartup();
      },
      failed: unhealthy('Startup'),
    });
    c.probes.push(worker);
    worker.start();
  }

  /** An exec probe: the command inside the running container. */
  private async exec(c: ContainerRun, spec: ContainerSpec, command: string[], timeoutMs: number): Promise<number> {
    if (!c.sandbox) throw new Error(`container ${c.name} is not running`);
    return c.sandbox.exec(spec, command, timeoutMs);
  }

  // ------------------------------------------------------------------------------------ termination

  get restartPolicy(): string {
    return (this.pod.spec.restartPolicy as string | undefined) ?? 'Always';
  }

  private gracePeriod(): number {
    return (this.pod.metadata.deletionGracePeriodSeconds as number | undefined) ?? (this.pod.spec.terminationGracePeriodSeconds as number | undefined) ?? 30;
  }

  /** The preStop hook, SIGTERM, then SIGKILL when the grace period is over; resolves when the container has exited. */
  private async stopContainer(c: ContainerRun, graceSeconds: number): Promise<void> {
    const sandbox = c.sandbox;
    if (!sandbox || c.stopping) return c.stopping;
    c.stopping = (async () => {
      this.host.event(this.pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
      const deadline = Date.now() + graceSeconds * 1000;
      const timer = setTimeout(() => void sandbox.signal('SIGKILL'), graceSeconds * 1000);
      const preStop = c.spec.lifecycle?.preStop as Obj | undefined;
      if (preStop && graceSeconds > 0 && c.runningSpec) {
        const hook = await this.runHook(c, c.runningSpec, preStop, graceSeconds);
        if (!hook.ok) this.host.event(this.pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${hook.message ?? ''}`);
      }
      // As kubelet: at least 2 s between the end of preStop and SIGKILL.
      if (preStop && Date.now() > deadline - 2000) {
        clearTimeout(timer);
        setTimeout(() => void sandbox.signal('SIGKILL'), 2000).unref();
      }
      await sandbox.signal(graceSeconds > 0 ? 'SIGTERM' : 'SIGKILL');
      await sandbox.exited;
      clearTimeout(timer);
    })();
    await c.stopping;
  }

  /** A lifecycle hook (postStart, preStop): exec inside the container, httpGet, or sleep, within `timeoutSeconds`. */
  private async runHook(c: ContainerRun, spec: ContainerSpec, hook: Obj, timeoutSeconds: number): Promise<ProbeResult> {
    if (hook.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(hook.sleep.seconds as number, timeoutSeconds) * 1000));
      return { ok: true };
    }
    return probeOnce({ ...hook, timeoutSeconds }, { podIP: this.ip, container: c.spec, exec: (command, timeoutMs) => this.exec(c, spec, command, timeoutMs) });
  }

  /**
   * The pod was deleted (deletionTimestamp set): stop its containers within the grace period, report them
   * terminated, and delete the pod for good (gracePeriodSeconds=0), as kubelet does.
   */
  remove(): Promise<void> {
    this.removed ??= (async () => {
      await this.halt(this.gracePeriod());
      if (!this.terminal) {
        // kubelet (since 1.27) gives a deleted pod a terminal phase before it goes.
        this.phase = [...this.containers].every((c) => c.terminated?.exitCode === 0) && this.containers.length > 0 ? 'Succeeded' : 'Failed';
        this.changed();
      }
      // The final status (containers terminated) is written before the pod goes.
      await this.flushed();
      try {
        await deletePodNow(this.host.client, this.pod);
      } catch (err) {
        this.host.warn(`pod ${this.key}: final delete failed: ${(err as Error).message}`);
      }
    })();
    return this.removed;
  }

  /** Stops everything of the pod (graceful for `graceSeconds`); no more status writes after it returns. */
  async halt(graceSeconds: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.deadline);
    this.abort.abort();
    for (const c of [...this.initContainers, ...this.containers]) for (const p of c.probes) p.stop();
    await Promise.all([...this.initContainers, ...this.containers].map((c) => this.stopContainer(c, graceSeconds)));
    await this.running;
    for (const c of [...this.initContainers, ...this.containers]) c.log.close();
  }

  /** Host pids of the pod's running containers (bwrap and everything below it). */
  async processes(): Promise<number[]> {
    const pids = await Promise.all([...this.initContainers, ...this.containers].map((c) => c.sandbox?.pids() ?? []));
    return pids.flat();
  }

  /** Removes the pod's files (volumes of its own, termination messages). */
  async cleanUp(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Resolves after `seconds`, or false at once when the pod stops. */
  private sleep(seconds: number): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, seconds * 1000);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ------------------------------------------------------------------------------------ status

  private commonUid(): number | undefined {
    const podUid = this.pod.spec.securityContext?.runAsUser as number | undefined;
    const uids = new Set([...(this.pod.spec.initContainers ?? []), ...(this.pod.spec.containers ?? [])].map((c: Obj) => (c.securityContext?.runAsUser as number | undefined) ?? podUid));
    const [only] = [...uids];
    return uids.size === 1 && only !== undefined ? only : undefined;
  }

  /** ConfigMaps and Secrets of the pod's namespace; the Node authorizer may need a moment to learn the pod references them. */
  private objects(): ObjectSource {
    const ns = this.pod.metadata.namespace as string;
    const get = async (kind: string, name: string) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.host.client.getOptional(`/api/v1/namespaces/${ns}/${kind}/${encodeURIComponent(name)}`);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 403) || attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    return { configMap: (name) => get('configmaps', name), secret: (name) => get('secrets', name) };
  }

  private computePhase(): typeof this.phase {
    if (this.terminal) return this.phase;
    if (this.failedInit) return 'Failed';
    if (!this.initialized) return 'Pending';
    let running = 0;
    let waiting = 0;
    let succeeded = 0;
    let stopped = 0;
    for (const c of this.containers) {
      if (c.running) running++;
      else if (c.terminated) {
        stopped++;
        if (c.terminated.exitCode === 0) succeeded++;
      } else if ('terminated' in c.lastState) stopped++; // waiting to restart
      else waiting++;
    }
    if (waiting > 0) return 'Pending';
    if (running > 0) return 'Running';
    if (stopped === 0) return 'Pending';
    if (this.restartPolicy === 'Always') return 'Running';
    const restarting = this.containers.some((c) => !c.terminated);
    if (restarting) return 'Running';
    if (succeeded === stopped) return 'Succeeded';
    return this.restartPolicy === 'Never' ? 'Failed' : 'Running';
  }

  private condition(type: string, ok: boolean, reason?: string, message?: string): Condition {
    const status = ok ? 'True' : 'False';
    const prior = this.transitions.get(type);
    if (!prior || prior.status !== status) this.transitions.set(type, { status, at: now() });
    return { type, status, ...(reason && !ok ? { reason } : {}), ...(message && !ok ? { message } : {}), lastProbeTime: null, lastTransitionTime: this.transitions.get(type)!.at };
  }

  private conditions(): Condition[] {
    const done = this.terminal;
    const incompleteInit = this.initContainers.filter((c) => !(c.terminated && c.terminated.exitCode === 0)).map((c) => c.name);
    const unready = this.containers.filter((c) => !c.ready).map((c) => c.name);
    const gates = ((this.pod.spec.readinessGates ?? []) as { conditionType: string }[]).filter(
      (g) => !((this.pod.status?.conditions ?? []) as Condition[]).some((c) => c.type === g.conditionType && c.status === 'True'),
    );
    const notReady = done ? 'PodCompleted' : 'ContainersNotReady';
    const unreadyMessage = `containers with unready status: [${unready.join(' ')}]`;
    return [
      this.condition('PodReadyToStartContainers', !done),
      this.condition('Initialized', this.initialized, done && !this.failedInit ? 'PodCompleted' : 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`),
      this.condition('Ready', unready.length === 0 && gates.length === 0 && !done, unready.length || done ? notReady : 'ReadinessGatesNotReady', unready.length ? unreadyMessage : `corresponding condition of pod readiness gate "${gates[0]?.conditionType}" does not exist.`),
      this.condition('ContainersReady', unready.length === 0 && !done, notReady, unreadyMessage),
    ];
  }

  /** Something changed: the status is written (coalesced, one write at a time). */
  changed(): void {
    this.phase = this.computePhase();
    if (this.terminal) for (const c of this.containers) c.ready = false;
    this.dirty = true;
    this.flushing = this.flushing.then(() => this.write());
  }

  private flushed(): Promise<void> {
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const ours = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady']);
    const others = ((this.pod.status?.conditions ?? []) as Condition[]).filter((c) => !ours.has(c.type));
    const status = {
      phase: this.phase,
      conditions: [...others, ...this.conditions()],
      hostIP: this.host.hostIP,
      hostIPs: [{ ip: this.host.hostIP }],
      podIP: this.ip,
      podIPs: [{ ip: this.ip }],
      startTime: this.startTime,
      ...(this.initContainers.length ? { initContainerStatuses: this.initContainers.map((c) => c.status()) } : {}),
      containerStatuses: this.containers.map((c) => c.status()),
      ...(this.failure ?? {}),
    };
    // A JSON merge patch replaces the lists whole; the uid guards against a pod of the same name.
    try {
      const updated = await this.host.client.mergePatch(`/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${this.pod.metadata.name}/status`, { metadata: { uid: this.pod.metadata.uid }, status });
      if (updated.metadata?.resourceVersion) this.pod = updated;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 409)) return;
      this.host.warn(`pod ${this.key}: status update failed: ${(err as Error).message}`);
    }
  }
}

/** The final delete of a pod whose containers are gone (gracePeriodSeconds=0, for this uid only). */
export async function deletePodNow(client: KubeClient, pod: Obj): Promise<void> {
  try {
    await client.request('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      gracePeriodSeconds: 0,
      preconditions: { uid: pod.metadata.uid },
    });
  } catch (err) {
    // Gone already, or a new pod of the same name (the uid precondition failed).
    if (!(err instanceof ApiError && (err.status === 404 || err.status === 409))) throw err;
  }
}

class PrepareError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
