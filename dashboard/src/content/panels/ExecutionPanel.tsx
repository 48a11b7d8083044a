import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../../api/client';
import { useAction, useResource } from '../../api/use-resource';
import type { ContentItem, ExecutionEnvironment, ImageSelection } from '../../api/types';
import { useSession } from '../../session/session';
import { ErrorMessage, Loading } from '../../ui/feedback';
import { maximumText, memoryText, parseMemory } from './resources';

/** The scheduler endpoint's off-host part (Lectern extension, GET /__api__/v1/server_settings/scheduler). */
export interface ExecutionDefaults {
  off_host_execution: boolean;
  memory_request: number;
  memory_limit: number;
  cpu_request: number;
  cpu_limit: number;
  nvidia_gpu_limit: number;
  amd_gpu_limit: number;
  limits: { memory_request: number; memory_limit: number; cpu_request: number; cpu_limit: number; nvidia_gpu_limit: number; amd_gpu_limit: number };
}

type ResourceField = 'cpu_request' | 'cpu_limit' | 'memory_request' | 'memory_limit' | 'nvidia_gpu_limit' | 'amd_gpu_limit';

const RESOURCES: Array<{ field: ResourceField; label: string; kind: 'cpu' | 'memory' | 'gpu'; setting: string }> = [
  { field: 'cpu_request', label: 'CPU request (cores)', kind: 'cpu', setting: 'MaxCPURequest' },
  { field: 'cpu_limit', label: 'CPU limit (cores)', kind: 'cpu', setting: 'MaxCPULimit' },
  { field: 'memory_request', label: 'Memory request', kind: 'memory', setting: 'MaxMemoryRequest' },
  { field: 'memory_limit', label: 'Memory limit', kind: 'memory', setting: 'MaxMemoryLimit' },
  { field: 'nvidia_gpu_limit', label: 'NVIDIA GPUs', kind: 'gpu', setting: 'MaxNvidiaGPULimit' },
  { field: 'amd_gpu_limit', label: 'AMD GPUs', kind: 'gpu', setting: 'MaxAMDGPULimit' },
];

const SOURCE_LABELS: Record<NonNullable<ImageSelection['source']>, string> = {
  manifest: 'Named by the bundle’s manifest.',
  default_image_name: 'This content’s default image.',
  deployed: 'The image of the content’s last deployment.',
  automatic: 'Chosen automatically among the images set to “Any” that the owner may use.',
};

const sentence = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;

function asText(field: ResourceField, value: number | null): string {
  if (value === null) return '';
  return field.startsWith('memory') ? memoryText(value) : String(value);
}

