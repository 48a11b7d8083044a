// One pod bound to the node, run the way kubelet runs it: volumes, init containers in order, then the
// containers side by side with their probes and restart policy, its status written back after every
// change, graceful termination when it is deleted, and the final DELETE that lets the API server remove it.
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CgroupLayout } from '../../../src/launcher/local/cgroup.js';
import { ApiError, type KubeClient, type Obj } from './client.js';
import { containerConfig, etcHosts, hostsFile, pullImage, WaitingError } from './container-config.js';
import { ContainerRun, now } from './container.js';
import { ConfigError, type ObjectSource } from './env.js';
import { KUBELET_CONDITIONS, PodConditions, podPhase, type Condition, type PodPhase } from './pod-status.js';
import { probeOnce, ProbeWorker, type ProbeResult } from './probes.js';
import { SandboxedContainer, type ContainerSpec, type Exit, type Tools } from './sandbox.js';
import { MountError, prepareVolumes, type PreparedVolume } from './volumes.js';

/** What a pod needs from its node agent. */
export interface PodHost {
  client: KubeClient;
  hostIP: string;
  /** host:port of the API server, given to containers as KUBERNETES_SERVICE_HOST/PORT. */
  apiServer: { host: string; port: string };
  imagesFile: string;
  cgroups: CgroupLayout;
  tools: Tools;
  allocatable: Record<string, string>;
  podsDir: string;
  restartBackoffSeconds: number;
  event(pod: Obj, type: 'Normal' | 'Warning', reason: string, message: string): void;
  warn(message: string): void;
}

/** How long a pull or configuration error is shown before the next attempt (kubelet backs off from 10 s). */
const RETRY_SECONDS = [1, 5, 10, 20, 40];

export class PodWorker {
  pod: Obj;
  readonly initContainers: ContainerRun[];
  readonly containers: ContainerRun[];
  readonly dir: string;
  private phase: PodPhase = 'Pending';
  initialized: boolean;
  failedInit = false;
  private readonly startTime = now();
  private readonly conditions = new PodConditions();
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
    this.initContainers = init.map((c) => new ContainerRun(c, 'PodInitializing', host.restartBackoffSeconds));
    this.containers = ((pod.spec.containers ?? []) as Obj[]).map((c) => new ContainerRun(c, init.length ? 'PodInitializing' : 'ContainerCreating', host.restartBackoffSeconds));
    if (init.length) this.initContainers[0]!.state = { waiting: { reason: 'ContainerCreating' } };
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  get terminal(): boolean {
    return this.phase === 'Succeeded' || this.phase === 'Failed';
  }

  /**
   * The pod as the downward API sees it: its addresses are the node's to give, known here before (or
   * whether or not) the status write carrying them has come back.
   */
  private get downward(): Obj {
    const addresses = { hostIP: this.host.hostIP, hostIPs: [{ ip: this.host.hostIP }], podIP: this.ip, podIPs: [{ ip: this.ip }] };
    return { ...this.pod, status: { ...(this.pod.status ?? {}), ...addresses } };
  }

  /** spec.hostname, else the pod's name (a hostname is at most 63 characters). */
  get hostname(): string {
    return ((this.pod.spec.hostname as string | undefined) ?? (this.pod.metadata.name as string)).slice(0, 63);
  }

  container(name: string): ContainerRun | undefined {
    return [...this.initContainers, ...this.containers].find((c) => c.name === name);
  }

