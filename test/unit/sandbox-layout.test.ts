// How the sandbox reads cgroup mounts, lays out bwrap mounts and hands over the environment.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { bwrapOptions } from '../../src/launcher/local/bwrap-args.js';
import { cgroupDir, parseMountinfo, parseProcCgroup } from '../../src/launcher/local/cgroup.js';
import { exportScript } from '../../src/launcher/local/sandbox.js';

const MOUNTINFO = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
39 31 0:36 /docker/abc /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified\\040dir rw,relatime - cgroup2 cgroup2 rw,nsdelegate`;

test('mountinfo: cgroup mounts with their roots, controllers and escaped paths', () => {
  const mounts = parseMountinfo(MOUNTINFO);
  assert.equal(mounts.length, 4);
  assert.deepEqual(mounts[1], { root: '/', mountPoint: '/sys/fs/cgroup/memory', fsType: 'cgroup', superOptions: ['rw', 'memory'] });
  assert.equal(mounts[2]!.root, '/docker/abc');
  assert.equal(mounts[3]!.mountPoint, '/sys/fs/cgroup/unified dir');
  assert.equal(mounts[3]!.fsType, 'cgroup2');
});

test('/proc/self/cgroup paths map to directories under the mounts that show them', () => {
  const own = parseProcCgroup('4:memory:/process_api/8cef\n8:pids:/docker/abc/sub\n1:name=systemd:/\n0::/user.slice/x.scope\n');
  assert.deepEqual(own[0], { id: 4, controllers: ['memory'], path: '/process_api/8cef' });
  assert.deepEqual(own[3], { id: 0, controllers: [], path: '/user.slice/x.scope' });
  const [, memory, pids] = parseMountinfo(MOUNTINFO);
  assert.equal(cgroupDir(memory!, own[0]!.path), '/sys/fs/cgroup/memory/process_api/8cef');
  assert.equal(cgroupDir(pids!, own[1]!.path), '/sys/fs/cgroup/pids/sub');
  assert.equal(cgroupDir(pids!, '/elsewhere'), null);
});

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lectern-bwrap-args-'));
  await mkdir(path.join(root, 'data', 'apps', '1', '2'), { recursive: true });
  await mkdir(path.join(root, 'data', 'jobs', 'j1'), { recursive: true });
  await mkdir(path.join(root, 'data', 'db'), { recursive: true });
  await writeFile(path.join(root, 'data', 'lectern.gcfg'), 'secret');
});
after(() => rm(root, { recursive: true, force: true }));

/** [option, ...operands] groups in order, for readable assertions. */
function ops(args: string[]): string[] {
  const arity: Record<string, number> = { '--symlink': 2, '--ro-bind': 2, '--bind': 2, '--dev': 1, '--proc': 1, '--tmpfs': 1, '--dir': 1, '--perms': 1, '--remount-ro': 1, '--chdir': 1 };
  const out: string[] = [];
  for (let i = 0; i < args.length; ) {
    const n = arity[args[i]!] ?? 0;
    out.push(args.slice(i, i + 1 + n).join(' '));
    i += 1 + n;
  }
  return out;
}

test('bwrap layout: system dirs, fresh /dev /proc /tmp, job paths with crossable parents, then masks', () => {
  const data = path.join(root, 'data');
  const bundle = path.join(data, 'apps', '1', '2');
  const jobDir = path.join(data, 'jobs', 'j1');
  const list = ops(bwrapOptions({ readOnly: [bundle, data], readWrite: [jobDir, bundle], hidePaths: [path.join(data, 'lectern.gcfg'), path.join(data, 'db'), data, '/nonexistent'] }, bundle));
  assert.ok(list.includes('--ro-bind /usr /usr'));
  assert.ok(list.includes('--ro-bind /etc /etc'));
  const tmp = list.indexOf('--tmpfs /tmp');
  assert.equal(list[tmp - 1], '--perms 1777');
  // The parents of the data dir are created 0755 inside /tmp; the data dir itself is bound read-only
  // and the job paths inside it are bound after it (the writable bundle request wins over read-only).
  const dataBind = list.indexOf(`--ro-bind ${data} ${data}`);
  assert.ok(dataBind > tmp);
  assert.equal(list[dataBind - 1], `--dir ${root}`);
  assert.equal(list[dataBind - 2], '--perms 0755');
  assert.ok(list.indexOf(`--bind ${bundle} ${bundle}`) > dataBind);
  assert.ok(list.indexOf(`--bind ${jobDir} ${jobDir}`) > dataBind);
  assert.ok(!list.includes(`--ro-bind ${bundle} ${bundle}`));
  // Masks: the config file with /dev/null, the database dir with an empty read-only tmpfs; not the
  // data dir itself (the job was given paths inside it) nor paths that do not exist.
  assert.ok(list.includes(`--ro-bind /dev/null ${path.join(data, 'lectern.gcfg')}`));
  assert.ok(list.includes(`--tmpfs ${path.join(data, 'db')}`) && list.includes(`--remount-ro ${path.join(data, 'db')}`));
  assert.ok(!list.includes(`--tmpfs ${data}`));
  assert.ok(!list.some((o) => o.includes('/nonexistent')));
  assert.deepEqual(list.slice(-8), ['--remount-ro /', '--unshare-pid', '--unshare-ipc', '--unshare-cgroup-try', '--die-with-parent', '--new-session', '--clearenv', `--chdir ${bundle}`]);
  assert.ok(!list.includes('--unshare-net'), 'apps listen on 127.0.0.1 for the proxy');
});

test('bwrap layout: a path that does not exist is an error, not a silent gap', () => {
  assert.throws(() => bwrapOptions({ readOnly: [path.join(root, 'missing')], readWrite: [], hidePaths: [] }, '/'), /cannot give the job .*missing: it does not exist/);
});

test('the environment survives the trip through a shell, whatever its values hold', () => {
  const env = { PLAIN: 'x', QUOTES: `it's "q" \`cmd\` $HOME \\ end`, LINES: 'a\nb\n', EMPTY: '', 'BAD-NAME': 'dropped', UNICODE: 'π ✓' };
  const script = exportScript(env);
  const out = execFileSync('/bin/sh', ['-c', 'eval "$(cat)" && env -0'], { input: script, env: {} });
  const seen = Object.fromEntries(
    out
      .toString()
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  for (const name of ['PLAIN', 'QUOTES', 'LINES', 'EMPTY', 'UNICODE'] as const) assert.equal(seen[name], env[name], name);
  assert.equal(seen['BAD-NAME'], undefined);
});
