import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { useAction, useResource } from '../api/use-resource';
import type { ApiKey } from '../api/types';
import { EmptyState, ErrorMessage, Loading } from '../ui/feedback';
import { formatDateTime, formatRelative } from '../ui/format';

/** The signed-in user's API keys: a new key is shown once, then only its name and hint. */
export function ApiKeys() {
  const keys = useResource<ApiKey[]>('/__api__/v1/user/api_keys');
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const action = useAction();

  async function create(e: FormEvent) {
    e.preventDefault();
    const result = await action.run(() => api<{ id: string; name: string; key: string }>('/__api__/v1/user/api_keys', { method: 'POST', json: { name: name.trim() } }));
    if (result) {
      setCreated({ name: result.name, key: result.key });
      setCopied(false);
      setName('');
      keys.reload();
    }
  }

  async function revoke(key: ApiKey) {
    if (!confirm(`Revoke the API key "${key.name}"? Clients using it stop working at once.`)) return;
    if ((await action.run(() => api(`/__api__/v1/user/api_keys/${key.id}`, { method: 'DELETE' }))) !== undefined) keys.reload();
  }

  async function copy() {
    if (!created) return;
    await navigator.clipboard?.writeText(created.key).then(
      () => setCopied(true),
      () => undefined,
    );
  }

  return (
    <main className="page narrow">
      <h1>API keys</h1>
      <p>Publishing clients (rsconnect-python, the rsconnect R package, posit-sdk, connectapi) and scripts use an API key to act as you.</p>
      <ErrorMessage error={action.error} />
      {created && (
        <div className="card new-key" role="status">
          <p>
            <strong>Your new key “{created.name}”.</strong> Copy it now: it is not shown again.
          </p>
          <div className="row wrap">
            <code className="secret" data-testid="new-api-key">
              {created.key}
            </code>
            <button type="button" className="secondary small" onClick={() => void copy()}>
              {copied ? 'Copied' : 'Copy'}
            </button>
          </div>
          <p className="hint">
            Use it as <code>Authorization: Key …</code>, or <code>rsconnect add -s {location.origin} -n lectern -k …</code>
          </p>
        </div>
      )}
      <form className="row wrap card" onSubmit={create}>
        <label className="grow">
          Name of a new key
          <input value={name} required maxLength={100} placeholder="laptop, CI, …" onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" disabled={action.busy}>
          Create key
        </button>
      </form>
      <ErrorMessage error={keys.error} />
      {!keys.data ? (
        !keys.error && <Loading />
      ) : keys.data.length === 0 ? (
        <EmptyState title="No API keys yet">
          <p>Create one above to publish from your computer or from CI.</p>
        </EmptyState>
      ) : (
        <table className="table">
          <caption className="visually-hidden">Your API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>
                  <code>{k.key_hint}…</code>
                </td>
                <td>{formatDateTime(k.created_time)}</td>
                <td>{formatRelative(k.last_used_time)}</td>
                <td className="actions">
                  <button type="button" className="danger small" onClick={() => void revoke(k)} aria-label={`Revoke ${k.name}`}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
