// How the Kubernetes launcher fails, restarts and hands over, on the test bed's real node (kubelet,
// containerd, runc): every failure ends the job at once with a message that says what Kubernetes saw,
// a restarted kubelet costs nothing, and a replica that stops or is gone leaves no worker unowned.
// Run: bash scripts/kube-testbed.sh run node --import tsx --test test/kube/kubernetes-failures.test.ts
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { JobAddress, JobSpec } from '../../src/launcher/launcher.js';
import { jobName } from '../../src/launcher/kubernetes/job-manifest.js';
import type { KubernetesLauncher } from '../../src/launcher/kubernetes/kubernetes-launcher.js';
import { podState } from '../../src/launcher/kubernetes/pod-state.js';
import { openTestBed, type TestBed } from '../support/kube-testbed/client.js';
import { IMAGE_PYTHON, PID_SERVER, testBedLaunchers, type TestBedLaunchers } from '../support/testbed-launcher.js';

const run = promisify(execFile);

describe('Kubernetes launcher on a real node: failures, restarts, hand-over', { timeout: 15 * 60_000 }, () => {
  let bed: TestBed;
  let ns: Awaited<ReturnType<TestBed['namespace']>>;
  let launchers: TestBedLaunchers;

  /** A launcher acting as `replica`; failures are reported at once (no scheduling grace). */
  const launcher = (overrides: Record<string, string> = {}, replica = 'replica-1') => launchers.launcher({ 'Launcher.SchedulingTimeout': '0s', ...overrides }, replica);

  /** A worker (or, with `listen: false`, a batch job) running `script` in the Debian content image. */
  function spec(script: string, overrides: Partial<JobSpec> = {}): JobSpec {
    return launchers.spec({ kind: 'run', tag: 'run_app', command: [IMAGE_PYTHON, '-c', script], listen: true, resources: {}, ...overrides });
  }

  async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function get(address: JobAddress): Promise<string> {
    const res = await fetch(`http://${address.host}:${address.port}/`, { signal: AbortSignal.timeout(5000) });
    return res.text();
  }

  const jobPath = (name: string) => `/apis/batch/v1/namespaces/${ns.namespace}/jobs/${name}`;

  /** The job's status once it ended, and how long it took from submit. */
  async function failureOf(l: KubernetesLauncher, s: JobSpec): Promise<{ reason: string; exitCode?: number; seconds: number }> {
    const started = Date.now();
    await l.submit(s);
    if (s.listen) await assert.rejects(l.ready(s.key, { timeoutMs: 120_000 }));
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([l.wait(s.key), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`job ${s.key} did not end within 120 s`)), 120_000)))]);
    clearTimeout(timer);
    assert.equal(status.state, 'failed');
    return { reason: status.reason ?? '', exitCode: status.exitCode, seconds: (Date.now() - started) / 1000 };
  }

  before(async () => {
    bed = await openTestBed();
    ns = await bed.namespace('failures');
    launchers = testBedLaunchers(bed, ns);
    console.log(`node ${bed.state.node.name}: kubelet ${bed.state.node.kubeletVersion}`);
  });

  after(async () => {
    await launchers?.closeAll();
    await ns?.remove();
    await bed?.close();
  });

  it('an image that cannot be pulled fails in seconds, with the pull error', async () => {
    const l = await launcher();
    const s = spec(PID_SERVER, { image: 'ghcr.io/lectern-project/no-such-image:1.0' });
    const failed = await failureOf(l, s);
    console.log(`image pull failure reported after ${failed.seconds.toFixed(1)} s: ${failed.reason}`);
    assert.match(failed.reason, /\((ErrImagePull|ImagePullBackOff)\)/);
    assert.match(failed.reason, /no-such-image/);
    assert.doesNotMatch(failed.reason, /init timeout/);
    // The kubelet shows the pull error in the pod's status only at its next sync (~10 s on); its event comes at once.
    assert.ok(failed.seconds < 10, `reported within 10 s of submit (took ${failed.seconds} s)`);
    await eventually('the Job deleted', async () => !(await bed.admin.find(jobPath(jobName(s)))));
  });

  it('requests no node can meet fail at once with the scheduler message', async () => {
    const l = await launcher();
    const failed = await failureOf(l, spec(PID_SERVER, { resources: { cpuRequest: 500 } }));
    console.log(`unschedulable reported after ${failed.seconds.toFixed(1)} s: ${failed.reason}`);
    assert.match(failed.reason, /\(Unschedulable\)/);
    assert.match(failed.reason, /Insufficient cpu/);
  });

  it('a process over its memory limit is OOMKilled and reported so', async () => {
    const l = await launcher();
    const s = spec('import time\nx = bytearray(b"x") * (400 * 1024 * 1024)\ntime.sleep(60)', {
      kind: 'build',
      tag: 'python_restore',
      listen: false,
      resources: { memoryLimitBytes: 64 * 1024 * 1024 },
    });
    const failed = await failureOf(l, s);
    console.log(`OOM reported: ${failed.reason}`);
    assert.match(failed.reason, /exceeded its memory limit of 64 MiB \(Kubernetes: OOMKilled\)/);
  });

  it("an init container whose copy fails is reported as the init container's failure", async () => {
    // The content image has no /lectern/runtime: the init container's `cp` fails for real.
    const l = await launcher({ 'Launcher.InitContainerImage': bed.image('content-debian') });
    const failed = await failureOf(l, spec(PID_SERVER));
    console.log(`init copy failure: ${failed.reason}`);
    assert.match(failed.reason, /init container lectern-runtime exited with code 1/);
  });

  it('a missing init image is reported as a pull failure of the init container', async () => {
    const l = await launcher({ 'Launcher.InitContainerImage': 'ghcr.io/lectern-project/no-such-init:1.0' });
    const failed = await failureOf(l, spec(PID_SERVER));
    console.log(`init image failure: ${failed.reason}`);
    assert.match(failed.reason, /\((ErrImagePull|ImagePullBackOff)\): init container lectern-runtime/);
  });

  it('a new worker is routed to once it accepts connections, before the kubelet marks its pod Ready', async () => {
    const l = await launcher();
    const rows: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = spec(PID_SERVER);
      const started = Date.now();
      // What the watch shows, and when: the content container running, then the pod Ready (the kubelet's probe).
      const seen: { running?: number; podReady?: number } = {};
      const watching = setInterval(() => {
        const pod = l.podCache.list().find((p) => p.metadata.labels?.['lectern.dev/job-key'] === s.key);
        const state = pod ? podState(pod) : undefined;
        if (state?.started && !seen.running) seen.running = Date.now() - started;
        if (state?.ready && !seen.podReady) seen.podReady = Date.now() - started;
      }, 5);
      try {
        await l.submit(s);
        const address = await l.ready(s.key, { timeoutMs: 60_000 });
        const ready = Date.now() - started;
        assert.match(await get(address), /^\d+$/, 'the worker answers at the address ready() gave');
        await eventually('the pod Ready', () => seen.podReady, 30_000);
        rows.push(`running ${seen.running} ms, routable ${ready} ms, pod Ready ${seen.podReady} ms`);
      } finally {
        clearInterval(watching);
      }
      await l.stop(s.key);
    }
    console.log(`submit → …: ${rows.join('; ')}`);
  });

  it('a worker that exits before it listens is reported with its exit code', async () => {
    const l = await launcher();
    const s = spec('import sys\nprint("cannot start: no config", file=sys.stderr)\nsys.exit(3)');
    const started = Date.now();
    await l.submit(s);
    await assert.rejects(l.ready(s.key, { timeoutMs: 120_000 }), /exited with code 3/);
    const status = await l.wait(s.key);
    console.log(`exit reported after ${((Date.now() - started) / 1000).toFixed(1)} s: ${status.reason}`);
    assert.equal(status.exitCode, 3);
    const lines: string[] = [];
    for await (const line of l.logs(s.key)) lines.push(line.data);
    assert.ok(
      lines.some((x) => x.includes('cannot start: no config')),
      `the worker's own words are in its log: ${lines.join(' | ')}`,
    );
  });

  it('a restarted kubelet costs nothing: the worker keeps running and serving, and new workers start', async () => {
    const l = await launcher();
    const s = spec(PID_SERVER);
    await l.submit(s);
    const address = await l.ready(s.key, { timeoutMs: 60_000 });
    const pid = await get(address);
    let ended = false;
    void l.wait(s.key).then(() => (ended = true));

    const restartedAt = await restartKubelet();
    // The kubelet is back once it renews its node's lease again.
    await eventually(
      'the restarted kubelet to renew its node lease',
      async () => {
        const lease = await bed.admin.find(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${bed.state.node.name}`);
        return Date.parse(String(lease?.spec?.renewTime ?? '')) > restartedAt;
      },
      90_000,
    );
    // Give the kubelet time to resync the pod it found running (status, probes) before looking.
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(ended, false, 'the job did not end');
    assert.equal((await l.status(s.key)).state, 'running');
    assert.equal(await get(address), pid, 'the same worker process answers at the same address');

    const next = spec(PID_SERVER);
    await l.submit(next);
    assert.match(await get(await l.ready(next.key, { timeoutMs: 60_000 })), /^\d+$/, 'the restarted kubelet starts new workers');
    await l.stop(next.key);
    await l.stop(s.key);
  });

  it('a launcher closed gracefully leaves its worker running; the same replica restarted adopts it at its address', async () => {
    const first = await launcher({}, 'replica-same');
    const s = spec(PID_SERVER);
    await first.submit(s);
    const address = await first.ready(s.key, { timeoutMs: 60_000 });
    const pid = await get(address);
    await first.close();

    assert.ok(await bed.admin.find(jobPath(jobName(s))), 'the Job is still there');
    assert.equal(await get(address), pid, 'the worker still answers after its launcher closed');

    const next = await launcher({}, 'replica-same');
    assert.deepEqual(await next.reconcile([{ key: s.key, logPath: s.logPath }]), [s.key]);
    const adopted = await next.ready(s.key, { timeoutMs: 30_000 });
    assert.deepEqual(adopted, address);
    assert.equal(await get(adopted), pid, 'the same worker process, not a new one');
    assert.equal((await next.status(s.key)).state, 'running');
    await next.stop(s.key);
    assert.equal((await next.wait(s.key)).stopped, true, 'the adopting launcher can stop it');
  });

  it('a replica gone for good: another replica adopts the Jobs its rows claim, makes them its own, and reaps the rest', async () => {
    const gone = await launcher({}, 'replica-gone');
    const claimed = spec(PID_SERVER);
    const unclaimed = spec(PID_SERVER);
    await gone.submit(claimed);
    await gone.submit(unclaimed);
    const address = await gone.ready(claimed.key, { timeoutMs: 60_000 });
    await gone.ready(unclaimed.key, { timeoutMs: 60_000 });
    const pid = await get(address);
    await gone.close();

    const live = await launcher({}, 'replica-live');
    // What the live replica does with the rows it claimed from the gone one (Jobs.takeOver).
    const adoptedKeys = await live.reconcile([{ key: claimed.key, logPath: claimed.logPath }], { replica: 'replica-gone', reapUnclaimed: true });
    assert.deepEqual(adoptedKeys, [claimed.key]);
    assert.equal(await get(await live.ready(claimed.key, { timeoutMs: 30_000 })), pid, 'the adopted worker still answers');
    const job = await bed.admin.get(jobPath(jobName(claimed)));
    assert.equal(job.metadata.labels?.['lectern.dev/replica'], 'replica-live', 'the Job is now the live replica’s');
    assert.equal(job.metadata.annotations?.['lectern.dev/replica-name'], 'replica-live');
    const [listed] = await live.list({ contentGuid: claimed.contentGuid });
    assert.equal(listed?.pod?.replica, 'replica-live', 'the processes table names the replica that runs it now');
    await eventually('the unclaimed Job to be deleted', async () => !(await bed.admin.find(jobPath(jobName(unclaimed)))));
    await live.close();

    // The live replica restarted finds the Job as its own.
    const restarted = await launcher({}, 'replica-live');
    assert.deepEqual(await restarted.reconcile([{ key: claimed.key, logPath: claimed.logPath }]), [claimed.key]);
    assert.equal(await get(await restarted.ready(claimed.key, { timeoutMs: 30_000 })), pid);
    await restarted.stop(claimed.key);
  });

  /**
   * Kills the node's kubelet (its pods keep running, as on a real node) and starts it again in the
   * node's mount and network namespaces the way run-node.sh first did; returns when it was started.
   */
  async function restartKubelet(): Promise<number> {
    const dir = bed.state.node.dir;
    const pid = Number(readFileSync(path.join(dir, 'kubelet.pid'), 'utf8').trim());
    const bin = path.dirname(readlinkSync(`/proc/${pid}/exe`));
    const containerd = readFileSync(path.join(dir, 'containerd.pid'), 'utf8').trim();
    process.kill(pid, 'SIGKILL');
    await eventually(`kubelet ${pid} to exit`, () => !existsSync(`/proc/${pid}`), 10_000);
    const restartedAt = Date.now();
    const script = path.resolve('test/support/kube-testbed/run-node.sh');
    await run('nsenter', ['--target', containerd, '--mount', '--net', '--', 'bash', script, dir, bin, `lectern-kt-${bed.state.network.id}`, 'kubelet']);
    return restartedAt;
  }
});
