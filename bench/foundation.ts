// Foundation benchmarks (issue #2): content list latency with 1,000 items on SQLite, idle RSS,
// and CPU used while many clients long-poll a task that does not change.
// Run: npm run build && node --import tsx bench/foundation.ts
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const PORT = 39390 + Math.floor(Math.random() * 500);
const BASE = `http://127.0.0.1:${PORT}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** User + system CPU seconds the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / Number(execFileSync('getconf', ['CLK_TCK']).toString());
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main() {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-bench-'));
  const env = { ...process.env, LECTERN_SERVER_DATADIR: dataDir, LECTERN_HTTP_LISTEN: `127.0.0.1:${PORT}`, LECTERN_LOGGING_LEVEL: 'warn' };
  const server = spawn(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    for (let i = 0; !/First start: no accounts yet/.test(out); i++) {
      if (i > 200) throw new Error(`server did not start:\n${out}`);
      await sleep(50);
    }
    // A new server prints a one-time setup link; the command line adds the administrator instead.
    execFileSync(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'user', 'add', '--username', 'admin', '--password', 'bench-password', '--role', 'administrator'], { env });
    const key = execFileSync(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'key', 'create', '--username', 'admin'], { env })
      .toString()
      .trim();
    const headers = { authorization: `Key ${key}`, 'content-type': 'application/json' };
    await sleep(2000);
    const idleRss = rssMiB(server.pid!);

    for (let i = 0; i < 1000; i++) {
      const res = await fetch(`${BASE}/__api__/v1/content`, { method: 'POST', headers, body: JSON.stringify({ name: `bench-item-${i}`, title: `Bench item ${i}` }) });
      if (res.status !== 200) throw new Error(`create failed: ${await res.text()}`);
    }
    const timings: number[] = [];
    for (let i = 0; i < 220; i++) {
      const start = performance.now();
      const res = await fetch(`${BASE}/__api__/v1/content`, { headers });
      const items = (await res.json()) as unknown[];
      if (items.length !== 1000) throw new Error(`expected 1000 items, got ${items.length}`);
      if (i >= 20) timings.push(performance.now() - start); // the first 20 warm up the JIT
    }
    timings.sort((a, b) => a - b);
    const withInclude: number[] = [];
    for (let i = 0; i < 60; i++) {
      const start = performance.now();
      await (await fetch(`${BASE}/__api__/v1/content?include=tags,owner,vanity_url`, { headers })).json();
      if (i >= 10) withInclude.push(performance.now() - start);
    }
    withInclude.sort((a, b) => a - b);
    const busyRss = rssMiB(server.pid!);

    // A queued task of a kind no worker runs never changes, so its pollers simply wait.
    const db = new DatabaseSync(path.join(dataDir, 'db', 'lectern.sqlite'), { timeout: 5000 });
    const admin = db.prepare("SELECT id FROM users WHERE username = 'admin'").get() as { id: number };
    db.prepare("INSERT INTO tasks (id, kind, user_id, params, state, attempts, output_lines, code, error, created_time) VALUES ('benchidle', 'bench-idle', ?, '{}', 'queued', 0, 0, 0, '', ?)").run(
      admin.id,
      new Date().toISOString(),
    );
    db.close();
    await sleep(1000);
    const pollers = 100;
    const seconds = 20;
    const before = cpuSeconds(server.pid!);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: pollers }, async () => {
        while (performance.now() - started < seconds * 1000) {
          await (await fetch(`${BASE}/__api__/v1/tasks/benchidle?wait=5`, { headers })).json();
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(server.pid!) - before;

    const cpuModel = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
    console.log(`Machine: ${os.cpus().length} cores (${cpuModel}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
    console.log(`| measurement | result | target |`);
    console.log(`| --- | --- | --- |`);
    console.log(`| GET /__api__/v1/content, 1,000 items, SQLite: p50 / p99 (200 requests) | ${percentile(timings, 50).toFixed(1)} ms / ${percentile(timings, 99).toFixed(1)} ms | p50 < 50 ms |`);
    console.log(`| same with include=tags,owner,vanity_url: p50 / p99 (50 requests) | ${percentile(withInclude, 50).toFixed(1)} ms / ${percentile(withInclude, 99).toFixed(1)} ms | |`);
    console.log(`| RSS idle after start / after the list benchmark | ${idleRss.toFixed(0)} MiB / ${busyRss.toFixed(0)} MiB | idle < 120 MB |`);
    console.log(
      `| server CPU while ${pollers} clients long-poll an unchanging task (wait=5) for ${elapsed.toFixed(0)} s | ${cpu.toFixed(2)} s (${((cpu / elapsed) * 100).toFixed(1)} % of one core) | ≈ 0 |`,
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
