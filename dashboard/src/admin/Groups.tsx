import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { useAction, useResource } from '../api/use-resource';
import type { Group, Page, User } from '../api/types';
import { EmptyState, ErrorMessage, Loading } from '../ui/feedback';

export function Groups() {
  const groups = useResource<Page<Group>>('/__api__/v1/groups?page_size=500');
  const [name, setName] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const action = useAction();

  async function create(e: FormEvent) {
    e.preventDefault();
    if (await action.run(() => api('/__api__/v1/groups', { method: 'POST', json: { name: name.trim() } }))) {
      setName('');
      groups.reload();
    }
  }

  async function remove(g: Group) {
    if (!confirm(`Delete the group "${g.name}"? Content shared with it is no longer shared with its members.`)) return;
    if ((await action.run(() => api(`/__api__/v1/groups/${g.guid}`, { method: 'DELETE' }))) !== undefined) groups.reload();
  }

  return (
    <section className="stack" aria-labelledby="groups-title">
      <h2 id="groups-title">Groups</h2>
      <ErrorMessage error={action.error ?? groups.error} />
      <form className="row wrap card" onSubmit={create}>
        <label className="grow">
          Name of a new group
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" disabled={action.busy}>
          Create group
        </button>
      </form>
      {!groups.data ? (
        !groups.error && <Loading />
      ) : groups.data.results.length === 0 ? (
        <EmptyState title="No groups yet">
          <p>Groups let you share content with a team at once. Create one above, then add its members.</p>
        </EmptyState>
      ) : (
        <ul className="plain-list">
          {groups.data.results.map((g) => (
            <li key={g.guid} className="stack">
              <div className="row spread">
                <strong>{g.name}</strong>
                <span className="row">
                  <button type="button" className="secondary small" aria-expanded={open === g.guid} onClick={() => setOpen(open === g.guid ? null : g.guid)}>
                    {open === g.guid ? 'Hide members' : 'Members'}
                  </button>
                  <button type="button" className="danger small" onClick={() => void remove(g)} aria-label={`Delete group ${g.name}`}>
                    Delete
                  </button>
                </span>
              </div>
              {open === g.guid && <Members group={g} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Members({ group }: { group: Group }) {
  const members = useResource<Page<User>>(`/__api__/v1/groups/${group.guid}/members?page_size=500`);
  const users = useResource<Page<User>>('/__api__/v1/users?page_size=500');
  const [pick, setPick] = useState('');
  const action = useAction();
  const memberGuids = new Set(members.data?.results.map((m) => m.guid));

  async function add(e: FormEvent) {
    e.preventDefault();
    if ((await action.run(() => api(`/__api__/v1/groups/${group.guid}/members`, { method: 'POST', json: { user_guid: pick } }))) !== undefined) {
      setPick('');
      members.reload();
    }
  }

  async function remove(u: User) {
    if ((await action.run(() => api(`/__api__/v1/groups/${group.guid}/members/${u.guid}`, { method: 'DELETE' }))) !== undefined) members.reload();
  }

  return (
    <div className="stack indent">
      <ErrorMessage error={action.error ?? members.error} />
      {members.data?.results.length === 0 && <p className="hint">No members yet.</p>}
      <ul className="plain-list">
        {members.data?.results.map((m) => (
          <li key={m.guid} className="row spread">
            {m.username}
            <button type="button" className="secondary small" onClick={() => void remove(m)} aria-label={`Remove ${m.username} from ${group.name}`}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form className="row wrap" onSubmit={add}>
        <label className="grow">
          Add a member to {group.name}
          <select required value={pick} onChange={(e) => setPick(e.target.value)}>
            <option value="">Choose a user…</option>
            {users.data?.results
              .filter((u) => !memberGuids.has(u.guid))
              .map((u) => (
                <option key={u.guid} value={u.guid}>
                  {u.username}
                </option>
              ))}
          </select>
        </label>
        <button type="submit" disabled={action.busy || !pick}>
          Add
        </button>
      </form>
    </div>
  );
}
