import { useEffect, useRef, useState } from 'react';
import { api, ApiError } from '../api/client';
import type { Task } from '../api/types';

export type TaskOutcome = { ok: true } | { ok: false; error: string };

/** Follows a deploy/restore/render task by long-polling, streaming its log as it grows. */
export function TaskProgress({ taskId, title, onFinished }: { taskId: string; title: string; onFinished?(outcome: TaskOutcome): void }) {
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState<'running' | 'succeeded' | 'failed'>('running');
  const [error, setError] = useState('');
  const logRef = useRef<HTMLPreElement>(null);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      let first = 0;
      while (!abort.signal.aborted) {
        let task: Task;
        try {
          task = await api<Task>(`/__api__/v1/tasks/${encodeURIComponent(taskId)}?first=${first}&wait=10`, { signal: abort.signal });
        } catch (err) {
          if (abort.signal.aborted) return;
          setStatus('failed');
          setError(err instanceof ApiError ? err.message : String(err));
          return;
        }
        if (task.output.length) setLines((l) => [...l, ...task.output]);
        first = task.last;
        if (task.finished) {
          const ok = task.code === 0;
          setStatus(ok ? 'succeeded' : 'failed');
          setError(task.error);
          finished.current?.(ok ? { ok } : { ok, error: task.error });
          return;
        }
      }
    })();
    return () => abort.abort();
  }, [taskId]);

  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <section className={`task task-${status}`} aria-label={title}>
      <p className="task-status" role="status">
        {title}: {status === 'running' ? 'in progress…' : status === 'succeeded' ? 'done.' : 'failed.'}
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable log must be reachable by keyboard (axe: scrollable-region-focusable) */}
      {/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: the focusable log needs a name to be announced by; role=log would make it a live region that reads every line */}
      <pre ref={logRef} className="log" tabIndex={0} aria-label={`${title} log`}>
        {lines.join('\n') || 'Waiting for output…'}
      </pre>
    </section>
  );
}
