import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { wsgiApiBundle } from '../support/apps.js';
import { executionSettings, testPython } from '../support/execution.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';

// Two replicas on one PostgreSQL database and data directory: a change made at one reaches the
// other's scheduler through the change feed, without any request to it.

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
const APP = `
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"warm"]
`;

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (PROVIDERS.includes('postgres')) {
  describe('the scheduler follows changes made at another replica (postgres)', () => {
    let a: TestServer;
    let b: TestServer;

    before(async () => {
      a = await startLectern('postgres', executionSettings());
    });

    after(async () => {
      await b?.stop();
      await a?.stop();
      await stopPostgres();
    });

    it('min_processes set at one replica starts a warm worker at the other; a lock there stops it', { timeout: 180_000 }, async () => {
      const created = (await (await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'warm-everywhere' } })).json()) as { guid: string; id: string };
      const uploaded = await a.api(`/__api__/v1/content/${created.guid}/bundles`, { method: 'POST', body: wsgiApiBundle(APP, PYTHON_VERSION) });
      assert.equal(uploaded.status, 200, await uploaded.clone().text());
      const queued = await a.api(`/__api__/v1/content/${created.guid}/deploy`, { method: 'POST', json: { bundle_id: ((await uploaded.json()) as { id: string }).id } });
      const task = await waitForTask(a, ((await queued.json()) as { task_id: string }).task_id);
      assert.equal(task.code, 0, task.output.join('\n'));
      const id = Number(created.id);
      // Started after the deploy, so the deploy task (which any replica may claim) ran at a.
      b = await startLectern('postgres', executionSettings(), { dataDir: a.dataDir, databaseUrl: a.app.config.get('Postgres.URL') });
      assert.deepEqual(b.app.scheduler.describe(id), [], 'nothing of it runs at b');

      const patched = await a.api(`/__api__/v1/content/${created.guid}`, { method: 'PATCH', json: { min_processes: 1 } });
      assert.equal(patched.status, 200, await patched.clone().text());
      // Within less than the 30 s safety resync: the change notice does it (the environment is
      // on the shared data directory, so the worker only has to start).
      await until('a warm worker at replica b', () => b.app.scheduler.describe(id).some((w) => w.state === 'ready'), 20_000);

      const locked = await a.api(`/__api__/v1/content/${created.guid}`, { method: 'PATCH', json: { locked: true } });
      assert.equal(locked.status, 200, await locked.clone().text());
      await until("replica b to stop the locked item's worker", () => b.app.scheduler.describe(id).length === 0, 20_000);
    });
  });
}
