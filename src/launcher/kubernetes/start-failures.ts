// Failing fast: a pod that cannot start (image pull, configuration, an init container, scheduling)
// or a Job whose pod is refused ends the job at once, with Kubernetes' reason and its last warning
// events in the job's log, and the Job is deleted (docs/kubernetes.md, "Failing fast").
import type { JobStatus } from '../launcher.js';
import type { KubeApi, KubeObject } from './kube-api.js';
import { podState, type PodFailure } from './pod-state.js';
import type { TrackedJob } from './tracked-job.js';

export interface StartFailureDeps {
  api: KubeApi;
  namespace: string;
  deleteJob(name: string): Promise<void>;
  finish(job: TrackedJob, status: JobStatus): Promise<void>;
  isClosed(): boolean;
}

const PULL_CHECK_MS = 1000;
const PULL_CHECK_LATER_MS = 5000;
/** The kubelet's events for a pull that failed (the registry refused, the name is invalid, pulls are disabled). */
const PULL_FAILURE = /^(Failed: Failed to pull image|InspectFailed: |ErrImageNeverPull: )/;
/**
 * Warnings that never say why a pod cannot start, left out of the reason: a node without cluster
 * DNS falls back to the node's resolver and runs the pod all the same.
 */
const NOT_A_CAUSE = new Set(['MissingClusterDNS', 'DNSConfigForming']);

export class StartFailures {
  constructor(private readonly deps: StartFailureDeps) {}

  /** A pod that cannot start: the reason and Kubernetes' own event message go to the log, and the Job goes. */
  async failWith(job: TrackedJob, pod: KubeObject, failure: PodFailure): Promise<void> {
    if (job.done || job.failing) return;
    job.failing = true;
    // The events that say more than the failure itself (the pull's own event would only repeat it).
    const events = (await this.eventMessages('Pod', pod.metadata.name).catch(() => [] as string[])).filter((e) => !failure.message.includes(e.slice(e.indexOf(': ') + 2)));
    const detail = events.length ? ` Events: ${events.slice(-3).join(' | ')}` : '';
    const reason = `Kubernetes could not run the process (${failure.reason}): ${failure.message.replace(/\.$/, '')}.${detail}`;
    await this.deps.deleteJob(job.name).catch(() => undefined);
    await this.deps.finish(job, { state: 'failed', exitCode: failure.exitCode, reason });
  }

  /**
   * A Job whose controller cannot create its pod (a policy or quota refuses it) changes no status
   * field, only records FailedCreate events. While a job has no pod, its events are read a few
   * times (3 s, then every 10 s) so such a refusal ends the job with Kubernetes' message instead
   * of leaving it pending until the init timeout.
   */
  watchForPodCreation(job: TrackedJob): void {
    const check = async (delay: number) => {
      await new Promise((r) => setTimeout(r, delay).unref());
      if (job.done || job.failing || job.podName || this.deps.isClosed()) return;
      const refusals = (await this.eventMessages('Job', job.name).catch(() => [] as string[])).filter((m) => m.startsWith('FailedCreate'));
      if (job.done || job.failing || job.podName) return;
      if (refusals.length) {
        job.failing = true;
        await this.deps.deleteJob(job.name).catch(() => undefined);
        await this.deps.finish(job, { state: 'failed', reason: `Kubernetes could not create the pod (FailedCreate): ${refusals[refusals.length - 1]!.replace(/^FailedCreate: /, '')}` });
        return;
      }
      void check(10_000);
    };
    void check(3_000);
  }

  /**
   * A failed image pull shows in the pod's status only at the kubelet's next sync of the pod (its
   * back-off, ~10 s later), but the kubelet records the failure as an event at once. While a pod's
   * content container has not started, its warning events are read every second, so a pull that
   * failed ends the job in about a second, with the registry's answer. Only a pod on a node can
   * pull; after its first ten seconds there (a large image takes minutes), every five seconds.
   */
  watchForPullFailures(job: TrackedJob, pod: () => KubeObject | undefined): void {
    if (job.watchingPulls) return;
    job.watchingPulls = true;
    let checks = 0;
    const check = async () => {
      await new Promise((r) => setTimeout(r, checks < 10 ? PULL_CHECK_MS : PULL_CHECK_LATER_MS).unref());
      const current = pod();
      if (job.done || job.failing || this.deps.isClosed() || !current) return;
      const state = podState(current);
      if (state.started || state.terminated) return;
      if (!state.node) return void check();
      checks++;
      const events = await this.warnings('Pod', current.metadata.name).catch(() => []);
      const pull = events.find((e) => PULL_FAILURE.test(`${e.reason}: ${e.message}`));
      if (pull && !job.done && !job.failing) {
        const where = /^spec\.initContainers\{(.+)\}$/.exec(pull.fieldPath)?.[1];
        const reason = pull.reason === 'InspectFailed' ? 'InvalidImageName' : 'ErrImagePull';
        await this.failWith(job, current, { reason, message: `${where ? `init container ${where}` : 'container'}: ${pull.message}` });
        return;
      }
      void check();
    };
    void check();
  }

  private async eventMessages(kind: 'Pod' | 'Job', name: string): Promise<string[]> {
    return (await this.warnings(kind, name)).map((e) => `${e.reason}: ${e.message}`);
  }

  /** The object's warning events, oldest first, without those that never explain a failure. */
  private async warnings(kind: 'Pod' | 'Job', name: string): Promise<Array<{ reason: string; message: string; fieldPath: string }>> {
    const ns = encodeURIComponent(this.deps.namespace);
    const list = await this.deps.api.list(`/api/v1/namespaces/${ns}/events`, { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
    return list.items
      .filter((e) => e.type === 'Warning' && !NOT_A_CAUSE.has(String(e.reason)))
      .sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')))
      .map((e) => ({ reason: String(e.reason), message: String(e.message ?? '').trim(), fieldPath: String((e.involvedObject as { fieldPath?: string } | undefined)?.fieldPath ?? '') }));
  }
}
