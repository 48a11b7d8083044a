// Failing fast: a pod that cannot start (image pull, configuration, an init container, scheduling)
// or a Job whose pod is refused ends the job at once, with Kubernetes' reason and its last warning
// events in the job's log, and the Job is deleted (docs/kubernetes.md, "Failing fast").
import type { JobStatus } from '../launcher.js';
import type { KubeApi, KubeObject } from './kube-api.js';
import type { PodFailure } from './pod-state.js';
import type { TrackedJob } from './tracked-job.js';

export interface StartFailureDeps {
  api: KubeApi;
  namespace: string;
  deleteJob(name: string): Promise<void>;
  finish(job: TrackedJob, status: JobStatus): Promise<void>;
  isClosed(): boolean;
}

export class StartFailures {
  constructor(private readonly deps: StartFailureDeps) {}

  /** A pod that cannot start: the reason and Kubernetes' own event message go to the log, and the Job goes. */
  async failWith(job: TrackedJob, pod: KubeObject, failure: PodFailure): Promise<void> {
    if (job.done || job.failing) return;
    job.failing = true;
    const events = await this.eventMessages('Pod', pod.metadata.name).catch(() => [] as string[]);
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

  private async eventMessages(kind: 'Pod' | 'Job', name: string): Promise<string[]> {
    const ns = encodeURIComponent(this.deps.namespace);
    const list = await this.deps.api.list(`/api/v1/namespaces/${ns}/events`, { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
    return list.items
      .filter((e) => e.type === 'Warning')
      .sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')))
      .map((e) => `${String(e.reason)}: ${String(e.message ?? '').trim()}`);
  }
}
