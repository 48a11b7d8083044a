import { useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { useAction, useResource } from '../../api/use-resource';
import type { ContentItem } from '../../api/types';
import { ErrorMessage, Loading } from '../../ui/feedback';

/** Environment variables: names are listed, values are write-only (sealed on the server). */
export function EnvironmentVariablesPanel({ content, onChanged }: { content: ContentItem; onChanged(): void }) {
  const names = useResource<string[]>(`/__api__/v1/content/${content.guid}/environment`);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [editing, setEditing] = useState<string | null>(null);
  const [newValue, setNewValue] = useState('');
  const action = useAction();
  // Running processes restart with the new values; the frame reloads to show them.
  const patch = (changes: Array<{ name: string; value: string | null }>) =>
    api(`/__api__/v1/content/${content.guid}/environment`, { method: 'PATCH', json: changes }).then((names) => {
      onChanged();
      return names;
    });

  async function add(e: FormEvent) {
    e.preventDefault();
    if (await action.run(() => patch([{ name: name.trim(), value }]))) {
      setName('');
      setValue('');
      names.reload();
    }
  }

  async function change(e: FormEvent) {
    e.preventDefault();
    if (editing && (await action.run(() => patch([{ name: editing, value: newValue }])))) {
      setEditing(null);
      setNewValue('');
      names.reload();
    }
  }

  async function remove(variable: string) {
    if (await action.run(() => patch([{ name: variable, value: null }]))) names.reload();
  }

  return (
    <div className="stack">
      <h2>Environment variables</h2>
      <p className="hint">Values are encrypted on the server and never shown again. Changing them restarts running processes.</p>
      <ErrorMessage error={action.error ?? names.error} />
      {!names.data ? (
        !names.error && <Loading />
      ) : names.data.length === 0 ? (
        <p className="hint">No variables yet. Add the settings your code reads with os.environ or Sys.getenv, such as API tokens.</p>
      ) : (
        <ul className="plain-list">
          {names.data.map((variable) => (
            <li key={variable}>
              {editing === variable ? (
                <form className="row wrap" onSubmit={change}>
                  <label className="grow">
                    New value of <code>{variable}</code>
                    {/* biome-ignore lint/a11y/noAutofocus: the field appears because the user just pressed Change on this variable */}
                    <input type="password" autoComplete="off" value={newValue} onChange={(e) => setNewValue(e.target.value)} autoFocus />
                  </label>
                  <button type="submit" disabled={action.busy}>
                    Save
                  </button>
                  <button type="button" className="secondary" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <div className="row spread">
                  <code>{variable}</code>
                  <span className="row">
                    <button
                      type="button"
                      className="secondary small"
                      onClick={() => {
                        setEditing(variable);
                        setNewValue('');
                      }}
                      aria-label={`Change ${variable}`}
                    >
                      Change
                    </button>
                    <button type="button" className="secondary small" onClick={() => void remove(variable)} aria-label={`Remove ${variable}`}>
                      Remove
                    </button>
                  </span>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      <form className="stack" onSubmit={add}>
        <h3>Add a variable</h3>
        <label>
          Name
          <input value={name} required pattern="[A-Za-z_][A-Za-z0-9_]*" placeholder="API_TOKEN" autoComplete="off" onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Value
          <input type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
        </label>
        <div>
          <button type="submit" disabled={action.busy}>
            Add variable
          </button>
        </div>
      </form>
    </div>
  );
}
