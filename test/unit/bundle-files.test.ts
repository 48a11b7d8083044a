import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BundleFileError, readBundleFile } from '../../src/bundles/bundle-files.js';

// Bundles stored before package files were checked at upload are read through this at deploy.
test('a bundle file is read only inside the bundle, only as a regular file of bounded size', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lectern-bundle-files-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const app = path.join(dir, 'app');
  await mkdir(path.join(app, 'sub'), { recursive: true });
  await writeFile(path.join(dir, 'secret.txt'), 'secret');
  await writeFile(path.join(app, 'requirements.txt'), 'flask\n');
  await writeFile(path.join(app, 'big.txt'), Buffer.alloc(2048, '#'));
  await symlink('../secret.txt', path.join(app, 'out'));
  await symlink('/dev', path.join(app, 'devices'));
  await symlink('..', path.join(app, 'sub', 'up'));

  assert.equal(await readBundleFile(app, './requirements.txt', 1024), 'flask\n');
  const refused = async (name: string, message: string) => assert.rejects(readBundleFile(app, name, 1024), (err: unknown) => err instanceof BundleFileError && err.message === message);
  await refused('/dev/zero', '/dev/zero is an absolute path; it must be relative to the bundle');
  await refused('../secret.txt', '../secret.txt leaves the bundle directory (..)');
  await refused('out', 'the bundle has no file out');
  await refused('devices/zero', 'the bundle has no file devices/zero');
  await refused('sub/up/../secret.txt', 'sub/up/../secret.txt leaves the bundle directory (..)');
  await refused('missing.txt', 'the bundle has no file missing.txt');
  await refused('sub', 'sub is not a regular file');
  await refused('big.txt', 'big.txt is larger than 1 KiB');
});
