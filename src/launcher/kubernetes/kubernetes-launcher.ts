// The off-host backend: every process is a batch/v1 Job in Lectern's namespace (docs/kubernetes.md).
// State comes from two shared watch caches (Jobs and Pods of this Lectern instance); logs are
// streamed from pods/log into the same job-log files the local backend writes.
import { hostname as osHostname } from 'node:os';
import { request } from 'undici';
import { JobLogWriter, lastLogLine, readJobLog } from '../job-log.js';
import { notReadyInTime, type JobAddress, type JobHandle, type JobInfo, type JobKind, type JobSpec, type JobStatus, type JobTag, type Launcher, type LogLine } from '../launcher.js';
import { Informer } from './informer.js';
import { ANNOTATIONS, buildJobManifests, CONTENT_CONTAINER, insideDataDir, instanceSelector, LABELS, labelValue, WORKER_PORT, type ManifestOptions } from './job-manifest.js';
import { KubeApiError, type KubeApi, type KubeObject } from './kube-api.js';
import { exitReason, parseQuantity, podState, startupPhases, type PodFailure } from './pod-state.js';

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

interface TrackedJob {
  key: string;
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
  address?: JobAddress;
  addressWaiters: Set<{ resolve(a: JobAddress): void; reject(e: Error): void }>;
  probing: boolean;
}

/** How long finished jobs stay known to status()/logs() in memory; their logs stay on disk. */
const FORGET_AFTER_MS = 10 * 60_000;
const PUMP_DRAIN_MS = 10_000;
const PROBE_INTERVAL_MS = 100;
const METRICS_CACHE_MS = 10_000;

export class KubernetesLauncher implements Launcher {
  readonly name = 'kubernetes';
  private readonly jobs = new Map<string, TrackedJob>();
  readonly jobCache: Informer<KubeObject>;
  readonly podCache: Informer<KubeObject>;
  private readonly api: KubeApi;
  private readonly namespace: string;
  private readonly hostname = osHostname();
  private readonly unsubscribe: Array<() => void> = [];
  private metrics?: { at: number; usage: Map<string, { cpu?: number; memory?: number }> } | 'unavailable';
  private closed = false;

  constructor(private readonly options: KubernetesLauncherOptions) {
    this.api = options.api;
    this.namespace = options.manifest.namespace;
    const selector = instanceSelector(options.manifest.instance);
    const ns = encodeURIComponent(this.namespace);
    const log = options.log ?? (() => undefined);
    this.jobCache = new Informer(this.api, `/apis/batch/v1/namespaces/${ns}/jobs`, selector, log);
    this.podCache = new Informer(this.api, `/api/v1/namespaces/${ns}/pods`, selector, log);
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
    this.watchForPodCreation(tracked);
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
   * Ready in two steps, both here: Kubernetes' tcpSocket probe makes the pod Ready (seen through the
   * watch), then one HTTP answer from Lectern's side shows the pod IP is reachable from here.
   */
  ready(key: string, options: { timeoutMs: number }): Promise<JobAddress> {
    const job = this.jobs.get(key);
    if (!job) return Promise.reject(new Error('This process is no longer running.'));
    if (job.address) return Promise.resolve(job.address);
    if (job.status.state === 'failed' || job.status.state === 'succeeded') return Promise.reject(new Error(job.status.reason ?? 'The process ended before it accepted connections.'));
    return new Promise<JobAddress>((resolve, reject) => {
      const waiter = {
        resolve: (a: JobAddress) => {
          clearTimeout(timer);
          job.addressWaiters.delete(waiter);
          resolve(a);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          job.addressWaiters.delete(waiter);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const pod = job.podName ? this.podCache.get(job.podName) : undefined;
        const where = pod ? `the pod is ${podState(pod).phase}${podState(pod).ready ? ' and ready but does not answer HTTP' : ''}` : 'no pod was created';
        waiter.reject(new Error(notReadyInTime(options.timeoutMs, where)));
      }, options.timeoutMs);
      job.addressWaiters.add(waiter);
      if (job.podName) {
        const pod = this.podCache.get(job.podName);
        if (pod) this.onPod('modified', pod);
      }
    });
  }

