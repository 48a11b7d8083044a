import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseManifest } from '../../src/bundles/manifest.js';
import { Config } from '../../src/config/config.js';
import type { SettingKey } from '../../src/config/settings.js';
import type { Bundle, Content } from '../../src/db/schema.js';
import { installerEnvironment, normalizeRequirements, pythonEnvironmentKey, pythonRestoreJob, rLibraryKey, type PythonRestore } from '../../src/execution/restore-plan.js';
import { dedupeMounts, jobResources, renderJob, workerJob, type PlanContext, type PreparedBundle } from '../../src/execution/run-plan.js';
import { runnerFor } from '../../src/execution/runners.js';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import type { Installation } from '../../src/runtimes/interpreters.js';

// The run plan is pure: the same prepared bundle and server context always give the same jobs.

const python: Installation = { kind: 'python', version: '3.12.4', executable: '/opt/python/3.12.4/bin/python3.12', configured: '/opt/python/3.12.4/bin/python3', prefixes: ['/opt/python/3.12.4'] };
const quarto: Installation = { kind: 'quarto', version: '1.5.57', executable: '/opt/quarto/bin/quarto', configured: '/opt/quarto/bin/quarto', prefixes: ['/opt/quarto'] };

function prepared(appmode: string, over: Partial<PreparedBundle> = {}, content: Partial<Content> = {}): PreparedBundle {
  const manifest = parseManifest(JSON.stringify({ version: 1, metadata: { appmode, entrypoint: 'app:app' }, python: { version: '3.12.4' }, files: { 'app.py': { checksum: '' } } }));
  return {
    content: {
      id: 7,
      guid: 'guid-7',
      owner_id: 3,
      service_account_name: null,
      memory_limit: null,
      memory_request: null,
      cpu_request: null,
      cpu_limit: null,
      nvidia_gpu_limit: null,
      amd_gpu_limit: null,
      ...content,
    } as Content,
    bundle: { id: 11, content_id: 7 } as Bundle,
    manifest,
    runner: runnerFor(manifest)!,
    python: { installation: python, executable: '/data/envs/python/k1/bin/python', envDir: '/data/envs/python/k1' },
    ...over,
  };
}

const context = (over: Partial<PlanContext> = {}): PlanContext => ({
  appDir: '/data/apps/7/11',
  variables: { GREETING: 'hello', CONNECT_SERVER: 'http://evil.example/', R_CONFIG_ACTIVE: 'production' },
  serverUrl: 'https://lectern.example.org/',
  apiChannelUrl: null,
  credentialsKey: 'key-7',
  resources: { memoryLimitBytes: 256 << 20 },
  ...over,
});

const config = (overrides: Partial<Record<SettingKey, string>> = {}) => Config.load({ env: {}, overrides });

