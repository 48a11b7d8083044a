import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { INIT_COMMAND, INIT_IMAGE_RUNTIME_DIR } from '../support/launcher-contract.js';
import { builtImage, layoutConfig, runIn } from '../support/images.js';

// The init image (deploy/images/init/Dockerfile) as the Kubernetes launcher uses it: its container
// runs INIT_COMMAND as the image's user into an emptyDir that the content container then mounts.

const ROOT = path.resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const image = builtImage('lectern-project/lectern-runtime-init');

/** Relative paths of the files under dir; `skip` leaves out what .dockerignore keeps out of images. */
function filesUnder(dir: string, skip: (name: string) => boolean = () => false, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .filter((entry) => !skip(entry.name))
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(dir, skip, path.join(prefix, entry.name)) : [path.join(prefix, entry.name)]))
    .sort();
}
const generated = (name: string) => name === '__pycache__' || name.endsWith('.pyc');

describe('init image', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'lectern-init-image-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("is tagged with Lectern's version (the server asks for that tag by default) and runs as nobody, with no entrypoint", () => {
    assert.equal(image.reference, `lectern-project/lectern-runtime-init:${VERSION}`);
    const { config } = layoutConfig(image);
    assert.equal(config.User, '65534:65534');
    // The launcher sets the command; an entrypoint would be prepended to it.
    assert.equal(config.Entrypoint, undefined);
  });

  test("the launcher's init command, run as the image's user, copies runtime/ byte for byte", async () => {
    assert.equal(INIT_COMMAND.at(-1), '/mnt/lectern-runtime/');
    const target = path.join(scratch, 'emptydir');
    mkdirSync(target);
    // An emptyDir is writable by the pod's user; the image's user is not root.
    chmodSync(target, 0o777);
    await runIn(image, [...INIT_COMMAND], { volumes: [`${target}:/mnt/lectern-runtime`] });
    const expected = filesUnder(path.join(ROOT, 'runtime'), generated);
    assert.ok(expected.length > 0);
    assert.deepEqual(filesUnder(target), expected);
    for (const file of expected) {
      assert.ok(readFileSync(path.join(target, file)).equals(readFileSync(path.join(ROOT, 'runtime', file))), `${file} differs after the copy`);
    }
  });

  test(`${INIT_IMAGE_RUNTIME_DIR} is readable by uid 65534, which the container runs as`, async () => {
    const { stdout } = await runIn(image, ['sh', '-c', `id -u; find ${INIT_IMAGE_RUNTIME_DIR} ! -perm -a+r | wc -l; find ${INIT_IMAGE_RUNTIME_DIR} -type d ! -perm -a+x | wc -l`]);
    assert.deepEqual(stdout.trim().split('\n'), ['65534', '0', '0']);
  });
});
