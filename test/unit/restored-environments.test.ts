import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { EnvironmentCache } from '../../src/execution/restored-environments.js';
import { installedPythonPackages, installedRPackages } from '../../src/execution/restored-packages.js';

const roots: string[] = [];
after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-envs-'));
  roots.push(dir);
  return dir;
}

const build = (marker: string) => async (workDir: string, entry: string) => {
  await mkdir(path.join(workDir, entry), { recursive: true });
  await writeFile(path.join(workDir, entry, 'marker'), marker);
};

test('entries list what each environment was restored for; a retired one is missing but kept until nothing uses it', async () => {
  const root = await tempDir();
  const cache = new EnvironmentCache(root);
  await cache.ensure('aaa111', { version: '3.12.1', image: null }, build('a'));
  await cache.ensure('bbb222', { version: '3.11.7', image: 'py311-image' }, build('b'));
  // An entry restored before markers said what for: described by the fallback, or left out.
  await mkdir(path.join(root, 'ccc333'));
  await writeFile(path.join(root, 'ccc333', '.lectern-ready'), '2026-01-01T00:00:00.000Z\n');
  assert.deepEqual(await cache.entries(), [
    { key: 'aaa111', version: '3.12.1', image: null },
    { key: 'bbb222', version: '3.11.7', image: 'py311-image' },
  ]);
  assert.deepEqual((await cache.entries(async () => ({ version: '3.10.0', image: null }))).at(-1), { key: 'ccc333', version: '3.10.0', image: null });

  assert.equal(await cache.retire('aaa111'), true);
  assert.equal(await cache.retire('aaa111'), false, 'already gone');
  assert.equal(await cache.isReady('aaa111'), false);
  assert.deepEqual(
    (await cache.entries()).map((e) => e.key),
    ['bbb222'],
  );
  // The start-up sweep leaves retired entries alone; removeRetired spares those in use.
  await cache.sweep(0);
  assert.equal((await readdir(root)).filter((n) => n.startsWith('.retired-aaa111-')).length, 1);
  assert.equal(await cache.removeRetired((key) => key === 'aaa111'), 0);
  assert.equal(await cache.removeRetired(() => false), 1);
  assert.deepEqual(
    (await readdir(root)).filter((n) => n.startsWith('.retired-')),
    [],
  );
  // The key restores afresh.
  const again = await cache.ensure('aaa111', { version: '3.12.1', image: null }, build('again'));
  assert.equal(again.reused, false);
});

test("a venv's packages are its site-packages' distributions, named as pip names them", async () => {
  const env = await tempDir();
  const site = path.join(env, 'lib', 'python3.12', 'site-packages');
  const dist = async (dir: string, file: string, text: string) => {
    await mkdir(path.join(site, dir), { recursive: true });
    await writeFile(path.join(site, dir, file), text);
  };
  await dist('Flask-3.0.3.dist-info', 'METADATA', 'Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.3\nSummary: x\n\nName: not-this\n');
  await dist('typing_extensions-4.12.2.dist-info', 'METADATA', 'Name: typing_extensions\nVersion: 4.12.2\n');
  await dist('legacy.egg-info', 'PKG-INFO', 'Name: Legacy.Pkg\nVersion: 0.1\n');
  await dist('flask', '__init__.py', '');
  assert.deepEqual(await installedPythonPackages(env), [
    { name: 'flask', version: '3.0.3', hash: null },
    { name: 'legacy-pkg', version: '0.1', hash: null },
    { name: 'typing-extensions', version: '4.12.2', hash: null },
  ]);
});

test("an R library's packages: those installed there and those the restore reused from a site library", async () => {
  const library = await tempDir();
  await mkdir(path.join(library, 'plumber'));
  await writeFile(path.join(library, 'plumber', 'DESCRIPTION'), 'Package: plumber\nType: Package\nVersion: 1.2.1\nDepends: R (>= 3.0.0)\n');
  await writeFile(path.join(library, '.lectern-reused.dcf'), 'Package: jsonlite\nVersion: 1.8.4\n\nPackage: plumber\nVersion: 1.0.0\n');
  assert.deepEqual(await installedRPackages(library), [
    { name: 'jsonlite', version: '1.8.4', hash: null },
    { name: 'plumber', version: '1.2.1', hash: null },
  ]);
});
