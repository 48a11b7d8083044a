// The processes table: every live pod of this Lectern instance (all replicas'), with where and how
// it runs, and its CPU and memory use from metrics.k8s.io when the cluster serves it.
import type { JobInfo, JobKind, JobTag } from '../launcher.js';
import type { Informer } from './informer.js';
import { ANNOTATIONS, CONTENT_CONTAINER, instanceSelector, LABELS, labelValue, WORKER_PORT } from './job-manifest.js';
import { KubeApiError, type KubeApi, type KubeObject } from './kube-api.js';
import { parseQuantity, podState, startupPhases } from './pod-state.js';
import type { TrackedJob } from './tracked-job.js';

const METRICS_CACHE_MS = 10_000;

type Usage = Map<string, { cpu?: number; memory?: number }>;

export class JobListing {
  private metrics?: { at: number; usage: Usage } | 'unavailable';

  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly instance: string,
    private readonly pods: Informer<KubeObject>,
    /** This replica's name: its jobs' pods may carry an earlier owner's (adopted from a replica that is gone). */
    private readonly replica: string,
  ) {}

  /** Live pods (optionally of one content item); `tracked` gives this replica's jobs their own keys. */
  async list(tracked: Iterable<TrackedJob>, filter: { contentGuid?: string } = {}): Promise<JobInfo[]> {
    const usage = await this.podMetrics();
    const mine = [...tracked];
    return this.pods
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
        const job = mine.find((j) => labelValue(j.key) === key);
        const used = usage.get(pod.metadata.name);
        return {
          key: job?.key ?? key,
          kind: (labels[LABELS.kind] ?? 'run') as JobKind,
          tag: (labels[LABELS.tag] ?? 'run_app') as JobTag,
          contentGuid: job?.contentGuid ?? labels[LABELS.contentGuid] ?? '',
          remoteId: pod.metadata.labels?.['job-name'] ?? pod.metadata.name,
          hostname: state.node ?? '',
          // This replica's workers are routable once they accepted a connection, which comes before
          // the kubelet's probe marks the pod Ready; other replicas' pods are known by that probe.
          address: job?.address ?? (state.ip && state.ready ? { host: state.ip, port: WORKER_PORT } : undefined),
          startTime: new Date(pod.metadata.creationTimestamp ?? Date.now()),
          state: state.phase === 'Running' ? 'running' : 'pending',
          cpuCores: used?.cpu,
          memoryBytes: used?.memory,
          pod: {
            name: pod.metadata.name,
            node: state.node,
            phase: state.phase,
            image: container?.image,
            replica: job ? this.replica : pod.metadata.annotations?.[ANNOTATIONS.replica],
            cpuRequest: parseQuantity(container?.resources?.requests?.cpu),
            cpuLimit: parseQuantity(container?.resources?.limits?.cpu),
            memoryRequestBytes: parseQuantity(container?.resources?.requests?.memory),
            memoryLimitBytes: parseQuantity(container?.resources?.limits?.memory),
            ...startupPhases(pod),
            // Ready is when Lectern could route to it, for this replica's workers (see address).
            ...(job?.readyAt ? { readySeconds: readySecondsOf(pod, job.readyAt) } : {}),
          },
        } satisfies JobInfo;
      });
  }

  /** CPU and memory per pod from metrics.k8s.io, when the cluster serves it (cached briefly). */
  private async podMetrics(): Promise<Usage> {
    if (this.metrics === 'unavailable') return new Map();
    if (this.metrics && Date.now() - this.metrics.at < METRICS_CACHE_MS) return this.metrics.usage;
    try {
      const list = await this.api.list(`/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(this.namespace)}/pods`, {
        labelSelector: instanceSelector(this.instance),
      });
      const usage: Usage = new Map();
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

function readySecondsOf(pod: KubeObject, readyAt: number): number | undefined {
  const created = Date.parse(pod.metadata.creationTimestamp ?? '');
  return Number.isFinite(created) ? Math.max(0, (readyAt - created) / 1000) : undefined;
}
