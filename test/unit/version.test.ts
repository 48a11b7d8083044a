// Lectern's version is written once, in package.json: the server, the CLI and the Helm chart must say
// the same, and no source file may spell it out again (it would go stale at the next release).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { LECTERN_VERSION as FROM_APP } from '../../src/app.js';
import { LECTERN_VERSION } from '../../src/version.js';
import { cliEnv, runCli } from '../support/cli.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const packageVersion = async () => (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test("the server reports package.json's version", async () => {
  const version = await packageVersion();
  assert.match(version, /^\d+\.\d+\.\d+/);
  assert.equal(LECTERN_VERSION, version);
  assert.equal(FROM_APP, version);
});

test("`lectern version` prints package.json's version", async () => {
  const result = await runCli(['version'], cliEnv(), { timeoutMs: 60_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${await packageVersion()}\n`);
});

test("the Helm chart's appVersion is package.json's version (it tags the images the chart runs)", async () => {
  const chart = parseYaml(await readFile(path.join(ROOT, 'deploy/helm/lectern/Chart.yaml'), 'utf8')) as { appVersion: string };
  assert.equal(chart.appVersion, await packageVersion());
});

test('no file under src/ or dashboard/src/ spells the version out', async () => {
  const version = await packageVersion();
  const spelled: string[] = [];
  for (const dir of ['src', 'dashboard/src']) {
    for (const entry of await readdir(path.join(ROOT, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !/\.(ts|tsx)$/.test(entry.name)) continue;
      const file = path.join(entry.parentPath, entry.name);
      const text = await readFile(file, 'utf8');
      if (text.includes(`'${version}'`) || text.includes(`"${version}"`)) spelled.push(path.relative(ROOT, file));
    }
  }
  assert.deepEqual(spelled, [], 'these files repeat the version; import LECTERN_VERSION from src/version.ts instead');
});
