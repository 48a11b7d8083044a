import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Interpreters, matchInstallation, probeInstallations, type Installation } from '../../src/runtimes/interpreters.js';

const py = (version: string): Installation => ({ kind: 'python', version, executable: `/opt/python/${version}/bin/python3`, configured: '', prefixes: [] });
const r = (version: string): Installation => ({ kind: 'r', version, executable: `/opt/R/${version}/bin/Rscript`, configured: '', prefixes: [] });
const PYTHONS = [py('3.10.13'), py('3.11.2'), py('3.11.7'), py('3.12.1')];

test('Python major-minor: same X.Y, closest patch', () => {
  assert.equal(matchInstallation('python', PYTHONS, '3.11.4', 'major-minor').version, '3.11.2');
  assert.equal(matchInstallation('python', PYTHONS, '3.11.6', 'major-minor').version, '3.11.7');
  assert.equal(matchInstallation('python', PYTHONS, '3.12', 'major-minor').version, '3.12.1');
});

test('no requested version picks the newest', () => {
  assert.equal(matchInstallation('python', PYTHONS, undefined, 'major-minor').version, '3.12.1');
});

test('no match names the requested and the available versions', () => {
  assert.throws(() => matchInstallation('python', PYTHONS, '3.9.1', 'major-minor'), {
    message: 'The bundle requires Python 3.9.1, but this server has no Python 3.9 ([Python] VersionMatching = major-minor). Installed: 3.12.1, 3.11.7, 3.11.2, 3.10.13.',
  });
  assert.throws(() => matchInstallation('python', PYTHONS, '3.11.5', 'exact'), {
    message: 'The bundle requires Python 3.11.5, but this server has no Python 3.11.5 ([Python] VersionMatching = exact). Installed: 3.12.1, 3.11.7, 3.11.2, 3.10.13.',
  });
  assert.equal(matchInstallation('python', PYTHONS, '3.11.7', 'exact').version, '3.11.7');
});

test('R nearest: any version, closest', () => {
  const rs = [r('4.1.3'), r('4.2.2'), r('4.4.0')];
  assert.equal(matchInstallation('r', rs, '4.2.0', 'nearest').version, '4.2.2');
  assert.equal(matchInstallation('r', rs, '4.5.1', 'nearest').version, '4.4.0');
  assert.equal(matchInstallation('r', rs, '3.6.3', 'nearest').version, '4.1.3');
});

test('a configured interpreter that does not exist stops start-up with its name', async () => {
  await assert.rejects(probeInstallations('python', ['/nonexistent/python3']), /\[Python\] Executable = \/nonexistent\/python3: .*does not exist/);
});

test('probing a real Python resolves its version and real executable', async () => {
  const [found] = await probeInstallations('python', ['python3']);
  assert.match(found!.version, /^3\.\d+\.\d+$/);
  assert.ok(found!.executable.startsWith('/'));
  assert.ok(found!.prefixes.length >= 1);
});

test('with nothing installed, the error names the kind and version the bundle asked for', () => {
  assert.throws(() => matchInstallation('python', [], '3.12.4', 'major-minor'), { message: 'The bundle needs Python 3.12.4, but this server has no Python installation.' });
  assert.throws(() => matchInstallation('r', [], undefined, 'nearest'), { message: 'The bundle needs R, but this server has no R installation.' });
  assert.throws(() => matchInstallation('quarto', [], '1.5.57', 'nearest', ['/opt/quarto/bin/quarto']), {
    message: 'The bundle needs Quarto 1.5.57, but this server has no Quarto installation (configured but not found: /opt/quarto/bin/quarto).',
  });
});

test('an interpreter installed after start is found when a bundle asks for it, without a restart', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lectern-interpreters-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const late = path.join(dir, 'python3');
  const interpreters = await Interpreters.probe({ python: [late], r: [], quarto: [] });
  assert.deepEqual(interpreters.of('python'), []);
  assert.deepEqual(interpreters.missing('python'), [late]);
  await assert.rejects(interpreters.find('python', '3', 'nearest'), {
    message: `The bundle needs Python 3, but this server has no Python installation (configured but not found: ${late}).`,
  });
  const real = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  await symlink(real, late);
  const found = await interpreters.find('python', '3', 'nearest');
  assert.equal(found.configured, late);
  assert.deepEqual(interpreters.missing('python'), []);
  // A version no installation has is named, with what is installed.
  await assert.rejects(interpreters.find('python', '3.99.1', 'major-minor'), {
    message: `The bundle requires Python 3.99.1, but this server has no Python 3.99 ([Python] VersionMatching = major-minor). Installed: ${found.version}.`,
  });
});
