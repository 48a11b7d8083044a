// One container of a pod as kubelet tracks it: its current and last state, restart count, readiness,
// its log (and the previous instance's, for `previous=true`), and its status as the API shows it.
import { randomBytes } from 'node:crypto';
import type { Obj } from './client.js';
import { ContainerLog } from './logs.js';
import type { ProbeWorker } from './probes.js';
import type { ContainerSpec, Exit, SandboxedContainer } from './sandbox.js';

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID: string; signal?: number } };

/** A Kubernetes Time: RFC 3339, to the second. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class ContainerRun {
  state: ContainerState;
  lastState: ContainerState | Record<string, never> = {};
  restartCount = 0;
  ready = false;
  started = false;
  containerID?: string;
  imageID?: string;
  log = new ContainerLog();
  previousLog?: ContainerLog;
  sandbox?: SandboxedContainer;
  /** The running instance's sandbox settings (exec hooks and probes run with them). */
  runningSpec?: ContainerSpec;
  /** Set while the running instance is being stopped. */
  stopping?: Promise<void>;
  probes: ProbeWorker[] = [];
  /** Restart back-off (kubelet: 10 s doubling to 5 min). */
  backoffSeconds: number;

  constructor(
    readonly spec: Obj,
    initialWait: string,
    initialBackoffSeconds: number,
  ) {
    this.state = { waiting: { reason: initialWait } };
    this.backoffSeconds = initialBackoffSeconds;
  }

  get name(): string {
    return this.spec.name as string;
  }

  get running(): boolean {
    return 'running' in this.state;
  }

  get terminated(): { exitCode: number; reason: string } | undefined {
    return 'terminated' in this.state ? this.state.terminated : undefined;
  }

  /** A new instance: the last one's log becomes the previous log. */
  created(): string {
    if (this.containerID) {
      this.previousLog = this.log;
      this.log = new ContainerLog();
    }
    this.containerID = `lectern-kube-node://${randomBytes(16).toString('hex')}`;
    return this.containerID;
  }

  exited(exit: Exit, startedAt: string, message: string | undefined, reasonOverride?: string): void {
    for (const p of this.probes) p.stop();
    this.probes = [];
    this.sandbox = undefined;
    this.runningSpec = undefined;
    this.ready = false;
    this.started = false;
    this.log.close();
    this.stopping = undefined;
    const reason = reasonOverride ?? (exit.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error');
    this.state = {
      terminated: { exitCode: exit.exitCode, reason, ...(message ? { message } : {}), startedAt, finishedAt: now(), containerID: this.containerID! },
    };
  }

  /** Waiting to run again after an exit (CrashLoopBackOff) or before a retry of what failed (ErrImagePull, …). */
  wait(reason: string, message?: string): void {
    if ('terminated' in this.state) {
      this.lastState = this.state;
      this.restartCount++;
    }
    this.state = { waiting: { reason, ...(message ? { message } : {}) } };
  }

  status(): Obj {
    return {
      name: this.name,
      image: this.spec.image,
      imageID: this.imageID ?? '',
      ...(this.containerID ? { containerID: this.containerID } : {}),
      ready: this.ready,
      started: this.started,
      restartCount: this.restartCount,
      state: this.state,
      lastState: this.lastState,
    };
  }
}