describe('worker and render jobs', () => {
  test("a worker runs the runtime script with the restored interpreter, sees its own variables but cannot override Lectern's", () => {
    const job = workerJob(prepared('python-api'), context(), '/content/guid-7');
    assert.equal(job.kind, 'run');
    assert.equal(job.tag, 'run_python_api');
    assert.equal(job.listen, true);
    assert.deepEqual(job.command, ['/data/envs/python/k1/bin/python', path.join(RUNTIME_DIR, 'python/lectern_run.py')]);
    assert.equal(job.cwd, '/data/apps/7/11');
    assert.equal(job.env.GREETING, 'hello');
    assert.equal(job.env.CONNECT_SERVER, 'https://lectern.example.org/', 'Lectern sets CONNECT_SERVER, not the content');
    assert.equal(job.env.R_CONFIG_ACTIVE, 'production', "R_CONFIG_ACTIVE is the content's to choose");
    assert.equal(job.env.LECTERN_BASE_PATH, '/content/guid-7');
    assert.equal(job.env.LECTERN_CREDENTIALS_KEY, 'key-7');
    assert.equal(job.actsAs, 3, "its CONNECT_API_KEY (issued by Jobs.start) acts as the content's owner");
    assert.equal(job.env.PATH, '/data/envs/python/k1/bin:/usr/local/bin:/usr/bin:/bin');
    assert.deepEqual(job.mounts, [
      { path: '/opt/python/3.12.4', readOnly: true },
      { path: RUNTIME_DIR, readOnly: true },
      { path: '/data/apps/7/11', readOnly: true },
      { path: '/data/envs/python/k1', readOnly: true },
    ]);
    assert.deepEqual(job.resources, { memoryLimitBytes: 256 << 20 });
    assert.equal(job.image, undefined, 'locally no image');
  });

  test('isolated content reaches the API channel as CONNECT_SERVER; pages still get the public address', () => {
    const job = workerJob(prepared('python-api'), context({ apiChannelUrl: 'http://127.0.0.1:4100/' }), '/content/guid-7');
    assert.equal(job.env.CONNECT_SERVER, 'http://127.0.0.1:4100/');
    assert.equal(job.env.LECTERN_SERVER_ADDRESS, 'https://lectern.example.org/');
  });

  test("off-host, jobs name the image and the content's service account", () => {
    const environment = { guid: 'e1', name: 'ghcr.io/acme/py:3.12', installations: {} };
    assert.deepEqual((({ image, serviceAccount }) => ({ image, serviceAccount }))(workerJob(prepared('python-api', { environment }, { service_account_name: 'reporting' }), context(), '/c')), {
      image: 'ghcr.io/acme/py:3.12',
      serviceAccount: 'reporting',
    });
    const plain = workerJob(prepared('python-api', { environment }), context(), '/c');
    assert.equal(plain.image, 'ghcr.io/acme/py:3.12');
    assert.ok(!('serviceAccount' in plain), "no service account: the backend's default");
  });

  test("a render writes into its output directory, acts as the content's owner, with the notebook's input flags", () => {
    const bundle = prepared('jupyter-static', { quarto });
    bundle.manifest.jupyter.hideAllInput = true;
    const job = renderJob(bundle, context(), '/data/renders/7/1');
    assert.equal(job.kind, 'render');
    assert.equal(job.listen, false);
    assert.equal(job.actsAs, bundle.content.owner_id, 'Jobs.start gives it a CONNECT_API_KEY of the owner');
    assert.equal(job.env.LECTERN_OUTPUT_DIR, '/data/renders/7/1');
    assert.equal(job.env.LECTERN_HIDE_ALL_INPUT, '1');
    assert.equal(job.env.LECTERN_HIDE_TAGGED_INPUT, undefined);
    assert.equal(job.env.LECTERN_QUARTO, '/opt/quarto/bin/quarto');
    assert.deepEqual(job.mounts.at(-1), { path: '/data/renders/7/1', readOnly: false });
    assert.throws(() => workerJob(bundle, context(), '/c'), /has no worker process/);
    assert.throws(() => renderJob(prepared('python-api'), context(), '/o'), /is not rendered/);
  });

  test('mounts of one path are merged; writable wins', () => {
    assert.deepEqual(
      dedupeMounts([
        { path: '/a', readOnly: true },
        { path: '/b', readOnly: true },
        { path: '/a', readOnly: false },
      ]),
      [
        { path: '/a', readOnly: false },
        { path: '/b', readOnly: true },
      ],
    );
  });
});

describe('resources', () => {
  test("defaults apply, content values are held to the server's maximum, and off-host adds requests, CPU and GPUs", () => {
    const settings = config({ 'Scheduler.MemoryLimit': '512MiB', 'Scheduler.MaxMemoryLimit': '1GiB', 'Scheduler.MaxCPULimit': '2', 'Scheduler.MaxNvidiaGPULimit': '0' });
    const item = prepared('python-api', {}, { memory_limit: 4 * 2 ** 30, cpu_limit: 8, nvidia_gpu_limit: 1 }).content;
    const local = jobResources(item, settings, false);
    assert.equal(local.memoryLimitBytes, 2 ** 30, 'held to MaxMemoryLimit');
    assert.equal(local.cpuLimit, undefined, 'locally only memory and processes');
    const offHost = jobResources(item, settings, true);
    assert.equal(offHost.cpuLimit, 2);
    assert.equal(offHost.nvidiaGpuLimit, undefined, 'a GPU maximum of 0 means none');
    assert.equal(jobResources(prepared('python-api').content, settings, false).memoryLimitBytes, 512 * 2 ** 20, 'the server default');
  });
});

