// Addressing and readiness of run jobs: a worker is reached at its pod IP (docs/kubernetes.md,
// "Reaching a worker"), and is ready once Kubernetes' tcpSocket probe made the pod Ready (seen
// through the watch) and one HTTP request from Lectern's side got any answer, which shows the pod
// IP is routable from here. This is the whole of Launcher.ready() for this backend.
import { request } from 'undici';
import { notReadyInTime, type JobAddress } from '../launcher.js';
import type { Informer } from './informer.js';
import { WORKER_PORT } from './job-manifest.js';
import type { KubeObject } from './kube-api.js';
import { podState, type PodState } from './pod-state.js';
import type { TrackedJob } from './tracked-job.js';

const PROBE_INTERVAL_MS = 100;

export class WorkerReadiness {
  constructor(
    private readonly pods: Informer<KubeObject>,
    private readonly isClosed: () => boolean,
  ) {}

  /** Resolves with the worker's address once ready; rejects when the job ends first (reject()) or after `timeoutMs`. */
  wait(job: TrackedJob, timeoutMs: number): Promise<JobAddress> {
    if (job.address) return Promise.resolve(job.address);
    if (job.status.state === 'failed' || job.status.state === 'succeeded') return Promise.reject(new Error(job.status.reason ?? 'The process ended before it accepted connections.'));
    return new Promise<JobAddress>((resolve, reject) => {
      const waiter = {
        resolve: (a: JobAddress) => {
          clearTimeout(timer);
          job.readyWaiters.delete(waiter);
          resolve(a);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          job.readyWaiters.delete(waiter);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const pod = job.podName ? this.pods.get(job.podName) : undefined;
        const where = pod ? `the pod is ${podState(pod).phase}${podState(pod).ready ? ' and ready but does not answer HTTP' : ''}` : 'no pod was created';
        waiter.reject(new Error(notReadyInTime(timeoutMs, where)));
      }, timeoutMs);
      job.readyWaiters.add(waiter);
      // The pod may be Ready already (its last event came before anyone waited).
      const pod = job.podName ? this.pods.get(job.podName) : undefined;
      if (pod) this.podChanged(job, podState(pod));
    });
  }

  /** Every event of a live job's pod: a Ready pod with an IP that someone waits for is probed. */
  podChanged(job: TrackedJob, state: PodState): void {
    if (state.ready && state.ip && !job.address && !job.probing && job.readyWaiters.size) void this.probe(job, state.ip);
  }

  /** The job ended (or Lectern shuts down): everyone waiting hears why. */
  reject(job: TrackedJob, error: Error): void {
    for (const w of [...job.readyWaiters]) w.reject(error);
  }

  /** Kubernetes says the pod is ready; Lectern routes to it once it answers HTTP (any status). */
  private async probe(job: TrackedJob, ip: string) {
    job.probing = true;
    try {
      while (!job.done && !this.isClosed()) {
        try {
          const res = await request(`http://${ip.includes(':') ? `[${ip}]` : ip}:${WORKER_PORT}/`, { method: 'GET', headersTimeout: 2000, bodyTimeout: 2000 });
          await res.body.dump();
          job.address = { host: ip, port: WORKER_PORT };
          for (const w of [...job.readyWaiters]) w.resolve(job.address);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
        }
      }
    } finally {
      job.probing = false;
    }
  }
}
