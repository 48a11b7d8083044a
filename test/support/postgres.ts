import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

const execFileAsync = promisify(execFile);

export interface TestPostgres {
  /** postgres://<user>@127.0.0.1:<port>/lectern_test (or LECTERN_TEST_POSTGRES_URL as given). */
  url: string;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL server on 127.0.0.1 (and `host`, when given) from Debian's binaries (`bash scripts/test-deps.sh` installs them):
 * a fresh cluster in a temp directory, trust auth, fsync off, and a database `lectern_test`.
 * With LECTERN_TEST_POSTGRES_URL set, that server is used instead and stop() does nothing.
 */
export async function startPostgres(options: { host?: string } = {}): Promise<TestPostgres> {
  const external = process.env.LECTERN_TEST_POSTGRES_URL;
  if (external && !options.host) return { url: external, stop: async () => undefined };

  const bin = postgresBin();
  const owner = process.getuid?.() === 0 ? await unprivilegedUser() : null;
  const user = owner ? owner.name : os.userInfo().username;
  const ids = owner ? { uid: owner.uid, gid: owner.gid } : {};

  const dir = await mkdtemp(path.join(tempRoot(owner !== null), 'lectern-pg-'));
  let server: { child: ChildProcess; port: number; log: () => string } | undefined;
  try {
    if (owner) await chown(dir, owner.uid, owner.gid);
    const data = path.join(dir, 'data');
    try {
      await execFileAsync(path.join(bin, 'initdb'), ['-D', data, '-U', user, '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'], {
        ...ids,
        cwd: dir,
        env: { ...process.env, LC_ALL: 'C' },
      });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`initdb failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
    // Clients on other hosts (pods of the Kubernetes test bed) connect to `host`, with the same trust.
    if (options.host) await appendFile(path.join(data, 'pg_hba.conf'), 'host all all 0.0.0.0/0 trust\n');

    // The free port can be taken between probing and binding: retry a few times.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const started = await launch(bin, data, dir, port, ids, user, options.host);
      if (started.ok) {
        server = { child: started.child, port, log: started.log };
        break;
      }
      if (attempt >= 3 || !/could not bind|already in use/i.test(started.log())) {
        throw new Error(`PostgreSQL did not start: ${started.reason}\n--- postgres log ---\n${started.log()}`);
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const { child, port, log } = server;
  // A test process that dies without stop() must not leave the server behind: kill it on exit, and have a
  // detached watchdog (which outlives SIGKILL of this process) shut it down and remove its directory.
  const onExit = () => {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
    } catch {
      /* already gone */
    }
  };
  process.on('exit', onExit);
  const watchdog = startWatchdog(child.pid!, dir);

  const base = `postgres://${encodeURIComponent(user)}@${options.host ?? '127.0.0.1'}:${port}`;
  try {
    await withClient(`${base}/postgres`, (c) => c.query('CREATE DATABASE lectern_test'));
  } catch (err) {
    process.off('exit', onExit);
    child.ref();
    await shutdown(child);
    watchdog.stdin?.end('stop\n');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL started but creating lectern_test failed: ${(err as Error).message}\n${log()}`);
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `${base}/lectern_test`,
    stop() {
      stopped ??= (async () => {
        child.ref(); // keep this process alive until the server has exited
        watchdog.stdin?.end('stop\n');
        await shutdown(child);
        process.off('exit', onExit);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** Creates a fresh database on the server behind baseUrl and returns its URL. */
export async function createDatabase(baseUrl: string, name: string): Promise<string> {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid test database name: ${JSON.stringify(name)}`);
  await withClient(baseUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

type Launch = { ok: true; child: ChildProcess; log: () => string } | { ok: false; reason: string; log: () => string };

async function launch(bin: string, data: string, dir: string, port: number, ids: { uid?: number; gid?: number }, user: string, host?: string): Promise<Launch> {
  const args = [
    '-D',
    data,
    '-p',
    String(port),
    '-h',
    host ? `127.0.0.1,${host}` : '127.0.0.1',
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=200',
    '-c',
    'logging_collector=off',
  ];
  const child = spawn(path.join(bin, 'postgres'), args, { ...ids, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const log = () => output;
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  // The server stays referenced only through its pipes while it runs; don't let them keep the test alive.
  const unref = () => {
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  };

  const url = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  let lastError = '';
  for (;;) {
    if (spawnError) return { ok: false, reason: spawnError.message, log };
    if (child.exitCode !== null || child.signalCode !== null) {
      return { ok: false, reason: `postgres exited (${child.exitCode ?? child.signalCode})`, log };
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      unref();
      return { ok: true, child, log };
    } catch (err) {
      await client.end().catch(() => undefined);
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      await shutdown(child);
      return { ok: false, reason: `not accepting connections after 30 s (${lastError})`, log };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Fast shutdown (SIGINT), escalating to SIGQUIT/SIGKILL if it hangs. */
async function shutdown(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const escalate = (signal: NodeJS.Signals, ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        resolve();
      }, ms);
      void exited.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  await escalate('SIGQUIT', 15_000);
  await escalate('SIGKILL', 5_000);
  await exited;
}

/**
 * A detached shell that waits for this process's end of a pipe to close. "stop" means stop() is handling it;
 * plain EOF means this process died: shut the server down and remove its directory.
 */
function startWatchdog(pid: number, dir: string): ChildProcess {
  const script = [
    'read -r line || line=',
    '[ "$line" = stop ] && exit 0',
    'kill -INT "$1" 2>/dev/null',
    'i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
    'kill -KILL "$1" 2>/dev/null',
    'rm -rf "$2"',
  ].join('\n');
  const watchdog = spawn('/bin/sh', ['-c', script, 'lectern-pg-watchdog', String(pid), dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.on('error', () => undefined);
  watchdog.stdin?.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return watchdog;
}

/** The newest /usr/lib/postgresql/<version>/bin with a server in it. */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres'))) : [];
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  if (!versions[0]) throw new Error("PostgreSQL server binaries are missing under /usr/lib/postgresql: run `bash scripts/test-deps.sh` (installs Debian's postgresql).");
  return path.join(root, versions[0], 'bin');
}

/** initdb/postgres refuse to run as root: use the `postgres` system user, else a `lectern-test` one. */
async function unprivilegedUser(): Promise<{ name: string; uid: number; gid: number }> {
  const lookup = async (name: string) => {
    try {
      const uid = Number((await execFileAsync('id', ['-u', name])).stdout.trim());
      const gid = Number((await execFileAsync('id', ['-g', name])).stdout.trim());
      return { name, uid, gid };
    } catch {
      return null;
    }
  };
  const found = (await lookup('postgres')) ?? (await lookup('lectern-test'));
  if (found) return found;
  try {
    await execFileAsync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'lectern-test']);
  } catch (err) {
    // Another test process may have created it concurrently.
    const again = await lookup('lectern-test');
    if (again) return again;
    throw new Error(`cannot create the lectern-test system user to run PostgreSQL as: ${(err as Error).message}`);
  }
  const created = await lookup('lectern-test');
  if (!created) throw new Error('lectern-test user missing right after useradd');
  return created;
}

/** os.tmpdir(), unless another user (the server's) couldn't reach it or the socket path would be too long. */
function tempRoot(forOtherUser: boolean): string {
  const tmp = os.tmpdir();
  if (tmp.length > 60) return '/tmp';
  if (!forOtherUser) return tmp;
  for (let d = path.resolve(tmp); ; d = path.dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return '/tmp';
    } catch {
      return '/tmp';
    }
    if (d === path.dirname(d)) return tmp;
  }
}
