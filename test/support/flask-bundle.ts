import assert from 'node:assert/strict';
import type { TestServer } from './lectern.js';
import { waitForTask } from './lectern.js';
import { makeTarGz } from './tarball.js';

/**
 * A Flask API bundle like posit-sdk's integration bundle example-flask-minimal: `hello.py`, a
 * requirements.txt (pinned Flask by default) and the manifest rsconnect-python writes.
 */
export function flaskBundle(requirements = 'Flask==3.0.3\n', pythonVersion = '3.11.7'): Buffer<ArrayBuffer> {
  const manifest = {
    version: 1,
    locale: 'en_US.UTF-8',
    metadata: { appmode: 'python-api', entrypoint: 'hello' },
    python: { version: pythonVersion, package_manager: { name: 'pip', version: '24.1.2', package_file: 'requirements.txt' } },
    files: { 'requirements.txt': { checksum: '' }, 'hello.py': { checksum: '' } },
  };
  return makeTarGz([
    { name: 'manifest.json', content: JSON.stringify(manifest, null, 2) },
    { name: 'hello.py', content: 'from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route("/")\ndef hello():\n    return "Hello, World!"\n' },
    { name: 'requirements.txt', content: requirements },
  ]);
}

/** Uploads and deploys a bundle as posit-sdk's `bundles.create(path).deploy()` does; returns the bundle id after the task succeeded. */
export async function deployBundle(t: TestServer, guid: string, bundle: Buffer<ArrayBuffer>, key: string): Promise<string> {
  const upload = await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle, key });
  assert.equal(upload.status, 200, await upload.clone().text());
  const { id } = (await upload.json()) as { id: string };
  const deploy = await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: id }, key });
  assert.equal(deploy.status, 202, await deploy.clone().text());
  const task = await waitForTask(t, ((await deploy.json()) as { task_id: string }).task_id, key, { timeoutMs: 300_000 });
  assert.equal(task.code, 0, task.output.join('\n'));
  return id;
}
