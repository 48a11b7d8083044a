// What the Kubernetes backend knows of each job it started or adopted, shared by its parts
// (watching, readiness, logs, start-up failures, adoption).
import type { JobLogWriter } from '../job-log.js';
import type { JobAddress, JobKind, JobSpec, JobStatus, JobTag } from '../launcher.js';

export interface TrackedJob {
  key: string;
  /** The Job's name. */
  name: string;
  kind: JobKind;
  tag: JobTag;
  contentGuid: string;
  memoryLimitBytes?: number;
  startTime: Date;
  log: JobLogWriter;
  status: JobStatus;
  ended: Promise<JobStatus>;
  resolveEnded(status: JobStatus): void;
  /** finish() has begun: the status is final. */
  done: boolean;
  /** A start-up failure is being reported (events read, Job deleted). */
  failing: boolean;
  stopRequested: boolean;
  podName?: string;
  /** Streams pods/log into the log file while the content container runs. */
  pump?: Promise<void>;
  pumpAbort: AbortController;
  /** RFC 3339 time (nanoseconds) of the last line taken from pods/log, and how many lines had
   * exactly that time: a resumed stream skips what it already has. */
  lastLogTime?: string;
  linesAtLastTime: number;
  unschedulableTimer?: NodeJS.Timeout;
  /** Its pod's events are being read for a failed image pull (start-failures.ts). */
  watchingPulls: boolean;
  /** Set once the worker answered: what ready() resolves with. */
  address?: JobAddress;
  /** When it first accepted a connection (the processes table's "ready" phase). */
  readyAt?: number;
  readyWaiters: Set<{ resolve(a: JobAddress): void; reject(e: Error): void }>;
  probing: boolean;
}

export const STOPPED_BY_LECTERN = 'The process was stopped by Lectern.';

export function newTrackedJob(key: string, name: string, spec: Pick<JobSpec, 'kind' | 'tag' | 'contentGuid' | 'resources'>, log: JobLogWriter): TrackedJob {
  let resolveEnded!: (s: JobStatus) => void;
  const ended = new Promise<JobStatus>((resolve) => (resolveEnded = resolve));
  return {
    key,
    name,
    kind: spec.kind,
    tag: spec.tag,
    contentGuid: spec.contentGuid,
    memoryLimitBytes: spec.resources.memoryLimitBytes,
    startTime: new Date(),
    log,
    status: { state: 'pending' },
    ended,
    resolveEnded,
    done: false,
    failing: false,
    stopRequested: false,
    pumpAbort: new AbortController(),
    readyWaiters: new Set(),
    probing: false,
    watchingPulls: false,
    linesAtLastTime: 0,
  };
}
