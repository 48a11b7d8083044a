import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { executionSettings, testPython } from '../support/execution.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

// What the scheduler and the environment cache promise, through the HTTP API with hand-made
// bundles (the rsconnect-driven tests cover the clients): vanity paths reach running apps, an
// unmanaged environment uses the interpreter as it is, an unchanged redeploy reuses its
// environment, min_processes keeps a worker warm.

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

function bundle(appmode: string, files: Record<string, string>, extra: Record<string, unknown> = {}) {
  const manifest = {
    version: 1,
    metadata: { appmode, entrypoint: 'app:app' },
    python: { version: PYTHON_VERSION, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
    files: Object.fromEntries(Object.keys(files).map((f) => [f, { checksum: '' }])),
    ...extra,
  };
  return makeTarGz([{ name: 'manifest.json', content: JSON.stringify(manifest) }, ...Object.entries(files).map(([name, content]) => ({ name, content }))]);
}

// Standard library only, so it runs on a bare interpreter too.
const STDLIB_APP = `
import json, os, sys, uuid
if os.environ.get("CRASH_ON_START"):
    print("fatal: the database password is wrong", file=sys.stderr, flush=True)
    sys.exit(3)
BOOT = uuid.uuid4().hex
def app(environ, start_response):
    body = json.dumps({"path": environ.get("PATH_INFO"), "script_name": environ.get("SCRIPT_NAME"), "boot": BOOT}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
`;

describe('scheduling and environments through the API', () => {
  let t: TestServer;

  before(async () => {
    t = await startLectern('sqlite', executionSettings());
  });
  after(async () => t?.stop());

  async function deploy(name: string, archive: Buffer<ArrayBuffer>, guid?: string) {
    guid ??= ((await (await t.api('/__api__/v1/content', { method: 'POST', json: { name } })).json()) as { guid: string }).guid;
    const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: archive })).json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
    const task = await waitForTask(t, task_id, undefined, { timeoutMs: 5 * 60_000 });
    assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
    return { guid, output: task.output };
  }

  async function workers(guid: string) {
    const processes = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; kind: string; job_key: string }>;
    return processes.filter((p) => p.content_guid === guid && p.kind === 'run');
  }

  it('without environment management the interpreter serves the app as it is, even without waitress', async () => {
    const { guid, output } = await deploy('unmanaged', bundle('python-api', { 'app.py': STDLIB_APP, 'requirements.txt': '' }, { environment: { environment_management: { python: false } } }));
    assert.ok(
      output.some((l) => /Environment management is off/.test(l)),
      output.join('\n'),
    );
    assert.ok(!output.some((l) => /Restoring the Python/.test(l)), 'nothing restored');
    const res = await t.api(`/content/${guid}/hello`);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { path: string; script_name: string }).script_name, `/content/${guid}`);
  });

  it('a vanity path reaches the same running worker, with its own prefix', async () => {
    const { guid } = await deploy('vanity-app', bundle('python-api', { 'app.py': STDLIB_APP, 'requirements.txt': '' }));
    const set = await t.api(`/__api__/v1/content/${guid}/vanity`, { method: 'PUT', json: { path: '/team/dashboard/' } });
    assert.equal(set.status, 200, await set.text());
    const direct = (await (await t.api(`/content/${guid}/a/b`)).json()) as { path: string; script_name: string; boot: string };
    const vanity = (await (await t.api('/team/dashboard/a/b')).json()) as { path: string; script_name: string; boot: string };
    assert.equal(direct.path, '/a/b');
    assert.equal(vanity.path, '/a/b');
    assert.equal(vanity.script_name, '/team/dashboard');
    assert.equal(vanity.boot, direct.boot, 'one worker serves both URLs');
  });

  it('an unchanged redeploy reuses the cached environment', async () => {
    const archive = bundle('python-api', { 'app.py': STDLIB_APP, 'requirements.txt': 'waitress\n' });
    const first = await deploy('cached-env', archive);
    assert.ok(
      first.output.some((l) => /Python environment \w+ is ready/.test(l)),
      first.output.join('\n'),
    );
    const second = await deploy('', archive, first.guid);
    assert.ok(
      second.output.some((l) => /Reusing the cached Python environment/.test(l)),
      second.output.join('\n'),
    );
  });

  it('min_processes keeps a worker warm without any request, and is refused above the server cap', async () => {
    const { guid } = await deploy('warm', bundle('python-api', { 'app.py': STDLIB_APP, 'requirements.txt': '' }));
    const patched = await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { min_processes: 1 } });
    assert.equal(patched.status, 200);
    // Stop the deploy's own first worker: the pool must start another by itself, with no request.
    const [first] = (await workers(guid)) as Array<{ job_key: string }>;
    assert.ok(first, 'the deploy left its first worker running');
    assert.equal((await t.api(`/__api__/v1/content/${guid}/jobs/${first.job_key}`, { method: 'DELETE' })).status, 200);
    let replacement: { job_key: string } | undefined;
    for (let i = 0; i < 100 && !replacement; i++) {
      await new Promise((r) => setTimeout(r, 200));
      replacement = ((await workers(guid)) as Array<{ job_key: string }>).find((w) => w.job_key !== first.job_key);
    }
    assert.ok(replacement, 'min_processes started a new worker without a request');
    const tooMany = await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { min_processes: 50 } });
    assert.equal(tooMany.status, 400);
    assert.match(((await tooMany.json()) as { error: string }).error, /MinProcessesLimit/);
  });

  it('a worker that crashes on start gets a 5xx with its reason and last log lines (owners only), and a crash loop backs off', async () => {
    const { guid } = await deploy('crashes', bundle('python-api', { 'app.py': STDLIB_APP, 'requirements.txt': '' }, { environment: { environment_management: { python: false } } }));
    const acl = await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'logged_in' } });
    assert.equal(acl.status, 200);
    assert.equal((await t.api(`/content/${guid}/`)).status, 200);
    const env = await t.api(`/__api__/v1/content/${guid}/environment`, { method: 'PATCH', json: [{ name: 'CRASH_ON_START', value: '1' }] });
    assert.equal(env.status, 200);
    const owner = await t.api(`/content/${guid}/`);
    assert.ok(owner.status >= 500, `status ${owner.status}`);
    const page = await owner.text();
    assert.match(page, /exited with code 3/);
    assert.match(page, /fatal: the database password is wrong/);
    // The next request inside the backoff window is answered at once, saying when Lectern retries.
    const again = await t.api(`/content/${guid}/`);
    assert.ok(again.status >= 500);
    assert.match(await again.text(), /tries again in \d+ s/);
    const viewer = await t.addUser('crash-viewer', 'viewer');
    const seen = await t.api(`/content/${guid}/`, { key: viewer.key });
    assert.ok(seen.status >= 500);
    assert.doesNotMatch(await seen.text(), /database password/, 'viewers do not see the log');
    const jobs = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ tag: string; exit_code: number | null }>;
    assert.ok(
      jobs.some((j) => j.tag === 'run_python_api' && j.exit_code === 3),
      JSON.stringify(jobs.slice(0, 3)),
    );
  });
});
