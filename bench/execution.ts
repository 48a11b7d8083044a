// Local execution benchmarks (issue #3): proxy throughput and latency against the same worker
// reached directly, cold start with a cached environment, unchanged redeploy, and a fresh restore
// with uv vs pip. Needs what `bash scripts/test-deps.sh` installs (uv in .cache/py/tools).
// Run: npm run build && node --import tsx bench/execution.ts [proxy|cold|redeploy|restore ...]
import autocannon from 'autocannon';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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
    LECTERN_PYTHON_UVEXECUTABLE: UV,
    LECTERN_PYTHON_PACKAGECACHEDIR: PACKAGE_CACHE,
    ...extraEnv,
  };
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'start'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; !/First start: no accounts yet/.test(out); i++) {
    if (i > 400) throw new Error(`server did not start:\n${out}`);
    await sleep(50);
  }
  // A new server prints a one-time setup link; the command line adds the administrator instead.
  execFileSync(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'user', 'add', '--username', 'admin', '--password', 'bench-password', '--role', 'administrator'], { env });
  const key = execFileSync(process.execPath, [path.join(ROOT, 'bin/lectern.js'), 'key', 'create', '--username', 'admin'], { env }).toString().trim();
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
    python: { version: execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())']).toString().trim(), package_manager: { name: packageManager, package_file: 'requirements.txt' } },
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

async function load(url: string, headers: Record<string, string>) {
  const result = await autocannon({ url, connections: 64, duration: 10, headers });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

const TINY_API = {
  'app.py': 'from fastapi import FastAPI\napp = FastAPI()\n@app.get("/")\ndef index():\n    return {"ok": True}\n',
  'requirements.txt': 'fastapi\n',
};

async function proxyBench(s: Server) {
  const { guid } = await publish(s, 'bench-proxy', bundle('python-fastapi', 'app:app', TINY_API));
  const headers = { authorization: `Key ${s.key}` };
  await autocannon({ url: `${s.base}/content/${guid}/`, connections: 64, duration: 3, headers });
  const worker = await workerOf(s, guid);
  if (!worker?.address) throw new Error('no worker address');
  const direct = await load(`http://${worker.address}/`, {});
  const proxied = await load(`${s.base}/content/${guid}/`, headers);
  return { direct, proxied };
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
  const report: string[] = [`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`];
  const s = await startServer();
  try {
    if (which.has('proxy')) {
      const { direct, proxied } = await proxyBench(s);
      report.push(`proxy (FastAPI/uvicorn tiny JSON, 64 connections, 10 s): direct ${direct.rps.toFixed(0)} req/s p50 ${direct.p50} ms p99 ${direct.p99} ms; through Lectern ${proxied.rps.toFixed(0)} req/s p50 ${proxied.p50} ms p99 ${proxied.p99} ms; ratio ${((100 * proxied.rps) / direct.rps).toFixed(0)} %, added p50 ${(proxied.p50 - direct.p50).toFixed(1)} ms; errors ${direct.errors}/${proxied.errors}`);
    }
    if (which.has('cold')) {
      report.push(`cold start to first byte (environment cached, median of 5): python-api (Flask) ${(await coldStart(s, 'bench-cold-flask', 'python-api', 'app:app', { 'app.py': 'from flask import Flask\napp = Flask(__name__)\n@app.get("/")\ndef i():\n    return "ok"\n', 'requirements.txt': 'flask\n' })).toFixed(2)} s`);
      report.push(`cold start python-shiny: ${(await coldStart(s, 'bench-cold-shiny', 'python-shiny', 'app:app', { 'app.py': 'from shiny import App, ui\napp = App(ui.page_fluid("hi"), None)\n', 'requirements.txt': 'shiny\n' })).toFixed(2)} s`);
      report.push(`cold start python-streamlit: ${(await coldStart(s, 'bench-cold-streamlit', 'python-streamlit', 'app.py', { 'app.py': 'import streamlit as st\nst.write("hi")\n', 'requirements.txt': 'streamlit\n' }, '_stcore/health')).toFixed(2)} s`);
    }
    if (which.has('redeploy')) report.push(`unchanged redeploy, upload to live (FastAPI, median of 5): ${(await redeploy(s)).toFixed(2)} s`);
  } finally {
    await stopServer(s);
  }
  if (which.has('restore')) report.push(`fresh restore of 10 packages (empty cache): uv ${(await restore('uv')).toFixed(1)} s, pip ${(await restore('pip')).toFixed(1)} s`);
  console.log(report.join('\n'));
}

await main();
