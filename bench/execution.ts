// Local execution benchmarks (issue #3): proxy throughput and latency against the same worker
// reached directly, cold start with a cached environment, unchanged redeploy, and a fresh restore
// with uv vs pip. Needs what `bash scripts/test-deps.sh` installs (uv in .cache/py/tools).
// Run: npm run build && node --import tsx bench/execution.ts [proxy|cold|redeploy|restore ...]
// LECTERN_BENCH_ROUNDS (default 3) alternates direct and proxied runs that many times and reports
// medians; LECTERN_BENCH_CPU_PROF=<dir> writes the server's V8 CPU profile there on exit.
import autocannon from 'autocannon';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTarGz } from '../test/support/tarball.js';
import { PACKAGE_CACHE, testPython } from '../test/support/execution.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const UV = path.join(ROOT, '.cache', 'py', 'tools', 'bin', 'uv');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Server {
  base: string;
  key: string;
  process: ChildProcess;
  dataDir: string;
}

async function startServer(extraEnv: Record<string, string> = {}): Promise<Server> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-bench-exec-'));
  const port = 40000 + Math.floor(Math.random() * 5000);
  const env = {
    ...process.env,
    LECTERN_SERVER_DATADIR: dataDir,
    LECTERN_HTTP_LISTEN: `127.0.0.1:${port}`,
    LECTERN_LOGGING_LEVEL: 'warn',
    LECTERN_PYTHON_EXECUTABLE: testPython(),
    // Without uv (test-deps not run yet) Lectern falls back to pip.
    ...(existsSync(UV) ? { LECTERN_PYTHON_UVEXECUTABLE: UV } : {}),
    LECTERN_PYTHON_PACKAGECACHEDIR: PACKAGE_CACHE,
    ...extraEnv,
  };
  const profile = process.env.LECTERN_BENCH_CPU_PROF;
  const nodeArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profile)}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin/lectern.js'), 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; !/First start: no accounts yet/.test(out); i++) {
    if (i > 1200) throw new Error(`server did not start within 60 s:\n${out}`);
    await sleep(50);
  }
  // A new server prints a one-time setup link; the command line adds the administrator instead.
  execFileSync(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'user', 'add', '--username', 'admin', '--password', 'bench-password', '--role', 'administrator'], { env });
  const key = execFileSync(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'key', 'create', '--username', 'admin'], { env })
    .toString()
    .trim();
  return { base: `http://127.0.0.1:${port}`, key, process: child, dataDir };
}

async function stopServer(s: Server) {
  s.process.kill('SIGTERM');
  await new Promise((r) => s.process.once('exit', r));
  await rm(s.dataDir, { recursive: true, force: true });
}

