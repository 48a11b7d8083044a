// One contract, two backends: what the scheduler and the task handlers count on from every Launcher
// (src/launcher/launcher.ts), as scenarios that run unchanged against the local backend
// (test/e2e/launcher-contract-local.test.ts) and against the Kubernetes backend on the test bed's
// real node (test/kube/launcher-contract-kubernetes.test.ts). Each backend says only how it makes a
// JobSpec (paths, image, interpreter); the scenarios and their assertions are the same.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import type { JobKind, JobSpec, JobTag, Launcher, LogLine } from '../../src/launcher/launcher.js';
import { eventually, within } from './eventually.js';

export interface ScenarioJob {
  kind: JobKind;
  tag: JobTag;
  listen: boolean;
  /** argv; `python` below is the interpreter the job can run. */
  command: string[];
  env?: Record<string, string>;
}

export interface ScenarioBackend {
  launcher: Launcher;
  /** A python3 the job sees (the host's locally, the image's in a pod). */
  python: string;
  /** A JobSpec of this backend's own (a fresh key, its data dir, its image) for `job`; its cwd is the bundle directory. */
  spec(job: ScenarioJob): JobSpec;
  /** How long a worker may take to accept connections here (a pod starts slower than a process). */
  readyTimeoutMs: number;
}

// A worker that serves its own name, and exits with code 4 when asked to (/exit). It ends on
// SIGTERM as Lectern's runners do (runtime/python/lectern_run.py): as a pod's PID 1 it would
// otherwise ignore the signal, and each stop() would wait for the pod's 30 s grace period.
const WORKER = `
import http.server, os, signal
signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + os.environ["SCENARIO"]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if self.path == "/exit":
            print("exiting with 4", flush=True)
            os._exit(4)
    def log_message(self, *args):
        pass
print("serving on port", os.environ["LECTERN_PORT"], flush=True)
http.server.HTTPServer((os.environ["LECTERN_HOST"], int(os.environ["LECTERN_PORT"])), Handler).serve_forever()
`;

// Prints one line, then waits (bounded) for the test to create $HOME/go before printing the next.
const WAITS_FOR_GO = `
import os, sys, time
print("first", flush=True)
go = os.path.join(os.environ["HOME"], "go")
deadline = time.time() + 120
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("nobody created " + go)
    time.sleep(0.05)
print("second", flush=True)
`;

async function collect(lines: AsyncIterable<LogLine>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line.data);
  return out;
}

/** Writes `files` into the job's bundle directory (its cwd, on the data dir both backends share with this process). */
function bundle(spec: JobSpec, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(spec.cwd, name), text);
}

