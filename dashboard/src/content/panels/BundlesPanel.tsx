import { useState } from 'react';
import { Link } from 'wouter';
import { api } from '../../api/client';
import { useAction, useResource } from '../../api/use-resource';
import type { Bundle, ContentItem } from '../../api/types';
import { EmptyState, ErrorMessage, Loading } from '../../ui/feedback';
import { formatBytes, formatDateTime, formatRelative } from '../../ui/format';
import { TaskProgress } from '../TaskProgress';

/** Bundle history: download any bundle, activate an earlier one (rollback), preview drafts. */
export function BundlesPanel({ content, onChanged }: { content: ContentItem; onChanged(): void }) {
  const bundles = useResource<Bundle[]>(`/__api__/v1/content/${content.guid}/bundles`);
  const [task, setTask] = useState<{ id: string; bundle: string } | null>(null);
  const [deploying, setDeploying] = useState(false);
  const action = useAction();
  const sorted = [...(bundles.data ?? [])].sort((a, b) => Number(b.id) - Number(a.id));

  async function activate(bundle: Bundle) {
    const result = await action.run(() => api<{ task_id: string }>(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: { bundle_id: bundle.id } }));
    if (result) {
      setTask({ id: result.task_id, bundle: bundle.id });
      setDeploying(true);
    }
  }

  return (
    <div className="stack">
      <h2>Bundles</h2>
      <ErrorMessage error={action.error ?? bundles.error} />
      {task && (
        <TaskProgress
          key={task.id}
          taskId={task.id}
          title={`Deploying bundle ${task.bundle}`}
          onFinished={() => {
            setDeploying(false);
            bundles.reload();
            onChanged();
          }}
        />
      )}
      {!bundles.data ? (
        !bundles.error && <Loading />
      ) : sorted.length === 0 ? (
        <EmptyState title="No bundles yet">
          <p>Each deployment uploads a bundle of your project's files; they are listed here so you can roll back.</p>
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Bundles of this content, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Bundle</th>
                <th scope="col">Uploaded</th>
                <th scope="col">Size</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((b) => (
                <tr key={b.id}>
                  <td className="nowrap">
                    {b.id} {b.active && <span className="badge state-running">Active</span>}
                  </td>
                  <td className="nowrap" title={formatDateTime(b.created_time)}>
                    {formatRelative(b.created_time)}
                  </td>
                  <td className="nowrap">{formatBytes(b.size)}</td>
                  <td className="actions">
                    <div className="row-actions">
                      <a className="plain" href={`/__api__/v1/content/${content.guid}/bundles/${b.id}/download`} download aria-label={`Download bundle ${b.id}`}>
                        Download
                      </a>
                      {!b.active && (
                        <>
                          {content.app_mode === 'static' && (
                            <Link href={`/apps/${content.guid}/draft/${b.id}`} className="button secondary small" aria-label={`Preview bundle ${b.id}`}>
                              Preview
                            </Link>
                          )}
                          <button type="button" className="small" disabled={action.busy || deploying} onClick={() => void activate(b)} aria-label={`Activate bundle ${b.id}`}>
                            Activate
                          </button>
                        </>
                      )}
                    </div>
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
