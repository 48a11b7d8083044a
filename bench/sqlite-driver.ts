// SQLite driver benchmark (issue #12): two checkouts of Lectern side by side in one run, e.g. this
// one (node:sqlite) and one on better-sqlite3, alternating round by round so both see the same
// machine load. Each round measures, for each checkout:
//   - a query mix through that checkout's own Store (openStore + migrate, Kysely and its driver):
//     the point reads and writes of a request that misses the row caches (API key with its user,
//     content row, grants, group memberships, activity update, audit record, a task enqueued,
//     claimed and finished in a transaction) and the full content list (1,000 rows);
//   - over HTTP, `lectern start` of that checkout: GET /__api__/v1/content with 1,000 items and
//     POST /__api__/v1/content, latency and the server's CPU time per request.
// Run (both checkouts built, each with its own node_modules):
//   npm run build && node --import tsx bench/sqlite-driver.ts /path/to/other/checkout
// LECTERN_BENCH_ROUNDS (default 3) sets the number of rounds.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MixResult {
  pointMixUs: number;
  listUs: number;
}
interface HttpResult {
  listP50: number;
  listP99: number;
  listCpuUs: number;
  createP50: number;
  createCpuUs: number;
}

// ---------------------------------------------------------------- query mix (child process)

const CONTENT_DEFAULTS = {
  description: 'A benchmark item',
  access_type: 'acl',
  locked: 0,
  locked_message: '',
  app_mode: 'python-api',
  content_category: '',
  parameterized: 0,
  run_as_current_user: 0,
} as const;

