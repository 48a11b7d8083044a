// Log collection: pods/log of the content container, followed into the job's log file (the same
// job-log.ts format the local backend writes), resumed without loss or repetition after a drop.
import type { Informer } from './informer.js';
import { CONTENT_CONTAINER } from './job-manifest.js';
import { KubeApiError, type KubeApi, type KubeObject } from './kube-api.js';
import { podState } from './pod-state.js';
import type { TrackedJob } from './tracked-job.js';

/** How long a job's end waits for the last lines of a container that ended. */
const PUMP_DRAIN_MS = 10_000;

export class PodLogs {
  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly pods: Informer<KubeObject>,
  ) {}

  /**
   * Follows pods/log into the job's log file. pods/log mixes stdout and stderr into one stream, so
   * lines are recorded as stdout. A dropped stream resumes from the last line's time (timestamps
   * are nanoseconds; lines at or before the last one seen are skipped).
   */
  async follow(job: TrackedJob, podName: string): Promise<void> {
    const signal = job.pumpAbort.signal;
    while (!signal.aborted) {
      try {
        await this.read(job, podName, true, signal);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof KubeApiError && err.status === 404) return;
        // 400 "container is waiting to start" and dropped connections: try again shortly.
      }
      const pod = this.pods.get(podName);
      if (!pod || podState(pod).terminated) {
        // One last read (no follow) catches lines written after our stream ended.
        if (pod) {
          const abort = new AbortController();
          const timer = setTimeout(() => abort.abort(), 5000);
          await this.read(job, podName, false, abort.signal).catch(() => undefined);
          clearTimeout(timer);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Waits (bounded) for the log stream to deliver the last lines of a container that ended. */
  async drained(job: TrackedJob): Promise<void> {
    if (!job.pump) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([job.pump.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, PUMP_DRAIN_MS)))]);
    clearTimeout(timer);
  }

  /**
   * One pods/log request from the last line's time. Timestamps have limited precision, so several
   * lines may share one: lines older than the last are skipped, and as many lines at exactly its
   * time as were already recorded.
   */
  private async read(job: TrackedJob, podName: string, follow: boolean, signal: AbortSignal) {
    const resumeAt = job.lastLogTime;
    let skipSameTime = job.linesAtLastTime;
    const query = {
      container: CONTENT_CONTAINER,
      follow: follow ? 'true' : undefined,
      timestamps: 'true',
      sinceTime: resumeAt ? `${resumeAt.slice(0, 19)}Z` : undefined,
    };
    for await (const raw of this.api.lines(`/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods/${podName}/log`, query, signal)) {
      const space = raw.indexOf(' ');
      const stamp = space > 0 ? nanoTime(raw.slice(0, space)) : undefined;
      if (!stamp) {
        job.log.record('stdout', raw);
        continue;
      }
      if (resumeAt && stamp < resumeAt) continue;
      if (resumeAt && stamp === resumeAt && skipSameTime > 0) {
        skipSameTime--;
        continue;
      }
      if (stamp === job.lastLogTime) job.linesAtLastTime++;
      else {
        job.lastLogTime = stamp;
        job.linesAtLastTime = 1;
      }
      job.log.record('stdout', raw.slice(space + 1), new Date(Date.parse(raw.slice(0, space))));
    }
  }
}

/** "2026-12-02T11:00:00.5Z" → "2026-12-02T11:00:00.500000000Z": comparable as text. */
export function nanoTime(stamp: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(stamp);
  if (!m) return undefined;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}
