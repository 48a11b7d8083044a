import { useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { useAction, useResource } from '../../api/use-resource';
import type { ContentItem } from '../../api/types';
import { ErrorMessage, Loading } from '../../ui/feedback';

interface Defaults {
  min_processes: number;
  max_processes: number;
  max_conns_per_process: number;
  load_factor: number;
  idle_timeout: number;
  init_timeout: number;
  connection_timeout: number;
  read_timeout: number;
}

type Field = keyof Defaults;

const FIELDS: Array<{ field: Field; label: string; unit?: string; step?: string }> = [
  { field: 'min_processes', label: 'Min processes' },
  { field: 'max_processes', label: 'Max processes' },
  { field: 'max_conns_per_process', label: 'Max connections per process' },
  { field: 'load_factor', label: 'Load factor', step: '0.05' },
  { field: 'idle_timeout', label: 'Idle timeout', unit: 's' },
  { field: 'init_timeout', label: 'Initial timeout', unit: 's' },
  { field: 'connection_timeout', label: 'Connection timeout', unit: 's' },
  { field: 'read_timeout', label: 'Read timeout', unit: 's' },
];

/** Scheduler settings; an empty field inherits the server default shown beside it. */
export function RuntimePanel({ content, onChanged }: { content: ContentItem; onChanged(): void }) {
  const defaults = useResource<Defaults>('/__api__/v1/server_settings/scheduler');
  const initial = Object.fromEntries(FIELDS.map(({ field }) => [field, content[field] === null ? '' : String(content[field])])) as Record<Field, string>;
  const [values, setValues] = useState(initial);
  const [saved, setSaved] = useState('');
  const action = useAction();

  async function save(e: FormEvent) {
    e.preventDefault();
    setSaved('');
    const body = Object.fromEntries(FIELDS.map(({ field }) => [field, values[field].trim() === '' ? null : Number(values[field])]));
    if (await action.run(() => api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', json: body }))) {
      setSaved('Saved; running processes use the new settings now.');
      onChanged();
    }
  }

  if (!defaults.data) return defaults.error ? <ErrorMessage error={defaults.error} /> : <Loading />;
  return (
    <form className="stack" onSubmit={save}>
      <h2>Runtime</h2>
      <p className="hint">Leave a field empty to use the server default.</p>
      <ErrorMessage error={action.error} />
      <div className="grid-2">
        {FIELDS.map(({ field, label, unit, step }) => (
          <label key={field}>
            {label}
            {unit ? ` (${unit === 's' ? 'seconds' : unit})` : ''}
            <input
              type="number"
              min="0"
              step={step ?? '1'}
              inputMode="decimal"
              value={values[field]}
              placeholder={`Default: ${defaults.data![field]}`}
              onChange={(e) => setValues({ ...values, [field]: e.target.value })}
            />
          </label>
        ))}
      </div>
      <div className="row">
        <button type="submit" disabled={action.busy}>
          Save runtime settings
        </button>
        <span role="status" className="hint">
          {saved}
        </span>
      </div>
    </form>
  );
}
