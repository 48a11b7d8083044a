// The one interface every execution backend implements (local processes, Kubernetes Jobs).
// A backend knows nothing of pooling, users or HTTP: it starts what a JobSpec describes and
// reports on it. The scheduler and the task handlers sit on top.

/** Connect's job tags (reference §5.7); the dashboard and clients show them. */
export type JobTag =
  | 'python_restore'
  | 'packrat_restore'
  | 'build_report'
  | 'build_site'
  | 'build_jupyter'
  | 'run_app'
  | 'run_api'
  | 'run_python_api'
  | 'run_fastapi_app'
  | 'run_dash_app'
  | 'run_streamlit'
  | 'run_bokeh_app'
  | 'run_panel_app'
  | 'run_gradio_app'
  | 'run_pyshiny_app'
  | 'run_voila_app'
  | 'render_shiny';

export type JobKind = 'build' | 'render' | 'run';

export interface JobMount {
  /** Absolute path on the server (locally) or in the shared data volume. */
  path: string;
  readOnly: boolean;
}

export interface JobResources {
  memoryLimitBytes?: number;
  memoryRequestBytes?: number;
  cpuLimit?: number;
  cpuRequest?: number;
  /** Kubernetes extended resources nvidia.com/gpu and amd.com/gpu (limits only, as GPUs cannot be shared). */
  nvidiaGpuLimit?: number;
  amdGpuLimit?: number;
  /** Processes and threads the job's process tree may have. */
  maxProcesses?: number;
}

export interface JobSpec {
  /** Unique, URL-safe; Connect's job "key". */
  key: string;
  kind: JobKind;
  tag: JobTag;
  contentId: number;
  contentGuid: string;
  bundleId: number;
  /** argv: the executable and its arguments. */
  command: string[];
  cwd: string;
  env: Record<string, string>;
  /** Data-dir paths the job may see, besides the runtime and its interpreter. */
  mounts: JobMount[];
  /** A writable directory private to this job (HOME, scratch). */
  jobDir: string;
  /** Where the backend appends the job's output as JSON lines ({source, timestamp, data}); not visible to the job. */
  logPath: string;
  resources: JobResources;
  /** run jobs: the backend assigns an address and passes it as LECTERN_HOST / LECTERN_PORT. */
  listen: boolean;
  /** Kubernetes only: the execution environment's image, and the content's service account (absent: [Launcher] DefaultServiceAccount, else the namespace default). */
  image?: string;
  serviceAccount?: string;
  labels?: Record<string, string>;
}

export interface JobAddress {
  host: string;
  port: number;
}

export interface JobHandle {
  key: string;
  /** Backend-specific id (pid locally, Job name in Kubernetes). */
  remoteId: string;
  hostname: string;
  pid?: number;
}

export type JobState = 'pending' | 'running' | 'succeeded' | 'failed';

export interface JobStatus {
  state: JobState;
  exitCode?: number;
  /** Why it failed, in words a publisher understands (e.g. "killed: memory limit of 256 MiB exceeded"). */
  reason?: string;
  /** It ended because stop() asked it to (idle, redeploy, an administrator), not by itself. */
  stopped?: boolean;
}

export interface JobInfo {
  key: string;
  kind: JobKind;
  tag: JobTag;
  contentGuid: string;
  remoteId: string;
  hostname: string;
  pid?: number;
  /** Where a run job listens. */
  address?: JobAddress;
  startTime: Date;
  state: JobState;
  /** Cumulative CPU seconds and resident memory of the process tree, where known. */
  cpuSeconds?: number;
  memoryBytes?: number;
  /** Kubernetes: CPU in use (cores, from metrics.k8s.io when the cluster serves it). */
  cpuCores?: number;
  /** Kubernetes: where and how the pod runs. */
  pod?: {
    name: string;
    node?: string;
    phase: string;
    image?: string;
    /** The replica that started it. */
    replica?: string;
    cpuRequest?: number;
    cpuLimit?: number;
    memoryRequestBytes?: number;
    memoryLimitBytes?: number;
    /** Seconds from creation to each start-up phase. */
    scheduledSeconds?: number;
    initializedSeconds?: number;
    readySeconds?: number;
  };
}

export interface LogLine {
  source: 'stdout' | 'stderr';
  timestamp: Date;
  data: string;
}

export interface Launcher {
  readonly name: string;
  /**
   * Its processes keep running when this server stops (off-host pods, not children of the server):
   * a graceful shutdown hands them over to the next replica instead of stopping them.
   */
  readonly outlivesServer: boolean;
  submit(spec: JobSpec): Promise<JobHandle>;
  status(key: string): Promise<JobStatus>;
  /** Resolves when the job has ended. */
  wait(key: string): Promise<JobStatus>;
  list(filter?: { contentGuid?: string }): Promise<JobInfo[]>;
  /** `logPath` finds the log of a job the backend no longer tracks (finished long ago, or another replica's). */
  logs(key: string, options?: { follow?: boolean; signal?: AbortSignal; logPath?: string }): AsyncIterable<LogLine>;
  /**
   * The one word on a run job's readiness: resolves with where it can be reached once it accepts
   * connections, as this backend knows how to tell (locally a TCP connect, or the job's own network
   * namespace, where a forwarder accepts before the app listens; in a cluster a TCP connect to the
   * pod IP once its container runs). Rejects with the reason as soon as the job cannot start (image pull,
   * scheduling, exit: "…exited before it accepted connections: …"), or once `timeoutMs` (the
   * content's init timeout) has passed ({@link notReadyInTime}). The caller trusts it and
   * probes nothing itself; it stops a job that was not ready in time.
   */
  ready(key: string, options: { timeoutMs: number }): Promise<JobAddress>;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(key: string, options?: { graceMs?: number }): Promise<void>;
  /**
   * After a restart: `active` are the jobs this replica's database rows say are running. The
   * backend adopts those it still runs (status, wait, logs and stop work again), removes anything
   * else it started, and returns the keys it adopted; the caller closes the other rows. With
   * `replica`, the jobs are those of another replica that is gone, and become this one's; what that
   * replica started and no row claims is removed only with `reapUnclaimed`.
   */
  reconcile(active: Array<{ key: string; logPath: string }>, options?: { replica?: string; reapUnclaimed?: boolean }): Promise<string[]>;
  close(): Promise<void>;
}

/** Why ready() rejected when the time ran out; `detail` says what the backend saw (e.g. the pod's phase). */
export function notReadyInTime(timeoutMs: number, detail?: string): string {
  return `The worker process did not accept connections within the init timeout (${Math.round(timeoutMs / 1000)} s)${detail ? `: ${detail}` : ''}.`;
}

/** Why ready() rejected when the job ended first; `reason` is its exit status in words. */
export function endedBeforeReady(reason: string | undefined): string {
  return `The worker process exited before it accepted connections: ${reason ?? 'it ended'}`;
}
