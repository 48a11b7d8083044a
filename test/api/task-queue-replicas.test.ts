import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { makeTarGz } from '../support/tarball.js';
import { postgresDatabaseUrl, startLectern, stopPostgres, waitForTask } from '../support/lectern.js';

after(stopPostgres);

const tempDir = () => mkdtemp(path.join(os.tmpdir(), 'lectern-replicas-'));

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

describe('several replicas on one PostgreSQL database', () => {
  test('share the task queue without running a task twice, and take over a dead replica\'s task', async () => {
    const databaseUrl = await postgresDatabaseUrl();
    const a = await startLectern('postgres', { 'Server.ReplicaName': 'replica-a', 'Tasks.LeaseTimeout': '2s' }, { dataDir: await tempDir(), databaseUrl });
    const b = await startLectern('postgres', { 'Server.ReplicaName': 'replica-b', 'Tasks.LeaseTimeout': '2s' }, { dataDir: a.dataDir, databaseUrl });
    try {
      const content = (await (await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'shared-queue' } })).json()) as { guid: string; id: string };
      const bundleIds: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await a.api(`/__api__/v1/content/${content.guid}/bundles`, {
          method: 'POST',
          body: makeTarGz([{ name: 'manifest.json', content: STATIC_MANIFEST }, { name: 'index.html', content: `<p>${i}</p>` }]),
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
      assert.ok(rows.every((r) => r.attempts === 1));
      assert.deepEqual(new Set(rows.map((r) => r.claimed_by)).size >= 1, true);

      // A replica that died mid-task leaves a running row whose lease is not renewed (this is the
      // exact database state after SIGKILL). Another replica takes it over once the lease expires.
      const bundle = bundleIds[0]!;
      const orphan = await a.app.queue.enqueue('deploy', { contentId: Number(content.id), bundleId: Number(bundle), userId: null, params: { activate: true } });
      await a.app.store.db
        .updateTable('tasks')
        .set({ state: 'running', claimed_by: 'replica-killed', attempts: 1, lease_expires_at: Date.now() + 1500 })
        .where('id', '=', orphan.id)
        .where('state', '=', 'queued')
        .execute();
      const taken = await waitForTask(a, orphan.id);
      assert.equal(taken.code, 0, taken.output.join('\n'));
      assert.ok(taken.output.some((l) => /Task resumed by replica-[ab]/.test(l)), taken.output.join('\n'));

      // On its last allowed attempt a dead replica's task is failed with a message instead.
      const doomed = await a.app.queue.enqueue('deploy', { contentId: Number(content.id), bundleId: Number(bundle), userId: null });
      await a.app.store.db
        .updateTable('tasks')
        .set({ state: 'running', claimed_by: 'replica-killed', attempts: 3, lease_expires_at: Date.now() - 1 })
        .where('id', '=', doomed.id)
        .execute();
      const failed = await waitForTask(a, doomed.id);
      assert.equal(failed.code, 1);
      assert.match(failed.error, /stopped responding/);
    } finally {
      await b.stop();
      await a.stop();
      await rm(a.dataDir, { recursive: true, force: true });
    }
  });
});
