// A pod's phase and conditions as kubelet computes them from its containers' states.
import type { Obj } from './client.js';
import { now, type ContainerRun } from './container.js';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export interface Condition {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastTransitionTime: string;
  lastProbeTime: null;
}

/** The condition types the kubelet owns; others (PodScheduled, DisruptionTarget, readiness gates) are kept as they are. */
export const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady']);

export interface PodState {
  pod: Obj;
  initContainers: ContainerRun[];
  containers: ContainerRun[];
  initialized: boolean;
  failedInit: boolean;
  restartPolicy: string;
}

/** kubelet's getPhase: a container waiting to restart counts as stopped; Always never ends on its own. */
export function podPhase(state: PodState): PodPhase {
  if (state.failedInit) return 'Failed';
  if (!state.initialized) return 'Pending';
  let running = 0;
  let waiting = 0;
  let succeeded = 0;
  let stopped = 0;
  for (const c of state.containers) {
    if (c.running) running++;
    else if (c.terminated) {
      stopped++;
      if (c.terminated.exitCode === 0) succeeded++;
    } else if ('terminated' in c.lastState)
      stopped++; // waiting to restart
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0) return 'Pending';
  if (state.restartPolicy === 'Always') return 'Running';
  if (state.containers.some((c) => !c.terminated)) return 'Running';
  if (succeeded === stopped) return 'Succeeded';
  return state.restartPolicy === 'Never' ? 'Failed' : 'Running';
}

/** The kubelet's conditions of one pod, remembering when each last changed. */
export class PodConditions {
  private readonly transitions = new Map<string, { status: string; at: string }>();

  private condition(type: string, ok: boolean, reason?: string, message?: string): Condition {
    const status = ok ? 'True' : 'False';
    const prior = this.transitions.get(type);
    if (!prior || prior.status !== status) this.transitions.set(type, { status, at: now() });
    return { type, status, ...(reason && !ok ? { reason } : {}), ...(message && !ok ? { message } : {}), lastProbeTime: null, lastTransitionTime: this.transitions.get(type)!.at };
  }

  of(state: PodState, done: boolean): Condition[] {
    const incompleteInit = state.initContainers.filter((c) => c.terminated?.exitCode !== 0).map((c) => c.name);
    const unready = state.containers.filter((c) => !c.ready).map((c) => c.name);
    const gates = ((state.pod.spec.readinessGates ?? []) as { conditionType: string }[]).filter(
      (g) => !((state.pod.status?.conditions ?? []) as Condition[]).some((c) => c.type === g.conditionType && c.status === 'True'),
    );
    const notReady = done ? 'PodCompleted' : 'ContainersNotReady';
    const unreadyMessage = `containers with unready status: [${unready.join(' ')}]`;
    return [
      this.condition('PodReadyToStartContainers', !done),
      this.condition('Initialized', state.initialized, done && !state.failedInit ? 'PodCompleted' : 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`),
      this.condition(
        'Ready',
        unready.length === 0 && gates.length === 0 && !done,
        unready.length || done ? notReady : 'ReadinessGatesNotReady',
        unready.length ? unreadyMessage : `corresponding condition of pod readiness gate "${gates[0]?.conditionType}" does not exist.`,
      ),
      this.condition('ContainersReady', unready.length === 0 && !done, notReady, unreadyMessage),
    ];
  }
}