/** Off-host execution: the image the content runs in and why, its default image, resources and service account. */
export function ExecutionPanel({ content, defaults, onChanged }: { content: ContentItem; defaults: ExecutionDefaults; onChanged(): void }) {
  const { user } = useSession();
  const isAdmin = user.user_role === 'administrator';
  const selection = useResource<ImageSelection>(content.bundle_id === null ? null : `/__api__/v1/content/${content.guid}/image-selection`);
  const environments = useResource<ExecutionEnvironment[]>('/__api__/v1/environments');
  const initial = {
    default_image_name: content.default_image_name ?? '',
    service_account_name: content.service_account_name ?? '',
    ...(Object.fromEntries(RESOURCES.map(({ field }) => [field, asText(field, content[field])])) as Record<ResourceField, string>),
  };
  const [values, setValues] = useState(initial);
  const [saved, setSaved] = useState('');
  const [inputError, setInputError] = useState<ApiError | null>(null);
  const action = useAction();

  async function save(e: FormEvent) {
    e.preventDefault();
    setSaved('');
    setInputError(null);
    // Only what changed is sent: an unchanged default image is not re-checked, and only
    // administrators may send a service account.
    const body: Record<string, unknown> = {};
    for (const { field, label } of RESOURCES) {
      if (values[field] === initial[field]) continue;
      if (field.startsWith('memory')) {
        const parsed = parseMemory(values[field]);
        if ('error' in parsed) return setInputError(new ApiError(0, null, `${label}: ${parsed.error}`));
        body[field] = parsed.bytes;
      } else {
        const text = values[field].trim();
        if (text !== '' && !Number.isFinite(Number(text))) return setInputError(new ApiError(0, null, `${label}: "${text}" is not a number.`));
        body[field] = text === '' ? null : Number(text);
      }
    }
    if (values.default_image_name !== initial.default_image_name) body.default_image_name = values.default_image_name === '' ? null : values.default_image_name;
    if (isAdmin && values.service_account_name.trim() !== initial.service_account_name) body.service_account_name = values.service_account_name.trim();
    if (Object.keys(body).length === 0) return setSaved('Nothing to save: no field changed.');
    if (await action.run(() => api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', json: body }))) {
      setSaved('default_image_name' in body && content.bundle_id !== null ? 'Saved. A new image redeploys the live bundle (see Logs).' : 'Saved; processes started from now on use these settings.');
      selection.reload();
      onChanged();
    }
  }

  const imageOptions = [...(environments.data ?? [])].filter((e) => e.matching !== 'none' || e.name === values.default_image_name).sort((a, b) => a.title.localeCompare(b.title));

  return (
    <div className="stack">
      <h2>Execution</h2>
      <p className="hint">This server runs content off-host, each process as a Kubernetes job in an execution environment’s image.</p>
      <section className="stack" aria-labelledby="image-title">
        <h3 id="image-title">Image</h3>
        {content.bundle_id === null ? (
          <p className="hint">Nothing deployed yet: the image is chosen when a bundle is deployed.</p>
        ) : !selection.data ? (
          selection.error ? <ErrorMessage error={selection.error} /> : <Loading />
        ) : (
          <SelectionExplained selection={selection.data} liveImage={content.image_name} />
        )}
      </section>
      <form className="stack" onSubmit={save} aria-labelledby="execution-settings-title">
        <h3 id="execution-settings-title">Settings</h3>
        <ErrorMessage error={inputError ?? action.error} />
        <label>
          Default image
          <select value={values.default_image_name} aria-invalid={action.error?.field === 'default_image_name' || undefined} onChange={(e) => setValues({ ...values, default_image_name: e.target.value })} aria-describedby="default-image-hint">
            <option value="">Automatic (no default image)</option>
            {values.default_image_name !== '' && !imageOptions.some((e) => e.name === values.default_image_name) && <option value={values.default_image_name}>{values.default_image_name}</option>}
            {imageOptions.map((e) => (
              <option key={e.guid} value={e.name}>
                {e.title} ({e.name})
              </option>
            ))}
          </select>
          <span className="hint block" id="default-image-hint">
            Used when a bundle’s manifest names no image. Changing it redeploys the live bundle in the new image.
          </span>
        </label>
        <ErrorMessage error={environments.error} />
        <div className="grid-2">
          {RESOURCES.map(({ field, label, kind, setting }) => {
            const maximum = defaults.limits[field];
            const serverDefault = kind === 'memory' ? (defaults[field] === 0 ? 'none' : memoryText(defaults[field])) : defaults[field] === 0 ? 'none' : String(defaults[field]);
            return (
              <label key={field}>
                {label}
                <input
                  value={values[field]}
                  inputMode={kind === 'memory' ? 'text' : 'decimal'}
                  placeholder={`Default: ${serverDefault}`}
                  onChange={(e) => setValues({ ...values, [field]: e.target.value })}
                  aria-describedby={`${field}-max`}
                  aria-invalid={action.error?.field === field || undefined}
                  spellCheck={false}
                />
                <span className="hint block" id={`${field}-max`} title={`[Scheduler] ${setting}`}>
                  {maximumText(maximum, kind)}
                </span>
              </label>
            );
          })}
        </div>
        <p className="hint">
          Leave a field empty for the server default. Memory takes units (512 MiB, 2 GiB). Maximums are set by the administrator in <code>[Scheduler]</code>.
        </p>
        {isAdmin ? (
          <label>
            Service account
            <input value={values.service_account_name} aria-invalid={action.error?.field === 'service_account_name' || undefined} placeholder="Default: the namespace’s ([Launcher] DefaultServiceAccount)" spellCheck={false} onChange={(e) => setValues({ ...values, service_account_name: e.target.value })} aria-describedby="service-account-hint" />
            <span className="hint block" id="service-account-hint">
              The Kubernetes service account the content’s jobs run as. Only administrators can change it.
            </span>
          </label>
        ) : (
          <p>
            <strong>Service account:</strong> {content.service_account_name ? <code>{content.service_account_name}</code> : 'the server default'} <span className="hint">(set by administrators)</span>
          </p>
        )}
        <div className="row wrap">
          <button type="submit" disabled={action.busy}>
            Save execution settings
          </button>
          <span role="status" className="hint">
            {saved}
          </span>
        </div>
      </form>
    </div>
  );
}

function SelectionExplained({ selection, liveImage }: { selection: ImageSelection; liveImage: string | null }) {
  if (!selection.off_host_execution || selection.note) return <p className="hint">{selection.note}</p>;
  const installations = selection.chosen ? Object.entries(selection.chosen.installations).map(([runtime, i]) => `${runtime === 'r' ? 'R' : runtime[0]!.toUpperCase() + runtime.slice(1)} ${i!.version} (${i!.path})`) : [];
  const moving = selection.chosen && liveImage && selection.chosen.name !== liveImage;
  return (
    <div className="stack">
      {selection.chosen ? (
        <div className="card stack tight selection-chosen" data-testid="image-chosen">
          <strong>{selection.chosen.title}</strong>
          <code className="env-image">{selection.chosen.name}</code>
          <span>
            <strong>Why:</strong> {sentence(selection.chosen.reason)}
          </span>
          {selection.source === 'automatic' && <span className="hint">{SOURCE_LABELS.automatic}</span>}
          {installations.length > 0 && <span className="hint">Runs {installations.join(', ')}</span>}
        </div>
      ) : (
        <p className="error selection-failed" role="alert">
          No image can run bundle {selection.bundle_id}: {selection.error}
        </p>
      )}
      {moving && (
        <p className="notice">
          The live bundle still runs in <code>{liveImage}</code>; a redeploy moves it to <code>{selection.chosen!.name}</code>.
        </p>
      )}
      {selection.rejected.length > 0 && (
        <details>
          <summary>
            {selection.rejected.length} other image{selection.rejected.length === 1 ? '' : 's'} passed over
          </summary>
          <ul className="rejected-list" aria-label="Images passed over">
            {selection.rejected.map((r) => (
              <li key={r.guid}>
                <code>{r.name}</code>: {r.reason}
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
