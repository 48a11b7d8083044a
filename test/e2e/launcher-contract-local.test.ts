// The launcher contract (test/support/launcher-scenarios.ts) against the local backend, as Lectern
// runs it by default: each job a process in its own bubblewrap sandbox and network namespace, as
// the unprivileged content user. The same scenarios run on the real Kubernetes node in
// test/kube/launcher-contract-kubernetes.test.ts.
// Run: node --import tsx --test test/e2e/launcher-contract-local.test.ts
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import type { JobSpec } from '../../src/launcher/launcher.js';
import { LocalLauncher } from '../../src/launcher/local/local-launcher.js';
import { Sandbox } from '../../src/launcher/local/sandbox.js';
import { launcherScenarios, type ScenarioBackend, type ScenarioJob } from '../support/launcher-scenarios.js';

describe('the launcher contract on the local backend', { timeout: 5 * 60_000 }, () => {
  let dataDir: string;
  let launcher: LocalLauncher;
  let counter = 0;

  function spec(job: ScenarioJob): JobSpec {
    const key = `local${++counter}x${Date.now().toString(36)}`;
    const appDir = path.join(dataDir, 'apps', String(counter));
    mkdirSync(appDir, { recursive: true });
    return {
      key,
      contentId: counter,
      contentGuid: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
      bundleId: 1,
      cwd: appDir,
      env: { PATH: '/usr/bin:/bin', ...job.env },
      mounts: [{ path: appDir, readOnly: true }],
      jobDir: path.join(dataDir, 'jobs', key, 'home'),
      logPath: path.join(dataDir, 'jobs', key, 'log.jsonl'),
      resources: { memoryLimitBytes: 256 * 1024 * 1024 },
      ...job,
    };
  }

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'lectern-contract-'));
    // The content user reads the bundles the test writes.
    chmodSync(dataDir, 0o755);
    const sandbox = await Sandbox.create({ enabled: true, runAs: 'lectern', processLimit: 64, hidePaths: [] });
    launcher = new LocalLauncher(sandbox);
  });

  after(async () => {
    await launcher?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  launcherScenarios(
    (): ScenarioBackend => ({
      launcher,
      // The system's: the sandbox shows /usr, not this machine's other interpreters.
      python: '/usr/bin/python3',
      spec,
      readyTimeoutMs: 30_000,
    }),
  );
});