/** Runs in a child whose cwd is the checkout, so its modules (and its driver) are the ones loaded. */
async function queryMix(checkout: string): Promise<MixResult> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-bench-sqlite-'));
  process.env.LECTERN_SERVER_DATADIR = dataDir;
  const { Config } = await import(path.join(checkout, 'src/config/config.ts'));
  const { openStore, migrate } = await import(path.join(checkout, 'src/db/database.ts'));
  const store = openStore(Config.load({}));
  try {
    await migrate(store);
    const db: Kysely<Database> = store.db;
    const now = new Date().toISOString();
    const users = await db
      .insertInto('users')
      .values(
        Array.from({ length: 100 }, (_, i) => ({
          guid: `user-${i}`,
          username: `user${i}`,
          email: `user${i}@example.org`,
          first_name: 'Bench',
          last_name: `User ${i}`,
          user_role: 'publisher' as const,
          locked: 0,
          confirmed: 1,
          created_time: now,
          updated_time: now,
        })),
      )
      .returning('id')
      .execute();
    const groups = await db
      .insertInto('groups')
      .values(Array.from({ length: 10 }, (_, i) => ({ guid: `group-${i}`, name: `group${i}`, created_time: now })))
      .returning('id')
      .execute();
    await db
      .insertInto('group_members')
      .values(users.map((u, i) => ({ group_id: groups[i % groups.length]!.id, user_id: u.id })))
      .execute();
    await db
      .insertInto('api_keys')
      .values(users.map((u, i) => ({ user_id: u.id, name: 'key', key_hash: `hash-${i}`, key_hint: 'abcd', created_time: now })))
      .execute();
    const content = await db
      .insertInto('content')
      .values(
        Array.from({ length: 1000 }, (_, i) => ({
          ...CONTENT_DEFAULTS,
          guid: `content-${i}`,
          name: `item-${i}`,
          title: `Item ${i}`,
          owner_id: users[i % users.length]!.id,
          created_time: now,
          updated_time: now,
        })),
      )
      .returning('id')
      .execute();
    await db
      .insertInto('content_permissions')
      .values(content.flatMap((c, i) => [0, 1, 2].map((k) => ({ content_id: c.id, principal_type: 'user' as const, principal_guid: `user-${(i + k) % users.length}`, role: 'viewer' as const }))))
      .execute();

    let task = 0;
    const pointMix = async (i: number) => {
      const key = await db
        .selectFrom('api_keys')
        .innerJoin('users', 'users.id', 'api_keys.user_id')
        .selectAll('users')
        .select(['api_keys.id as key_id', 'api_keys.scope', 'api_keys.expires_at'])
        .where('api_keys.key_hash', '=', `hash-${i % users.length}`)
        .executeTakeFirstOrThrow();
      const item = await db
        .selectFrom('content')
        .selectAll()
        .where('guid', '=', `content-${i % content.length}`)
        .executeTakeFirstOrThrow();
      await db.selectFrom('content_permissions').selectAll().where('content_id', '=', item.id).execute();
      await db.selectFrom('group_members').select('group_id').where('user_id', '=', key.id).execute();
      const at = new Date().toISOString();
      await db.updateTable('users').set({ active_time: at }).where('id', '=', key.id).execute();
      await db
        .insertInto('audit_logs')
        .values({ time: at, user_id: key.id, user_guid: key.guid, user_description: key.username, action: 'bench', event_description: `visited ${item.guid}` })
        .execute();
      await db.transaction().execute(async (trx) => {
        const id = `task-${task++}`;
        await trx
          .insertInto('tasks')
          .values({ id, kind: 'bench', content_id: item.id, user_id: key.id, params: '{}', state: 'queued', attempts: 0, output_lines: 0, code: 0, error: '', created_time: at })
          .execute();
        await trx
          .updateTable('tasks')
          .set({ state: 'running', claimed_by: 'bench', lease_expires_at: Date.now() + 30_000 })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx.updateTable('tasks').set({ state: 'finished', finished_time: at, lease_expires_at: null }).where('id', '=', id).execute();
      });
    };
    const list = async () => {
      const rows = await db.selectFrom('content').selectAll().orderBy('id').execute();
      if (rows.length !== content.length) throw new Error(`listed ${rows.length} of ${content.length} rows`);
    };
    const perCallUs = async (fn: (i: number) => Promise<void>, warmup: number, calls: number) => {
      for (let i = 0; i < warmup; i++) await fn(i);
      const started = performance.now();
      for (let i = 0; i < calls; i++) await fn(i);
      return ((performance.now() - started) * 1000) / calls;
    };
    return { pointMixUs: await perCallUs(pointMix, 500, 3000), listUs: await perCallUs(list, 20, 200) };
  } finally {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function runQueryMix(checkout: string): MixResult {
  const out = execFileSync(process.execPath, ['--import', 'tsx', HERE, '--query-mix', checkout], { cwd: checkout, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.toString()) as MixResult;
}

// ---------------------------------------------------------------- HTTP

/** User + system CPU seconds the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / Number(execFileSync('getconf', ['CLK_TCK']).toString());
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function http(checkout: string): Promise<HttpResult> {
  const port = 39390 + Math.floor(Math.random() * 500);
  const base = `http://127.0.0.1:${port}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-bench-sqlite-'));
  const { LECTERN_BENCH_ROUNDS: _rounds, ...inherited } = process.env; // not a server setting
  const env = { ...inherited, LECTERN_SERVER_DATADIR: dataDir, LECTERN_HTTP_LISTEN: `127.0.0.1:${port}`, LECTERN_LOGGING_LEVEL: 'warn' };
  const lectern = path.join(checkout, 'bin/lectern.js');
  const server = spawn(process.execPath, [lectern, 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    for (let i = 0; !/First start: no accounts yet/.test(out); i++) {
      if (i > 400) throw new Error(`${checkout}: server did not start within 20 s:\n${out}`);
      await sleep(50);
    }
    execFileSync(process.execPath, [lectern, 'user', 'add', '--username', 'admin', '--password', 'bench-password', '--role', 'administrator'], { env });
    const key = execFileSync(process.execPath, [lectern, 'key', 'create', '--username', 'admin'], { env }).toString().trim();
    const headers = { authorization: `Key ${key}`, 'content-type': 'application/json' };
    const timed = async (count: number, warmup: number, request: (i: number) => Promise<void>) => {
      for (let i = 0; i < warmup; i++) await request(-1 - i);
      const cpuBefore = cpuSeconds(server.pid!);
      const timings: number[] = [];
      for (let i = 0; i < count; i++) {
        const started = performance.now();
        await request(i);
        timings.push(performance.now() - started);
      }
      const cpuUs = ((cpuSeconds(server.pid!) - cpuBefore) * 1e6) / count;
      return { sorted: timings.sort((a, b) => a - b), cpuUs };
    };
    const create = await timed(1000, 0, async (i) => {
      const res = await fetch(`${base}/__api__/v1/content`, { method: 'POST', headers, body: JSON.stringify({ name: `bench-item-${i}`, title: `Bench item ${i}` }) });
      if (res.status !== 200) throw new Error(`create failed: ${res.status} ${await res.text()}`);
    });
    const list = await timed(200, 20, async () => {
      const items = (await (await fetch(`${base}/__api__/v1/content`, { headers })).json()) as unknown[];
      if (items.length !== 1000) throw new Error(`expected 1000 items, got ${items.length}`);
    });
    return { listP50: percentile(list.sorted, 50), listP99: percentile(list.sorted, 99), listCpuUs: list.cpuUs, createP50: percentile(create.sorted, 50), createCpuUs: create.cpuUs };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report

function describe(checkout: string): string {
  const database = readFileSync(path.join(checkout, 'src/db/database.ts'), 'utf8');
  const driver = /from 'better-sqlite3'/.test(database) ? 'better-sqlite3' : 'node:sqlite';
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', checkout, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    commit = path.basename(checkout);
  }
  return `${driver} (${commit})`;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const load = () => os.loadavg()[0]!.toFixed(1);

async function main(other: string) {
  const checkouts = [ROOT, path.resolve(other)];
  const rounds = Number(process.env.LECTERN_BENCH_ROUNDS ?? 3);
  const mixes = checkouts.map(() => [] as MixResult[]);
  const https = checkouts.map(() => [] as HttpResult[]);
  const loads: string[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [i, checkout] of checkouts.entries()) {
      loads.push(load());
      mixes[i]!.push(runQueryMix(checkout));
      https[i]!.push(await http(checkout));
      console.error(`round ${round + 1}/${rounds}: ${describe(checkout)} done (load ${loads.at(-1)})`);
    }
  }
  const cpuModel = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
  console.log(
    `${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} cores (${cpuModel}), Node ${process.version}, median of ${rounds} alternated rounds, 1-minute load before each run: ${loads.join(', ')}`,
  );
  console.log('');
  console.log(`| measurement | ${checkouts.map(describe).join(' | ')} |`);
  console.log(`| --- | ${checkouts.map(() => '---').join(' | ')} |`);
  const row = (label: string, values: (i: number) => number[], unit: string, digits = 0) =>
    console.log(
      `| ${label} | ${checkouts
        .map(
          (_, i) =>
            `${median(values(i)).toFixed(digits)} ${unit} (${values(i)
              .map((v) => v.toFixed(digits))
              .join(', ')})`,
        )
        .join(' | ')} |`,
    );
  row('query mix: one cache-missing request (4 reads, 2 writes, a 3-statement task transaction)', (i) => mixes[i]!.map((m) => m.pointMixUs), 'µs');
  row('query mix: the content list, 1,000 rows', (i) => mixes[i]!.map((m) => m.listUs), 'µs');
  row('HTTP GET /__api__/v1/content, 1,000 items: p50', (i) => https[i]!.map((h) => h.listP50), 'ms', 1);
  row('same: p99', (i) => https[i]!.map((h) => h.listP99), 'ms', 1);
  row('same: server CPU per request', (i) => https[i]!.map((h) => h.listCpuUs), 'µs');
  row('HTTP POST /__api__/v1/content: p50', (i) => https[i]!.map((h) => h.createP50), 'ms', 2);
  row('same: server CPU per request', (i) => https[i]!.map((h) => h.createCpuUs), 'µs');
}

if (process.argv[2] === '--query-mix') {
  console.log(JSON.stringify(await queryMix(process.argv[3]!)));
} else if (process.argv[2]) {
  await main(process.argv[2]);
} else {
  console.error('usage: node --import tsx bench/sqlite-driver.ts <other built checkout to compare with>');
  process.exit(2);
}
