// Every start-up failure is one line on standard error naming the cause and the fix, with a
// non-zero exit and no stack trace (issue #11 item 15). The real CLI, with each bad set-up.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cliEnv, runCli, type CliResult } from '../support/cli.js';
import { postgresDatabaseUrl, stopPostgres } from '../support/lectern.js';

after(() => stopPostgres());

function assertOneLineFailure(result: CliResult, cause: RegExp, fix: RegExp) {
  const all = `${result.stdout}${result.stderr}`;
  assert.ok(result.code !== null && result.code !== 0, `exit status ${result.code}:\n${all}`);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `exactly one line on stderr:\n${result.stderr}`);
  assert.match(lines[0]!, /^lectern: /);
  assert.match(lines[0]!, cause);
  assert.match(lines[0]!, /To fix it: /);
  assert.match(lines[0]!, fix);
  assert.doesNotMatch(all, /^\s+at /m, 'no stack frames');
}

async function tempDir() {
  return mkdtemp(path.join(os.tmpdir(), 'lectern-startup-'));
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const base = async (extra: Record<string, string> = {}) =>
  cliEnv({ LECTERN_SERVER_DATADIR: path.join(await tempDir(), 'data'), LECTERN_HTTP_LISTEN: '127.0.0.1:0', LECTERN_APPLICATIONS_SANDBOX: 'false', LECTERN_PYTHON_PACKAGEMANAGER: 'pip', ...extra });

describe('lectern start fails in one line', () => {
  test('PostgreSQL unreachable', async () => {
    const port = await closedPort();
    const result = await runCli(['start'], await base({ LECTERN_DATABASE_PROVIDER: 'postgres', LECTERN_POSTGRES_URL: `postgres://lectern:secret@127.0.0.1:${port}/lectern` }));
    assertOneLineFailure(result, new RegExp(`cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`), /\[Postgres\] URL \(LECTERN_POSTGRES_URL\)/);
    assert.doesNotMatch(result.stderr, /secret/, 'the password is not shown');
  });

  test('PostgreSQL without the database', async () => {
    const url = new URL(await postgresDatabaseUrl());
    url.pathname = '/no_such_database';
    const result = await runCli(['start'], await base({ LECTERN_DATABASE_PROVIDER: 'postgres', LECTERN_POSTGRES_URL: url.toString() }));
    assertOneLineFailure(result, /has no database "no_such_database"/, /createdb -O .* no_such_database/);
  });

  test('PostgreSQL provider without a URL', async () => {
    const result = await runCli(['start'], await base({ LECTERN_DATABASE_PROVIDER: 'postgres' }));
    assertOneLineFailure(result, /\[Postgres\] URL is empty/, /set \[Postgres\] URL/);
  });

  test('a data directory that cannot be created', async () => {
    const file = path.join(await tempDir(), 'a-file');
    await writeFile(file, '');
    const result = await runCli(['start'], await base({ LECTERN_SERVER_DATADIR: path.join(file, 'data') }));
    assertOneLineFailure(result, /cannot use the data directory .*a-file\/data \(ENOTDIR\)/, /set \[Server\] DataDir \(LECTERN_SERVER_DATADIR\)/);
  });

  test('the port is in use', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as AddressInfo;
      const result = await runCli(['start'], await base({ LECTERN_HTTP_LISTEN: `127.0.0.1:${port}` }));
      assertOneLineFailure(result, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`), /\[HTTP\] Listen \(LECTERN_HTTP_LISTEN\)/);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  const kubernetes = async (url: string) =>
    base({
      LECTERN_LAUNCHER_ENABLED: 'true',
      LECTERN_LAUNCHER_KUBERNETES: 'true',
      LECTERN_LAUNCHER_KUBERNETESAPIURL: url,
      LECTERN_LAUNCHER_KUBERNETESAUTHTOKEN: 'token',
      LECTERN_LAUNCHER_DATADIRPVCNAME: 'lectern-data',
    });

  test('the Kubernetes API unreachable', async () => {
    const port = await closedPort();
    const result = await runCli(['start'], await kubernetes(`http://127.0.0.1:${port}`));
    assertOneLineFailure(result, new RegExp(`Cannot reach the Kubernetes API at http://127\\.0\\.0\\.1:${port}`), /\[Launcher\] KubernetesAPIURL/);
  });

  test('the Kubernetes API forbids Lectern', async () => {
    // An API server that knows the token but grants nothing, as one without Lectern's RoleBinding.
    const api = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'forbidden: User "lectern" cannot create resource' }));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const result = await runCli(['start'], await kubernetes(`http://127.0.0.1:${(api.address() as AddressInfo).port}`));
      assertOneLineFailure(result, /refused Lectern \(403 Forbidden/, /Role in docs\/kubernetes\.md/);
    } finally {
      await new Promise((resolve) => api.close(resolve));
    }
  });

  test('a configuration file that cannot be read', async () => {
    const missing = path.join(await tempDir(), 'lectern.gcfg');
    const result = await runCli(['start', '--config', missing], await base());
    assertOneLineFailure(result, /cannot read configuration file .*lectern\.gcfg: ENOENT/, /--config or LECTERN_CONFIG/);
  });

  test('a configuration file with an unknown setting', async () => {
    const file = path.join(await tempDir(), 'lectern.gcfg');
    await writeFile(file, '[HTTP]\nListne = :4000\n');
    const result = await runCli(['start', '--config', file], await base());
    assertOneLineFailure(result, /lectern\.gcfg:2: unknown setting \[HTTP\] Listne \(did you mean \[HTTP\] Listen\?\)/, /correct the setting/);
  });

  test('a configured uv that does not exist', async () => {
    const result = await runCli(['start'], await base({ LECTERN_PYTHON_UVEXECUTABLE: '/nonexistent/uv' }));
    assertOneLineFailure(result, /\[Python\] UvExecutable = \/nonexistent\/uv is not an executable file/, /pip install uv/);
  });

  const bwrap = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => path.join(d, 'bwrap')).find((p) => existsSync(p));
  test('as root without bubblewrap', { skip: process.getuid?.() !== 0 ? 'the root case needs root (to hide bwrap in a mount namespace)' : undefined }, async () => {
    // bwrap hidden from this one process: /dev/null (not executable) mounted over it in a private mount namespace.
    const wrapper = bwrap ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount --bind /dev/null ${bwrap} && exec "$@"`, 'sh'] : [];
    const env = await base();
    delete env.LECTERN_APPLICATIONS_SANDBOX;
    const result = await runCli(['start'], env, { wrapper });
    assertOneLineFailure(result, /The content sandbox does not work: bubblewrap \(bwrap\) is not installed/, /apt-get install bubblewrap.*\[Applications\] Sandbox = false/);
  });
});
