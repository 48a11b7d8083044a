import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { makeTarGz } from '../support/tarball.js';
import { postgresDatabaseUrl, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { nowIso, randomToken } from '../../src/util/ids.js';

after(stopPostgres);

/** A deploy task in the state a replica killed mid-task leaves behind: running, its lease no longer renewed. */
async function insertHeldTask(lectern: TestServer, task: { contentId: number; bundleId: number; attempts: number; leaseExpiresAt: number }) {
  const row = await lectern.app.store.db
    .insertInto('tasks')
    .values({
      id: randomToken(12),
      kind: 'deploy',
      content_id: task.contentId,
      bundle_id: task.bundleId,
      user_id: null,
      params: JSON.stringify({ activate: true }),
      state: 'running',
      claimed_by: 'replica-killed',
      lease_expires_at: task.leaseExpiresAt,
      attempts: task.attempts,
      output_lines: 0,
      code: 0,
      error: '',
      result: null,
      created_time: nowIso(),
      started_time: nowIso(),
      finished_time: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row;
}

const tempDir = () => mkdtemp(path.join(os.tmpdir(), 'lectern-replicas-'));

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

describe('several replicas on one PostgreSQL database', () => {
  test("share the task queue without running a task twice, and take over a dead replica's task", async () => {
    const databaseUrl = await postgresDatabaseUrl();
    const a = await startLectern('postgres', { 'Server.ReplicaName': 'replica-a', 'Tasks.LeaseTimeout': '2s' }, { dataDir: await tempDir(), databaseUrl });
    const b = await startLectern('postgres', { 'Server.ReplicaName': 'replica-b', 'Tasks.LeaseTimeout': '2s' }, { dataDir: a.dataDir, databaseUrl });
    try {
      const content = (await (await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'shared-queue' } })).json()) as { guid: string; id: string };
      const bundleIds: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await a.api(`/__api__/v1/content/${content.guid}/bundles`, {
          method: 'POST',
          body: makeTarGz([
            { name: 'manifest.json', content: STATIC_MANIFEST },
            { name: 'index.html', content: `<p>${i}</p>` },
          ]),
        });
        bundleIds.push(((await res.json()) as { id: string }).id);
      }
      // Queue from both replicas at once; each task must run exactly once.
      const taskIds = await Promise.all(
        bundleIds.map(async (id, i) => {
          const via = i % 2 ? a : b;
          const res = await via.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: { bundle_id: id }, key: a.adminKey });
          return ((await res.json()) as { task_id: string }).task_id;
        }),
      );
      for (const id of taskIds) {
        const result = await waitForTask(b, id, a.adminKey);
        assert.equal(result.code, 0, result.output.join('\n'));
        assert.equal(result.output.filter((l) => l.startsWith('Building')).length, 1, `task ${id} ran once`);
      }
      const rows = await a.app.store.db.selectFrom('tasks').select(['id', 'attempts', 'claimed_by']).where('id', 'in', taskIds).execute();
      // Every task has its row, was claimed once, and by one of the two replicas (which one is the race's business).
      assert.equal(rows.length, taskIds.length);
      assert.deepEqual(
        rows.filter((r) => r.attempts !== 1),
        [],
        'every task ran on its first attempt',
      );
      assert.deepEqual(
        rows.filter((r) => r.claimed_by !== 'replica-a' && r.claimed_by !== 'replica-b'),
        [],
        'every task was claimed by a live replica',
      );

      // A replica that died mid-task leaves a running row whose lease is not renewed (this is the
      // exact database state after SIGKILL). Another replica takes it over once the lease expires.
      const bundle = bundleIds[0]!;
      // The row is written as the dead replica left it: queued first, it could be claimed by a live one.
      const orphan = await insertHeldTask(a, { contentId: Number(content.id), bundleId: Number(bundle), attempts: 1, leaseExpiresAt: Date.now() + 1500 });
      const taken = await waitForTask(a, orphan.id);
      assert.equal(taken.code, 0, taken.output.join('\n'));
      assert.ok(
        taken.output.some((l) => /Task resumed by replica-[ab]/.test(l)),
        taken.output.join('\n'),
      );

      // On its last allowed attempt a dead replica's task is failed with a message instead.
      const doomed = await insertHeldTask(a, { contentId: Number(content.id), bundleId: Number(bundle), attempts: 3, leaseExpiresAt: Date.now() - 1 });
      const failed = await waitForTask(a, doomed.id);
      assert.equal(failed.code, 1);
      assert.match(failed.error, /stopped responding/);
    } finally {
      await b.stop();
      await a.stop();
      await rm(a.dataDir, { recursive: true, force: true });
    }
  });

  test('a task held by a killed Lectern process is taken over by another replica', async () => {
    const databaseUrl = await postgresDatabaseUrl();
    const a = await startLectern('postgres', { 'Server.ReplicaName': 'replica-a', 'Tasks.LeaseTimeout': '2s' }, { dataDir: await tempDir(), databaseUrl });
    const lock = new pg.Client({ connectionString: databaseUrl });
    let child: ReturnType<typeof spawn> | null = null;
    try {
      const content = (await (await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'killed-replica' } })).json()) as { guid: string; id: string };
      const bundle = (await (
        await a.api(`/__api__/v1/content/${content.guid}/bundles`, {
          method: 'POST',
          body: makeTarGz([
            { name: 'manifest.json', content: STATIC_MANIFEST },
            { name: 'index.html', content: '<p>survived</p>' },
          ]),
        })
      ).json()) as { id: string };
      // Only the other process may claim the task at first.
      await a.app.queue.stop();

      const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
      child = spawn(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['start']))"], {
        cwd: root,
        env: {
          ...process.env,
          LECTERN_DATABASE_PROVIDER: 'postgres',
          LECTERN_POSTGRES_URL: databaseUrl,
          LECTERN_SERVER_DATADIR: a.dataDir,
          LECTERN_HTTP_LISTEN: '127.0.0.1:0',
          LECTERN_SERVER_REPLICANAME: 'replica-doomed',
          LECTERN_TASKS_LEASETIMEOUT: '2s',
          LECTERN_LOGGING_LEVEL: 'silent',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let childOutput = '';
      child.stdout!.on('data', (d: Buffer) => (childOutput += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (childOutput += d.toString()));
      for (let i = 0; !childOutput.includes('is running'); i++) {
        assert.ok(i < 300 && child.exitCode === null, `the second Lectern process did not start:\n${childOutput}`);
        await new Promise((r) => setTimeout(r, 100));
      }

      // Hold the content row so the other process stops in the middle of the deploy, holding the lease
      // (NO KEY: inserting the task row must still be able to reference it).
      await lock.connect();
      await lock.query('BEGIN');
      await lock.query('SELECT id FROM content WHERE id = $1 FOR NO KEY UPDATE', [Number(content.id)]);
      const res = await a.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: { bundle_id: bundle.id } });
      const { task_id } = (await res.json()) as { task_id: string };
      for (let i = 0; ; i++) {
        const row = await a.app.store.db.selectFrom('tasks').select(['claimed_by', 'output_lines']).where('id', '=', task_id).executeTakeFirstOrThrow();
        if (row.claimed_by === 'replica-doomed' && (await a.app.queue.output(task_id, 0)).some((l) => l.startsWith('Activating'))) break;
        assert.ok(i < 300, `the other process did not start the task:\n${childOutput}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      await lock.query('ROLLBACK');

      await a.app.queue.start();
      const result = await waitForTask(a, task_id);
      assert.equal(result.code, 0, result.output.join('\n'));
      assert.ok(
        result.output.some((l) => l.startsWith('Task resumed by replica-a')),
        result.output.join('\n'),
      );
      const row = await a.app.store.db.selectFrom('tasks').select(['claimed_by', 'attempts']).where('id', '=', task_id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { claimed_by: 'replica-a', attempts: 2 });
      assert.equal(await (await a.api(`/content/${content.guid}/`)).text(), '<p>survived</p>');
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await lock.end().catch(() => undefined);
      await a.stop();
      await rm(a.dataDir, { recursive: true, force: true });
    }
  });
});