  async list(filter: { contentGuid?: string } = {}): Promise<JobInfo[]> {
    const usage = await this.podMetrics();
    return this.podCache
      .list()
      .filter((pod) => !filter.contentGuid || pod.metadata.labels?.[LABELS.contentGuid] === labelValue(filter.contentGuid))
      .filter((pod) => !podState(pod).terminated && !pod.metadata.deletionTimestamp)
      .map((pod) => {
        const labels = pod.metadata.labels ?? {};
        const state = podState(pod);
        const container = ((pod.spec?.containers ?? []) as Array<{ name: string; image?: string; resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }>).find(
          (c) => c.name === CONTENT_CONTAINER,
        );
        const key = labels[LABELS.jobKey] ?? '';
        const tracked = [...this.jobs.values()].find((j) => labelValue(j.key) === key);
        const used = usage.get(pod.metadata.name);
        return {
          key: tracked?.key ?? key,
          kind: (labels[LABELS.kind] ?? 'run') as JobKind,
          tag: (labels[LABELS.tag] ?? 'run_app') as JobTag,
          contentGuid: tracked?.contentGuid ?? labels[LABELS.contentGuid] ?? '',
          remoteId: pod.metadata.labels?.['job-name'] ?? pod.metadata.name,
          hostname: state.node ?? '',
          address: state.ip && state.ready ? { host: state.ip, port: WORKER_PORT } : undefined,
          startTime: new Date(pod.metadata.creationTimestamp ?? Date.now()),
          state: state.phase === 'Running' ? 'running' : 'pending',
          cpuCores: used?.cpu,
          memoryBytes: used?.memory,
          pod: {
            name: pod.metadata.name,
            node: state.node,
            phase: state.phase,
            image: container?.image,
            replica: pod.metadata.annotations?.[ANNOTATIONS.replica],
            cpuRequest: parseQuantity(container?.resources?.requests?.cpu),
            cpuLimit: parseQuantity(container?.resources?.limits?.cpu),
            memoryRequestBytes: parseQuantity(container?.resources?.requests?.memory),
            memoryLimitBytes: parseQuantity(container?.resources?.limits?.memory),
            ...startupPhases(pod),
          },
        } satisfies JobInfo;
      });
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
    await Promise.race([job.ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, limit)))]);
    clearTimeout(timer);
    if (!job.done) await this.finish(job, { state: 'failed', stopped: true, reason: 'The process was stopped by Lectern.' });
  }

  async reconcile(active: Array<{ key: string; logPath: string }>): Promise<string[]> {
    const wanted = new Map(active.map((a) => [labelValue(a.key), a]));
    const replica = labelValue(this.options.manifest.replica);
    const adopted: string[] = [];
    for (const job of this.jobCache.list()) {
      const labels = job.metadata.labels ?? {};
      if (labels[LABELS.replica] !== replica) continue; // another replica's: it reconciles its own.
      const row = wanted.get(labels[LABELS.jobKey] ?? '');
      const done = ((job.status?.conditions ?? []) as Array<{ type: string; status: string }>).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
      if (!row || job.spec?.suspend === true || done || job.metadata.deletionTimestamp) {
        // Orphans: no running row claims them, they never got their environment (suspended), or
        // they finished while Lectern was down (the row is closed by the caller).
        if (!row || job.spec?.suspend === true) {
          this.options.log?.(`deleting orphaned Kubernetes Job ${job.metadata.name}`);
          await this.deleteJob(job.metadata.name);
        }
        continue;
      }
      if (this.jobs.has(row.key)) continue;
      const last = await lastLogLine(row.logPath);
      const tracked = this.track(
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
      const pod = this.podCache.list().find((p) => p.metadata.labels?.[LABELS.jobKey] === labels[LABELS.jobKey]);
      if (pod) this.onPod('added', pod);
    }
    return adopted;
  }

  async close(): Promise<void> {
    // Pods keep running: a restarted Lectern adopts them (reconcile). Only our watchers stop.
    this.closed = true;
    for (const off of this.unsubscribe) off();
    for (const job of this.jobs.values()) {
      if (job.unschedulableTimer) clearTimeout(job.unschedulableTimer);
      job.pumpAbort.abort();
      for (const w of job.addressWaiters) w.reject(new Error('Lectern is shutting down.'));
    }
    await Promise.all([...this.jobs.values()].map((j) => j.pump?.catch(() => undefined)));
    await Promise.all([...this.jobs.values()].map((j) => j.log.end()));
    await Promise.all([this.jobCache.stop(), this.podCache.stop()]);
    await this.api.close();
  }

  // ------------------------------------------------------------------------------------------

  private track(key: string, name: string, spec: Pick<JobSpec, 'kind' | 'tag' | 'contentGuid' | 'resources'>, log: JobLogWriter): TrackedJob {
    let resolveEnded!: (s: JobStatus) => void;
    const ended = new Promise<JobStatus>((resolve) => (resolveEnded = resolve));
    const job: TrackedJob = {
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
      addressWaiters: new Set(),
      probing: false,
      linesAtLastTime: 0,
    };
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
      if (!pod) void this.finish(job, job.stopRequested ? { state: 'failed', stopped: true, reason: 'The process was stopped by Lectern.' } : { state: 'failed', reason: 'Its Kubernetes Job was deleted.' });
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
      void this.pumpDrained(job).then(() =>
        this.finish(job, job.stopRequested ? { state: 'failed', stopped: true, reason: 'The process was stopped by Lectern.' } : { state: 'failed', reason: 'Its pod was deleted.' }),
      );
      return;
    }
    const state = podState(pod);
    if (state.started && !job.pump) job.pump = this.pumpLogs(job, pod.metadata.name);
    if (state.terminated) {
      const t = state.terminated;
      void this.pumpDrained(job).then(() => {
        const reason = exitReason(t, job.memoryLimitBytes);
        const stopped = job.stopRequested && t.reason !== 'OOMKilled';
        return this.finish(job, {
          state: t.exitCode === 0 ? 'succeeded' : 'failed',
          exitCode: t.exitCode,
          reason: stopped ? 'The process was stopped by Lectern.' : reason,
          stopped: stopped || undefined,
        });
      });
      return;
    }
    if (state.failure) {
      void this.failWith(job, pod, state.failure);
      return;
    }
    if (state.unschedulable) {
      if (this.options.schedulingTimeoutMs <= 0) void this.failWith(job, pod, state.unschedulable);
      else if (!job.unschedulableTimer) {
        job.unschedulableTimer = setTimeout(() => void this.failWith(job, pod, state.unschedulable!), this.options.schedulingTimeoutMs);
        job.unschedulableTimer.unref();
      }
      return;
    }
    if (job.unschedulableTimer) {
      clearTimeout(job.unschedulableTimer);
      job.unschedulableTimer = undefined;
    }
    if (state.phase === 'Running' && job.status.state === 'pending') job.status = { state: 'running' };
    if (state.ready && state.ip && !job.address && !job.probing && job.addressWaiters.size) void this.probe(job, state.ip);
  }

  /** Kubernetes says the pod is ready; Lectern routes to it once it answers HTTP (any status). */
  private async probe(job: TrackedJob, ip: string) {
    job.probing = true;
    try {
      while (!job.done && !this.closed) {
        try {
          const res = await request(`http://${ip.includes(':') ? `[${ip}]` : ip}:${WORKER_PORT}/`, { method: 'GET', headersTimeout: 2000, bodyTimeout: 2000 });
          await res.body.dump();
          job.address = { host: ip, port: WORKER_PORT };
          for (const w of [...job.addressWaiters]) w.resolve(job.address);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
        }
      }
    } finally {
      job.probing = false;
    }
  }

  /** A pod that cannot start: the reason and Kubernetes' own event message go to the log, and the Job goes. */
  private async failWith(job: TrackedJob, pod: KubeObject, failure: PodFailure) {
    if (job.done || job.failing) return;
    job.failing = true;
    const events = await this.eventMessages('Pod', pod.metadata.name).catch(() => [] as string[]);
    const detail = events.length ? ` Events: ${events.slice(-3).join(' | ')}` : '';
    const reason = `Kubernetes could not run the process (${failure.reason}): ${failure.message.replace(/\.$/, '')}.${detail}`;
    await this.deleteJob(job.name).catch(() => undefined);
    await this.finish(job, { state: 'failed', exitCode: failure.exitCode, reason });
  }

  /**
   * A Job whose controller cannot create its pod (a policy or quota refuses it) changes no status
   * field, only records FailedCreate events. While a job has no pod, its events are read a few
   * times (3 s, then every 10 s) so such a refusal ends the job with Kubernetes' message instead
   * of leaving it pending until the init timeout.
   */
  private watchForPodCreation(job: TrackedJob) {
    const check = async (delay: number) => {
      await new Promise((r) => setTimeout(r, delay).unref());
      if (job.done || job.failing || job.podName || this.closed) return;
      const refusals = (await this.eventMessages('Job', job.name).catch(() => [] as string[])).filter((m) => m.startsWith('FailedCreate'));
      if (job.done || job.failing || job.podName) return;
      if (refusals.length) {
        job.failing = true;
        await this.deleteJob(job.name).catch(() => undefined);
        await this.finish(job, { state: 'failed', reason: `Kubernetes could not create the pod (FailedCreate): ${refusals[refusals.length - 1]!.replace(/^FailedCreate: /, '')}` });
        return;
      }
      void check(10_000);
    };
    void check(3_000);
  }

  private async eventMessages(kind: 'Pod' | 'Job', name: string): Promise<string[]> {
    const ns = encodeURIComponent(this.namespace);
    const list = await this.api.list(`/api/v1/namespaces/${ns}/events`, { fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
    return list.items
      .filter((e) => e.type === 'Warning')
      .sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')))
      .map((e) => `${String(e.reason)}: ${String(e.message ?? '').trim()}`);
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
    for (const w of [...job.addressWaiters]) w.reject(new Error(status.reason ?? 'The process ended before it accepted connections.'));
    job.resolveEnded(status);
    setTimeout(() => {
      if (this.jobs.get(job.key) === job) this.jobs.delete(job.key);
    }, FORGET_AFTER_MS).unref();
  }

  /** Waits (bounded) for the log stream to deliver the last lines of a container that ended. */
  private async pumpDrained(job: TrackedJob) {
    if (!job.pump) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([job.pump.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, PUMP_DRAIN_MS)))]);
    clearTimeout(timer);
  }

  /**
   * Follows pods/log into the job's log file. pods/log mixes stdout and stderr into one stream, so
   * lines are recorded as stdout. A dropped stream resumes from the last line's time (timestamps
   * are nanoseconds; lines at or before the last one seen are skipped).
   */
  private async pumpLogs(job: TrackedJob, podName: string): Promise<void> {
    const signal = job.pumpAbort.signal;
    while (!signal.aborted) {
      try {
        await this.readLogStream(job, podName, true, signal);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof KubeApiError && err.status === 404) return;
        // 400 "container is waiting to start" and dropped connections: try again shortly.
      }
      const pod = this.podCache.get(podName);
      if (!pod || podState(pod).terminated) {
        // One last read (no follow) catches lines written after our stream ended.
        if (pod) {
          const abort = new AbortController();
          const timer = setTimeout(() => abort.abort(), 5000);
          await this.readLogStream(job, podName, false, abort.signal).catch(() => undefined);
          clearTimeout(timer);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * One pods/log request from the last line's time. Timestamps have limited precision, so several
   * lines may share one: lines older than the last are skipped, and as many lines at exactly its
   * time as were already recorded.
   */
  private async readLogStream(job: TrackedJob, podName: string, follow: boolean, signal: AbortSignal) {
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

  /** CPU and memory per pod from metrics.k8s.io, when the cluster serves it (cached briefly). */
  private async podMetrics(): Promise<Map<string, { cpu?: number; memory?: number }>> {
    if (this.metrics === 'unavailable') return new Map();
    if (this.metrics && Date.now() - this.metrics.at < METRICS_CACHE_MS) return this.metrics.usage;
    try {
      const list = await this.api.list(`/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(this.namespace)}/pods`, {
        labelSelector: instanceSelector(this.options.manifest.instance),
      });
      const usage = new Map<string, { cpu?: number; memory?: number }>();
      for (const item of list.items) {
        const c = ((item.containers ?? []) as Array<{ name: string; usage?: { cpu?: string; memory?: string } }>).find((x) => x.name === CONTENT_CONTAINER);
        usage.set(item.metadata.name, { cpu: parseQuantity(c?.usage?.cpu), memory: parseQuantity(c?.usage?.memory) });
      }
      this.metrics = { at: Date.now(), usage };
      return usage;
    } catch (err) {
      // No metrics-server (404) or no permission (403): the table shows requests and limits only.
      if (err instanceof KubeApiError && (err.status === 404 || err.status === 403)) this.metrics = 'unavailable';
      return new Map();
    }
  }
}

/** "2026-12-02T11:00:00.5Z" → "2026-12-02T11:00:00.500000000Z": comparable as text. */
function nanoTime(stamp: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(stamp);
  if (!m) return undefined;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}

