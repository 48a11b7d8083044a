import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { useAction, useResource } from '../api/use-resource';
import type { Page, Role, User } from '../api/types';
import { useSession } from '../session/session';
import { ErrorMessage, Loading } from '../ui/feedback';
import { formatRelative } from '../ui/format';

const ROLES: Role[] = ['viewer', 'publisher', 'administrator'];

export function Users() {
  const { user: me } = useSession();
  const [prefix, setPrefix] = useState('');
  const users = useResource<Page<User>>(`/__api__/v1/users?page_size=500${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ''}`);
  const [form, setForm] = useState({ username: '', email: '', password: '', user_role: 'publisher' as Role });
  const [notice, setNotice] = useState('');
  const action = useAction();

  async function create(e: FormEvent) {
    e.preventDefault();
    setNotice('');
    const body = { username: form.username.trim(), password: form.password, user_role: form.user_role, ...(form.email ? { email: form.email } : {}) };
    const created = await action.run(() => api<User>('/__api__/v1/users', { method: 'POST', json: body }));
    if (created) {
      setNotice(`Added ${created.username} as ${created.user_role}.`);
      setForm({ username: '', email: '', password: '', user_role: form.user_role });
      users.reload();
    }
  }

  async function setRole(u: User, user_role: Role) {
    if (await action.run(() => api(`/__api__/v1/users/${u.guid}`, { method: 'PATCH', json: { user_role } }))) users.reload();
  }

  async function setLocked(u: User, locked: boolean) {
    if (await action.run(() => api(`/__api__/v1/users/${u.guid}/lock`, { method: 'POST', json: { locked } }))) users.reload();
  }

  return (
    <section className="stack" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <ErrorMessage error={action.error ?? users.error} />
      <p role="status" className="hint">
        {notice}
      </p>
      <form className="card grid-form" onSubmit={create}>
        <h3>Add a user</h3>
        <label>
          Username
          <input required value={form.username} autoComplete="off" onChange={(e) => setForm({ ...form, username: e.target.value })} />
        </label>
        <label>
          Email
          <input type="email" value={form.email} autoComplete="off" onChange={(e) => setForm({ ...form, email: e.target.value })} />
        </label>
        <label>
          Password
          <input type="password" required minLength={8} autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
        </label>
        <label>
          Role
          <select value={form.user_role} onChange={(e) => setForm({ ...form, user_role: e.target.value as Role })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <div>
          <button type="submit" disabled={action.busy}>
            Add user
          </button>
        </div>
      </form>
      <label className="narrow-field">
        Find users
        <input type="search" placeholder="Username starts with…" value={prefix} onChange={(e) => setPrefix(e.target.value)} />
      </label>
      {!users.data ? (
        !users.error && <Loading />
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Users</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Last active</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.results.map((u) => (
                <tr key={u.guid}>
                  <td>
                    <strong>{u.username}</strong>
                    {u.email && <span className="hint block">{u.email}</span>}
                  </td>
                  <td>
                    <select aria-label={`Role of ${u.username}`} value={u.user_role} disabled={u.guid === me.guid || action.busy} onChange={(e) => void setRole(u, e.target.value as Role)}>
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>{formatRelative(u.active_time)}</td>
                  <td>{u.locked ? <span className="badge state-failed">Locked</span> : <span className="badge state-running">Active</span>}</td>
                  <td className="actions">
                    {u.guid !== me.guid && (
                      <button type="button" className="secondary small" onClick={() => void setLocked(u, !u.locked)} aria-label={`${u.locked ? 'Unlock' : 'Lock'} ${u.username}`}>
                        {u.locked ? 'Unlock' : 'Lock'}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
