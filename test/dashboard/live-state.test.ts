import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stateRecheckDelay } from '../../dashboard/src/content/live-state';

// The content page's badge is read again on a timer, because the state the page loaded with goes
// stale with nothing happening on the page (a visit starts an app, an idle timeout stops it).
test('every state is checked again, a deployment in progress soonest', () => {
  const states = ['running', 'stopped', 'published', 'failed', 'deploying', 'not_deployed', undefined] as const;
  for (const state of states) {
    const delay = stateRecheckDelay(state);
    assert.ok(Number.isFinite(delay) && delay > 0 && delay <= 10_000, `${state}: ${delay} ms`);
  }
  assert.ok(stateRecheckDelay('deploying') < stateRecheckDelay('stopped'));
  assert.equal(stateRecheckDelay('stopped'), stateRecheckDelay('running'), 'a stopped app is watched as closely as a running one');
});
