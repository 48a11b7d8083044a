// Addressing and readiness of run jobs: a worker is reached at its pod IP (docs/kubernetes.md,
// "Reaching a worker"), and is ready the moment a TCP connect from Lectern to podIP:port succeeds.
// That is the one readiness path: it waits for the worker itself, not for the kubelet's next
// readiness-probe period, and it shows the pod IP is routable from here. This is the whole of
// Launcher.ready() for this backend.
import { connect } from 'node:net';
import { notReadyInTime, type JobAddress } from '../launcher.js';
import type { Informer } from './informer.js';
import { WORKER_PORT } from './job-manifest.js';
import type { KubeObject } from './kube-api.js';
import { podState, type PodState } from './pod-state.js';
import type { TrackedJob } from './tracked-job.js';

/** How often a started worker is asked whether it accepts connections (a refused connect costs little). */
const PROBE_INTERVAL_MS = 25;
/** A pod IP that drops packets (a network policy, a node gone) must not hold one attempt for long. */
const CONNECT_TIMEOUT_MS = 1000;

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
        const state = pod ? podState(pod) : undefined;
        const where = state ? `the pod is ${state.phase}${state.started ? ` but nothing accepts connections on port ${WORKER_PORT}` : ''}` : 'no pod was created';
        waiter.reject(new Error(notReadyInTime(timeoutMs, where)));
      }, timeoutMs);
      job.readyWaiters.add(waiter);
      // The worker may have started already (its pod's last event came before anyone waited).
      const pod = job.podName ? this.pods.get(job.podName) : undefined;
      if (pod) this.podChanged(job, podState(pod));
    });
  }

  /** Every event of a live job's pod: once its content container runs and has an IP, someone waiting starts the probe. */
  podChanged(job: TrackedJob, state: PodState): void {
    if (state.started && !state.terminated && state.ip && !job.address && !job.probing && job.readyWaiters.size) void this.probe(job, state.ip);
  }

  /** The job ended (or Lectern shuts down): everyone waiting hears why. */
  reject(job: TrackedJob, error: Error): void {
    for (const w of [...job.readyWaiters]) w.reject(error);
  }

  private async probe(job: TrackedJob, ip: string) {
    job.probing = true;
    try {
      while (!job.done && !this.isClosed() && job.readyWaiters.size) {
        if (await acceptsConnections(ip, WORKER_PORT)) {
          job.address = { host: ip, port: WORKER_PORT };
          job.readyAt = Date.now();
          for (const w of [...job.readyWaiters]) w.resolve(job.address);
          return;
        }
        await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
      }
    } finally {
      job.probing = false;
    }
  }
}

function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
