import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { useAction, useResource } from '../api/use-resource';
import type { ExecutionEnvironment, ExecutionEnvironmentPermission, Group, Installation, Page, User } from '../api/types';
import { EmptyState, ErrorMessage, Loading } from '../ui/feedback';
import { emptyForm, environmentBody, formFrom, installationSummary, MATCHING_LABELS, RUNTIMES, type EditableRuntime, type ExecutionEnvironmentForm } from './execution-environment-form';

/** Admin → Execution environments: the images off-host content runs in, who may use them, and what each holds. */
export function ExecutionEnvironments() {
  const environments = useResource<ExecutionEnvironment[]>('/__api__/v1/environments');
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<{ guid: string; view: 'edit' | 'permissions' } | null>(null);
  const action = useAction();

  async function remove(env: ExecutionEnvironment) {
    if (!confirm(`Delete the execution environment "${env.title}" (${env.name})? Content can no longer be deployed to this image.`)) return;
    if ((await action.run(() => api(`/__api__/v1/environments/${env.guid}`, { method: 'DELETE' }))) !== undefined) environments.reload();
  }

  const toggle = (guid: string, view: 'edit' | 'permissions') => setOpen(open?.guid === guid && open.view === view ? null : { guid, view });
  const list = [...(environments.data ?? [])].sort((a, b) => a.title.localeCompare(b.title));

  return (
    <section className="stack" aria-labelledby="environments-title">
      <div className="row spread wrap">
        <h2 id="environments-title">Execution environments</h2>
        {!creating && (
          <button type="button" onClick={() => setCreating(true)}>
            New environment
          </button>
        )}
      </div>
      <p className="hint">
        The images content runs in when this server runs it off-host, on Kubernetes. A deploy uses the image its bundle or content names, else the closest match among those set to <em>Any</em> that
        the content’s owner may use.
      </p>
      <ErrorMessage error={action.error ?? environments.error} />
      {creating && (
        <ExecutionEnvironmentEditor
          mode="create"
          initial={emptyForm()}
          onDone={(saved) => {
            setCreating(false);
            if (saved) environments.reload();
          }}
        />
      )}
      {!environments.data ? (
        !environments.error && <Loading />
      ) : list.length === 0 ? (
        !creating && (
          <EmptyState title="No execution environments yet">
            <p>
              Off-host content needs at least one image to run in. Choose <strong>New environment</strong>, name the image (for example <code>ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-jammy</code>)
              and list the Python, R and Quarto installations inside it. Environments can also come from the file named by <code>[ExecutionEnvironments] ConfigFilePath</code>.
            </p>
          </EmptyState>
        )
      ) : (
        <ul className="plain-list" aria-label="Execution environments">
          {list.map((env) => (
            <li key={env.guid} className="stack" aria-label={env.title}>
              <div className="row spread wrap">
                <div className="stack tight">
                  <strong>{env.title}</strong>
                  <code className="env-image">{env.name}</code>
                  <span className="hint">{installationSummary(env)}</span>
                  {env.managed_by && (
                    <span className="hint">
                      Managed by <code>{env.managed_by}</code>
                    </span>
                  )}
                </div>
                <span className="row wrap">
                  <span className={`badge matching-${env.matching}`}>matching: {env.matching}</span>
                  {env.managed_by && <span className="badge managed">Read-only: file-managed</span>}
                  <button
                    type="button"
                    className="secondary small"
                    aria-expanded={open?.guid === env.guid && open.view === 'edit'}
                    onClick={() => toggle(env.guid, 'edit')}
                    aria-label={`${env.managed_by ? 'View' : 'Edit'} ${env.title}`}
                  >
                    {env.managed_by ? 'View' : 'Edit'}
                  </button>
                  <button
                    type="button"
                    className="secondary small"
                    aria-expanded={open?.guid === env.guid && open.view === 'permissions'}
                    onClick={() => toggle(env.guid, 'permissions')}
                    aria-label={`Permissions of ${env.title}`}
                  >
                    Permissions
                  </button>
                  {!env.managed_by && (
                    <button type="button" className="danger small" onClick={() => void remove(env)} aria-label={`Delete ${env.title}`}>
                      Delete
                    </button>
                  )}
                </span>
              </div>
              {env.description && <p className="hint">{env.description}</p>}
              {open?.guid === env.guid && open.view === 'edit' && (
                <ExecutionEnvironmentEditor
                  mode="edit"
                  environment={env}
                  initial={formFrom(env)}
                  onDone={(saved) => {
                    setOpen(null);
                    if (saved) environments.reload();
                  }}
                  onRefused={environments.reload}
                />
              )}
              {open?.guid === env.guid && open.view === 'permissions' && <Permissions environment={env} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ExecutionEnvironmentEditor({
  mode,
  environment,
  initial,
  onDone,
  onRefused,
}: {
  mode: 'create' | 'edit';
  environment?: ExecutionEnvironment;
  initial: ExecutionEnvironmentForm;
  onDone(saved: boolean): void;
  onRefused?(): void;
}) {
  const [draft, setForm] = useState(initial);
  const action = useAction();
  const readOnly = environment?.managed_by ?? null;
  // A file-managed record shows what is stored (the file's values), never an unsaveable draft.
  const form = readOnly && environment ? formFrom(environment) : draft;
  // The server names the field it refused ("python.installations[0].path"): mark that input.
  const invalid = (field: string) => (action.error?.field === field ? true : undefined);
  const idBase = environment?.guid ?? 'new';

  async function save(e: FormEvent) {
    e.preventDefault();
    const body = environmentBody(form, mode);
    const saved = await action.run(() =>
      mode === 'create' ? api('/__api__/v1/environments', { method: 'POST', json: body }) : api(`/__api__/v1/environments/${environment!.guid}`, { method: 'PUT', json: body }),
    );
    if (saved !== undefined) onDone(true);
    // The record may have changed under the form (e.g. the environments file took it over):
    // show its current state beside the refusal.
    else onRefused?.();
  }

  function setInstallations(runtime: EditableRuntime, rows: Installation[]) {
    setForm({ ...form, installations: { ...form.installations, [runtime]: rows } });
  }

  return (
    <form className="stack card" onSubmit={save} aria-label={mode === 'create' ? 'New execution environment' : `Edit ${environment!.title}`}>
      {mode === 'create' && <h3>New execution environment</h3>}
      {readOnly && (
        <p className="notice" role="note">
          Managed by <code>{readOnly}</code>. Change that file to change this environment; its permissions can still be set here.
        </p>
      )}
      <fieldset disabled={readOnly !== null || action.busy} className="stack bare">
        <div className="form-grid">
          <label>
            Title
            <input required aria-invalid={invalid('title')} value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} />
          </label>
          <label>
            Image
            <input
              required={mode === 'create'}
              aria-invalid={invalid('name')}
              disabled={mode === 'edit'}
              value={form.name}
              placeholder="registry.example.org/team/image:tag"
              spellCheck={false}
              onChange={(e) => setForm({ ...form, name: e.target.value })}
              aria-describedby={mode === 'edit' ? `${idBase}-image-hint` : undefined}
            />
            {mode === 'edit' && (
              <span className="hint block" id={`${idBase}-image-hint`}>
                The image cannot change; create another environment for a new image.
              </span>
            )}
          </label>
        </div>
        <label>
          Description
          <textarea rows={2} aria-invalid={invalid('description')} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} />
        </label>
        <div className="form-grid">
          <label>
            Matching
            <select value={form.matching} onChange={(e) => setForm({ ...form, matching: e.target.value as ExecutionEnvironmentForm['matching'] })} aria-describedby={`${idBase}-matching-hint`}>
              {Object.keys(MATCHING_LABELS).map((value) => (
                <option key={value} value={value}>
                  {value[0]!.toUpperCase() + value.slice(1)}
                </option>
              ))}
            </select>
            <span className="hint block" id={`${idBase}-matching-hint`}>
              {MATCHING_LABELS[form.matching]}
            </span>
          </label>
          <label>
            Supervisor script (optional)
            <input
              value={form.supervisor}
              aria-invalid={invalid('supervisor')}
              placeholder={readOnly ? 'none' : '/usr/local/bin/supervisor.sh'}
              spellCheck={false}
              onChange={(e) => setForm({ ...form, supervisor: e.target.value })}
            />
          </label>
        </div>
        {RUNTIMES.map(({ id, label, pathHint }) => (
          <fieldset key={id} className="stack">
            <legend>{label} installations</legend>
            {form.installations[id].length === 0 && <p className="hint">None.</p>}
            {form.installations[id].map((row, index) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a row has no identity but its place (its error paths are indexed too); every input is controlled
              <div key={index} className="row wrap installation">
                <label>
                  {label} version
                  <input
                    value={row.version}
                    aria-invalid={invalid(`${id}.installations[${index}].version`)}
                    placeholder="e.g. 3.12.4"
                    inputMode="decimal"
                    spellCheck={false}
                    onChange={(e) =>
                      setInstallations(
                        id,
                        form.installations[id].map((r, i) => (i === index ? { ...r, version: e.target.value } : r)),
                      )
                    }
                  />
                </label>
                <label className="grow">
                  {label} path
                  <input
                    value={row.path}
                    aria-invalid={invalid(`${id}.installations[${index}].path`)}
                    placeholder={pathHint}
                    spellCheck={false}
                    onChange={(e) =>
                      setInstallations(
                        id,
                        form.installations[id].map((r, i) => (i === index ? { ...r, path: e.target.value } : r)),
                      )
                    }
                  />
                </label>
                {!readOnly && (
                  <button
                    type="button"
                    className="secondary small"
                    aria-label={`Remove ${label} ${row.version || 'installation'}`}
                    onClick={() =>
                      setInstallations(
                        id,
                        form.installations[id].filter((_, i) => i !== index),
                      )
                    }
                  >
                    Remove
                  </button>
                )}
              </div>
            ))}
            {!readOnly && (
              <div>
                <button type="button" className="secondary small" onClick={() => setInstallations(id, [...form.installations[id], { version: '', path: '' }])}>
                  Add {label} installation
                </button>
              </div>
            )}
          </fieldset>
        ))}
      </fieldset>
      <ErrorMessage error={action.error} />
      <div className="row">
        {!readOnly && (
          <button type="submit" disabled={action.busy}>
            {mode === 'create' ? 'Create environment' : 'Save changes'}
          </button>
        )}
        <button type="button" className="secondary" onClick={() => onDone(false)}>
          {readOnly ? 'Close' : 'Cancel'}
        </button>
      </div>
    </form>
  );
}

function Permissions({ environment }: { environment: ExecutionEnvironment }) {
  const permissions = useResource<ExecutionEnvironmentPermission[]>(`/__api__/v1/environments/${environment.guid}/permissions`);
  const users = useResource<Page<User>>('/__api__/v1/users?page_size=500');
  const groups = useResource<Page<Group>>('/__api__/v1/groups?page_size=500');
  const [pick, setPick] = useState('');
  const action = useAction();
  const userName = new Map(users.data?.results.map((u) => [u.guid, u.username]));
  const groupName = new Map(groups.data?.results.map((g) => [g.guid, g.name]));
  const granted = new Set(permissions.data?.map((p) => p.user_guid ?? p.group_guid));
  const label = (p: ExecutionEnvironmentPermission) => (p.user_guid ? `User ${userName.get(p.user_guid) ?? p.user_guid}` : `Group ${groupName.get(p.group_guid!) ?? p.group_guid}`);

  async function grant(e: FormEvent) {
    e.preventDefault();
    const [type, guid] = pick.split(':') as ['user' | 'group', string];
    if (
      (await action.run(() => api(`/__api__/v1/environments/${environment.guid}/permissions`, { method: 'POST', json: type === 'user' ? { user_guid: guid } : { group_guid: guid } }))) !== undefined
    ) {
      setPick('');
      permissions.reload();
    }
  }

  async function revoke(p: ExecutionEnvironmentPermission) {
    if ((await action.run(() => api(`/__api__/v1/environments/${environment.guid}/permissions/${p.guid}`, { method: 'DELETE' }))) !== undefined) permissions.reload();
  }

  return (
    <section className="stack indent" aria-label={`Permissions of ${environment.title}`}>
      <ErrorMessage error={action.error ?? permissions.error} />
      {!permissions.data ? (
        !permissions.error && <Loading />
      ) : permissions.data.length === 0 ? (
        <p className="hint">Everyone may use this environment. Add a user or group to restrict it to them (administrators can always use it).</p>
      ) : (
        <>
          <p className="hint">Only these users and groups (and administrators) may use it:</p>
          <ul className="plain-list">
            {permissions.data.map((p) => (
              <li key={p.guid} className="row spread">
                {label(p)}
                <button type="button" className="secondary small" onClick={() => void revoke(p)} aria-label={`Remove ${label(p)} from ${environment.title}`}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      <form className="row wrap" onSubmit={grant}>
        <label className="grow">
          Allow a user or group to use {environment.title}
          <select required value={pick} onChange={(e) => setPick(e.target.value)}>
            <option value="">Choose…</option>
            <optgroup label="Users">
              {users.data?.results
                .filter((u) => !granted.has(u.guid))
                .map((u) => (
                  <option key={u.guid} value={`user:${u.guid}`}>
                    {u.username}
                  </option>
                ))}
            </optgroup>
            <optgroup label="Groups">
              {groups.data?.results
                .filter((g) => !granted.has(g.guid))
                .map((g) => (
                  <option key={g.guid} value={`group:${g.guid}`}>
                    {g.name}
                  </option>
                ))}
            </optgroup>
          </select>
        </label>
        <button type="submit" disabled={action.busy || !pick}>
          Allow
        </button>
      </form>
    </section>
  );
}
