import { useEffect, useRef, useState } from 'react';
import { Link } from 'wouter';
import { api } from '../api/client';
import { useAction, useResource } from '../api/use-resource';
import type { Process } from '../api/types';

import { EmptyState, ErrorMessage, Loading } from '../ui/feedback';
import { formatBytes, formatDuration } from '../ui/format';
import { jobLabel } from '../ui/job-labels';
import { cpuPercent, sample, type Sample } from './cpu';
import { cpuBounds, formatCores, hasPod, memoryBounds, podPlacement, startupSteps, startupSummary } from './pod';

const REFRESH_MS = 3000;

/** Every content process this server runs, refreshed every few seconds; any can be stopped. */
export function Processes() {
  const processes = useResource<Process[]>('/__api__/v1/system/processes');
  const [samples, setSamples] = useState<{ previous: Sample | null; current: Sample | null }>({ previous: null, current: null });
  const [now, setNow] = useState(Date.now());
  const action = useAction();
  const reload = useRef(processes.reload);
  reload.current = processes.reload;

  useEffect(() => {
    const timer = setInterval(() => reload.current(), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    if (!processes.data) return;
    const at = Date.now();
    setNow(at);
    setSamples((s) => ({ previous: s.current, current: sample(processes.data!, at) }));
  }, [processes.data]);

  async function stop(p: Process) {
    if (!confirm(`Stop this process of ${p.content_title || p.content_name}? Its open sessions end.`)) return;
    if (await action.run(() => api(`/__api__/v1/content/${p.content_guid}/jobs/${p.job_key}`, { method: 'DELETE' }))) processes.reload();
  }

  const anyPod = processes.data?.some(hasPod) ?? false;

  return (
    <section className="stack" aria-labelledby="processes-title">
      <h2 id="processes-title">Processes</h2>
      <p className="hint">
        Refreshed every {REFRESH_MS / 1000} seconds.{' '}
        {anyPod
          ? 'CPU is the cores a pod uses now, beside what it requests and may use at most; start-up is seconds after the pod was created.'
          : 'CPU is the share of one core since the previous refresh.'}
      </p>
      <ErrorMessage error={action.error ?? processes.error} />
      {!processes.data ? (
        !processes.error && <Loading />
      ) : processes.data.length === 0 ? (
        <EmptyState title="No content processes are running">
          <p>Applications and APIs start a process when someone opens them (or at once, with min processes set).</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Running processes</caption>
            <thead>
              <tr>
                <th scope="col">Content</th>
                <th scope="col">Kind</th>
                <th scope="col">Where</th>
                <th scope="col" className="num">
                  CPU
                </th>
                <th scope="col" className="num">
                  Memory
                </th>
                <th scope="col" className="num">
                  Uptime
                </th>
                {anyPod && <th scope="col">Pod start-up</th>}
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {processes.data.map((p) => {
                const cpu = samples.current ? cpuPercent(samples.previous, samples.current, p.job_key) : null;
                return (
                  <tr key={p.job_key}>
                    <td>
                      <Link href={`/apps/${p.content_guid}`}>{p.content_title || p.content_name || p.content_guid}</Link>
                    </td>
                    <td>{jobLabel(p.tag)}</td>
                    {hasPod(p) ? (
                      <>
                        <td>
                          {podPlacement(p).node}
                          <span className="hint block">{podPlacement(p).detail}</span>
                          {p.pod.image && <code className="hint block pod-image">{p.pod.image}</code>}
                        </td>
                        <td className="num" data-label="CPU">
                          {formatCores(p.cpu_cores)}
                          {cpuBounds(p.pod) && <span className="hint block">{cpuBounds(p.pod)}</span>}
                        </td>
                        <td className="num" data-label="Memory">
                          {formatBytes(p.memory_bytes)}
                          {memoryBounds(p.pod) && <span className="hint block">{memoryBounds(p.pod)}</span>}
                        </td>
                      </>
                    ) : (
                      <>
                        <td>
                          {p.hostname}
                          {p.pid !== null && <span className="hint"> · pid {p.pid}</span>}
                          {p.address && <span className="hint block">{p.address}</span>}
                        </td>
                        <td className="num">{cpu === null ? (p.cpu_seconds === null ? '—' : `${p.cpu_seconds.toFixed(1)} s`) : `${cpu.toFixed(0)} %`}</td>
                        <td className="num">{formatBytes(p.memory_bytes)}</td>
                      </>
                    )}
                    <td className="num">{formatDuration((now - Date.parse(p.start_time)) / 1000)}</td>
                    {anyPod && (
                      <td>
                        {hasPod(p) && (
                          <>
                            <span className={`badge pod-phase-${p.pod.phase.toLowerCase()}`}>{p.pod.phase}</span>
                            <ol className="startup" aria-label="Start-up, seconds after the pod was created" title={startupSummary(p.pod)}>
                              {startupSteps(p.pod).map((step) => (
                                <li key={step.label}>
                                  {step.label} <span className="num">{step.text}</span>
                                </li>
                              ))}
                            </ol>
                          </>
                        )}
                      </td>
                    )}
                    <td className="actions">
                      <button
                        type="button"
                        className="danger small"
                        disabled={action.busy}
                        onClick={() => void stop(p)}
                        aria-label={`Stop process ${p.job_key} of ${p.content_title || p.content_name}`}
                      >
                        Stop
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
