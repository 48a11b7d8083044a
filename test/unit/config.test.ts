import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Config, ConfigError, parseBytes, parseDuration } from '../../src/config/config.js';
import { closest } from '../../src/config/closest.js';
import { parseGcfg } from '../../src/config/gcfg.js';

async function configFile(text: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-config-'));
  const file = path.join(dir, 'lectern.gcfg');
  await writeFile(file, text);
  return file;
}

test('gcfg: sections, subsections, quotes, comments, bare keys', () => {
  const entries = parseGcfg('; comment\n[HTTP]\nListen = ":4000" ; trailing\n[Launcher "k8s"]\nEnabled\nName = "a \\"quoted\\" # value"\n', 'x.gcfg');
  assert.deepEqual(
    entries.map((e) => [e.section, e.subsection, e.key, e.value, e.line]),
    [
      ['HTTP', null, 'Listen', ':4000', 3],
      ['Launcher', 'k8s', 'Enabled', 'true', 5],
      ['Launcher', 'k8s', 'Name', 'a "quoted" # value', 6],
    ],
  );
  assert.throws(() => parseGcfg('Listen = 1\n', 'x.gcfg'), /x\.gcfg:1: .*before any \[Section\]/);
  assert.throws(() => parseGcfg('[HTTP]\nListen = "open\n', 'x.gcfg'), /x\.gcfg:2: unterminated/);
});

test('defaults, file, then LECTERN_SECTION_KEY variables; sources are reported', async () => {
  const file = await configFile('[HTTP]\nListen = 127.0.0.1:4000\n[Tasks]\nLeaseTimeout = 1m30s\n[Bundles]\nMaxUploadSize = 10MiB\n');
  const config = Config.load({ file, env: { LECTERN_HTTP_LISTEN: ':5000', LECTERN_SERVER_DATADIR: '/srv/lectern' } });
  assert.equal(config.get('HTTP.Listen'), ':5000');
  assert.deepEqual(config.source('HTTP.Listen'), { kind: 'env', name: 'LECTERN_HTTP_LISTEN' });
  assert.equal(config.get('Tasks.LeaseTimeout'), 90_000);
  assert.deepEqual(config.source('Tasks.LeaseTimeout'), { kind: 'file', file, line: 4 });
  assert.equal(config.get('Bundles.MaxUploadSize'), 10 * 1024 * 1024);
  assert.equal(config.dataDir(), '/srv/lectern');
  assert.equal(config.get('Database.Provider'), 'sqlite');
  assert.deepEqual(config.listenAddress(), { host: '0.0.0.0', port: 5000 });
  const described = config.describe().find((d) => d.key === 'Tasks.LeaseTimeout')!;
  assert.equal(described.source, `${file}:4`);
});

test('errors name the file, line and setting', async () => {
  const unknown = await configFile('[HTTP]\nListen = :1\nListn = :2\n');
  assert.throws(
    () => Config.load({ file: unknown, env: {} }),
    (err: Error) => err instanceof ConfigError && err.message === `${unknown}:3: unknown setting [HTTP] Listn (did you mean [HTTP] Listen?)`,
  );
  const bad = await configFile('[Database]\nProvider = mysql\n');
  assert.throws(() => Config.load({ file: bad, env: {} }), new RegExp(`${bad}:2: \\[Database\\] Provider: "mysql" is not one of sqlite, postgres`));
  assert.throws(() => Config.load({ env: { LECTERN_TASKS_MAXATTEMPTS: 'lots' } }), /environment variable LECTERN_TASKS_MAXATTEMPTS: "lots" is not a whole number/);
  assert.throws(() => Config.load({ env: { LECTERN_HTTP_LISTEN: 'nonsense' } }).listenAddress(), /Listen/);
});

test('durations and sizes', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('10'), 10_000);
  assert.equal(parseDuration('5 minutes'), null);
  assert.equal(parseBytes('2GiB'), 2 * 1024 ** 3);
  assert.equal(parseBytes('1.5MB'), 1_500_000);
  assert.equal(parseBytes('lots'), null);
});

test('docs/configuration.md is generated from the settings table and up to date', async () => {
  const { readFile } = await import('node:fs/promises');
  const { settingsMarkdown } = await import('../../src/config/docs.js');
  const onDisk = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(onDisk, settingsMarkdown(), 'run `npm run docs:config` after changing src/config/settings.ts');
});

test('a LECTERN_* variable that matches no setting is reported with the closest setting', () => {
  const config = Config.load({
    env: { LECTERN_HTTP_LISTNE: ':4000', LECTERN_SERVER_DATA_DIR: '/srv', LECTERN_CONFIG: '/etc/x.gcfg', LECTERN_HTTP_LISTEN: ':5000', LECTERN_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ: '1' },
  });
  assert.deepEqual(config.warnings, [
    'the environment variable LECTERN_HTTP_LISTNE matches no setting and is ignored (did you mean LECTERN_HTTP_LISTEN?)',
    'the environment variable LECTERN_SERVER_DATA_DIR matches no setting and is ignored (did you mean LECTERN_SERVER_DATADIR?)',
    'the environment variable LECTERN_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ matches no setting and is ignored',
  ]);
  assert.equal(config.get('HTTP.Listen'), ':5000');
  assert.equal(closest('Tasks.LeaseTimeot', ['Tasks.LeaseTimeout', 'Tasks.PollInterval']), 'Tasks.LeaseTimeout');
});
