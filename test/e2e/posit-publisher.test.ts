import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { executionSettings, testPython } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

// Posit Publisher (the VS Code / Positron extension) publishes through a Go client
// (posit-dev/publisher internal/clients/connect and internal/publish). Its module is not served by
// the Go module proxy here, so no real Publisher can be built: this test replays its client's
// requests in the order its publish flow makes them, with the bodies and headers Go's net/http
// sends (no Content-Type on any body: its http_client builds requests with http.NewRequest and
// never sets one), and asserts on every field the Go code reads from each answer.
//
// The flow (internal/publish/connect/*.go, clients/connect/capabilities.go):
//   preflight  GET v1/user (TestAuthentication: locked, confirmed, user_role)
//              [redeploy: GET v1/content/{guid} (ValidateDeploymentTarget: locked, app_mode)]
//              GET v1/user, GET server_settings, GET server_settings/applications,
//              GET server_settings/scheduler/{app_mode}, GET v1/server_settings/python|r|quarto
//   create     POST v1/content {"name":""} (first deploy only; reads guid)
//   upload     POST v1/content/{guid}/bundles (the tar.gz, no content type; reads id)
//   update     PATCH v1/content/{guid} (ConnectContentFromConfig; answer unread)
//   variables  PATCH v1/content/{guid}/environment [{name, value}] (only when the config has some)
//   deploy     POST v1/content/{guid}/deploy {"bundle_id": id} (reads task_id)
//   wait       GET v1/tasks/{id}?first={last} every 500 ms until finished (reads output, finished, error, last)
//   validate   GET /content/{guid}/ (a 5xx fails the publish; anything else passes)

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const APP = `
import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("published by Publisher: " + os.environ.get("GREETING", "no greeting")).encode()]
`;

