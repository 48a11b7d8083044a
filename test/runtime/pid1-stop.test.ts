// The Python runner as PID 1 of its own PID namespace, as in a Kubernetes pod: the kernel drops
// signals PID 1 has no handler for, so SIGTERM must be handled by the runner itself or a stopped pod
// lingers until the grace period's SIGKILL. Needs root (unshare --pid).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import { freePort } from '../support/free-port.js';

let appDir: string;
before(async () => {
  appDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-pid1-'));
  await writeFile(path.join(appDir, 'app.py'), 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
});
after(() => rm(appDir, { recursive: true, force: true }));

test('the python-api runner as PID 1 stops on SIGTERM', async () => {
  const port = await freePort();
  // unshare --fork: the runner is PID 1 of the new namespace; unshare waits and passes on its exit status
  // (--kill-child: and takes the runner with it when the test kills unshare).
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', 'python3', path.join(RUNTIME_DIR, 'python', 'lectern_run.py')], {
    env: { PATH: '/usr/bin:/bin', LECTERN_APP_MODE: 'python-api', LECTERN_APP_DIR: appDir, LECTERN_ENTRYPOINT: 'app:app', LECTERN_PORT: String(port), PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    for (let i = 0; !stderr.includes('listening on'); i++) {
      assert.ok(i < 200 && child.exitCode === null, `the runner did not start:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'ok');
    const [runner] = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).trim().split(/\s+/).map(Number);
    assert.match(await readFile(`/proc/${runner}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m, 'the runner is PID 1 of its namespace');
    process.kill(runner!, 'SIGTERM');
    // Without a handler the signal is dropped and the runner would serve on until killed.
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), 10_000)))]);
    clearTimeout(timer);
    assert.equal(code, 143, `SIGTERM stops the runner with 128 + 15\n${stderr}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
