import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Config } from '../../src/config/config.js';
import type { Bundle, Content } from '../../src/db/schema.js';
import { TableChanges } from '../../src/db/table-changes.js';
import { EnvironmentMissing, type PreparedBundle } from '../../src/execution/content-execution.js';
import type { JobRequest } from '../../src/jobs/jobs.js';
import type { JobStatus } from '../../src/launcher/launcher.js';
import { EnvironmentRebuilding } from '../../src/scheduler/pool.js';
import { Scheduler, type SchedulerExecution, type SchedulerJobs } from '../../src/scheduler/scheduler.js';
import { LocalTaskEvents } from '../../src/tasks/events.js';

// The scheduler of one replica, fed notices the way another replica's writes arrive
// (TableChanges.receive, task events). Workers are bookkeeping only: what is tested is which
// pools exist and what they start and stop, not processes.

function content(over: Partial<Content> = {}): Content {
  return {
    id: 1,
    guid: 'c1',
    bundle_id: 1,
    env_version: 0,
    image_name: null,
    locked: 0,
    app_mode: 'python-api',
    min_processes: null,
    max_processes: null,
    max_conns_per_process: null,
    load_factor: null,
    idle_timeout: null,
    init_timeout: null,
    ...over,
  } as Content;
}

function replica(rows: Map<number, Content>, options: { environmentMissing?: () => boolean; builds?: Map<string, { finished: boolean; error?: string }> } = {}) {
  const changes = new TableChanges();
  const events = new LocalTaskEvents();
  const running = new Map<string, (status: JobStatus) => void>();
  let n = 0;
  const jobs: SchedulerJobs = {
    async start() {
      const key = `w${++n}`;
      const ended = new Promise<JobStatus>((resolve) => running.set(key, resolve));
      return { key, handle: { key, remoteId: key, hostname: 'here' }, ended };
    },
    async stop(key: string) {
      running.get(key)?.({ state: 'failed', stopped: true, reason: 'stopped' });
      running.delete(key);
    },
    launcher: {
      ready: async () => ({ host: '127.0.0.1', port: 9 }),
      logs: async function* () {},
    },
  };
  // Preparation is ContentExecution's own business (test/unit/run-plan.test.ts): here it only
  // succeeds, or finds the environment missing.
  const execution: SchedulerExecution = {
    async prepare(item, bundle) {
      if (options.environmentMissing?.()) throw new EnvironmentMissing('The Python environment of this bundle is missing from this server.');
      return { content: item, bundle, runner: { serve: 'run', needs: { python: true, r: false, quarto: false } } } as PreparedBundle;
    },
    async runRequest() {
      return {} as JobRequest;
    },
  };
  const queued: string[] = [];
  const scheduler = new Scheduler({
    config: Config.load({ env: {}, overrides: {} }),
    execution,
    jobs,
    loadContent: async (id) => rows.get(id),
    loadLiveContent: async (ids) => [...rows.values()].filter((c) => c.bundle_id !== null || ids.includes(c.id)),
    loadBundle: async (id) => ({ id, content_id: 1 }) as Bundle,
    builds: {
      start: async () => {
        queued.push(`task-${queued.length + 1}`);
        return queued[queued.length - 1]!;
      },
      outcome: async (taskId) => options.builds?.get(taskId) ?? { finished: false },
    },
    changes,
    events,
  });
  return { scheduler, changes, events, running, queued };
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('min_processes set on another replica starts the warm worker here, without a request', async () => {
  const rows = new Map([[1, content()]]);
  const { scheduler, changes, running } = replica(rows);
  try {
    rows.set(1, content({ min_processes: 1 }));
    changes.receive(['content']);
    await until('a warm worker to start', () => running.size === 1);
    await until('the pool to list it', () => scheduler.describe(1).length === 1);
  } finally {
    await scheduler.close();
  }
});

test("a redeploy, a lock and a deletion on another replica reach this replica's pool", async () => {
  const rows = new Map([
    [1, content()],
    [2, content({ id: 2, guid: 'c2' })],
  ]);
  const { scheduler, changes, running } = replica(rows);
  try {
    const lease = await scheduler.acquire(rows.get(1)!);
    lease.release();
    const first = lease.workerKey;
    rows.set(1, content({ bundle_id: 2 }));
    changes.receive(['content']);
    await until('the old generation to drain', () => !running.has(first));
    assert.equal(scheduler.describe(1).length, 0, 'an idle old worker stops at once; the new bundle starts on demand');

    (await scheduler.acquire(rows.get(1)!)).release();
    (await scheduler.acquire(rows.get(2)!)).release();
    assert.equal(running.size, 2);
    rows.set(1, content({ bundle_id: 2, locked: 1 }));
    rows.delete(2);
    changes.receive(['content']);
    await until("the locked and the deleted item's workers to stop", () => running.size === 0);
  } finally {
    await scheduler.close();
  }
});

test("a pool waiting for a rebuild starts once the build's task notice says it finished, wherever it ran", async () => {
  const rows = new Map([[1, content()]]);
  let missing = true;
  const builds = new Map<string, { finished: boolean; error?: string }>();
  const { scheduler, events, queued } = replica(rows, { environmentMissing: () => missing, builds });
  try {
    await assert.rejects(scheduler.acquire(rows.get(1)!), (err) => err instanceof EnvironmentRebuilding && err.taskId === 'task-1');
    await assert.rejects(scheduler.acquire(rows.get(1)!), EnvironmentRebuilding, 'one build per pool: visits wait for it');
    assert.deepEqual(queued, ['task-1']);
    // Output of the build is a notice too; the pool waits until the task has finished.
    await events.taskChanged('task-1');
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(scheduler.acquire(rows.get(1)!), EnvironmentRebuilding);
    missing = false;
    builds.set('task-1', { finished: true });
    await events.taskChanged('task-1');
    // The notice is handled once the task row has been read.
    await new Promise((r) => setTimeout(r, 50));
    const lease = await scheduler.acquire(rows.get(1)!);
    lease.release();
    assert.deepEqual(queued, ['task-1'], 'no second build');
  } finally {
    await scheduler.close();
  }
});

test('at start-up the warm minimum of every live item starts, and only theirs', async () => {
  const rows = new Map([
    [1, content({ min_processes: 1 })],
    [2, content({ id: 2, guid: 'c2' })],
    [3, content({ id: 3, guid: 'c3', min_processes: 1, locked: 1 })],
  ]);
  const { scheduler, running } = replica(rows);
  try {
    await scheduler.keepWarm();
    await until('the warm worker to start', () => running.size === 1);
    assert.equal(scheduler.describe(1).length, 1);
    assert.deepEqual([scheduler.describe(2), scheduler.describe(3)], [[], []], 'no minimum, or locked: nothing starts');
  } finally {
    await scheduler.close();
  }
});
