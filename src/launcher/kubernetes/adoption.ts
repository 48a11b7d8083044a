// Adoption and reaping after a restart: pods outlive their server, so a restarted replica takes
// back the Jobs its database rows say are running (status, wait, logs and stop work again, the log
// file continues where it stopped) and deletes what no row claims. Other replicas' Jobs are theirs,
// until one is gone for good (or stopped and handed its workers over): then a live replica that
// claimed its rows adopts its Jobs the same way, relabels them as its own, and reaps the rest.
import { JobLogWriter, lastLogLine } from '../job-log.js';
import type { JobKind, JobSpec, JobTag } from '../launcher.js';
import type { Informer } from './informer.js';
import { CONTENT_CONTAINER, LABELS, labelValue } from './job-manifest.js';
import type { KubeObject } from './kube-api.js';
import { nanoTime } from './pod-logs.js';
import { parseQuantity } from './pod-state.js';
import type { TrackedJob } from './tracked-job.js';

export interface AdoptionDeps {
  jobs: Informer<KubeObject>;
  pods: Informer<KubeObject>;
  /** This replica's name (the label its Jobs carry). */
  replica: string;
  /** The replica whose Jobs are reconciled: this one, or one that is gone. */
  from: string;
  /** Delete `from`'s Jobs that no row of `active` claims. */
  reapUnclaimed: boolean;
  /** Makes another replica's Job this replica's (its labels), so this replica's next restart finds it. */
  relabel(name: string): Promise<void>;
  isTracked(key: string): boolean;
  track(key: string, name: string, spec: Pick<JobSpec, 'kind' | 'tag' | 'contentGuid' | 'resources'>, log: JobLogWriter): TrackedJob;
  deleteJob(name: string): Promise<void>;
  /** Hands an adopted job's pod to the watch, as if it had just been seen. */
  podSeen(pod: KubeObject): void;
  log?: (msg: string) => void;
}

/** Adopts the Jobs of `active` this replica still runs, deletes its orphans; returns the adopted keys. */
export async function reconcileJobs(deps: AdoptionDeps, active: Array<{ key: string; logPath: string }>): Promise<string[]> {
  const wanted = new Map(active.map((a) => [labelValue(a.key), a]));
  const replica = labelValue(deps.from);
  const adopted: string[] = [];
  for (const job of deps.jobs.list()) {
    const labels = job.metadata.labels ?? {};
    if (labels[LABELS.replica] !== replica) continue; // another replica's: it reconciles its own.
    const row = wanted.get(labels[LABELS.jobKey] ?? '');
    const done = ((job.status?.conditions ?? []) as Array<{ type: string; status: string }>).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    if (!row || job.spec?.suspend === true || done || job.metadata.deletionTimestamp) {
      // Orphans: no running row claims them, they never got their environment (suspended), or
      // they finished while Lectern was down (the row is closed by the caller).
      if ((!row && deps.reapUnclaimed) || (row && job.spec?.suspend === true)) {
        deps.log?.(`deleting orphaned Kubernetes Job ${job.metadata.name}${deps.from === deps.replica ? '' : ` of replica ${deps.from}`}`);
        await deps.deleteJob(job.metadata.name);
      }
      continue;
    }
    if (deps.isTracked(row.key)) continue;
    if (deps.from !== deps.replica) await deps.relabel(job.metadata.name);
    const last = await lastLogLine(row.logPath);
    const tracked = deps.track(
      row.key,
      job.metadata.name,
      {
        kind: (labels[LABELS.kind] ?? 'run') as JobKind,
        tag: (labels[LABELS.tag] ?? 'run_app') as JobTag,
        contentGuid: labels[LABELS.contentGuid] ?? '',
        resources: { memoryLimitBytes: parseQuantity(job.spec?.template?.spec?.containers?.find((c: { name: string }) => c.name === CONTENT_CONTAINER)?.resources?.limits?.memory) },
      },
      new JobLogWriter(row.logPath, { lastSeq: last?.seq }),
    );
    tracked.startTime = new Date(job.metadata.creationTimestamp ?? Date.now());
    if (last) {
      // The file keeps milliseconds: lines of that last millisecond may come again; seq numbers keep them apart.
      tracked.lastLogTime = nanoTime(last.timestamp.toISOString());
      tracked.linesAtLastTime = 1;
    }
    adopted.push(row.key);
    const pod = deps.pods.list().find((p) => p.metadata.labels?.[LABELS.jobKey] === labels[LABELS.jobKey]);
    if (pod) deps.podSeen(pod);
  }
  return adopted;
}