/** The bundle Publisher's bundler writes: the files, and a manifest built from its configuration (bundles/manifest.go). */
function publisherBundle() {
  const files = { 'app.py': APP, 'requirements.txt': '' };
  const manifest = {
    version: 1,
    metadata: { appmode: 'python-api', entrypoint: 'app.py' },
    python: { version: PYTHON_VERSION, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
    packages: {},
    files: Object.fromEntries(Object.entries(files).map(([name, content]) => [name, { checksum: createHash('md5').update(content).digest('hex') }])),
  };
  return makeTarGz([{ name: 'manifest.json', content: `${JSON.stringify(manifest, null, '\t')}\n` }, ...Object.entries(files).map(([name, content]) => ({ name, content }))]);
}

describe('Posit Publisher: its Go client publish flow, request by request', () => {
  let t: TestServer;
  let key: string;
  const sent: string[] = [];

  before(async () => {
    t = await startLectern('sqlite', executionSettings());
    ({ key } = await t.addUser('publisher-user', 'publisher'));
  });
  after(async () => {
    await t?.stop();
  });

  /** One request as Go's net/http sends it for Publisher: its headers, a JSON body without a content type. */
  async function go(method: string, pathname: string, body?: unknown): Promise<Response> {
    sent.push(`${method} ${pathname}`);
    const headers = { 'user-agent': 'Go-http-client/1.1', 'accept-encoding': 'gzip' };
    const payload = body === undefined ? undefined : new Uint8Array(Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)));
    return t.api(pathname, { method, headers, body: payload, key });
  }

  /** http_client.do: 200, 201 and 202 carry a body, 204 none; anything else is a failed publish. */
  async function goJson<T>(method: string, pathname: string, body?: unknown): Promise<T> {
    const res = await go(method, pathname, body);
    const text = await res.text();
    assert.ok([200, 201, 202, 204].includes(res.status), `${method} ${pathname} answered ${res.status}: ${text}`);
    return (res.status === 204 ? null : JSON.parse(text)) as T;
  }

  /** TestAuthentication and GetSettings' first request: a publishing account that is not locked and is confirmed. */
  async function checkUser() {
    const user = await goJson<Record<string, unknown>>('GET', '/__api__/v1/user');
    assert.equal(user.locked, false);
    assert.equal(user.confirmed, true);
    assert.ok(user.user_role === 'publisher' || user.user_role === 'administrator', `role ${String(user.user_role)}`);
    for (const field of ['guid', 'username', 'email', 'first_name', 'last_name', 'created_time', 'updated_time']) assert.equal(typeof user[field], 'string', `v1/user ${field}`);
  }

  /** CheckCapabilities → GetSettings → checkConfig, for a python-flask configuration. */
  async function preflight(existing?: string) {
    await checkUser();
    if (existing) {
      const content = await goJson<Record<string, unknown>>('GET', `/__api__/v1/content/${existing}`);
      assert.equal(content.locked, false);
      assert.equal(content.app_mode, 'python-api', 'the app mode it was deployed as (a change would stop the publish)');
    }
    await checkUser();
    const general = await goJson<Record<string, unknown> & { license: Record<string, unknown> }>('GET', '/__api__/server_settings');
    // Read as Go types: a wrong type is an unmarshal error, so each is checked. FlexiBool takes true/false (or "1"/"0").
    for (const flag of ['allow-apis', 'current-user-execution', 'enable-launcher', 'oauth-integrations']) assert.equal(typeof general.license[flag], 'boolean', `license.${flag}`);
    assert.equal(general.license['allow-apis'], true, 'APIs are licensed (checkConfig refuses an API deploy otherwise)');
    for (const flag of [
      'git_enabled',
      'git_available',
      'enable_runtime_constraints',
      'enable_image_management',
      'default_image_selection_enabled',
      'default_environment_management_selection',
      'default_r_environment_management',
      'default_py_environment_management',
      'oauth_integrations_enabled',
    ]) {
      assert.equal(typeof general[flag], 'boolean', flag);
    }
    assert.equal(general.execution_type, 'native');
    assert.ok((general.runtimes as string[]).includes('Python'), `runtimes ${JSON.stringify(general.runtimes)}`);

    const applications = await goJson<Record<string, unknown>>('GET', '/__api__/server_settings/applications');
    assert.ok(Array.isArray(applications.access_types));
    assert.equal(typeof applications.run_as, 'string');
    assert.equal(typeof applications.run_as_group, 'string');
    assert.equal(applications.run_as_current_user, false);

    // Not static content, so the app mode's own scheduler settings.
    const scheduler = await goJson<Record<string, unknown>>('GET', '/__api__/server_settings/scheduler/python-api');
    for (const field of [
      'min_processes',
      'max_processes',
      'max_conns_per_process',
      'init_timeout',
      'idle_timeout',
      'min_processes_limit',
      'max_processes_limit',
      'connection_timeout',
      'read_timeout',
    ]) {
      assert.ok(Number.isInteger(scheduler[field]), `scheduler ${field} is an integer (int64)`);
    }
    for (const field of ['load_factor', 'cpu_request', 'max_cpu_request', 'cpu_limit', 'max_cpu_limit']) assert.equal(typeof scheduler[field], 'number', `scheduler ${field}`);
    for (const field of ['memory_request', 'max_memory_request', 'memory_limit', 'max_memory_limit', 'amd_gpu_limit', 'max_amd_gpu_limit', 'nvidia_gpu_limit', 'max_nvidia_gpu_limit']) {
      assert.ok(Number.isInteger(scheduler[field]), `scheduler ${field} is an integer (int64)`);
    }

    const python = await goJson<{ installations: { version: string; cluster_name: string; image_name: string }[]; api_enabled: boolean }>('GET', '/__api__/v1/server_settings/python');
    assert.equal(python.api_enabled, true);
    // checkMatchingPython: some installation has the configuration's major.minor.
    const majorMinor = (v: string) => v.split('.').slice(0, 2).join('.');
    assert.ok(
      python.installations.some((i) => majorMinor(i.version) === majorMinor(PYTHON_VERSION)),
      `Python ${majorMinor(PYTHON_VERSION)} among ${JSON.stringify(python.installations)}`,
    );
    for (const runtime of ['r', 'quarto']) {
      const listed = await goJson<{ installations: unknown[] }>('GET', `/__api__/v1/server_settings/${runtime}`);
      assert.ok(Array.isArray(listed.installations), `${runtime} installations`);
    }
  }

  /** PublishToServer: upload, update, variables, deploy, wait, validate. Returns what the content serves. */
  async function publishToServer(guid: string, title: string): Promise<string> {
    const bundle = await goJson<Record<string, unknown>>('POST', `/__api__/v1/content/${guid}/bundles`, publisherBundle());
    assert.equal(typeof bundle.id, 'string', 'bundle id (types.BundleID is a string)');
    assert.equal(bundle.content_guid, guid);
    assert.equal(typeof bundle.active, 'boolean');
    assert.equal(typeof bundle.size, 'number');
    assert.equal(typeof bundle.metadata, 'object');

    // ConnectContentFromConfig: name is always sent (empty), the rest only when set.
    await goJson('PATCH', `/__api__/v1/content/${guid}`, { name: '', title, description: 'Published the way Posit Publisher does', access_type: 'logged_in' });
    await goJson('PATCH', `/__api__/v1/content/${guid}/environment`, [{ name: 'GREETING', value: `hello from ${title}` }]);

    const { task_id } = await goJson<{ task_id: string }>('POST', `/__api__/v1/content/${guid}/deploy`, { bundle_id: bundle.id });
    assert.equal(typeof task_id, 'string');

    // WaitForTask: no long poll; first= the previous answer's last; 500 ms apart; bounded here.
    let last = 0;
    const output: string[] = [];
    const deadline = Date.now() + 180_000;
    for (;;) {
      const task = await goJson<{ id: string; output: string[]; finished: boolean; code: number; error: string; last: number }>('GET', `/__api__/v1/tasks/${task_id}?first=${last}`);
      assert.equal(task.id, task_id);
      assert.equal(typeof task.last, 'number');
      assert.equal(typeof task.error, 'string', 'error is a string (Go string), empty on success');
      output.push(...task.output);
      last = task.last;
      if (task.finished) {
        assert.equal(task.error, '', `the deploy failed:\n${output.join('\n')}`);
        break;
      }
      assert.ok(Date.now() < deadline, `the deploy task did not finish within 180 s; output so far:\n${output.join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    // ValidateDeployment: GET /content/{guid}/ with the API key; only a 5xx fails.
    const served = await go('GET', `/content/${guid}/`);
    const text = await served.text();
    assert.ok(served.status < 500, `validation got ${served.status}: ${text}`);
    return text;
  }

  it('first publish: preflight, create with an empty name, upload, update, variables, deploy, wait, validate; then a redeploy', async () => {
    await preflight();
    const created = await goJson<Record<string, unknown>>('POST', '/__api__/v1/content', { name: '' });
    const guid = created.guid as string;
    assert.match(guid, /^[0-9a-f-]{36}$/);

    assert.equal(await publishToServer(guid, 'Publisher flow'), 'published by Publisher: hello from Publisher flow');
    const content = (await (await t.api(`/__api__/v1/content/${guid}`)).json()) as Record<string, unknown>;
    assert.equal(content.title, 'Publisher flow');
    assert.equal(content.access_type, 'logged_in');
    assert.equal(content.app_mode, 'python-api');
    assert.equal(content.py_version, PYTHON_VERSION);
    assert.equal(typeof content.name, 'string');
    assert.ok((content.name as string).length >= 3, `a generated name: ${String(content.name)}`);

    // The deployment record now names the content: the next publish checks the target, then updates it.
    await preflight(guid);
    assert.equal(await publishToServer(guid, 'Publisher flow again'), 'published by Publisher: hello from Publisher flow again');

    assert.deepEqual(sent.slice(0, 13), [
      'GET /__api__/v1/user',
      'GET /__api__/v1/user',
      'GET /__api__/server_settings',
      'GET /__api__/server_settings/applications',
      'GET /__api__/server_settings/scheduler/python-api',
      'GET /__api__/v1/server_settings/python',
      'GET /__api__/v1/server_settings/r',
      'GET /__api__/v1/server_settings/quarto',
      'POST /__api__/v1/content',
      `POST /__api__/v1/content/${guid}/bundles`,
      `PATCH /__api__/v1/content/${guid}`,
      `PATCH /__api__/v1/content/${guid}/environment`,
      `POST /__api__/v1/content/${guid}/deploy`,
    ]);
  });
});
