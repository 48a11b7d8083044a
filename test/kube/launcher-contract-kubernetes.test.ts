// The launcher contract (test/support/launcher-scenarios.ts) against the Kubernetes backend on the
// test bed's real node: each job a Job whose pod runs the content image, reached at its pod IP. The
// same scenarios run on the local backend in test/e2e/launcher-contract-local.test.ts.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/launcher-contract-kubernetes.test.ts
import { after, before, describe } from 'node:test';
import type { KubernetesLauncher } from '../../src/launcher/kubernetes/kubernetes-launcher.js';
import { type TestBed, openTestBed } from '../support/kube-testbed/client.js';
import { launcherScenarios, type ScenarioBackend } from '../support/launcher-scenarios.js';
import { IMAGE_PYTHON, type TestBedLaunchers, testBedLaunchers } from '../support/testbed-launcher.js';

describe('the launcher contract on the Kubernetes backend (real node)', { timeout: 10 * 60_000 }, () => {
  let tb: TestBed;
  let ns: Awaited<ReturnType<TestBed['namespace']>>;
  let jobs: TestBedLaunchers;
  let launcher: KubernetesLauncher;

  before(async () => {
    tb = await openTestBed();
    ns = await tb.namespace('contract');
    jobs = testBedLaunchers(tb, ns);
    launcher = await jobs.launcher({ 'Launcher.InstanceName': 'contract' });
  });

  after(async () => {
    await jobs?.closeAll();
    await ns?.remove();
    await tb?.close();
  });

  launcherScenarios(
    (): ScenarioBackend => ({
      launcher,
      python: IMAGE_PYTHON,
      spec: (job) => jobs.spec({ ...job, env: { PATH: '/usr/bin:/bin', ...job.env } }),
      readyTimeoutMs: 90_000,
    }),
  );
});
