// The local sandbox with real bubblewrap, cgroups (or rlimits) and Python processes.
// Needs root (to switch to the RunAs user) and bubblewrap: bash scripts/deps/sandbox.sh.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { prepareWritableDir, Sandbox, type SandboxRequest } from '../../src/launcher/local/sandbox.js';

const RUN_AS = 'lectern';
const [PYTHON, PYTHON_PREFIX] = execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable)); print(sys.base_prefix)'], { encoding: 'utf8' }).trim().split('\n') as [
  string,
  string,
];

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  memoryLimitExceeded: boolean;
}

/** Spawns a prepared job the way the local launcher does and waits for it. */
async function runJob(sandbox: Sandbox, req: SandboxRequest, whileRunning?: (job: Awaited<ReturnType<Sandbox['prepare']>>['process']) => Promise<void>): Promise<Finished> {
  const { command, process: job } = await sandbox.prepare(req);
  const child = spawn(command.file, command.args, { cwd: command.cwd, env: command.env, uid: command.uid, gid: command.gid, stdio: [command.stdin, 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  await job.attach(child);
  await whileRunning?.(job);
  const [code, signal] = await exited;
  const { memoryLimitExceeded } = await job.outcome();
  await job.release();
  return { code, signal, stdout, stderr, memoryLimitExceeded };
}

function python(code: string): string[] {
  return [PYTHON, '-c', code];
}

let root: string;
let sandbox: Sandbox;
let uid: number;
const paths = {} as Record<'bundle' | 'otherContent' | 'shared' | 'config' | 'database' | 'jobDir' | 'unbound', string>;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lectern-sandbox-test-'));
  paths.bundle = path.join(root, 'data', 'apps', '1', '1');
  paths.otherContent = path.join(root, 'data', 'apps', '2', '7');
  paths.shared = path.join(root, 'shared');
  paths.config = path.join(paths.shared, 'lectern.gcfg');
  paths.database = path.join(paths.shared, 'db');
  paths.jobDir = path.join(root, 'data', 'jobs', 'job-a');
  paths.unbound = path.join(root, 'unbound.txt');
  for (const dir of [paths.bundle, paths.otherContent, paths.database]) await mkdir(dir, { recursive: true });
  await writeFile(path.join(paths.bundle, 'app.py'), 'print("hello")\n');
  await writeFile(path.join(paths.otherContent, 'secret.txt'), 'OTHER-CONTENT-SECRET');
  await writeFile(paths.config, '[Server]\nSecretKey = CONFIG-SECRET\n');
  await writeFile(path.join(paths.database, 'lectern.db'), 'DATABASE-SECRET');
  await writeFile(path.join(paths.shared, 'visible.txt'), 'visible');
  await writeFile(paths.unbound, 'UNBOUND-SECRET');
  // The data directory is private to the server, as in a real installation.
  await chmod(path.join(root, 'data'), 0o700);
  sandbox = await Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [paths.config, paths.database] });
  uid = Number(execFileSync('id', ['-u', RUN_AS], { encoding: 'utf8' }).trim());
  await prepareWritableDir(paths.jobDir);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('bubblewrap sandbox', () => {
  test('describes what it found', () => {
    const text = sandbox.describe();
    console.log(`sandbox: ${text}`);
    assert.match(text, /bubblewrap sandbox/);
    assert.match(text, new RegExp(`runs as ${RUN_AS} \\(uid ${uid}\\)`));
    assert.equal(sandbox.runAsUser(), RUN_AS);
  });

  test('the job dir is handed to the RunAs user', async () => {
    assert.equal((await stat(paths.jobDir)).uid, uid);
  });

  test('content sees its own paths only, as the RunAs user, in its own PID namespace', async () => {
    const checks = `
import json, os
def read(p):
    try:
        with open(p) as f: return f.read()
    except Exception as e: return type(e).__name__
def write(p):
    try:
        with open(p, 'w') as f: f.write('x')
        return 'ok'
    except Exception as e: return type(e).__name__
def listing(p):
    try: return sorted(os.listdir(p))
    except Exception as e: return type(e).__name__
e = os.environ
print(json.dumps({
  'uid': os.getuid(), 'gid': os.getgid(), 'pid': os.getpid(), 'cwd': os.getcwd(),
  'bundle': read(e['BUNDLE'] + '/app.py'),
  'other': read(e['OTHER'] + '/secret.txt'),
  'config': read(e['CONFIG']),
  'database': listing(e['DATABASE']),
  'database_file': read(e['DATABASE'] + '/lectern.db'),
  'visible': read(e['SHARED'] + '/visible.txt'),
  'unbound': read(e['UNBOUND']),
  'write_bundle': write(e['BUNDLE'] + '/new.py'),
  'write_job': write(e['HOME'] + '/out.txt'),
  'write_tmp': write('/tmp/' + e['TMPNAME']),
  'root_dir': listing('/'),
  'weird': e['WEIRD'],
  'env_names': sorted(e),
}))
`;
    const weird = `it's "quoted" $HOME \`x\` \\ back\nsecond line`;
    const result = await runJob(sandbox, {
      name: `content-${process.pid}`,
      command: python(checks),
      cwd: paths.bundle,
      env: {
        PATH: '/usr/bin:/bin',
        HOME: paths.jobDir,
        BUNDLE: paths.bundle,
        OTHER: paths.otherContent,
        CONFIG: paths.config,
        DATABASE: paths.database,
        SHARED: paths.shared,
        UNBOUND: paths.unbound,
        WEIRD: weird,
        TMPNAME: `lectern-scratch-${process.pid}.txt`,
      },
      readOnly: [PYTHON_PREFIX, paths.bundle, paths.shared],
      readWrite: [paths.jobDir],
    });
    assert.equal(result.code, 0, result.stderr);
    const seen = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(seen.uid, uid);
    assert.ok((seen.pid as number) < 10, `pid ${seen.pid} should be small in a new PID namespace`);
    assert.equal(seen.cwd, paths.bundle);
    assert.equal(seen.bundle, 'print("hello")\n');
    assert.equal(seen.other, 'FileNotFoundError', 'other content is not mounted');
    // Masked with /dev/null, which the sandbox's nodev mounts make unopenable.
    assert.equal(seen.config, 'PermissionError', 'the config file is masked');
    assert.deepEqual(seen.database, [], 'the database directory is masked');
    assert.equal(seen.database_file, 'FileNotFoundError');
    assert.equal(seen.visible, 'visible');
    assert.equal(seen.unbound, 'FileNotFoundError');
    assert.match(seen.write_bundle as string, /OSError|PermissionError/);
    assert.equal(seen.write_job, 'ok');
    assert.equal(seen.write_tmp, 'ok');
    assert.ok(!(seen.root_dir as string[]).includes('home') && !(seen.root_dir as string[]).includes('var'), `root: ${seen.root_dir}`);
    assert.equal(seen.weird, weird);
    assert.ok(!(seen.env_names as string[]).some((n) => /^(NODE|npm_|LECTERN_SECRET)/.test(n)), 'nothing inherited from the server');
    assert.equal((await stat(path.join(paths.jobDir, 'out.txt'))).uid, uid);
    const hostTmp = await stat(`/tmp/lectern-scratch-${process.pid}.txt`).catch(() => null);
    assert.equal(hostTmp, null, 'the sandbox /tmp is private');
  });

  test('a job over its memory limit is stopped and reported', async () => {
    const result = await runJob(sandbox, {
      name: `memory-${process.pid}`,
      command: python('b = bytearray(300 << 20)\nprint("survived", len(b))'),
      cwd: paths.bundle,
      env: { PATH: '/usr/bin:/bin', HOME: paths.jobDir },
      readOnly: [PYTHON_PREFIX, paths.bundle],
      readWrite: [paths.jobDir],
      memoryLimitBytes: 64 << 20,
    });
    assert.notEqual(result.code, 0);
    assert.doesNotMatch(result.stdout, /survived/);
    if (sandbox.describe().includes('memory limit: cgroup')) {
      assert.equal(result.memoryLimitExceeded, true, `exit ${result.code}/${result.signal}: ${result.stderr}`);
    } else {
      assert.match(result.stderr, /MemoryError/);
    }
  });

  test('usage() reads the tree and signal() stops the app inside the namespace', async () => {
    let usage: { cpuSeconds?: number; memoryBytes?: number } = {};
    const result = await runJob(
      sandbox,
      {
        name: `usage-${process.pid}`,
        command: python(
          'import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: (print("got SIGTERM", flush=True), sys.exit(3)))\nb = bytearray(48 << 20)\nprint("ready", flush=True)\ntime.sleep(60)',
        ),
        cwd: paths.bundle,
        env: { PATH: '/usr/bin:/bin', HOME: paths.jobDir },
        readOnly: [PYTHON_PREFIX, paths.bundle],
        readWrite: [paths.jobDir],
        memoryLimitBytes: 256 << 20,
      },
      async (job) => {
        for (let i = 0; i < 100 && !((usage.memoryBytes ?? 0) > 40 << 20); i++) {
          await new Promise((r) => setTimeout(r, 100));
          usage = await job.usage();
        }
        await job.signal('SIGTERM');
      },
    );
    assert.ok((usage.memoryBytes ?? 0) > 40 << 20, `memory ${usage.memoryBytes}`);
    assert.equal(typeof usage.cpuSeconds, 'number');
    assert.match(result.stdout, /got SIGTERM/);
    assert.equal(result.code, 3, 'bwrap passes on the app exit code');
    assert.equal(result.memoryLimitExceeded, false);
  });

  test('a fork loop is stopped by maxProcesses', async () => {
    const result = await runJob(sandbox, {
      name: `fork-${process.pid}`,
      command: python(`
import os, time
children, error = [], None
try:
    for _ in range(300):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
except OSError as e:
    error = e.errno
for pid in children:
    os.kill(pid, 9)
print(len(children), error)
`),
      cwd: paths.bundle,
      env: { PATH: '/usr/bin:/bin', HOME: paths.jobDir },
      readOnly: [PYTHON_PREFIX, paths.bundle],
      readWrite: [paths.jobDir],
      maxProcesses: 16,
    });
    assert.equal(result.code, 0, result.stderr);
    const [forked, errno] = result.stdout.trim().split(' ');
    assert.ok(Number(forked) < 16, `forked ${forked}`);
    assert.equal(errno, '11', 'fork fails with EAGAIN');
  });

  test('the interpreter under /root is reachable only through the sandbox', { skip: !PYTHON.startsWith('/root/') && 'python3 is not under /root here' }, async () => {
    const plain = await Sandbox.create({ enabled: false, runAs: RUN_AS, processLimit: 64, hidePaths: [] });
    await assert.rejects(plain.prepare({ name: `reach-${process.pid}`, command: [PYTHON], cwd: '/', env: {}, readOnly: [PYTHON_PREFIX], readWrite: [] }), /lectern cannot reach .*\/root is mode 700/);
  });
});

describe('without bubblewrap, or without cgroups', () => {
  test('[Applications] Sandbox = false still switches user and limits memory', async () => {
    const plain = await Sandbox.create({ enabled: false, runAs: RUN_AS, processLimit: 64, hidePaths: [] });
    assert.match(plain.describe(), /no sandbox/);
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'lectern-plain-'));
    try {
      await prepareWritableDir(scratch);
      const result = await runJob(plain, {
        name: `plain-${process.pid}`,
        command: ['/usr/bin/python3', '-c', 'import os; print(os.getuid(), flush=True); b = bytearray(300 << 20)'],
        cwd: scratch,
        env: { PATH: '/usr/bin:/bin', HOME: scratch },
        readOnly: [],
        readWrite: [scratch],
        memoryLimitBytes: 64 << 20,
      });
      assert.equal(result.stdout.split('\n')[0], String(uid));
      assert.notEqual(result.code, 0);
      if (plain.describe().includes('memory limit: cgroup')) assert.equal(result.memoryLimitExceeded, true);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  test('rlimits replace cgroups: RLIMIT_AS makes allocations fail, RLIMIT_NPROC stops forks', async () => {
    const limited = await Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [], cgroups: false });
    assert.match(limited.describe(), /memory limit: RLIMIT_AS; process limit: RLIMIT_NPROC/);
    const result = await runJob(limited, {
      name: `rlimit-${process.pid}`,
      command: python('import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_NPROC)[0], flush=True)\nb = bytearray(300 << 20)'),
      cwd: paths.bundle,
      env: { PATH: '/usr/bin:/bin', HOME: paths.jobDir },
      readOnly: [PYTHON_PREFIX, paths.bundle],
      readWrite: [paths.jobDir],
      memoryLimitBytes: 128 << 20,
      maxProcesses: 200,
    });
    assert.equal(result.stdout.trim(), `${128 << 20} 200`);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /MemoryError/);
    assert.equal(result.memoryLimitExceeded, false, 'without cgroups the kill cannot be told apart');
  });
});

describe('a broken bubblewrap', () => {
  test('a missing bwrap stops start-up with what to do', async () => {
    await assert.rejects(Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [], bwrap: '/nonexistent/bwrap' }), (err: Error) => {
      assert.match(err.message, /content sandbox does not work: bubblewrap is not an executable file at \/nonexistent\/bwrap/);
      assert.match(err.message, /apt-get install bubblewrap/);
      assert.match(err.message, /\[Applications\] Sandbox = false/);
      return true;
    });
  });

  test('a bwrap that cannot create namespaces shows its own error', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-badbwrap-'));
    const bwrap = path.join(dir, 'bwrap');
    await writeFile(bwrap, '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n', { mode: 0o755 });
    try {
      await assert.rejects(Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [], bwrap }), (err: Error) => {
        assert.match(err.message, /running `id -u` in the sandbox .* as lectern failed \(exit code 1\)/);
        assert.match(err.message, /No permissions to create new namespace/);
        assert.match(err.message, /namespaces/);
        assert.match(err.message, /Sandbox = false/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
