// A process tree read from /proc: usage and signals when no cgroup holds the job.
import { readFile, readdir } from 'node:fs/promises';

/** Linux reports stat times in USER_HZ, which is 100 on every architecture Node supports. */
const USER_HZ = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime: the process and its reaped children. */
  ticks: number;
}

async function readStat(pid: number): Promise<ProcStat | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!text) return null;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const num = (i: number) => Number(fields[i - 3]);
  return { pid, ppid: num(4), ticks: num(14) + num(15) + num(16) + num(17) };
}

/** The root and its live descendants, parents before children. */
export async function processTree(root: number): Promise<ProcStat[]> {
  const names = await readdir('/proc').catch(() => [] as string[]);
  const stats = (await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readStat(Number(n))))).filter((s): s is ProcStat => !!s);
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const top = stats.find((s) => s.pid === root);
  if (!top) return [];
  const tree = [top];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!.pid) ?? []));
  return tree;
}

export async function treeUsage(root: number): Promise<{ cpuSeconds?: number; memoryBytes?: number }> {
  const tree = await processTree(root);
  if (!tree.length) return {};
  let rssKiB = 0;
  for (const p of tree) {
    const status = await readFile(`/proc/${p.pid}/status`, 'utf8').catch(() => '');
    rssKiB += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }
  return { cpuSeconds: tree.reduce((sum, p) => sum + p.ticks, 0) / USER_HZ, memoryBytes: rssKiB * 1024 };
}

export function signalAll(pids: number[], signal: NodeJS.Signals) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}
