import type { Process } from '../api/types';

export interface Sample {
  at: number;
  cpuSeconds: Map<string, number>;
}

export function sample(processes: Process[], at: number): Sample {
  const cpuSeconds = new Map<string, number>();
  for (const p of processes) if (p.cpu_seconds !== null) cpuSeconds.set(p.job_key, p.cpu_seconds);
  return { at, cpuSeconds };
}

/**
 * CPU use of each process between two samples, in percent of one core (null until a process has
 * been seen twice). The API reports cumulative CPU seconds, like `ps` TIME.
 */
export function cpuPercent(previous: Sample | null, current: Sample, jobKey: string): number | null {
  if (!previous) return null;
  const before = previous.cpuSeconds.get(jobKey);
  const now = current.cpuSeconds.get(jobKey);
  const wall = (current.at - previous.at) / 1000;
  if (before === undefined || now === undefined || wall <= 0) return null;
  return Math.max(0, ((now - before) / wall) * 100);
}