async function api(s: Server, pathname: string, init: RequestInit & { json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Key ${s.key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  return fetch(s.base + pathname, { ...init, headers, body });
}

async function waitTask(s: Server, id: string) {
  for (;;) {
    const task = (await (await api(s, `/__api__/v1/tasks/${id}?wait=10`)).json()) as { finished: boolean; code: number; error: string };
    if (task.finished) {
      if (task.code !== 0) throw new Error(`task failed: ${task.error}`);
      return;
    }
  }
}

function bundle(appmode: string, entrypoint: string, files: Record<string, string>, packageManager = 'pip') {
  const manifest = {
    version: 1,
    metadata: { appmode, entrypoint },
    python: {
      version: execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())']).toString().trim(),
      package_manager: { name: packageManager, package_file: 'requirements.txt' },
    },
    files: Object.fromEntries(Object.keys(files).map((f) => [f, { checksum: '' }])),
  };
  return makeTarGz([{ name: 'manifest.json', content: JSON.stringify(manifest) }, ...Object.entries(files).map(([name, content]) => ({ name, content }))]);
}

/** Creates content, uploads, and runs `kind` (deploy or build); returns guid, bundle id and seconds. */
async function publish(s: Server, name: string, archive: Buffer<ArrayBuffer>, kind: 'deploy' | 'build' = 'deploy', guid?: string) {
  if (!guid) guid = ((await (await api(s, '/__api__/v1/content', { method: 'POST', json: { name } })).json()) as { guid: string }).guid;
  const started = performance.now();
  const uploaded = (await (await api(s, `/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: archive })).json()) as { id: string };
  const task = (await (await api(s, `/__api__/v1/content/${guid}/${kind}`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
  await waitTask(s, task.task_id);
  return { guid, bundleId: uploaded.id, seconds: (performance.now() - started) / 1000 };
}

async function workerOf(s: Server, guid: string) {
  const processes = (await (await api(s, '/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; job_key: string; address: string | null; kind: string }>;
  return processes.find((p) => p.content_guid === guid && p.kind === 'run');
}

async function stopWorkers(s: Server, guid: string) {
  for (;;) {
    const worker = await workerOf(s, guid);
    if (!worker) return;
    await api(s, `/__api__/v1/content/${guid}/jobs/${worker.job_key}`, { method: 'DELETE' });
    await sleep(200);
  }
}

interface LoadResult {
  rps: number;
  /** CPU time (user + system) Lectern's process used per request during the run, in µs. */
  serverCpuUs?: number;
  p50: number;
  p99: number;
  errors: number;
  /** One-minute load average just before the run: other work on the machine skews the figures. */
  loadBefore: number;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat(5), counted from after the command name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

async function load(url: string, headers: Record<string, string>, serverPid?: number): Promise<LoadResult> {
  const loadBefore = os.loadavg()[0]!;
  const cpuBefore = serverPid ? cpuSeconds(serverPid) : 0;
  const result = await autocannon({ url, connections: 64, duration: 10, headers });
  const serverCpuUs = serverPid ? ((cpuSeconds(serverPid) - cpuBefore) * 1e6) / result.requests.total : undefined;
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx, loadBefore, serverCpuUs };
}

/** The run with the median throughput: one noisy run (another build starting) does not decide. */
function medianRun(runs: LoadResult[]): LoadResult {
  return [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
}

const TINY_API = {
  'app.py': 'from fastapi import FastAPI\napp = FastAPI()\n@app.get("/")\ndef index():\n    return {"ok": True}\n',
  'requirements.txt': 'fastapi\n',
};

/**
 * Direct to one worker vs through Lectern to the same single worker (max_processes 1, and enough
 * connections per process for every client): the proxy's own cost. Then the same app with the
 * default scheduler settings, where Lectern may start up to 3 workers for 64 connections.
 */
async function proxyBench(s: Server) {
  const headers = { authorization: `Key ${s.key}` };
  const single = await publish(s, 'bench-proxy', bundle('python-fastapi', 'app:app', TINY_API));
  await api(s, `/__api__/v1/content/${single.guid}`, { method: 'PATCH', json: { max_processes: 1, max_conns_per_process: 64 } });
  const pooled = await publish(s, 'bench-proxy-default', bundle('python-fastapi', 'app:app', TINY_API));
  for (const { guid } of [single, pooled]) await autocannon({ url: `${s.base}/content/${guid}/`, connections: 64, duration: 3, headers });
  const worker = await workerOf(s, single.guid);
  if (!worker?.address) throw new Error('no worker address');
  const rounds = Number(process.env.LECTERN_BENCH_ROUNDS ?? 3);
  const direct: LoadResult[] = [];
  const proxied: LoadResult[] = [];
  const defaults: LoadResult[] = [];
  // Alternating keeps a change in background load from favouring one side.
  for (let i = 0; i < rounds; i++) {
    direct.push(await load(`http://${worker.address}/`, {}));
    proxied.push(await load(`${s.base}/content/${single.guid}/`, headers, s.process.pid));
    defaults.push(await load(`${s.base}/content/${pooled.guid}/`, headers, s.process.pid));
  }
  const workers = (await (await api(s, '/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; kind: string }>;
  const count = (guid: string) => workers.filter((w) => w.content_guid === guid && w.kind === 'run').length;
  return {
    direct: medianRun(direct),
    proxied: medianRun(proxied),
    defaults: medianRun(defaults),
    all: { direct, proxied, defaults },
    workers: { single: count(single.guid), pooled: count(pooled.guid) },
  };
}

async function coldStart(s: Server, name: string, appmode: string, entrypoint: string, files: Record<string, string>, rest = '') {
  const { guid } = await publish(s, name, bundle(appmode, entrypoint, files));
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    await stopWorkers(s, guid);
    const started = performance.now();
    const res = await fetch(`${s.base}/content/${guid}/${rest}`, { headers: { authorization: `Key ${s.key}` } });
    await res.body?.getReader().read();
    times.push((performance.now() - started) / 1000);
    if (res.status !== 200) throw new Error(`${name}: status ${res.status}`);
  }
  return median(times);
}

async function redeploy(s: Server) {
  const archive = bundle('python-fastapi', 'app:app', TINY_API);
  const { guid } = await publish(s, 'bench-redeploy', archive);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await publish(s, '', archive, 'deploy', guid)).seconds);
  return median(times);
}

const TEN_PACKAGES = 'requests\nflask\nclick\njinja2\npyyaml\nrich\npydantic\nhttpx\npython-dateutil\ntabulate\n';

async function restore(manager: 'uv' | 'pip') {
  const cache = await mkdtemp(path.join(os.tmpdir(), 'lectern-bench-cache-'));
  const s = await startServer({ LECTERN_PYTHON_PACKAGEMANAGER: manager, LECTERN_PYTHON_PACKAGECACHEDIR: cache });
  try {
    const { seconds } = await publish(s, `bench-restore-${manager}`, bundle('python-api', 'app:app', { 'app.py': 'app = None\n', 'requirements.txt': TEN_PACKAGES }, manager), 'build');
    return seconds;
  } finally {
    await stopServer(s);
    await rm(cache, { recursive: true, force: true });
  }
}

async function main() {
  const which = new Set(process.argv.slice(2).length ? process.argv.slice(2) : ['proxy', 'cold', 'redeploy', 'restore']);
  const report: string[] = [
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  ];
  const s = await startServer();
  try {
    if (which.has('proxy')) {
      const { direct, proxied, defaults, all, workers } = await proxyBench(s);
      const line = (r: LoadResult) => `${r.rps.toFixed(0)} req/s p50 ${r.p50} ms p99 ${r.p99} ms`;
      const runs = (rs: LoadResult[]) =>
        rs.map((r) => `${r.rps.toFixed(0)} (load ${r.loadBefore.toFixed(2)}${r.serverCpuUs !== undefined ? `, Lectern CPU ${r.serverCpuUs.toFixed(0)} µs/req` : ''})`).join(', ');
      report.push(`proxy (FastAPI/uvicorn tiny JSON, 64 connections, 10 s, median of ${all.direct.length}):`);
      report.push(`  direct to one worker: ${line(direct)}`);
      report.push(
        `  through Lectern, same single worker: ${line(proxied)}; ratio ${((100 * proxied.rps) / direct.rps).toFixed(0)} %, added p50 ${(proxied.p50 - direct.p50).toFixed(1)} ms, Lectern CPU ${proxied.serverCpuUs!.toFixed(0)} µs/req`,
      );
      report.push(
        `  through Lectern, default scheduler (${workers.pooled} workers): ${line(defaults)}; ratio ${((100 * defaults.rps) / direct.rps).toFixed(0)} %, Lectern CPU ${defaults.serverCpuUs!.toFixed(0)} µs/req`,
      );
      report.push(`  errors ${direct.errors}/${proxied.errors}/${defaults.errors}; single-worker content had ${workers.single} worker(s)`);
      report.push(`  runs, req/s (1-min load average before): direct ${runs(all.direct)}; single ${runs(all.proxied)}; default ${runs(all.defaults)}`);
    }
    if (which.has('cold')) {
      report.push(
        `cold start to first byte (environment cached, median of 5): python-api (Flask) ${(await coldStart(s, 'bench-cold-flask', 'python-api', 'app:app', { 'app.py': 'from flask import Flask\napp = Flask(__name__)\n@app.get("/")\ndef i():\n    return "ok"\n', 'requirements.txt': 'flask\n' })).toFixed(2)} s`,
      );
      report.push(
        `cold start python-shiny: ${(await coldStart(s, 'bench-cold-shiny', 'python-shiny', 'app:app', { 'app.py': 'from shiny import App, ui\napp = App(ui.page_fluid("hi"), None)\n', 'requirements.txt': 'shiny\n' })).toFixed(2)} s`,
      );
      report.push(
        `cold start python-streamlit: ${(await coldStart(s, 'bench-cold-streamlit', 'python-streamlit', 'app.py', { 'app.py': 'import streamlit as st\nst.write("hi")\n', 'requirements.txt': 'streamlit\n' }, '_stcore/health')).toFixed(2)} s`,
      );
    }
    if (which.has('redeploy')) report.push(`unchanged redeploy, upload to live (FastAPI, median of 5): ${(await redeploy(s)).toFixed(2)} s`);
  } finally {
    await stopServer(s);
  }
  if (which.has('restore')) report.push(`fresh restore of 10 packages (empty cache): uv ${(await restore('uv')).toFixed(1)} s, pip ${(await restore('pip')).toFixed(1)} s`);
  console.log(report.join('\n'));
}

await main();
