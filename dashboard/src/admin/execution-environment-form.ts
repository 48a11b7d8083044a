// The execution environment form's state and how it becomes the API's body; pure so it can be
// tested without a browser. The server validates versions and paths and answers in its own words.
import type { ExecutionEnvironment, Installation, Runtime } from '../api/types';

/** The runtimes the form edits; TensorFlow installations are kept as they are (a PUT keeps fields it does not name). */
export type EditableRuntime = Exclude<Runtime, 'tensorflow'>;

export const RUNTIMES: Array<{ id: EditableRuntime; label: string; pathHint: string }> = [
  { id: 'python', label: 'Python', pathHint: '/opt/python/3.12.4/bin/python3' },
  { id: 'r', label: 'R', pathHint: '/opt/R/4.4.1/bin/R' },
  { id: 'quarto', label: 'Quarto', pathHint: '/opt/quarto/1.5.57/bin/quarto' },
];

export interface ExecutionEnvironmentForm {
  title: string;
  description: string;
  name: string;
  matching: ExecutionEnvironment['matching'];
  supervisor: string;
  installations: Record<EditableRuntime, Installation[]>;
}

export function emptyForm(): ExecutionEnvironmentForm {
  return { title: '', description: '', name: '', matching: 'any', supervisor: '', installations: { python: [], r: [], quarto: [] } };
}

export function formFrom(env: ExecutionEnvironment): ExecutionEnvironmentForm {
  const copy = (list: Installation[] | undefined) => (list ?? []).map((i) => ({ version: i.version, path: i.path }));
  return {
    title: env.title,
    description: env.description ?? '',
    name: env.name,
    matching: env.matching,
    supervisor: env.supervisor ?? '',
    installations: { python: copy(env.python?.installations), r: copy(env.r?.installations), quarto: copy(env.quarto?.installations) },
  };
}

/**
 * The POST/PUT body. Rows left wholly blank are dropped (an "Add" the user did not fill in);
 * a half-filled row is sent as it is, so the server names what is missing. On an edit the image
 * and cluster are left out: they cannot change.
 */
export function environmentBody(form: ExecutionEnvironmentForm, mode: 'create' | 'edit'): Record<string, unknown> {
  const body: Record<string, unknown> = {
    title: form.title.trim(),
    description: form.description.trim(),
    matching: form.matching,
    supervisor: form.supervisor.trim() === '' ? null : form.supervisor.trim(),
  };
  if (mode === 'create') {
    body.name = form.name.trim();
    body.cluster_name = 'Kubernetes';
  }
  for (const { id } of RUNTIMES) {
    const rows = form.installations[id].map((i) => ({ version: i.version.trim(), path: i.path.trim() })).filter((i) => i.version !== '' || i.path !== '');
    body[id] = { installations: rows };
  }
  return body;
}

/** "Python 3.11.9, 3.12.4 · R 4.4.1", or what to do when there are none. */
export function installationSummary(env: Pick<ExecutionEnvironment, Runtime>): string {
  const parts = RUNTIMES.flatMap(({ id, label }) => {
    const versions = (env[id]?.installations ?? []).map((i) => i.version);
    return versions.length ? [`${label} ${versions.join(', ')}`] : [];
  });
  return parts.length ? parts.join(' · ') : 'No installations: automatic selection never picks it.';
}

export const MATCHING_LABELS: Record<ExecutionEnvironment['matching'], string> = {
  any: 'Chosen automatically when it fits a bundle, or when a bundle or content names it.',
  exact: 'Used only when a bundle or content names this image.',
  none: 'Disabled: never used.',
};
