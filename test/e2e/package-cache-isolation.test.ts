import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { executionSettings, testPython } from '../support/execution.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

// Issue #11 item 5: build-time code of one owner's bundle wrote into the package cache every
// other owner's restores used. Here it is a local package's build backend (a PEP 517 backend in
// the bundle, which uv runs while restoring), as hostile as a setup.py.

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const APP = `
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`;

/** A wheel by hand, so the backend needs nothing from an index. */
const WHEEL = `
import base64, hashlib, os, zipfile

def wheel(directory):
    name = "buildtime-0.1-py3-none-any.whl"
    files = {
        "buildtime/__init__.py": b"",
        "buildtime-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: buildtime\\nVersion: 0.1\\n",
        "buildtime-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = []
    with zipfile.ZipFile(os.path.join(directory, name), "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append("buildtime-0.1.dist-info/RECORD,,")
        z.writestr("buildtime-0.1.dist-info/RECORD", "\\n".join(record) + "\\n")
    return name
`;

/** Owner A's backend leaves the marker in its cache and wherever else it can reach beside it. */
function writerBackend(marker: string) {
  return `${WHEEL}
import glob

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    cache = os.environ["UV_CACHE_DIR"]
    with open(os.path.join(cache, ${JSON.stringify(marker)}), "w") as f:
        f.write("written by owner A's build")
    root = os.path.dirname(cache)
    for target in [root, *glob.glob(os.path.join(os.path.dirname(root), "*")), *glob.glob(os.path.join(os.path.dirname(root), "*", "uv"))]:
        try:
            with open(os.path.join(target, ${JSON.stringify(marker)}), "w") as f:
                f.write("written by owner A's build")
        except OSError:
            pass
    return wheel(wheel_directory)
`;
}

/** Owner B's backend fails its restore, saying so, when any cache it is given holds the marker. */
function readerBackend(marker: string) {
  return `${WHEEL}
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    cache = os.environ["UV_CACHE_DIR"]
    for place in [cache, os.path.dirname(cache), os.environ.get("PIP_CACHE_DIR", cache)]:
        if os.path.exists(os.path.join(place, ${JSON.stringify(marker)})):
            raise SystemExit("owner B's restore reads a cache owner A's build wrote into: " + place)
    return wheel(wheel_directory)
`;
}

function bundle(backend: string, requirements = 'waitress\n./buildtime\n') {
  const manifest = {
    version: 1,
    metadata: { appmode: 'python-api', entrypoint: 'app:app' },
    python: { version: PYTHON_VERSION, package_manager: { name: 'uv', package_file: 'requirements.txt' } },
    files: {},
  };
  const pyproject = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n[project]\nname = "buildtime"\nversion = "0.1"\n';
  return makeTarGz([
    { name: 'manifest.json', content: JSON.stringify(manifest) },
    { name: 'app.py', content: APP },
    { name: 'requirements.txt', content: requirements },
    { name: 'buildtime/pyproject.toml', content: pyproject },
    { name: 'buildtime/backend.py', content: backend },
  ]);
}

describe('package caches of restores are per owner', () => {
  let t: TestServer;
  let cacheRoot: string;

  before(async () => {
    // A cache of its own: the marker must not reach the other tests' shared download cache.
    cacheRoot = await mkdtemp(path.join(os.tmpdir(), 'lectern-cache-isolation-'));
    t = await startLectern('sqlite', { ...executionSettings(), 'Python.PackageCacheDir': cacheRoot });
  });
  after(async () => {
    await t?.stop();
    await rm(cacheRoot, { recursive: true, force: true });
  });

  async function deployAs(key: string, name: string, archive: Buffer<ArrayBuffer>) {
    const content = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name }, key })).json()) as { guid: string };
    const uploaded = await t.api(`/__api__/v1/content/${content.guid}/bundles`, { method: 'POST', body: archive, key });
    assert.equal(uploaded.status, 200, await uploaded.clone().text());
    const { id } = (await uploaded.json()) as { id: string };
    const started = await t.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: { bundle_id: id }, key });
    const { task_id } = (await started.json()) as { task_id: string };
    return waitForTask(t, task_id, key);
  }

  it("a build of owner A's bundle cannot write into the cache owner B's restores use", async () => {
    const alice = await t.addUser('alice', 'publisher');
    const bob = await t.addUser('bob', 'publisher');
    const marker = `marker-${randomBytes(6).toString('hex')}`;

    const a = await deployAs(alice.key, 'alice-app', bundle(writerBackend(marker)));
    assert.equal(a.code, 0, `${a.error}\n${a.output.join('\n')}`);
    assert.ok(
      a.output.some((l) => /buildtime/.test(l)),
      `owner A's restore built its local package:\n${a.output.join('\n')}`,
    );

    // Other requirements, so B's restore runs rather than reusing an environment (see below).
    const b = await deployAs(bob.key, 'bob-app', bundle(readerBackend(marker), './buildtime\nwaitress\n'));
    assert.ok(
      b.output.some((l) => /Python environment \w+ is ready/.test(l)),
      `owner B's restore ran:\n${b.output.join('\n')}`,
    );
    assert.ok(!b.output.some((l) => /reads a cache owner A's build wrote into/.test(l)), b.output.join('\n'));
    assert.equal(b.code, 0, `${b.error}\n${b.output.join('\n')}`);
  });

  it("an environment owner A's build made is never reused for owner B, even for the same requirements", async () => {
    const carol = await t.addUser('carol', 'publisher');
    const dave = await t.addUser('dave', 'publisher');
    const archive = bundle(readerBackend('no-marker'), 'waitress\n./buildtime\nwaitress\n');
    const c = await deployAs(carol.key, 'carol-app', archive);
    assert.ok(
      c.output.some((l) => /Python environment \w+ is ready/.test(l)),
      c.output.join('\n'),
    );
    const again = await deployAs(carol.key, 'carol-app-2', archive);
    assert.ok(
      again.output.some((l) => /Reusing the cached Python environment/.test(l)),
      `the same owner reuses it:\n${again.output.join('\n')}`,
    );
    const d = await deployAs(dave.key, 'dave-app', archive);
    assert.ok(!d.output.some((l) => /Reusing the cached Python environment/.test(l)), d.output.join('\n'));
    assert.ok(
      d.output.some((l) => /Python environment \w+ is ready/.test(l)),
      d.output.join('\n'),
    );
  });
});