/** Registers the scenarios in the caller's describe(); `backend()` is read when each runs (after the caller's before()). */
export function launcherScenarios(backend: () => ScenarioBackend): void {
  const worker = (b: ScenarioBackend, name: string) => {
    const spec = b.spec({ kind: 'run', tag: 'run_python_api', listen: true, command: [b.python, 'worker.py'], env: { SCENARIO: name, PYTHONUNBUFFERED: '1' } });
    bundle(spec, { 'worker.py': WORKER });
    return spec;
  };

  it("a build's exit code is its status, and its output lines are its log", async () => {
    const b = backend();
    const spec = b.spec({
      kind: 'build',
      tag: 'python_restore',
      listen: false,
      command: [b.python, '-c', 'import sys; print("to stdout"); print("to stderr", file=sys.stderr); print("still stdout"); sys.exit(3)'],
    });
    await b.launcher.submit(spec);
    const status = await within('the build to end', b.launcher.wait(spec.key), 120_000);
    assert.equal(status.state, 'failed');
    assert.equal(status.exitCode, 3);
    assert.equal(status.reason, 'The process exited with code 3.');
    assert.ok(!status.stopped, 'it ended by itself');
    const lines = await collect(b.launcher.logs(spec.key));
    assert.equal(lines.at(-1), 'The process exited with code 3.', 'the reason closes the log');
    // stdout and stderr are two pipes: the order between them is not kept, only within each.
    const output = lines.slice(0, -1);
    assert.deepEqual([...output].sort(), ['still stdout', 'to stderr', 'to stdout']);
    assert.ok(output.indexOf('to stdout') < output.indexOf('still stdout'), `stdout in order: ${output.join(' | ')}`);
    assert.deepEqual(await collect(b.launcher.logs('no-such-key', { logPath: spec.logPath })), lines, 'the log is found again by its path');
  });

  it('a build that succeeds is reported succeeded with code 0', async () => {
    const b = backend();
    const spec = b.spec({ kind: 'build', tag: 'python_restore', listen: false, command: [b.python, '-c', 'print("done")'] });
    await b.launcher.submit(spec);
    const status = await within('the build to end', b.launcher.wait(spec.key), 120_000);
    assert.deepEqual({ state: status.state, exitCode: status.exitCode }, { state: 'succeeded', exitCode: 0 });
    assert.deepEqual(await collect(b.launcher.logs(spec.key)), ['done']);
  });

  it('a worker answers HTTP at the address ready() gives, and list() shows it there', async () => {
    const b = backend();
    const spec = worker(b, 'the reachable worker');
    await b.launcher.submit(spec);
    const address = await b.launcher.ready(spec.key, { timeoutMs: b.readyTimeoutMs });
    const res = await fetch(`http://${address.host}:${address.port}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from the reachable worker');
    const listed = (await b.launcher.list({ contentGuid: spec.contentGuid })).find((j) => j.key === spec.key);
    assert.ok(listed, 'listed while it runs');
    assert.deepEqual(listed.address, address);
    assert.equal(listed.kind, 'run');
    assert.equal(listed.state, 'running');
    assert.equal((await b.launcher.status(spec.key)).state, 'running');
    await b.launcher.stop(spec.key);
  });

  it('stop() ends a worker: its status says stopped, it is gone from list(), its address no longer answers', async () => {
    const b = backend();
    const spec = worker(b, 'the stopped worker');
    await b.launcher.submit(spec);
    const address = await b.launcher.ready(spec.key, { timeoutMs: b.readyTimeoutMs });
    await within('stop()', b.launcher.stop(spec.key), 60_000);
    const status = await within('wait() after stop()', b.launcher.wait(spec.key), 10_000);
    assert.equal(status.stopped, true);
    assert.notEqual(status.state, 'running');
    assert.ok(!(await b.launcher.list({ contentGuid: spec.contentGuid })).some((j) => j.key === spec.key), 'not listed once stop() returned');
    await eventually('the stopped worker to stop answering', () =>
      fetch(`http://${address.host}:${address.port}/`, { signal: AbortSignal.timeout(2_000) }).then(
        () => false,
        () => true,
      ),
    );
  });

  it('a worker that exits on its own is reported with its exit code, not as stopped', async () => {
    const b = backend();
    const spec = worker(b, 'the worker that exits');
    await b.launcher.submit(spec);
    const address = await b.launcher.ready(spec.key, { timeoutMs: b.readyTimeoutMs });
    assert.equal(await (await fetch(`http://${address.host}:${address.port}/exit`, { signal: AbortSignal.timeout(10_000) })).text(), 'hello from the worker that exits');
    const status = await within('the worker to end', b.launcher.wait(spec.key), 60_000);
    assert.equal(status.state, 'failed');
    assert.equal(status.exitCode, 4);
    assert.equal(status.reason, 'The process exited with code 4.');
    assert.ok(!status.stopped, 'it ended by itself');
    const lines = await collect(b.launcher.logs(spec.key));
    assert.deepEqual(lines, ['serving on port ' + address.port, 'exiting with 4', 'The process exited with code 4.']);
  });

  it('logs are followed live: a line arrives while the job runs, and the stream ends with the job', async () => {
    const b = backend();
    const spec = b.spec({ kind: 'build', tag: 'python_restore', listen: false, command: [b.python, 'waits.py'], env: { PYTHONUNBUFFERED: '1' } });
    bundle(spec, { 'waits.py': WAITS_FOR_GO });
    await b.launcher.submit(spec);
    const seen: string[] = [];
    const following = (async () => {
      for await (const line of b.launcher.logs(spec.key, { follow: true })) seen.push(line.data);
    })();
    await eventually('"first" in the followed log', () => seen.includes('first'), { timeoutMs: 120_000 });
    assert.notEqual((await b.launcher.status(spec.key)).state, 'succeeded', 'the job is still waiting for its go');
    assert.ok(!seen.includes('second'));
    writeFileSync(path.join(spec.jobDir, 'go'), '');
    await within('the followed log to end with the job', following, 60_000);
    assert.deepEqual(seen, ['first', 'second']);
    assert.equal((await b.launcher.wait(spec.key)).state, 'succeeded');
  });
}
