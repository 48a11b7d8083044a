import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Content } from '../../src/db/schema.js';
import { endedBeforeReady, notReadyInTime } from '../../src/launcher/launcher.js';
import { acceptsConnections } from '../../src/launcher/local/accepts-connections.js';
import { ContentPool, type PoolSettings, type WorkerStarter, WorkerUnavailable } from '../../src/scheduler/pool.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/free-port.js';

// Real worker processes: tiny Node HTTP servers whose behaviour each test chooses. The starter
// stands in for a launcher: its ready() is the only readiness the pool sees, as Launcher.ready is.
type Behaviour = 'serve' | 'never-listen' | 'exit-soon';

function processStarter(behaviour: () => Behaviour) {
  const children = new Map<string, ChildProcess>();
  const stopping = new Set<string>();
  const ports = new Map<string, number>();
  const endings = new Map<string, Promise<{ reason?: string }>>();
  let n = 0;
  const starter: WorkerStarter & { started: number; children: Map<string, ChildProcess>; readyTimeouts: number[] } = {
    started: 0,
    children,
    readyTimeouts: [],
    async start() {
      const key = `w${++n}`;
      starter.started++;
      const port = await freePort();
      const mode = behaviour();
      const code =
        mode === 'never-listen'
          ? 'console.log("starting but never listening"); setInterval(() => {}, 1000)'
          : mode === 'exit-soon'
            ? 'console.error("fatal: cannot connect to the database"); process.exit(3)'
            : `require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
      const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
      const output: string[] = [];
      child.stdout!.on('data', (d) => output.push(String(d).trim()));
      child.stderr!.on('data', (d) => output.push(String(d).trim()));
      children.set(key, child);
      const ended = once(child, 'exit').then(([code]) => ({ reason: `exited with code ${code}`, stopped: stopping.has(key) }));
      (starter as unknown as Record<string, string[]>)[key] = output;
      ports.set(key, port);
      endings.set(key, ended);
      return { key, ended };
    },
    async ready(key, timeoutMs) {
      starter.readyTimeouts.push(timeoutMs);
      const address = { host: '127.0.0.1', port: ports.get(key)! };
      let ended: { reason?: string } | undefined;
      void endings.get(key)!.then((status) => (ended = status));
      const deadline = Date.now() + timeoutMs;
      while (!(await acceptsConnections(address))) {
        if (ended) throw new Error(endedBeforeReady(ended.reason));
        if (Date.now() >= deadline) throw new Error(notReadyInTime(timeoutMs));
        await new Promise((r) => setTimeout(r, 25));
      }
      return address;
    },
    async logTail(key) {
      return ((starter as unknown as Record<string, string[]>)[key] ?? []).map((data) => ({ source: 'stderr' as const, timestamp: new Date(), data }));
    },
    async stop(key) {
      const child = children.get(key);
      if (child && child.exitCode === null) {
        stopping.add(key);
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
  return starter;
}

const content = { id: 1, guid: 'g', bundle_id: 1, env_version: 0 } as Content;

/**
 * A lease from `pool` as soon as its crash backoff lets one through: the test waits for that
 * outcome, not for a time sized to the pool's backoff constants.
 */
function acquireAfterBackoff(pool: ContentPool, what: string) {
  return eventually(
    what,
    () =>
      pool.acquire().catch((err: unknown) => {
        if (err instanceof WorkerUnavailable && /tries again in/.test(err.message)) return undefined;
        throw err;
      }),
    { timeoutMs: 10_000, intervalMs: 50 },
  );
}
const settings = (over: Partial<PoolSettings> = {}): PoolSettings => ({
  minProcesses: 0,
  maxProcesses: 3,
  maxConnsPerProcess: 2,
  loadFactor: 0.5,
  idleTimeoutMs: 60_000,
  initTimeoutMs: 10_000,
  ...over,
});

test('scales up under concurrent connections up to max_processes, then queues', async () => {
  const starter = processStarter(() => 'serve');
  const pool = new ContentPool(content, settings(), starter, () => undefined);
  const leases = [];
  for (let i = 0; i < 6; i++) leases.push(await pool.acquire());
  assert.equal(pool.workerCount(), 3);
  assert.deepEqual(
    pool
      .describe()
      .map((w) => w.connections)
      .sort(),
    [2, 2, 2],
  );
  // A seventh connection waits for a slot rather than starting a fourth worker.
  let seventhDone = false;
  const seventh = pool.acquire().then((l) => {
    seventhDone = true;
    return l;
  });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(seventhDone, false);
  leases[0]!.release();
  const lease = await seventh;
  assert.equal(pool.workerCount(), 3);
  lease.release();
  for (const l of leases.slice(1)) l.release();
  await pool.stopAll();
});

test('idle workers stop after idle_timeout; min_processes stay warm', async () => {
  const starter = processStarter(() => 'serve');
  const pool = new ContentPool(content, settings({ idleTimeoutMs: 100, minProcesses: 1 }), starter, () => undefined);
  const a = await pool.acquire();
  const b = await pool.acquire();
  const c = await pool.acquire();
  assert.equal(pool.workerCount(), 2);
  for (const l of [a, b, c]) l.release();
  await new Promise((r) => setTimeout(r, 150));
  pool.tick(Date.now());
  assert.equal(pool.workerCount(), 1, 'one idle worker stopped, the minimum kept');
  await pool.stopAll();
  // A fresh pool with min_processes = 1 starts its worker without any request.
  const warm = new ContentPool(content, settings({ minProcesses: 1 }), starter, () => undefined);
  const before = starter.started;
  warm.tick(Date.now());
  assert.equal(starter.started, before + 1);
  await warm.warm().catch(() => undefined);
  await warm.stopAll();
});

test('a worker that never listens fails after init_timeout with the reason and its output', async () => {
  const starter = processStarter(() => 'never-listen');
  const pool = new ContentPool(content, settings({ initTimeoutMs: 600 }), starter, () => undefined);
  const err = await pool.acquire().then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof WorkerUnavailable, String(err));
  assert.match(err.message, /did not accept connections within the init timeout/);
  assert.ok(err.logTail.some((l: string) => l.includes('never listening')));
  assert.deepEqual(starter.readyTimeouts, [600], "one wait, of the init timeout, and only the launcher's");
  const [child] = [...starter.children.values()];
  assert.notEqual(child!.exitCode ?? child!.signalCode, null, 'the worker that was not ready in time was stopped');
  await pool.stopAll();
});

test('a crashing worker is reported with its last log lines, and replaced with backoff', async () => {
  let mode: Behaviour = 'exit-soon';
  const starter = processStarter(() => mode);
  const pool = new ContentPool(content, settings({ initTimeoutMs: 3000 }), starter, () => undefined);
  const err = await pool.acquire().then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof WorkerUnavailable);
  assert.match(err.message, /exited before it accepted connections/);
  assert.ok(err.logTail.some((l: string) => l.includes('cannot connect to the database')));
  // Once the app is fixed (say, the database is back) the next request gets a new worker.
  mode = 'serve';
  const lease = await acquireAfterBackoff(pool, 'a worker once the crash backoff is over');
  assert.ok(lease.address.port > 0);
  lease.release();
  // Killing the serving worker: the pool notices and the next request starts another.
  const [key] = [...starter.children.keys()].slice(-1);
  starter.children.get(key!)!.kill('SIGKILL');
  await eventually('the pool to notice its killed worker', () => pool.workerCount() === 0, { timeoutMs: 5_000, intervalMs: 20 });
  // Right after an early crash the pool answers at once (no restart storm) …
  await assert.rejects(pool.acquire(), (e: Error) => e instanceof WorkerUnavailable && /tries again in \d+ s/.test(e.message));
  // … and after the backoff a request starts a new worker.
  const again = await acquireAfterBackoff(pool, 'a new worker after the second crash backoff');
  again.release();
  assert.equal(pool.workerCount(), 1);
  await pool.stopAll();
});

test('a new generation (redeploy or environment change) drains the old workers', async () => {
  const starter = processStarter(() => 'serve');
  const pool = new ContentPool(content, settings(), starter, () => undefined);
  const held = await pool.acquire();
  await pool.warm({ bundleId: 2, envVersion: 0 });
  assert.equal(pool.workerCount(), 2);
  pool.refresh({ ...content, bundle_id: 2 } as Content, settings());
  const fresh = await pool.acquire();
  assert.notEqual(fresh.workerKey, held.workerKey, 'new connections go to the new bundle');
  assert.equal(pool.describe().find((w) => w.key === held.workerKey)?.state, 'draining');
  held.release();
  await eventually('the old worker to stop once its last connection ended', () => pool.workerCount() === 1, { timeoutMs: 5_000, intervalMs: 20 });
  fresh.release();
  await pool.stopAll();
});

test('a worker stopped from outside the pool (an administrator) is no crash: the next request starts another at once', async () => {
  const starter = processStarter(() => 'serve');
  const pool = new ContentPool(content, settings(), starter, () => undefined);
  const lease = await pool.acquire();
  lease.release();
  await starter.stop(lease.workerKey);
  await eventually('the pool to notice the worker stopped from outside', () => pool.workerCount() === 0, { timeoutMs: 5_000, intervalMs: 20 });
  const next = await pool.acquire();
  assert.notEqual(next.workerKey, lease.workerKey);
  next.release();
  await pool.stopAll();
});

test('handOver lets go of every worker without stopping one, serving or still starting, and starts none after', async () => {
  const starter = processStarter(() => 'serve');
  const pool = new ContentPool(content, settings({ maxConnsPerProcess: 1, loadFactor: 1 }), starter, () => undefined);
  try {
    const held = await pool.acquire();
    // The only worker is busy: a second connection starts another worker and waits for it.
    const waiting = pool.acquire();
    await eventually('a second worker to start', () => starter.started === 2, { timeoutMs: 5_000, intervalMs: 20 });
    pool.handOver();
    await assert.rejects(waiting, (err: unknown) => err instanceof WorkerUnavailable && err.status === 503 && /shutting down/.test(err.message));
    held.release();
    await assert.rejects(pool.acquire(), /shutting down/, 'no worker starts after the hand-over');
    pool.tick(Date.now() + 3_600_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(starter.started, 2);
    const running = [...starter.children.values()].filter((c) => c.exitCode === null && c.signalCode === null);
    assert.equal(running.length, 2, 'both workers still run: the next server adopts them');
  } finally {
    for (const child of starter.children.values()) child.kill('SIGKILL');
  }
});
