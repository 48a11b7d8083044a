// The CLI's maintenance commands find the server's database the way `lectern start` does and never
// create a new one in a mistyped directory (issue #11 item 16).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cliEnv, runCli } from '../support/cli.js';
import { postgresDatabaseUrl, stopPostgres } from '../support/lectern.js';

after(() => stopPostgres());

const MAINTENANCE = [
  ['user', 'add', '--username', 'ada', '--password', 'ada-password', '--role', 'publisher'],
  ['key', 'create', '--username', 'ada'],
  ['content', 'build', '--guid', 'no-such-guid', '--no-wait'],
];

function assertRefused(result: { code: number | null; stdout: string; stderr: string }, where: RegExp) {
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, where);
  assert.match(lines[0]!, /To fix it: start the server once, or pass --config\/LECTERN_SERVER_DATADIR/);
}

describe('maintenance commands and the data directory', () => {
  test('refuse a data directory that does not exist, and do not create it', async () => {
    const typo = path.join(await mkdtemp(path.join(os.tmpdir(), 'lectern-cli-')), 'lecturn');
    for (const args of MAINTENANCE) {
      const result = await runCli(args, cliEnv({ LECTERN_SERVER_DATADIR: typo }));
      assertRefused(result, new RegExp(`^lectern: no Lectern database in the data directory ${typo}\\.`));
    }
    assert.equal(existsSync(typo), false, 'nothing was created');
  });

  test('refuse an existing directory without a database, and leave it as it was', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-cli-'));
    await writeFile(path.join(dir, 'notes.txt'), 'not Lectern');
    const result = await runCli(MAINTENANCE[0]!, cliEnv({ LECTERN_SERVER_DATADIR: dir }));
    assertRefused(result, /no Lectern database in the data directory/);
    assert.deepEqual(await readdir(dir), ['notes.txt']);
    await rm(dir, { recursive: true, force: true });
  });

  test('use the database `lectern migrate` (or start) created, from the same --config file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-cli-'));
    const config = path.join(dir, 'lectern.gcfg');
    await writeFile(config, `[Server]\nDataDir = ${path.join(dir, 'data')}\n`);
    const env = cliEnv();
    const migrated = await runCli(['migrate', '--config', config], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /Applied migrations: 0001_initial/);
    const added = await runCli([...MAINTENANCE[0]!, '--config', config], env);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /Created publisher ada/);
    const key = await runCli([...MAINTENANCE[1]!, '--config', config], env);
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stdout.trim(), /^[A-Za-z0-9_-]{20,}$/);
    // LECTERN_CONFIG names the same file for every command.
    const again = await runCli(['key', 'create', '--username', 'ada'], cliEnv({ LECTERN_CONFIG: config }));
    assert.equal(again.code, 0, again.stderr);
    await rm(dir, { recursive: true, force: true });
  });

  test('refuse a PostgreSQL database Lectern never set up', async () => {
    const url = await postgresDatabaseUrl();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-cli-'));
    await mkdir(path.join(dir, 'data'));
    const env = cliEnv({ LECTERN_SERVER_DATADIR: path.join(dir, 'data'), LECTERN_DATABASE_PROVIDER: 'postgres', LECTERN_POSTGRES_URL: url });
    const result = await runCli(MAINTENANCE[0]!, env);
    assertRefused(result, /no Lectern database in PostgreSQL database "lectern_\d+_\d+" at 127\.0\.0\.1:\d+/);
    const migrated = await runCli(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    const added = await runCli(MAINTENANCE[0]!, env);
    assert.equal(added.code, 0, added.stderr);
    await rm(dir, { recursive: true, force: true });
  });
});
