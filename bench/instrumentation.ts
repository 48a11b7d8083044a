// Usage instrumentation (issue #14): what recording costs, apart from the noise of a whole proxy
// run. In one process, through the real Store (openStore + migrate, SQLite, and PostgreSQL when
// LECTERN_BENCH_POSTGRES_URL names an empty database):
//   - CPU time of UsageRecorder.hit() per request: the only work a proxied request does for it;
//   - CPU time per row of writing the batches, as the background flush writes them, and the rows a
//     second it could sustain.
// The proxy's throughput with and without recording is bench/execution.ts proxy (bench/RESULTS.md).
// Run: node --import tsx bench/instrumentation.ts
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Config } from '../src/config/config.js';
import { migrate, openStore } from '../src/db/database.js';
import { UsageRecorder } from '../src/instrumentation/usage-recorder.js';

const HITS = Number(process.env.LECTERN_BENCH_HITS ?? 200_000);
/** Rows per flush: one second of a busy proxy. */
const BATCH = 2_000;

const cpuUs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

async function measure(provider: 'sqlite' | 'postgres', url = '') {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-bench-usage-'));
  const config = Config.load({ env: {}, overrides: { 'Server.DataDir': dataDir, 'Database.Provider': provider, 'Postgres.URL': url } });
  const store = openStore(config);
  try {
    await migrate(store);
    const recorder = new UsageRecorder(store.db, { enabled: true, retentionMs: 0, replica: 'bench', log: () => undefined });
    const content = { id: 1, guid: '3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b', app_mode: 'python-fastapi', bundle_id: 7, render_id: null };
    const user = { guid: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' };
    const headers = { 'user-agent': 'autocannon', 'sec-fetch-dest': 'empty', 'sec-fetch-site': 'same-origin' };

    let hitCpu = 0;
    let writeCpu = 0;
    let writeWall = 0;
    for (let done = 0; done < HITS; done += BATCH) {
      const started = process.cpuUsage();
      for (let i = 0; i < BATCH; i++) recorder.hit(content, user, 'GET', `/items/${i}?page=2`, headers);
      hitCpu += cpuUs(started);
      const writing = process.cpuUsage();
      const wall = performance.now();
      await recorder.flush();
      writeWall += performance.now() - wall;
      writeCpu += cpuUs(writing);
    }
    const rows = Number(
      (
        await store.db
          .selectFrom('content_hits')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    if (rows !== Math.ceil(HITS / BATCH) * BATCH) throw new Error(`expected ${HITS} rows, found ${rows}`);
    await recorder.close();
    return {
      provider,
      hitUs: hitCpu / rows,
      writeUsPerRow: writeCpu / rows,
      rowsPerSecond: rows / (writeWall / 1000),
    };
  } finally {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const results = [await measure('sqlite')];
if (process.env.LECTERN_BENCH_POSTGRES_URL) results.push(await measure('postgres', process.env.LECTERN_BENCH_POSTGRES_URL));
console.log(
  `machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version}, ${new Date().toISOString()}; load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const r of results) {
  console.log(
    `${r.provider}: hit() ${r.hitUs.toFixed(2)} µs CPU per request; batch writes ${r.writeUsPerRow.toFixed(1)} µs CPU per row (server side), ${Math.round(r.rowsPerSecond).toLocaleString('en')} rows/s sustained, batches of ${BATCH}`,
  );
}
