import { useMemo, useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { useAction, useResource } from '../../api/use-resource';
import type { AccessType, ContentItem, Group, Page, Permission, User } from '../../api/types';
import { ErrorMessage, Loading } from '../../ui/feedback';
import { displayName } from '../../ui/format';

const ACCESS: Array<{ value: AccessType; label: string }> = [
  { value: 'acl', label: 'Specific users or groups' },
  { value: 'logged_in', label: 'All users, login required' },
  { value: 'all', label: 'Anyone, no login required' },
];

/** Who may see the content, and who may change it (collaborators = the API's "owner" role). */
export function AccessPanel({ content, onChanged }: { content: ContentItem; onChanged(): void }) {
  const canEdit = content.app_role === 'owner' || content.app_role === 'editor';
  const permissions = useResource<Permission[]>(`/__api__/v1/content/${content.guid}/permissions`);
  const users = useResource<Page<User>>(canEdit ? '/__api__/v1/users?page_size=500' : null);
  const groups = useResource<Page<Group>>(canEdit ? '/__api__/v1/groups?page_size=500' : null);
  const [principal, setPrincipal] = useState('');
  const [role, setRole] = useState<'viewer' | 'owner'>('viewer');
  const action = useAction();

  const names = useMemo(() => {
    const m = new Map<string, string>();
    for (const u of users.data?.results ?? []) m.set(u.guid, displayName(u));
    for (const g of groups.data?.results ?? []) m.set(g.guid, `${g.name} (group)`);
    return m;
  }, [users.data, groups.data]);
  const granted = new Set((permissions.data ?? []).map((p) => p.principal_guid));
  const candidates = [
    ...(users.data?.results ?? []).filter((u) => u.guid !== content.owner_guid && !granted.has(u.guid)).map((u) => ({ value: `user:${u.guid}`, label: displayName(u) })),
    ...(groups.data?.results ?? []).filter((g) => !granted.has(g.guid)).map((g) => ({ value: `group:${g.guid}`, label: `${g.name} (group)` })),
  ];

  async function setAccess(access_type: AccessType) {
    if (await action.run(() => api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', json: { access_type } }))) onChanged();
  }

  async function add(e: FormEvent) {
    e.preventDefault();
    const [principal_type, principal_guid] = principal.split(':');
    if (!principal_guid) return;
    const ok = await action.run(() => api(`/__api__/v1/content/${content.guid}/permissions`, { method: 'POST', json: { principal_guid, principal_type, role } }));
    if (ok) {
      setPrincipal('');
      permissions.reload();
    }
  }

  async function change(p: Permission, newRole: 'viewer' | 'owner') {
    const ok = await action.run(() =>
      api(`/__api__/v1/content/${content.guid}/permissions/${p.id}`, { method: 'PUT', json: { principal_guid: p.principal_guid, principal_type: p.principal_type, role: newRole } }),
    );
    if (ok) permissions.reload();
  }

  async function remove(p: Permission) {
    await action.run(() => api(`/__api__/v1/content/${content.guid}/permissions/${p.id}`, { method: 'DELETE' }));
    permissions.reload();
  }

  return (
    <div className="stack">
      <h2>Access</h2>
      <ErrorMessage error={action.error ?? permissions.error} />
      <fieldset className="stack" disabled={!canEdit || action.busy}>
        <legend>Who can view this content</legend>
        {ACCESS.map((a) => (
          <label key={a.value} className="choice">
            <input type="radio" name="access_type" value={a.value} checked={content.access_type === a.value} onChange={() => void setAccess(a.value)} />
            {a.label}
          </label>
        ))}
      </fieldset>
      <h3>People and groups</h3>
      <p className="hint">Viewers can open the content; collaborators can also change it and deploy new versions. The owner, {content.owner?.username ?? 'unknown'}, always has full access.</p>
      {!permissions.data ? (
        <Loading />
      ) : permissions.data.length === 0 ? (
        <p className="hint">Nobody has been added yet.</p>
      ) : (
        <ul className="plain-list">
          {permissions.data.map((p) => (
            <li key={p.id} className="row spread">
              <span>{names.get(p.principal_guid) ?? `${p.principal_type} ${p.principal_guid}`}</span>
              {canEdit ? (
                <span className="row">
                  <select aria-label={`Role of ${names.get(p.principal_guid) ?? p.principal_guid}`} value={p.role} onChange={(e) => void change(p, e.target.value as 'viewer' | 'owner')}>
                    <option value="viewer">Viewer</option>
                    <option value="owner">Collaborator</option>
                  </select>
                  <button type="button" className="secondary small" onClick={() => void remove(p)} aria-label={`Remove ${names.get(p.principal_guid) ?? p.principal_guid}`}>
                    Remove
                  </button>
                </span>
              ) : (
                <span>{p.role === 'owner' ? 'Collaborator' : 'Viewer'}</span>
              )}
            </li>
          ))}
        </ul>
      )}
      {canEdit && (
        <form className="row wrap" onSubmit={add}>
          <label className="grow">
            Add a user or group
            <select value={principal} onChange={(e) => setPrincipal(e.target.value)} required>
              <option value="">Choose…</option>
              {candidates.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          </label>
          <label>
            As
            <select value={role} onChange={(e) => setRole(e.target.value as 'viewer' | 'owner')}>
              <option value="viewer">Viewer</option>
              <option value="owner">Collaborator</option>
            </select>
          </label>
          <button type="submit" disabled={action.busy || !principal}>
            Add
          </button>
        </form>
      )}
    </div>
  );
}
