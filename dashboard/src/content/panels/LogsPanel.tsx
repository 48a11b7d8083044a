import { useEffect, useRef, useState } from 'react';
import { ApiError, ndjson } from '../../api/client';
import { useResource } from '../../api/use-resource';
import type { ContentItem, Job, LogEntry } from '../../api/types';
import { EmptyState, ErrorMessage, Loading } from '../../ui/feedback';
import { formatDateTime } from '../../ui/format';
import { jobLabel } from '../../ui/job-labels';

/** Jobs (restores, renders, processes) with their state; the log of one, followed live while it runs. */
export function LogsPanel({ content }: { content: ContentItem }) {
  const jobs = useResource<Job[]>(`/__api__/v1/content/${content.guid}/jobs`);
  const [selected, setSelected] = useState<string | null>(null);
  const sorted = [...(jobs.data ?? [])].sort((a, b) => Number(b.id) - Number(a.id));
  const job = sorted.find((j) => j.key === selected) ?? sorted[0];

  return (
    <div className="stack">
      <div className="row spread">
        <h2>Logs</h2>
        <button type="button" className="secondary small" onClick={jobs.reload}>
          Refresh
        </button>
      </div>
      <ErrorMessage error={jobs.error} />
      {!jobs.data ? (
        !jobs.error && <Loading />
      ) : sorted.length === 0 ? (
        <EmptyState title="No jobs yet">
          <p>Restoring the environment, rendering and every running process each leave a log here.</p>
        </EmptyState>
      ) : (
        <>
          <label>
            Job
            <select value={job?.key ?? ''} onChange={(e) => setSelected(e.target.value)}>
              {sorted.map((j) => (
                <option key={j.key} value={j.key}>
                  {jobLabel(j.tag)} · {formatDateTime(j.start_time)} · {j.status === 0 ? 'running' : j.exit_code === 0 || j.exit_code === null ? 'finished' : `exited ${j.exit_code}`}
                </option>
              ))}
            </select>
          </label>
          {job && <JobLog key={job.key} content={content} job={job} />}
        </>
      )}
    </div>
  );
}

function JobLog({ content, job }: { content: ContentItem; job: Job }) {
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [following, setFollowing] = useState(job.status === 0);
  const logRef = useRef<HTMLPreElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    setEntries([]);
    void (async () => {
      try {
        // The tail endpoint sends what is there and, for a running job, keeps sending until it ends.
        let batch: LogEntry[] = [];
        let flush = 0;
        for await (const entry of ndjson<LogEntry>(`/__api__/v1/content/${content.guid}/jobs/${job.key}/tail`, abort.signal)) {
          batch.push(entry);
          if (!flush) {
            flush = requestAnimationFrame(() => {
              const add = batch;
              batch = [];
              flush = 0;
              setEntries((e) => [...e, ...add].slice(-5000));
            });
          }
        }
        if (batch.length) setEntries((e) => [...e, ...batch].slice(-5000));
      } catch (err) {
        if (!abort.signal.aborted) setError(err instanceof ApiError ? err : new ApiError(0, null, String(err)));
      }
      if (!abort.signal.aborted) setFollowing(false);
    })();
    return () => abort.abort();
  }, [content.guid, job.key]);

  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [entries]);

  return (
    <div className="stack">
      <p className="hint" role="status">
        {following ? 'Following the live log of this running process.' : job.error ? `Ended: ${job.error}` : 'This job has ended.'}
      </p>
      <ErrorMessage error={error} />
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable log must be reachable by keyboard (axe: scrollable-region-focusable) */}
      {/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: the focusable log needs a name to be announced by; role=log would make it a live region that reads every line */}
      <pre ref={logRef} className="log tall" tabIndex={0} aria-label={`Log of ${jobLabel(job.tag)}`}>
        {entries.length === 0
          ? 'No output yet.'
          : entries.map((e, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: log lines are only appended and hold no state, so a line's place is its identity
              <span key={i} className={e.source === 'stderr' ? 'stderr' : undefined}>
                {e.data}
                {'\n'}
              </span>
            ))}
      </pre>
    </div>
  );
}