  start(): void {
    this.running = this.run().catch((err: Error) => {
      // A fault of the agent itself: said on stderr and, where a test looking at the pod sees it, as an event.
      this.host.warn(`pod ${this.key}: ${err.stack ?? err.message}`);
      this.host.event(this.pod, 'Warning', 'FailedSync', `the test bed's node agent failed to run the pod: ${err.message}`);
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
    let lastFailure = '';
    while (!this.stopping) {
      try {
        this.volumes = await prepareVolumes({
          client: this.host.client,
          pod: this.downward,
          podDir: this.dir,
          source: this.objects(),
          allocatable: this.host.allocatable,
          commonUid: this.commonUid(),
        });
        break;
      } catch (err) {
        if (!(err instanceof MountError || err instanceof ApiError || err instanceof ConfigError)) throw err;
        // Retried every 2 s; an event when the reason changes (kubelet aggregates repeats into a count).
        if (err.message !== lastFailure) this.host.event(this.pod, 'Warning', 'FailedMount', `MountVolume.SetUp failed: ${err.message}`);
        lastFailure = err.message;
        await this.sleep(2);
      }
    }
    await writeFile(hostsFile(this.dir), etcHosts(this.ip, this.hostname, this.pod.spec.hostAliases));
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
      const failure = await this.configure(c).then(
        (s) => {
          spec = s;
          return undefined;
        },
        (err: Error) => err,
      );
      if (!failure) break;
      if (!(failure instanceof WaitingError)) throw failure;
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
      sandbox = await SandboxedContainer.start(spec!, this.host.tools, this.host.cgroups, (stream, chunk) => c.log.write(stream, chunk));
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
    // kubelet reports the container running once its postStart hook has returned (it sets no time limit;
    // two minutes here keep a hung hook from hanging a test for ever).
    const hook = postStart ? await this.runHook(c, spec!, postStart, 120) : { ok: true };
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

  /** Pulls the image and works out the container's sandbox settings. */
  private async configure(c: ContainerRun): Promise<ContainerSpec> {
    const image = pullImage(this.host.imagesFile, c.spec.image as string);
    if (!c.imageID) this.host.event(this.pod, 'Normal', 'Pulled', `Container image "${c.spec.image}" already present on machine`);
    c.imageID = `lectern-kube-node://${c.spec.image}`;
    return containerConfig({
      pod: this.downward,
      container: c.spec,
      key: `${this.pod.metadata.uid}-${c.name}-${c.restartCount}`,
      image,
      hostname: this.hostname,
      hostsFile: hostsFile(this.dir),
      volumes: this.volumes,
      objects: this.objects(),
      allocatable: this.host.allocatable,
      apiServer: this.host.apiServer,
    });
  }

  private async terminationMessage(c: ContainerRun, file: string, exit: Exit): Promise<string | undefined> {
    const written = (await readFile(file, 'utf8').catch(() => '')).slice(0, 4096);
    if (written) return written;
    if (c.spec.terminationMessagePolicy === 'FallbackToLogsOnError' && exit.exitCode !== 0) {
      return (
        c.log.lines
          .slice(-80)
          .map((l) => l.text)
          .join('')
          .slice(-2048) || undefined
      );
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
    /** Readiness and liveness probes start once the startup probe (if any) has passed, as in kubelet. */
    const afterStartup = () => {
      c.started = true;
      if (!readiness) c.ready = true;
      if (readiness) {
        const ready = new ProbeWorker(readiness, target, false, {
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
        const live = new ProbeWorker(liveness, target, true, {
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
    if (!startup) {
      afterStartup();
      return;
    }
    const worker = new ProbeWorker(startup, target, false, {
      changed: (ok) => {
        if (!ok) return;
        worker.stop();
        afterStartup();
      },
      failed: unhealthy('Startup'),
      gaveUp: () => {
        this.host.event(this.pod, 'Normal', 'Killing', `Container ${c.name} failed startup probe, will be restarted`);
        void this.stopContainer(c, this.gracePeriod());
      },
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

  /** Stops everything of the pod (graceful for `graceSeconds`); resolves once its containers have exited and its run is over. */
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

  /** Something changed: the status is written (coalesced, one write at a time). */
  changed(): void {
    if (!this.terminal) this.phase = podPhase(this);
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
    const others = ((this.pod.status?.conditions ?? []) as Condition[]).filter((c) => !KUBELET_CONDITIONS.has(c.type));
    const status = {
      phase: this.phase,
      conditions: [...others, ...this.conditions.of(this, this.terminal)],
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
      const updated = await this.host.client.mergePatch(`/api/v1/namespaces/${this.pod.metadata.namespace}/pods/${this.pod.metadata.name}/status`, {
        metadata: { uid: this.pod.metadata.uid },
        status,
      });
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