describe('restores', () => {
  const restore = (over: Partial<PythonRestore> = {}): PythonRestore => ({
    installation: python,
    packageFile: 'requirements.txt',
    requirements: 'flask==3.0\n',
    manager: { name: 'pip' },
    index: '',
    extra: [],
    ...over,
  });

  test('the environment key follows what is installed, by whom and where, not how the file is written', () => {
    const base = pythonEnvironmentKey(prepared('python-api'), restore());
    assert.match(base, /^[0-9a-f]{24}$/);
    assert.equal(pythonEnvironmentKey(prepared('python-api'), restore({ requirements: '# pinned\nflask==3.0   \n\n' })), base);
    assert.notEqual(pythonEnvironmentKey(prepared('python-api'), restore({ requirements: 'flask==3.1\n' })), base);
    assert.notEqual(pythonEnvironmentKey(prepared('python-api', {}, { owner_id: 4 }), restore()), base, 'another owner never reuses it');
    assert.notEqual(pythonEnvironmentKey(prepared('python-api', { environment: { guid: 'e', name: 'img', installations: {} } }), restore()), base, 'another image rebuilds');
    assert.notEqual(pythonEnvironmentKey(prepared('python-api'), restore({ manager: { name: 'uv', uv: '/usr/bin/uv' } })), base);
    const r: Installation = { kind: 'r', version: '4.4.1', executable: '/opt/R/4.4.1/bin/Rscript', configured: '/opt/R/4.4.1/bin/R', prefixes: ['/opt/R/4.4.1'] };
    assert.notEqual(rLibraryKey(prepared('shiny'), r, ['https://cran.r-project.org']), rLibraryKey(prepared('shiny'), r, ['https://p3m.dev/cran/latest']));
  });

  test("a restore job writes only its work and cache directories and passes the server's proxy and index settings on", () => {
    const job = pythonRestoreJob(prepared('python-api'), restore({ manager: { name: 'uv', uv: '/opt/uv/bin/uv' }, index: 'https://pypi.internal/simple' }), {
      appDir: '/data/apps/7/11',
      resources: {},
      hostEnv: { HTTPS_PROXY: 'http://proxy:3128', PIP_TIMEOUT: '60', HOME: '/root', SECRET: 'x' },
      envDir: '/data/envs/python/.tmp-1/k',
      workDir: '/data/envs/python/.tmp-1',
      cacheDir: '/data/envs/cache/owner-3',
    });
    assert.equal(job.kind, 'build');
    assert.equal(job.tag, 'python_restore');
    assert.deepEqual(
      job.mounts.filter((m) => !m.readOnly).map((m) => m.path),
      ['/data/envs/python/.tmp-1', '/data/envs/cache/owner-3'],
    );
    assert.ok(job.mounts.some((m) => m.path === '/opt/uv/bin' && m.readOnly));
    assert.equal(job.env.HTTPS_PROXY, 'http://proxy:3128');
    assert.equal(job.env.PIP_TIMEOUT, '60');
    assert.equal(job.env.SECRET, undefined, "nothing else of the server's environment");
    assert.equal(job.env.HOME, undefined);
    assert.equal(job.env.LECTERN_INDEX_URL, 'https://pypi.internal/simple');
    assert.equal(job.env.LECTERN_UV, '/opt/uv/bin/uv');
    assert.equal(job.env.UV_CACHE_DIR, '/data/envs/cache/owner-3/uv');
  });

  test('helpers: requirements without comments or blank lines; uv uses the system trust store', () => {
    assert.equal(normalizeRequirements('a==1  # why\n\n  b\n#only a comment\n'), 'a==1\nb');
    assert.deepEqual(installerEnvironment({}), { UV_NATIVE_TLS: '1' });
  });
});
