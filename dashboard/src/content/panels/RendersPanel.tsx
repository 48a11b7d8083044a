import { useState } from 'react';
import { api } from '../../api/client';
import { useAction, useResource } from '../../api/use-resource';
import type { ContentItem, Render } from '../../api/types';
import { EmptyState, ErrorMessage, Loading } from '../../ui/feedback';
import { formatDateTime, formatRelative } from '../../ui/format';
import { TaskProgress } from '../TaskProgress';

/** Reports: render now (with its streaming log), and the history of renderings. */
export function RendersPanel({ content, onChanged }: { content: ContentItem; onChanged(): void }) {
  const renders = useResource<Render[]>(`/__api__/v1/content/${content.guid}/renders`);
  const [taskId, setTaskId] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const action = useAction();

  async function renderNow() {
    const result = await action.run(() => api<{ task_id: string }>(`/__api__/v1/content/${content.guid}/render`, { method: 'POST', json: {} }));
    if (result) {
      setTaskId(result.task_id);
      setRunning(true);
    }
  }

  return (
    <div className="stack">
      <h2>Renders</h2>
      <div>
        <button type="button" onClick={() => void renderNow()} disabled={action.busy || running || content.bundle_id === null}>
          {running ? 'Rendering…' : 'Render now'}
        </button>
      </div>
      <ErrorMessage error={action.error ?? renders.error} />
      {taskId && (
        <TaskProgress
          key={taskId}
          taskId={taskId}
          title="Rendering"
          onFinished={() => {
            setRunning(false);
            renders.reload();
            onChanged();
          }}
        />
      )}
      {!renders.data ? (
        !renders.error && <Loading />
      ) : renders.data.length === 0 ? (
        <EmptyState title="Not rendered yet">
          <p>Deploying renders the document; “Render now” renders it again with fresh data.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Renderings, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Rendering</th>
                <th scope="col">Started</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {renders.data.map((r) => (
                <tr key={r.id}>
                  <td className="nowrap">
                    {r.id} {r.active && <span className="badge state-running">Shown</span>}
                  </td>
                  <td className="nowrap" title={formatDateTime(r.created_time)}>
                    {formatRelative(r.created_time)}
                  </td>
                  <td>{r.error ? <span title={r.error}>failed</span> : r.state}</td>
                  <td className="actions">
                    {r.state === 'succeeded' ? (
                      <a className="button secondary small" href={`${content.content_url}_rendering${r.id}/`} target="_blank" rel="noopener">
                        View
                      </a>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
