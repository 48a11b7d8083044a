// How a Kubernetes pod reads in the processes table; pure so it can be tested without a browser.
import type { Pod, Process } from '../api/types';
import { formatBytes } from '../ui/format';

/** Cores as people size them: "250m" is Kubernetes notation, "0.25 cores" reads without it. */
export function formatCores(cores: number | null | undefined): string {
  if (cores === null || cores === undefined) return '—';
  const rounded = cores >= 10 ? Math.round(cores) : cores >= 1 ? Number(cores.toFixed(1)) : Number(cores.toFixed(cores >= 0.1 ? 2 : 3));
  return `${rounded} ${rounded === 1 ? 'core' : 'cores'}`;
}

/** "request 256 MiB · limit 512 MiB", with only what the pod declares; null when it declares neither. */
export function requestAndLimit(request: number | null, limit: number | null, format: (n: number) => string): string | null {
  const parts = [request !== null ? `request ${format(request)}` : null, limit !== null ? `limit ${format(limit)}` : null].filter((p): p is string => p !== null);
  return parts.length ? parts.join(' · ') : null;
}

export function cpuBounds(pod: Pod): string | null {
  return requestAndLimit(pod.cpu_request, pod.cpu_limit, formatCores);
}

export function memoryBounds(pod: Pod): string | null {
  return requestAndLimit(pod.memory_request, pod.memory_limit, formatBytes);
}

/** Where a pod runs: the node first (what an operator drains or cordons), then the pod and the replica that started it. */
export function podPlacement(p: Process & { pod: Pod }): { node: string; detail: string } {
  const detail = [`pod ${p.pod.name}`, p.replica ? `replica ${p.replica}` : null].filter(Boolean).join(' · ');
  return { node: p.pod.node ?? 'not scheduled yet', detail };
}

/** Seconds since pod creation: tenths below ten seconds, where start-up differences show. */
export function formatPhaseSeconds(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
}

export interface StartupStep {
  label: string;
  /** Seconds after creation, or null while the step has not happened. */
  seconds: number | null;
  text: string;
  /** How the step reads while it has not happened. */
  pending: string;
}

/** Scheduled → init done → ready, each as seconds after the pod was created ("…" while pending). */
export function startupSteps(pod: Pod): StartupStep[] {
  const steps: Array<[string, number | null, string]> = [
    ['scheduled', pod.scheduled_seconds, 'not scheduled yet'],
    ['init done', pod.initialized_seconds, 'init not done yet'],
    ['ready', pod.ready_seconds, 'not ready yet'],
  ];
  return steps.map(([label, seconds, pending]) => ({ label, seconds, pending, text: seconds === null ? '…' : formatPhaseSeconds(seconds) }));
}

/** The same steps as one sentence, for screen readers and the cell's title. */
export function startupSummary(pod: Pod): string {
  return (
    'Seconds after the pod was created: ' +
    startupSteps(pod)
      .map((s) => (s.seconds === null ? s.pending : `${s.label} at ${s.text}`))
      .join(', ')
  );
}

export function hasPod(p: Process): p is Process & { pod: Pod } {
  return p.pod !== undefined && p.pod !== null;
}
