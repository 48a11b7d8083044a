// Job rows never stay "running" after their server is gone, and interrupted uploads leave nothing
// behind (issue #11 item 8).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import type { Launcher } from '../../src/launcher/launcher.js';
import { cliEnv, runCli, startCli } from '../support/cli.js';
import { PROVIDERS, postgresDatabaseUrl, startLectern, stopPostgres } from '../support/lectern.js';
import { eventually } from '../support/eventually.js';
import { OffHostLauncherDouble } from '../support/off-host-launcher.js';

after(() => stopPostgres());

const jobRow = (contentId: number, key: string, replica: string) => ({
  key,
  content_id: contentId,
  bundle_id: null,
  task_id: null,
  kind: 'run' as const,
  tag: 'run_app',
  launcher: 'local',
  hostname: os.hostname(),
  replica,
  remote_id: null,
  pid: 999_999,
  run_as: null,
  status: 0,
  log_path: '/nonexistent/log.jsonl',
  queued_time: new Date().toISOString(),
  start_time: new Date().toISOString(),
  image: null,
});

async function jobStatus(db: Kysely<Database>, key: string) {
  return db.selectFrom('jobs').select(['status', 'error']).where('key', '=', key).executeTakeFirstOrThrow();
}

/** Waits until the job row is closed (status 1). */
function waitClosed(db: Kysely<Database>, key: string) {
  return eventually(
    `job row ${key} to be closed (status 1)`,
    async () => {
      const row = await jobStatus(db, key);
      return row.status === 1 ? row : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
}

for (const provider of PROVIDERS) {
  describe(`replicas that are gone (${provider})`, () => {
    test('a live replica closes the job rows of a replica that is gone, not those of a live one', async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-replicas-'));
      const databaseUrl = provider === 'postgres' ? await postgresDatabaseUrl() : undefined;
      const a = await startLectern(provider, { 'Server.ReplicaName': 'replica-a', 'Tasks.LeaseTimeout': '2s' }, { dataDir, databaseUrl });
      const b = await startLectern(provider, { 'Server.ReplicaName': 'replica-b', 'Tasks.LeaseTimeout': '2s' }, { dataDir, databaseUrl });
      let bStopped = false;
      try {
        const content = (await (await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'jobs-of-gone-replicas' } })).json()) as { id: string };
        const db = a.app.store.db;
        // As a replica that crashed (or ran before the upgrade, under a name with its pid) leaves them.
        await db
          .insertInto('jobs')
          .values(jobRow(Number(content.id), 'job-of-gone-replica', 'replica-gone'))
          .execute();
        await db
          .insertInto('jobs')
          .values(jobRow(Number(content.id), 'job-of-live-replica', 'replica-b'))
          .execute();

        const closed = await waitClosed(db, 'job-of-gone-replica');
        assert.match(closed.error ?? '', /The server that ran this process \(replica replica-gone\) stopped/);
        assert.equal((await jobStatus(db, 'job-of-live-replica')).status, 0, 'replica-b is alive: its job stays');

        await b.stop();
        bStopped = true;
        const afterStop = await waitClosed(db, 'job-of-live-replica');
        assert.match(afterStop.error ?? '', /replica replica-b/);
      } finally {
        if (!bStopped) await b.stop();
        await a.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });

    test('a live replica takes over the processes of a gone replica that still run, and closes the rest', async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-replicas-'));
      const databaseUrl = provider === 'postgres' ? await postgresDatabaseUrl() : undefined;
      // The backend's side, as off-host pods outlive their server: it still runs one of the two.
      const asked: Array<{ keys: string[]; replica?: string; reapUnclaimed?: boolean }> = [];
      const a = await startLectern(
        provider,
        { 'Server.ReplicaName': 'replica-taker', 'Tasks.LeaseTimeout': '2s', 'Launcher.Enabled': 'true', 'Launcher.Kubernetes': 'true', 'Applications.Sandbox': 'false' },
        { dataDir, databaseUrl },
        {
          launcher: async (config) => {
            const double: Launcher = await OffHostLauncherDouble.create(config);
            const ownReconcile = double.reconcile.bind(double);
            const ownWait = double.wait.bind(double);
            double.reconcile = async (active, options) => {
              if (!options?.replica) return ownReconcile(active);
              asked.push({ keys: active.map((j) => j.key).sort(), ...options });
              return active.filter((j) => j.key === 'still-running').map((j) => j.key);
            };
            double.wait = (key) => (key === 'still-running' ? new Promise(() => undefined) : ownWait(key));
            return double;
          },
        },
      );
      try {
        const content = (await (await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'jobs-handed-over' } })).json()) as { id: string };
        const db = a.app.store.db;
        for (const key of ['still-running', 'ended-meanwhile'])
          await db
            .insertInto('jobs')
            .values(jobRow(Number(content.id), key, 'replica-stopped'))
            .execute();

        const closed = await waitClosed(db, 'ended-meanwhile');
        assert.match(closed.error ?? '', /replica replica-stopped/);
        const taken = await db.selectFrom('jobs').select(['status', 'replica']).where('key', '=', 'still-running').executeTakeFirstOrThrow();
        assert.deepEqual({ ...taken }, { status: 0, replica: 'replica-taker' }, 'the running process is now the live replica’s');
        assert.deepEqual(asked[0], { keys: ['ended-meanwhile', 'still-running'], replica: 'replica-stopped', reapUnclaimed: true }, 'every row was claimed, so unclaimed Jobs may be reaped');
      } finally {
        await a.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });

    test("a second server under a live replica's name does not start", async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-replicas-'));
      const databaseUrl = provider === 'postgres' ? await postgresDatabaseUrl() : undefined;
      // Both under the default name (the host name), which the test harness otherwise replaces.
      const defaultName = { 'Server.ReplicaName': '' };
      const a = await startLectern(provider, defaultName, { dataDir, databaseUrl });
      try {
        await assert.rejects(startLectern(provider, defaultName, { dataDir, databaseUrl }), (err: Error) => {
          assert.match(err.message, new RegExp(`another Lectern server \\(process ${process.pid} on ${os.hostname()}\\) is running as replica "${os.hostname()}"`));
          assert.match(err.message, /To fix it: give each server its own \[Server\] ReplicaName/);
          return true;
        });
      } finally {
        await a.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
}

describe('restarts', () => {
  test('a server restarted after a crash keeps its replica name and closes the job rows its previous run left', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-restart-'));
    const env = cliEnv({ LECTERN_SERVER_DATADIR: dataDir, LECTERN_HTTP_LISTEN: '127.0.0.1:0', LECTERN_APPLICATIONS_SANDBOX: 'false', LECTERN_PYTHON_PACKAGEMANAGER: 'pip' });
    const replicaOf = (output: string) => /replica: (\S+)/.exec(output)?.[1];
    const first = startCli(['start'], env);
    let second: ReturnType<typeof startCli> | undefined;
    try {
      await first.waitFor('Content runs');
      const firstName = replicaOf(first.output());
      assert.ok(firstName, `lectern start names its replica:\n${first.output()}`);
      await first.kill('SIGKILL');

      // What the crashed run left in its database: a content item with a running worker.
      const sqlite = new DatabaseSync(path.join(dataDir, 'db', 'lectern.sqlite'), { timeout: 5000 });
      try {
        const owner = await runCli(['user', 'add', '--username', 'owner', '--password', 'owner-password', '--role', 'publisher'], env);
        assert.equal(owner.code, 0, owner.stderr);
        const userId = (sqlite.prepare('SELECT id FROM users WHERE username = ?').get('owner') as { id: number }).id;
        const now = new Date().toISOString();
        const contentId = Number(
          sqlite.prepare("INSERT INTO content (guid, name, owner_id, created_time, updated_time) VALUES ('restart-guid', 'restart', ?, ?, ?)").run(userId, now, now).lastInsertRowid,
        );
        const row = jobRow(contentId, 'job-of-crashed-run', firstName!);
        sqlite
          .prepare('INSERT INTO jobs (key, content_id, kind, tag, launcher, hostname, replica, pid, status, log_path, queued_time, start_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)')
          .run(row.key, row.content_id, row.kind, row.tag, row.launcher, row.hostname, row.replica, row.pid, row.log_path, row.queued_time, row.start_time);
      } finally {
        sqlite.close();
      }

      second = startCli(['start'], env);
      await second.waitFor('Content runs');
      assert.equal(replicaOf(second.output()), firstName, 'the same replica name after a restart');
      const reopened = new DatabaseSync(path.join(dataDir, 'db', 'lectern.sqlite'), { readOnly: true });
      try {
        const job = reopened.prepare('SELECT status, error FROM jobs WHERE key = ?').get('job-of-crashed-run') as { status: number; error: string };
        assert.deepEqual({ ...job }, { status: 1, error: 'The server stopped while this process ran.' }); // node:sqlite rows have no prototype
      } finally {
        reopened.close();
      }
    } finally {
      await first.kill('SIGKILL');
      await second?.kill();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('interrupted uploads', () => {
  test('their leftovers are removed at start once they are old enough that no upload can still be writing them', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-uploads-'));
    const old = new Date(Date.now() - 7 * 3_600_000);
    const leftovers = ['bundles/7/.upload-0123456789ab.tar.gz', 'apps/7/.pending-0123456789ab/', 'apps/7/.tmp-0123456789abcdef/'];
    const fresh = ['bundles/7/.upload-ba9876543210.tar.gz', 'apps/7/.tmp-fedcba9876543210/'];
    const kept = ['bundles/7/3.tar.gz', 'apps/7/3/'];
    for (const name of [...leftovers, ...fresh, ...kept]) {
      const file = path.join(dataDir, name);
      if (name.endsWith('/')) {
        await mkdir(path.join(file, 'inside'), { recursive: true });
      } else {
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, 'partial');
      }
      if (!fresh.includes(name)) await utimes(file, old, old);
    }
    const t = await startLectern('sqlite', {}, { dataDir });
    try {
      const present = async (dir: string) => (await readdir(path.join(dataDir, dir))).sort();
      assert.deepEqual(await present('bundles/7'), ['.upload-ba9876543210.tar.gz', '3.tar.gz']);
      assert.deepEqual(await present('apps/7'), ['.tmp-fedcba9876543210', '3']);
    } finally {
      await t.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
