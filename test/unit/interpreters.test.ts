import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchInstallation, probeInstallations, type Installation } from '../../src/runtimes/interpreters.js';

const py = (version: string): Installation => ({ kind: 'python', version, executable: `/opt/python/${version}/bin/python3`, configured: '', prefixes: [] });
const r = (version: string): Installation => ({ kind: 'r', version, executable: `/opt/R/${version}/bin/Rscript`, configured: '', prefixes: [] });
const PYTHONS = [py('3.10.13'), py('3.11.2'), py('3.11.7'), py('3.12.1')];

test('Python major-minor: same X.Y, closest patch', () => {
  assert.equal(matchInstallation(PYTHONS, '3.11.4', 'major-minor').version, '3.11.2');
  assert.equal(matchInstallation(PYTHONS, '3.11.6', 'major-minor').version, '3.11.7');
  assert.equal(matchInstallation(PYTHONS, '3.12', 'major-minor').version, '3.12.1');
});

test('no requested version picks the newest', () => {
  assert.equal(matchInstallation(PYTHONS, undefined, 'major-minor').version, '3.12.1');
});

test('no match names the requested and the available versions', () => {
  assert.throws(() => matchInstallation(PYTHONS, '3.9.1', 'major-minor'), /requires Python 3\.9\.1.*Available: 3\.12\.1, 3\.11\.7, 3\.11\.2, 3\.10\.13/);
  assert.throws(() => matchInstallation(PYTHONS, '3.11.5', 'exact'), /exactly/);
  assert.equal(matchInstallation(PYTHONS, '3.11.7', 'exact').version, '3.11.7');
});

test('R nearest: any version, closest', () => {
  const rs = [r('4.1.3'), r('4.2.2'), r('4.4.0')];
  assert.equal(matchInstallation(rs, '4.2.0', 'nearest').version, '4.2.2');
  assert.equal(matchInstallation(rs, '4.5.1', 'nearest').version, '4.4.0');
  assert.equal(matchInstallation(rs, '3.6.3', 'nearest').version, '4.1.3');
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
