import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { ContentItem, ContentState } from '../api/types';

/**
 * How long the badge may show a state before asking the server again. A state read when the page
 * loaded goes stale without anything happening on the page: a visit (the frame's own, or anyone's
 * on any replica) starts an app, an idle timeout stops it, a client redeploys. A deployment ends
 * within seconds, so it is asked about sooner.
 */
export function stateRecheckDelay(state: ContentState | undefined): number {
  return state === 'deploying' ? 2_000 : 10_000;
}

/**
 * The content's state as the server reports it (`include=state`, which counts the processes of
 * every replica), read again whenever `seen` changes (the frame loaded, so a visit may have
 * started the app) and after `stateRecheckDelay` while the page is visible. Only the state is
 * read, so the settings panels' forms are left alone.
 */
export function useLiveState(guid: string, initial: ContentState | undefined, seen: number): ContentState | undefined {
  const [state, setState] = useState(initial);
  const [checks, setChecks] = useState(0);
  useEffect(() => setState(initial), [initial]);

  useEffect(() => {
    // The item the page loaded already has the state; a hidden page waits for its next check.
    if ((seen === 0 && checks === 0) || document.visibilityState === 'hidden') return;
    const abort = new AbortController();
    api<ContentItem>(`/__api__/v1/content/${encodeURIComponent(guid)}?include=state`, { signal: abort.signal }).then(
      (item) => setState(item.state),
      // A failed check keeps the last known state; the next one may succeed.
      () => undefined,
    );
    return () => abort.abort();
  }, [guid, seen, checks]);

  useEffect(() => {
    const timer = setTimeout(() => setChecks((n) => n + 1), stateRecheckDelay(state));
    return () => clearTimeout(timer);
  }, [state, checks]);

  return state;
}
