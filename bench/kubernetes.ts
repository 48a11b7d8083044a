// Cold start of a worker through the Kubernetes launcher on the test bed (control plane + a real node,
// scripts/kube-testbed.sh): submit → Job → pod scheduled → init container copies runtime/ → runner listens →
// Ready → Lectern's HTTP probe. Also the watch caches' cost: API requests per start.
// Run: bash scripts/kube-testbed.sh run node --import tsx bench/kubernetes.ts   (figures in bench/RESULTS.md)
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LECTERN_VERSION } from '../src/app.js';
import { Config } from '../src/config/config.js';
import { RUNTIME_DIR } from '../src/execution/runtime-dir.js';
import { startKubernetesLauncher } from '../src/launcher/kubernetes/start.js';
import { startKubeTestBed } from '../test/support/kube-lectern.js';

const RUNS = Number(process.env.RUNS ?? 10);

const bed = await startKubeTestBed('bench');
const dataDir = bed.dataDir;
const appDir = path.join(dataDir, 'apps', '1', '1');
mkdirSync(appDir, { recursive: true });
writeFileSync(path.join(appDir, 'app.py'), 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
try {
  const config = Config.load({
    env: {},
    overrides: { ...bed.settings, 'Server.DataDir': dataDir },
  });
  const t0 = Date.now();
  const launcher = await startKubernetesLauncher({
    config,
    version: LECTERN_VERSION,
    replica: 'bench',
    runtimeDir: RUNTIME_DIR,
    runAs: { uid: 1000, gid: 1000 },
    prepareWritableDir: async (dir) => {
      mkdirSync(dir, { recursive: true });
      chownSync(dir, 1000, 1000);
    },
  });
  const startup = Date.now() - t0;
  const results: Array<{ total: number; scheduled?: number; initialized?: number; ready?: number }> = [];
  for (let i = 0; i < RUNS; i++) {
    const key = `Bench${i}x${Date.now().toString(36)}`;
    const jobDir = path.join(dataDir, 'jobs', '1', key);
    const began = Date.now();
    await launcher.submit({
      key,
      kind: 'run',
      tag: 'run_python_api',
      contentId: 1,
      contentGuid: 'bench',
      bundleId: 1,
      command: ['/usr/bin/python3', path.join(RUNTIME_DIR, 'python', 'lectern_run.py')],
      cwd: appDir,
      env: { LECTERN_APP_MODE: 'python-api', LECTERN_APP_DIR: appDir, LECTERN_ENTRYPOINT: 'app:app', LECTERN_BASE_PATH: '/content/bench', PATH: '/usr/bin:/bin' },
      mounts: [{ path: appDir, readOnly: true }],
      jobDir: path.join(jobDir, 'home'),
      logPath: path.join(jobDir, 'log.jsonl'),
      resources: { memoryLimitBytes: 256 * 2 ** 20 },
      listen: true,
      image: bed.content.image,
    });
    await launcher.ready(key, { timeoutMs: 60_000 });
    const total = Date.now() - began;
    const [info] = await launcher.list({ contentGuid: 'bench' });
    results.push({ total, scheduled: info?.pod?.scheduledSeconds, initialized: info?.pod?.initializedSeconds, ready: info?.pod?.readySeconds });
    await launcher.stop(key);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const totals = results.map((r) => r.total);
  console.log(`launcher start-up (connection, SelfSubjectReview, ${18} access reviews, two lists): ${startup} ms`);
  console.log(`worker cold start, submit → reachable, ${RUNS} runs: median ${median(totals)} ms, min ${Math.min(...totals)} ms, max ${Math.max(...totals)} ms`);
  console.log(
    `pod phases (median, seconds since pod creation; second resolution): scheduled ${median(results.map((r) => r.scheduled ?? NaN))}, initialized ${median(results.map((r) => r.initialized ?? NaN))}, ready ${median(results.map((r) => r.ready ?? NaN))}`,
  );
  console.log(`watch caches: pods ${JSON.stringify(launcher.podCache.stats)}, jobs ${JSON.stringify(launcher.jobCache.stats)}`);
  await launcher.close();
} finally {
  await bed.stop();
}
