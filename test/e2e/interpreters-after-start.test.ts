import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { executionSettings, testPython } from '../support/execution.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

// Issue #11 item 13: the deploy error names the interpreter and version a bundle asked for and
// what the server has; an interpreter installed after the server started is found without a restart.

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const APP = `
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"running"]
`;

/** A WSGI app on the interpreter as it is (no restore), asking for Python `version`. */
function bundle(version: string) {
  const manifest = {
    version: 1,
    metadata: { appmode: 'python-api', entrypoint: 'app:app' },
    python: { version, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
    environment: { environment_management: { python: false } },
    files: {},
  };
  return makeTarGz([
    { name: 'manifest.json', content: JSON.stringify(manifest) },
    { name: 'app.py', content: APP },
    { name: 'requirements.txt', content: '' },
  ]);
}

describe('interpreters the server did not have at start', () => {
  let t: TestServer;
  let dir: string;
  let late: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-late-python-'));
    await chmod(dir, 0o755); // content runs as the RunAs user, who must reach the interpreter
    late = path.join(dir, 'python3');
    // Configured, but not installed yet: the server starts without it.
    t = await startLectern('sqlite', { ...executionSettings(), 'Python.Executable': late });
  });
  after(async () => {
    await t?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function deploy(guid: string, archive: Buffer<ArrayBuffer>) {
    const uploaded = await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: archive });
    assert.equal(uploaded.status, 200, await uploaded.clone().text());
    const { id } = (await uploaded.json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: id } })).json()) as { task_id: string };
    return waitForTask(t, task_id);
  }

  it('a bundle asking for a Python the server lacks gets an error naming it and the installed ones; one installed later is then used', async () => {
    const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'late-python' } })).json()) as { guid: string };
    const refused = await deploy(guid, bundle(PYTHON_VERSION));
    assert.equal(refused.code, 1);
    assert.equal(refused.error, `The bundle needs Python ${PYTHON_VERSION}, but this server has no Python installation (configured but not found: ${late}).`);

    // The administrator installs the configured interpreter; no restart.
    await symlink(testPython(), late);
    const deployed = await deploy(guid, bundle(PYTHON_VERSION));
    assert.equal(deployed.code, 0, `${deployed.error}\n${deployed.output.join('\n')}`);
    assert.equal(await (await t.api(`/content/${guid}/`)).text(), 'running');

    const newer = await deploy(guid, bundle('3.99.1'));
    assert.equal(newer.code, 1);
    assert.equal(newer.error, `The bundle requires Python 3.99.1, but this server has no Python 3.99 ([Python] VersionMatching = major-minor). Installed: ${PYTHON_VERSION}.`);
  });
});
