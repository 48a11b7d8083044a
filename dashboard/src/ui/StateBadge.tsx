import type { ContentState } from '../api/types';

const LABELS: Record<ContentState, string> = {
  running: 'Running',
  stopped: 'Stopped',
  published: 'Published',
  failed: 'Failed build',
  deploying: 'Deploying',
  not_deployed: 'Not deployed',
};

export function StateBadge({ state }: { state: ContentState | undefined }) {
  if (!state) return null;
  return <span className={`badge state-${state}`}>{LABELS[state]}</span>;
}
