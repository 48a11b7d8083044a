// The off-host backend: every process is a batch/v1 Job in Lectern's namespace (docs/kubernetes.md).
// State comes from two shared watch caches (Jobs and Pods of this Lectern instance). This file
// submits, stops and follows each job's life from the watch events; its other concerns live beside
// it: manifests (job-manifest.ts), readiness and addresses (worker-readiness.ts), logs
// (pod-logs.ts), start-up failures (start-failures.ts), the processes table (job-listing.ts) and
// adoption after a restart (adoption.ts).
import { hostname as osHostname } from 'node:os';
import { JobLogWriter, readJobLog } from '../job-log.js';
import type { JobAddress, JobHandle, JobInfo, JobSpec, JobStatus, Launcher, LogLine } from '../launcher.js';
import { reconcileJobs } from './adoption.js';
import { Informer } from './informer.js';
import { JobListing } from './job-listing.js';
import { ANNOTATIONS, buildJobManifests, insideDataDir, instanceSelector, LABELS, labelValue, type ManifestOptions } from './job-manifest.js';
import { KubeApiError, type KubeApi, type KubeObject } from './kube-api.js';
import { PodLogs } from './pod-logs.js';
import { exitReason, podState } from './pod-state.js';
import { StartFailures } from './start-failures.js';
import { newTrackedJob, STOPPED_BY_LECTERN, type TrackedJob } from './tracked-job.js';
import { WorkerReadiness } from './worker-readiness.js';

export interface KubernetesLauncherOptions {
  api: KubeApi;
  manifest: Omit<ManifestOptions, 'serviceAccount'>;
  /** Service account of pods whose spec names none; empty = the namespace's "default". */
  defaultServiceAccount: string;
  /** How long a pod may stay Unschedulable before its job fails (0 = at once). */
  schedulingTimeoutMs: number;
  /**
   * Makes a writable directory on shared storage usable by the content user: the job's home, and the
   * environment or package cache a build writes into (pods run as that user, not as the server).
   */
  prepareWritableDir(dir: string): Promise<void>;
  log?: (msg: string) => void;
}

/** How long finished jobs stay known to status()/logs() in memory; their logs stay on disk. */
const FORGET_AFTER_MS = 10 * 60_000;

export class KubernetesLauncher implements Launcher {
  readonly name = 'kubernetes';
  readonly outlivesServer = true;
  private readonly jobs = new Map<string, TrackedJob>();
  readonly jobCache: Informer<KubeObject>;
  readonly podCache: Informer<KubeObject>;
  private readonly api: KubeApi;
  private readonly namespace: string;
  private readonly hostname = osHostname();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly readiness: WorkerReadiness;
  private readonly podLogs: PodLogs;
  private readonly failures: StartFailures;
  private readonly listing: JobListing;
  private closed = false;
  /** Resolves at close(): a stop in flight waits no longer for its pod to go. */
  private readonly closing = Promise.withResolvers<void>();

  constructor(private readonly options: KubernetesLauncherOptions) {
    this.api = options.api;
    this.namespace = options.manifest.namespace;
    const selector = instanceSelector(options.manifest.instance);
    const ns = encodeURIComponent(this.namespace);
    const log = options.log ?? (() => undefined);
    this.jobCache = new Informer(this.api, `/apis/batch/v1/namespaces/${ns}/jobs`, selector, log);
    this.podCache = new Informer(this.api, `/api/v1/namespaces/${ns}/pods`, selector, log);
    const isClosed = () => this.closed;
    this.readiness = new WorkerReadiness(this.podCache, isClosed);
    this.podLogs = new PodLogs(this.api, this.namespace, this.podCache);
    this.failures = new StartFailures({ api: this.api, namespace: this.namespace, deleteJob: (name) => this.deleteJob(name), finish: (job, status) => this.finish(job, status), isClosed });
    this.listing = new JobListing(this.api, this.namespace, options.manifest.instance, this.podCache, options.manifest.replica);
  }

