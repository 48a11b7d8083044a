import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { JobRequest } from '../../src/jobs/jobs.js';
import { ProcessKeys } from '../../src/users/process-keys.js';
import { eventually } from '../support/eventually.js';
import { PROVIDERS, postgresDatabaseUrl, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

// A content process's CONNECT_API_KEY (src/users/process-keys.ts) works on every replica while the
// process runs, and is refused on every replica once its job row is closed, whoever closes it.
// (posit-sdk using it from real content: test/e2e/content-api-key.test.ts.)

const SETTINGS = { 'Applications.Sandbox': 'false', 'Tasks.LeaseTimeout': '2s' } as const;

const statusWith = async (t: TestServer, key: string, pathname = '/__api__/v1/user') => (await fetch(`${t.url}${pathname}`, { headers: { authorization: `Key ${key}` } })).status;

/** A process of `guid` acting as its owner that prints its key and waits; resolves with its job and key. */
async function keyedProcess(t: TestServer, guid: string) {
  const content = await t.app.store.db.selectFrom('content').select(['id', 'owner_id']).where('guid', '=', guid).executeTakeFirstOrThrow();
  const request: JobRequest = {
    kind: 'render',
    tag: 'build_jupyter',
    contentId: content.id,
    contentGuid: guid,
    bundleId: 0,
    command: ['/bin/sh', '-c', 'echo "key=$CONNECT_API_KEY"; exec sleep 600'],
    cwd: os.tmpdir(),
    env: { PATH: '/usr/bin:/bin' },
    mounts: [],
    resources: {},
    listen: false,
    actsAs: content.owner_id,
  };
  const job = await t.app.jobs.start(request);
  for await (const line of t.app.jobs.launcher.logs(job.key, { follow: true })) {
    const key = /^key=(.+)$/.exec(line.data.trim())?.[1];
    if (key) return { job, key };
  }
  throw new Error('the process ended without printing its key');
}

async function newContent(t: TestServer, name: string): Promise<string> {
  const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name } });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  return (JSON.parse(body) as { guid: string }).guid;
}

for (const provider of PROVIDERS) {
  describe(`a content process's API key (${provider})`, () => {
    test('acts as the owner on every replica while the process runs, cannot manage keys, and is refused on every replica once it ends', { timeout: 120_000 }, async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-process-keys-'));
      // Without the sandbox the process runs as Lectern's user and must reach its job directory.
      await chmod(dataDir, 0o755);
      const databaseUrl = provider === 'postgres' ? await postgresDatabaseUrl() : undefined;
      const a = await startLectern(provider, { ...SETTINGS, 'Server.ReplicaName': 'keys-a' }, { dataDir, databaseUrl });
      // Two replicas share one database only on PostgreSQL.
      const b = provider === 'postgres' ? await startLectern(provider, { ...SETTINGS, 'Server.ReplicaName': 'keys-b' }, { dataDir, databaseUrl }) : undefined;
      const servers = b ? [a, b] : [a];
      try {
        const guid = await newContent(a, 'keyed-process');
        const { job, key } = await keyedProcess(a, guid);
        for (const t of servers) {
          const me = await fetch(`${t.url}/__api__/v1/user`, { headers: { authorization: `Key ${key}` } });
          assert.equal(me.status, 200);
          assert.equal(((await me.json()) as { username: string }).username, 'admin', "the content's owner");
          assert.equal(await statusWith(t, key, '/__api__/v1/user/api_keys'), 403, 'it cannot list or mint API keys');
        }
        const listed = (await (await a.api('/__api__/v1/user/api_keys')).json()) as Array<{ name: string }>;
        assert.ok(!listed.some((k) => k.name.includes(guid)), `the owner's key list does not show it: ${JSON.stringify(listed)}`);

        await a.app.jobs.stop(job.key);
        await job.ended;
        for (const t of servers) await eventually(`replica ${t.app.config.replicaName()} to refuse the ended process's key`, async () => (await statusWith(t, key)) === 401, { timeoutMs: 30_000 });
      } finally {
        await b?.stop();
        await a.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });

    test("is refused once a live replica closes the row of a gone replica's process", { timeout: 120_000 }, async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-process-keys-'));
      const databaseUrl = provider === 'postgres' ? await postgresDatabaseUrl() : undefined;
      const a = await startLectern(provider, { ...SETTINGS, 'Server.ReplicaName': 'keys-taker' }, { dataDir, databaseUrl });
      try {
        const guid = await newContent(a, 'gone-process');
        const db = a.app.store.db;
        const content = await db.selectFrom('content').select(['id', 'owner_id']).where('guid', '=', guid).executeTakeFirstOrThrow();
        // A process another replica started before it went away (no heartbeat row): its key, then its
        // row (in this order, so the live replica cannot close the row before the key exists).
        const key = await new ProcessKeys(db, a.app.users).issue(content.owner_id, 'job-of-gone-replica', guid);
        assert.equal(await statusWith(a, key), 200);
        const now = new Date().toISOString();
        await db
          .insertInto('jobs')
          .values({
            key: 'job-of-gone-replica',
            content_id: content.id,
            bundle_id: null,
            task_id: null,
            kind: 'run',
            tag: 'run_app',
            launcher: 'local',
            hostname: os.hostname(),
            replica: 'keys-gone',
            remote_id: null,
            pid: 999_999,
            run_as: null,
            status: 0,
            log_path: '/nonexistent/log.jsonl',
            queued_time: now,
            start_time: now,
            image: null,
          })
          .execute();
        await eventually('the gone replica’s process key to be refused', async () => (await statusWith(a, key)) === 401, { timeoutMs: 30_000, intervalMs: 200 });
        const row = await db.selectFrom('jobs').select(['status']).where('key', '=', 'job-of-gone-replica').executeTakeFirstOrThrow();
        assert.equal(row.status, 1, 'the row was closed by the live replica, and the key with it');
      } finally {
        await a.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
}
