// What a Pod's status means for Lectern: is the process running, ready, finished, or stuck for a
// reason that will not fix itself (image pull, configuration, scheduling, memory)?
import { CONTENT_CONTAINER } from './job-manifest.js';
import type { KubeObject } from './kube-api.js';

export interface PodFailure {
  /** Kubernetes' reason (ErrImagePull, Unschedulable, OOMKilled, …). */
  reason: string;
  message: string;
  exitCode?: number;
}

export interface PodState {
  phase: string;
  ip?: string;
  node?: string;
  ready: boolean;
  /** The content container has started (its log can be read). */
  started: boolean;
  /** The content container ended: exit code, and the reason when Kubernetes gives one. */
  terminated?: { exitCode: number; reason?: string; message?: string };
  /** Stuck in a way that needs no more waiting. */
  failure?: PodFailure;
  /** PodScheduled=False/Unschedulable: reported separately because a cluster autoscaler may still help. */
  unschedulable?: PodFailure;
}

/** Waiting reasons that will not resolve by themselves. */
const FATAL_WAITING = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError', 'ErrImageNeverPull']);

export function podState(pod: KubeObject): PodState {
  const status = pod.status ?? {};
  const conditions: Array<{ type: string; status: string; reason?: string; message?: string }> = status.conditions ?? [];
  const containers: ContainerStatus[] = status.containerStatuses ?? [];
  const inits: ContainerStatus[] = status.initContainerStatuses ?? [];
  const content = containers.find((c) => c.name === CONTENT_CONTAINER);
  const state: PodState = {
    phase: status.phase ?? 'Pending',
    ip: status.podIP || undefined,
    node: pod.spec?.nodeName || undefined,
    ready: conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    started: !!(content?.state?.running || content?.state?.terminated),
  };
  const term = content?.state?.terminated;
  if (term) state.terminated = { exitCode: term.exitCode ?? 1, reason: term.reason, message: term.message };
  for (const c of [...inits, ...containers]) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
      state.failure = { reason: waiting.reason, message: `${c.name === CONTENT_CONTAINER ? 'container' : `init container ${c.name}`}: ${waiting.message ?? waiting.reason}` };
      break;
    }
    const initTerm = c.state?.terminated;
    if (c.name !== CONTENT_CONTAINER && inits.includes(c) && initTerm && initTerm.exitCode !== 0) {
      state.failure = {
        reason: initTerm.reason ?? 'Error',
        message: `init container ${c.name} exited with code ${initTerm.exitCode}${initTerm.message ? `: ${initTerm.message}` : ''}`,
        exitCode: initTerm.exitCode,
      };
      break;
    }
  }
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    state.unschedulable = { reason: 'Unschedulable', message: scheduled.message ?? 'no node can run this pod' };
  }
  if (status.phase === 'Failed' && !state.terminated && !state.failure) {
    state.failure = { reason: status.reason ?? 'Failed', message: status.message ?? 'the pod failed' };
  }
  return state;
}

interface ContainerStatus {
  name: string;
  image?: string;
  state?: {
    waiting?: { reason?: string; message?: string };
    running?: { startedAt?: string };
    terminated?: { exitCode?: number; reason?: string; message?: string; startedAt?: string; finishedAt?: string };
  };
}

/** Seconds from pod creation to each start-up phase, for the processes table. */
export function startupPhases(pod: KubeObject): { scheduledSeconds?: number; initializedSeconds?: number; readySeconds?: number } {
  const created = Date.parse(pod.metadata.creationTimestamp ?? '');
  if (!Number.isFinite(created)) return {};
  const at = (type: string) => {
    const c = ((pod.status?.conditions ?? []) as Array<{ type: string; status: string; lastTransitionTime?: string }>).find((x) => x.type === type && x.status === 'True');
    const t = c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
    return Number.isFinite(t) ? Math.max(0, (t - created) / 1000) : undefined;
  };
  return { scheduledSeconds: at('PodScheduled'), initializedSeconds: at('Initialized'), readySeconds: at('Ready') };
}

/** A resource.Quantity ("512Mi", "250m", "2") as a number (bytes or cores). */
export function parseQuantity(q: unknown): number | undefined {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string' || !q) return undefined;
  const m = /^([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(q.trim());
  if (!m) return undefined;
  const scale: Record<string, number> = {
    '': 1,
    n: 1e-9,
    u: 1e-6,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  return Number(m[1]) * scale[m[2] ?? '']!;
}

/** The words a publisher sees when the pod's process ended. */
export function exitReason(terminated: NonNullable<PodState['terminated']>, memoryLimitBytes?: number): string | undefined {
  if (terminated.reason === 'OOMKilled') {
    const mib = memoryLimitBytes ? ` of ${Math.round(memoryLimitBytes / 1024 / 1024)} MiB` : '';
    return `The process was killed: it exceeded its memory limit${mib} (Kubernetes: OOMKilled).`;
  }
  if (terminated.exitCode === 0) return undefined;
  if (terminated.reason === 'DeadlineExceeded') return `The job ran longer than its deadline and was stopped (Kubernetes: DeadlineExceeded).`;
  return `The process exited with code ${terminated.exitCode}${terminated.reason && terminated.reason !== 'Error' && terminated.reason !== 'Completed' ? ` (Kubernetes: ${terminated.reason})` : ''}.`;
}