  /** Fills the watch caches; the launcher is usable once this resolves. */
  async start(): Promise<void> {
    this.unsubscribe.push(
      this.podCache.on((type, pod) => this.onPod(type, pod)),
      this.jobCache.on((type, job) => this.onJob(type, job)),
    );
    await Promise.all([this.jobCache.start(), this.podCache.start()]);
  }

  async submit(spec: JobSpec): Promise<JobHandle> {
    if (this.closed) throw new Error('The Kubernetes launcher is shut down.');
    if (this.jobs.has(spec.key)) throw new Error(`job ${spec.key} already exists`);
    const serviceAccount = spec.serviceAccount || this.options.defaultServiceAccount || 'default';
    await this.requireServiceAccount(serviceAccount);
    // Only the data dir reaches a pod (other paths come from the image), so only it is handed over.
    const shared = spec.mounts.filter((m) => !m.readOnly && insideDataDir(this.options.manifest.dataDir, m.path)).map((m) => m.path);
    for (const dir of [spec.jobDir, ...shared]) await this.options.prepareWritableDir(dir);
    const { job, secret } = buildJobManifests(spec, { ...this.options.manifest, serviceAccount });
    const ns = encodeURIComponent(this.namespace);
    const tracked = this.track(spec.key, job.metadata.name, spec, new JobLogWriter(spec.logPath));
    let created: KubeObject;
    try {
      created = await this.api.create(`/apis/batch/v1/namespaces/${ns}/jobs`, job);
    } catch (err) {
      this.jobs.delete(spec.key);
      await tracked.log.end();
      throw new Error(`Kubernetes refused the Job: ${(err as Error).message}`);
    }
    try {
      // Owned by its Job, the Secret goes when the Job goes (stop, TTL, content deletion).
      secret.metadata.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'Job', name: created.metadata.name, uid: created.metadata.uid!, blockOwnerDeletion: false }];
      await this.api.create(`/api/v1/namespaces/${ns}/secrets`, secret);
      await this.api.mergePatch(`/apis/batch/v1/namespaces/${ns}/jobs/${created.metadata.name}`, { spec: { suspend: false } });
    } catch (err) {
      await this.api.delete(`/apis/batch/v1/namespaces/${ns}/jobs/${created.metadata.name}`).catch(() => undefined);
      this.jobs.delete(spec.key);
      await tracked.log.end();
      throw new Error(`Kubernetes refused the job's environment: ${(err as Error).message}`);
    }
    this.failures.watchForPodCreation(tracked);
    // Its pod may already be in the cache.
    for (const pod of this.podCache.list()) if (pod.metadata.labels?.[LABELS.jobKey] === labelValue(spec.key)) this.onPod('added', pod);
    return { key: spec.key, remoteId: created.metadata.name, hostname: this.hostname };
  }

  async status(key: string): Promise<JobStatus> {
    const job = this.jobs.get(key);
    if (job) return job.status;
    const pod = this.podCache.list().find((p) => p.metadata.labels?.[LABELS.jobKey] === labelValue(key));
    if (pod && !podState(pod).terminated) return { state: podState(pod).phase === 'Running' ? 'running' : 'pending' };
    return { state: 'failed', reason: 'This process is no longer running.' };
  }

  async wait(key: string): Promise<JobStatus> {
    return this.jobs.get(key)?.ended ?? this.status(key);
  }

  /**
   * Ready once the content container runs (seen through the watch) and a TCP connect from here to
   * its pod IP succeeds: the worker accepts connections, and its address is routable from here.
   */
  ready(key: string, options: { timeoutMs: number }): Promise<JobAddress> {
    const job = this.jobs.get(key);
    if (!job) return Promise.reject(new Error('This process is no longer running.'));
    return this.readiness.wait(job, options.timeoutMs);
  }

  list(filter: { contentGuid?: string } = {}): Promise<JobInfo[]> {
    return this.listing.list(this.jobs.values(), filter);
  }

  logs(key: string, options: { follow?: boolean; signal?: AbortSignal; logPath?: string } = {}): AsyncIterable<LogLine> {
    const job = this.jobs.get(key);
    const logPath = job?.log.logPath ?? options.logPath;
    if (!logPath) return (async function* () {})();
    return readJobLog(logPath, job?.log, options);
  }

  async stop(key: string, options: { graceMs?: number } = {}): Promise<void> {
    const job = this.jobs.get(key);
    if (!job) {
      // Another replica's (or a forgotten) job, e.g. when its content is deleted: its Job goes all the same.
      const other = this.jobCache.list().find((j) => j.metadata.labels?.[LABELS.jobKey] === labelValue(key));
      if (other) await this.deleteJob(other.metadata.name);
      return;
    }
    if (job.done) return;
    job.stopRequested = true;
    await this.deleteJob(job.name);
    // The Job's DELETED event, or its pod's, ends it; don't wait forever on a node that is gone.
    const limit = (options.graceMs ?? 5000) + 30_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([job.ended, this.closing.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, limit)))]);
    clearTimeout(timer);
    // Once this launcher is closed the job is left as it is: its Job is being deleted, and the next
    // replica's reconcile closes its row (nothing here may write after the server closed its database).
    if (!job.done && !this.closed) await this.finish(job, { state: 'failed', stopped: true, reason: STOPPED_BY_LECTERN });
  }

  reconcile(active: Array<{ key: string; logPath: string }>, options: { replica?: string; reapUnclaimed?: boolean } = {}): Promise<string[]> {
    const own = this.options.manifest.replica;
    return reconcileJobs(
      {
        jobs: this.jobCache,
        pods: this.podCache,
        replica: own,
        from: options.replica ?? own,
        reapUnclaimed: options.replica === undefined || options.reapUnclaimed === true,
        relabel: async (name) => {
          await this.api.mergePatch(`/apis/batch/v1/namespaces/${encodeURIComponent(this.namespace)}/jobs/${encodeURIComponent(name)}`, {
            metadata: { labels: { [LABELS.replica]: labelValue(own) }, annotations: { [ANNOTATIONS.replica]: own } },
          });
        },
        isTracked: (key) => this.jobs.has(key),
        track: (key, name, spec, log) => this.track(key, name, spec, log),
        deleteJob: (name) => this.deleteJob(name),
        podSeen: (pod) => this.onPod('added', pod),
        log: this.options.log,
      },
      active,
    );
  }

  async close(): Promise<void> {
    // Pods keep running: a restarted Lectern adopts them (reconcile). Only our watchers stop.
    this.closed = true;
    this.closing.resolve();
    for (const off of this.unsubscribe) off();
    for (const job of this.jobs.values()) {
      if (job.unschedulableTimer) clearTimeout(job.unschedulableTimer);
      job.pumpAbort.abort();
      this.readiness.reject(job, new Error('Lectern is shutting down.'));
    }
    await Promise.all([...this.jobs.values()].map((j) => j.pump?.catch(() => undefined)));
    await Promise.all([...this.jobs.values()].map((j) => j.log.end()));
    await Promise.all([this.jobCache.stop(), this.podCache.stop()]);
    await this.api.close();
  }

  // ------------------------------------------------------------------------------------------

  private track(key: string, name: string, spec: Pick<JobSpec, 'kind' | 'tag' | 'contentGuid' | 'resources'>, log: JobLogWriter): TrackedJob {
    const job = newTrackedJob(key, name, spec, log);
    this.jobs.set(key, job);
    return job;
  }

  private trackedFor(obj: KubeObject): TrackedJob | undefined {
    const key = obj.metadata.labels?.[LABELS.jobKey];
    if (!key) return undefined;
    const direct = this.jobs.get(key);
    if (direct) return direct;
    for (const j of this.jobs.values()) if (labelValue(j.key) === key) return j;
    return undefined;
  }

  private onJob(type: 'added' | 'modified' | 'deleted', obj: KubeObject) {
    const job = this.trackedFor(obj);
    if (!job || job.done || job.failing) return;
    if (type === 'deleted') {
      const pod = job.podName ? this.podCache.get(job.podName) : undefined;
      if (!pod) void this.finish(job, job.stopRequested ? { state: 'failed', stopped: true, reason: STOPPED_BY_LECTERN } : { state: 'failed', reason: 'Its Kubernetes Job was deleted.' });
      return;
    }
    const failed = ((obj.status?.conditions ?? []) as Array<{ type: string; status: string; reason?: string; message?: string }>).find((c) => c.type === 'Failed' && c.status === 'True');
    if (failed?.reason === 'DeadlineExceeded') {
      void this.finish(job, { state: 'failed', reason: `The job ran longer than its deadline and was stopped (Kubernetes: ${failed.message ?? failed.reason}).` });
    }
  }

  private onPod(type: 'added' | 'modified' | 'deleted', pod: KubeObject) {
    const job = this.trackedFor(pod);
    if (!job || job.done || job.failing) return;
    job.podName = pod.metadata.name;
    if (type === 'deleted') {
      void this.podLogs
        .drained(job)
        .then(() => this.finish(job, job.stopRequested ? { state: 'failed', stopped: true, reason: STOPPED_BY_LECTERN } : { state: 'failed', reason: 'Its pod was deleted.' }));
      return;
    }
    const state = podState(pod);
    if (!state.started && !state.terminated) this.failures.watchForPullFailures(job, () => (job.podName ? this.podCache.get(job.podName) : undefined));
    if (state.started && !job.pump) job.pump = this.podLogs.follow(job, pod.metadata.name);
    if (state.terminated) {
      const t = state.terminated;
      void this.podLogs.drained(job).then(() => {
        const reason = exitReason(t, job.memoryLimitBytes);
        const stopped = job.stopRequested && t.reason !== 'OOMKilled';
        return this.finish(job, {
          state: t.exitCode === 0 ? 'succeeded' : 'failed',
          exitCode: t.exitCode,
          reason: stopped ? STOPPED_BY_LECTERN : reason,
          stopped: stopped || undefined,
        });
      });
      return;
    }
    if (state.failure) {
      // A pod that stop() deleted while it was starting: the kubelet ends its init container as
      // ContainerStatusUnknown (137) or its phase Failed. That is the stop, not a failure to start.
      if (job.stopRequested) {
        void this.podLogs.drained(job).then(() => this.finish(job, { state: 'failed', stopped: true, reason: STOPPED_BY_LECTERN }));
        return;
      }
      void this.failures.failWith(job, pod, state.failure);
      return;
    }
    if (state.unschedulable) {
      if (this.options.schedulingTimeoutMs <= 0) void this.failures.failWith(job, pod, state.unschedulable);
      else if (!job.unschedulableTimer) {
        job.unschedulableTimer = setTimeout(() => void this.failures.failWith(job, pod, state.unschedulable!), this.options.schedulingTimeoutMs);
        job.unschedulableTimer.unref();
      }
      return;
    }
    if (job.unschedulableTimer) {
      clearTimeout(job.unschedulableTimer);
      job.unschedulableTimer = undefined;
    }
    if (state.phase === 'Running' && job.status.state === 'pending') job.status = { state: 'running' };
    this.readiness.podChanged(job, state);
  }

  private async finish(job: TrackedJob, status: JobStatus) {
    if (job.done) return;
    job.done = true;
    if (job.unschedulableTimer) clearTimeout(job.unschedulableTimer);
    job.pumpAbort.abort();
    await job.pump?.catch(() => undefined);
    if (status.reason) job.log.record('stderr', status.reason);
    await job.log.end();
    job.status = status;
    this.readiness.reject(job, new Error(status.reason ?? 'The process ended before it accepted connections.'));
    job.resolveEnded(status);
    setTimeout(() => {
      if (this.jobs.get(job.key) === job) this.jobs.delete(job.key);
    }, FORGET_AFTER_MS).unref();
  }

  private async deleteJob(name: string) {
    await this.api.delete(`/apis/batch/v1/namespaces/${encodeURIComponent(this.namespace)}/jobs/${encodeURIComponent(name)}`, { propagation: 'Background' });
  }

  private async requireServiceAccount(name: string) {
    try {
      await this.api.get(`/api/v1/namespaces/${encodeURIComponent(this.namespace)}/serviceaccounts/${encodeURIComponent(name)}`);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        throw new Error(`Service account "${name}" does not exist in Kubernetes namespace "${this.namespace}": create it, or choose another for this content.`);
      }
      throw err;
    }
  }
}
