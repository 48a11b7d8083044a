import { useState } from 'react';
import { useResource } from '../api/use-resource';
import type { AuditEntry } from '../api/types';
import { EmptyState, ErrorMessage, Loading } from '../ui/feedback';
import { formatDateTime } from '../ui/format';

interface AuditPage {
  paging: { cursors: { previous: string | null; next: string | null } };
  results: AuditEntry[];
}

const PAGE = 50;

/** Newest first, paged with the API's cursors. */
export function AuditLog() {
  const [cursor, setCursor] = useState<{ next?: string; previous?: string }>({});
  const params = new URLSearchParams({ limit: String(PAGE), ascOrder: 'false' });
  if (cursor.next) params.set('next', cursor.next);
  if (cursor.previous) params.set('previous', cursor.previous);
  const page = useResource<AuditPage>(`/__api__/v1/audit_logs?${params}`);
  const cursors = page.data?.paging.cursors;

  return (
    <section className="stack" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log</h2>
      <ErrorMessage error={page.error} />
      {!page.data ? (
        !page.error && <Loading />
      ) : page.data.results.length === 0 ? (
        <EmptyState title="Nothing recorded yet" />
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Audit log, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">User</th>
                <th scope="col">Action</th>
                <th scope="col">Event</th>
              </tr>
            </thead>
            <tbody>
              {page.data.results.map((e) => (
                <tr key={e.id}>
                  <td className="nowrap">{formatDateTime(e.time)}</td>
                  <td>{e.user_description || 'system'}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.event_description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="row">
        <button type="button" className="secondary" disabled={!cursors?.previous} onClick={() => setCursor({ previous: cursors!.previous! })}>
          Newer
        </button>
        <button type="button" className="secondary" disabled={!cursors?.next} onClick={() => setCursor({ next: cursors!.next! })}>
          Older
        </button>
      </div>
    </section>
  );
}
