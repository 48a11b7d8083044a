// The API server restarted under a running launcher (as a control-plane upgrade restarts it): the
// worker keeps serving, the launcher's watches come back (from their resource version when the API
// server still has it, else by a list), nothing is duplicated, and new work starts afterwards.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/api-server-restart.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobAddress, JobSpec } from '../../src/launcher/launcher.js';
import { eventually } from '../support/eventually.js';
import { openTestBed, type TestBed } from '../support/kube-testbed/client.js';
import { IMAGE_PYTHON, PID_SERVER, testBedLaunchers, type TestBedLaunchers } from '../support/testbed-launcher.js';

describe('the API server restarted under a running launcher', { timeout: 10 * 60_000 }, () => {
  let bed: TestBed;
  let ns: Awaited<ReturnType<TestBed['namespace']>>;
  let launchers: TestBedLaunchers;
  const worker = (): JobSpec => launchers.spec({ kind: 'run', tag: 'run_app', command: [IMAGE_PYTHON, '-c', PID_SERVER], listen: true, resources: {} });
  const get = async (a: JobAddress) => (await fetch(`http://${a.host}:${a.port}/`, { signal: AbortSignal.timeout(5000) })).text();

  before(async () => {
    bed = await openTestBed();
    ns = await bed.namespace('apiserver');
    launchers = testBedLaunchers(bed, ns);
  });
  after(async () => {
    await launchers?.closeAll();
    await ns?.remove();
    await bed?.close();
  });

  it('keeps the worker, its watches come back without duplicating anything, and new work starts after', async () => {
    const l = await launchers.launcher({ 'Launcher.InstanceName': 'apiserver-restart' });
    const first = worker();
    await l.submit(first);
    const address = await l.ready(first.key, { timeoutMs: 90_000 });
    const pid = await get(address);
    const before = { pods: { ...l.podCache.stats }, jobs: { ...l.jobCache.stats } };

    await bed.restartApiServer();

    assert.equal(await get(address), pid, 'the same worker process answers');
    // A change made after the restart reaches the launcher only through a watch that came back.
    const second = worker();
    await l.submit(second);
    const secondAddress = await l.ready(second.key, { timeoutMs: 90_000 });
    assert.ok(await get(secondAddress));
    await eventually('both pods in the watch cache', () => l.podCache.list().filter((p) => [first.key, second.key].includes(p.metadata.labels?.['lectern.dev/job-key'] ?? '')).length === 2);
    const came = {
      pods: l.podCache.stats.resumes + l.podCache.stats.lists - before.pods.resumes - before.pods.lists,
      jobs: l.jobCache.stats.resumes + l.jobCache.stats.lists - before.jobs.resumes - before.jobs.lists,
    };
    assert.ok(came.pods > 0 && came.jobs > 0, `the watches came back after the restart: ${JSON.stringify({ before, after: { pods: l.podCache.stats, jobs: l.jobCache.stats } })}`);
    console.log(`after the API server restart: pod watch ${JSON.stringify(l.podCache.stats)}, job watch ${JSON.stringify(l.jobCache.stats)} (before: ${JSON.stringify(before)})`);

    // Nothing duplicated: one Job per job key, and the launcher still knows the first worker as running.
    const jobs = (await bed.admin.list(`/apis/batch/v1/namespaces/${ns.namespace}/jobs`, { labelSelector: 'app.kubernetes.io/instance=apiserver-restart' })).items;
    assert.deepEqual(jobs.map((j) => j.metadata.labels?.['lectern.dev/job-key']).sort(), [first.key, second.key].sort());
    assert.equal((await l.status(first.key)).state, 'running');
    await l.stop(first.key);
    await l.stop(second.key);
    assert.equal((await l.wait(first.key)).stopped, true);
  });
});
