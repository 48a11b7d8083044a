// Network isolation of local content with real processes: two workers started by the local
// launcher, a server on the host's loopback (standing in for any host service), a real Lectern
// (its main port, and its API channel, the one host port the launcher forwards into each job's
// namespace), and an "internet" server in a second network namespace the test makes (a veth pair
// to the host).
// Needs root, bubblewrap, pasta and iproute2: bash scripts/deps/sandbox.sh.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { acceptsConnections } from '../../src/launcher/local/accepts-connections.js';
import type { JobAddress, JobSpec } from '../../src/launcher/launcher.js';
import { LocalLauncher } from '../../src/launcher/local/local-launcher.js';
import { Sandbox } from '../../src/launcher/local/sandbox.js';
import { startLectern, type TestServer } from '../support/lectern.js';
import { eventually } from '../support/eventually.js';

const RUN_AS = 'lectern';
const [PYTHON, PYTHON_PREFIX] = execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable)); print(sys.base_prefix)'], { encoding: 'utf8' }).trim().split('\n') as [
  string,
  string,
];

// The "internet": 10.213.N.0/30, N from the pid so concurrent runs do not collide. Only namespaces
// and links this test makes carry these addresses.
const NET = `10.213.${process.pid % 250}`;
const INTERNET = { namespace: `lectern-inet-${process.pid}`, hostLink: `lti${process.pid % 100000}h`, nsLink: `lti${process.pid % 100000}n`, host: `${NET}.1`, server: `${NET}.2`, port: 8080 };

/** A worker: answers its name, and on /probe tries every target from inside its sandbox. */
const WORKER = `
import json, os, socket, sys, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
NAME = os.environ['WORKER_NAME']
def connect(host, port):
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return 'connected'
    except Exception as e:
        return type(e).__name__
def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r: return r.read().decode()
    except Exception as e:
        return type(e).__name__
def answer(url, key=None):
    request = urllib.request.Request(url, headers={'Authorization': 'Key ' + key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r: return [r.status, r.headers.get('Content-Type', ''), r.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.headers.get('Content-Type', ''), e.read().decode()]
    except Exception as e:
        return [type(e).__name__]
def listening_ports():
    ports = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            for line in open(table).read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == '0A': ports.append(int(fields[1].rsplit(':', 1)[1], 16))
        except OSError:
            pass
    return sorted(set(ports))
def gateway():
    for line in open('/proc/net/route').read().splitlines()[1:]:
        fields = line.split()
        if fields[1] == '00000000': return socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])
    return None
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/probe':
            t = json.loads(os.environ['TARGETS'])
            gw = gateway()
            api = 'http://127.0.0.1:%d' % t['api']
            body = json.dumps({
                'other_worker': connect('127.0.0.1', self.headers['X-Other-Port']),
                'host_loopback': connect('127.0.0.1', t['loopback']),
                'host_loopback6': connect('::1', t['loopback6']),
                'gateway': connect(gw, t['loopback']) if gw else 'no gateway',
                'internet': fetch(t['internet']),
                'lectern_port': connect('127.0.0.1', t['lectern']),
                'api_settings': answer(api + '/__api__/server_settings'),
                'api_user': answer(api + '/__api__/v1/user', t['key']),
                'api_content': answer(api + '/content/' + t['guid'] + '/'),
                'api_dashboard': answer(api + '/connect/'),
                'api_login': answer(api + '/__login__'),
                'api_dot_segments': answer(api + '/__api__/%2e%2e/connect/'),
                'listening': listening_ports(),
            })
        else:
            body = 'I am ' + NAME
        data = body.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args): pass
ThreadingHTTPServer((os.environ['LECTERN_HOST'], int(os.environ['LECTERN_PORT'])), Handler).serve_forever()
`;

let root: string;
let launcher: LocalLauncher;
let loopback: Server;
let loopback6: Server;
let internetServer: ChildProcess | undefined;
let lectern: TestServer;
const targets = {} as { loopback: number; loopback6: number; internet: string; lectern: number; api: number; key: string; guid: string };

async function listen(server: Server, host: string): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

function ip(...args: string[]) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const waitFor = <T>(what: string, probe: () => Promise<T | undefined>) => eventually(what, probe, { timeoutMs: 20_000 });

/** pasta processes this test process started (through setpriv): none may outlive their job. */
async function ourPastas(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('/proc/self/fd/3')) found.push(Number(entry));
  }
  return found;
}

function workerSpec(name: string): JobSpec {
  const jobDir = path.join(root, 'jobs', name);
  return {
    key: `${name}-${process.pid}`,
    kind: 'run',
    tag: 'run_app',
    contentId: 1,
    contentGuid: `guid-${name}`,
    bundleId: 1,
    command: [PYTHON, path.join(root, 'bundle', 'worker.py')],
    cwd: path.join(root, 'bundle'),
    env: { PATH: '/usr/bin:/bin', WORKER_NAME: name, TARGETS: JSON.stringify(targets) },
    mounts: [
      { path: PYTHON_PREFIX, readOnly: true },
      { path: path.join(root, 'bundle'), readOnly: true },
    ],
    jobDir,
    logPath: path.join(root, 'logs', `${name}.jsonl`),
    resources: { memoryLimitBytes: 256 << 20 },
    listen: true,
  };
}

async function get(address: JobAddress, pathname: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`http://${address.host}:${address.port}${pathname}`, { headers, signal: AbortSignal.timeout(30_000) });
  assert.equal(response.status, 200);
  return response.text();
}

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'lectern-network-test-'));
  await mkdir(path.join(root, 'bundle'), { recursive: true });
  await mkdir(path.join(root, 'logs'), { recursive: true });
  await writeFile(path.join(root, 'bundle', 'worker.py'), WORKER);

  const answer = (name: string) => (_req: unknown, res: { end(body: string): void }) => res.end(name);
  loopback = createServer(answer('HOST-LOOPBACK'));
  loopback6 = createServer(answer('HOST-LOOPBACK6'));
  targets.loopback = await listen(loopback, '127.0.0.1');
  targets.loopback6 = await listen(loopback6, '::1');

  ip('netns', 'add', INTERNET.namespace);
  ip('link', 'add', INTERNET.hostLink, 'type', 'veth', 'peer', 'name', INTERNET.nsLink);
  ip('link', 'set', INTERNET.nsLink, 'netns', INTERNET.namespace);
  ip('addr', 'add', `${INTERNET.host}/30`, 'dev', INTERNET.hostLink);
  ip('link', 'set', INTERNET.hostLink, 'up');
  ip('-n', INTERNET.namespace, 'addr', 'add', `${INTERNET.server}/30`, 'dev', INTERNET.nsLink);
  ip('-n', INTERNET.namespace, 'link', 'set', INTERNET.nsLink, 'up');
  ip('-n', INTERNET.namespace, 'link', 'set', 'lo', 'up');
  const serve = `
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Length', '14'); self.end_headers(); self.wfile.write(b'FROM-INTERNET!')
    def log_message(self, *a): pass
HTTPServer(('${INTERNET.server}', ${INTERNET.port}), H).serve_forever()
`;
  internetServer = spawn('ip', ['netns', 'exec', INTERNET.namespace, PYTHON, '-c', serve], { stdio: 'ignore' });
  targets.internet = `http://${INTERNET.server}:${INTERNET.port}/`;
  await waitFor('the internet server to answer from the host', async () => {
    const r = await fetch(targets.internet, { signal: AbortSignal.timeout(2000) });
    return r.ok ? true : undefined;
  });

  // Lectern with network isolation (the default) opens its API channel, which the launcher forwards.
  lectern = await startLectern('sqlite', { 'Applications.RunAs': RUN_AS });
  assert.ok(lectern.app.apiChannel, 'Lectern opens an API channel for content in its own network namespace');
  targets.lectern = Number(new URL(lectern.url).port);
  targets.api = lectern.app.apiChannel.port;
  targets.key = lectern.adminKey;
  targets.guid = ((await (await lectern.api('/__api__/v1/content', { method: 'POST', json: { name: 'neighbour' } })).json()) as { guid: string }).guid;

  const sandbox = await Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [] });
  assert.match(sandbox.describe(), /network: own network namespace/);
  launcher = new LocalLauncher(sandbox, { hostPorts: [targets.api] });
});

after(async () => {
  await launcher?.close();
  await lectern?.stop();
  internetServer?.kill();
  if (internetServer && internetServer.exitCode === null) await once(internetServer, 'exit');
  await new Promise((r) => loopback?.close(r));
  await new Promise((r) => loopback6?.close(r));
  try {
    ip('netns', 'del', INTERNET.namespace);
  } catch {
    // not made
  }
  try {
    ip('link', 'del', INTERNET.hostLink);
  } catch {
    // gone with the namespace's end of the pair
  }
  await rm(root, { recursive: true, force: true });
});

describe('network isolation of local content', () => {
  test('a worker reaches the outside world but no other worker, no host loopback service and no host port through its gateway', async () => {
    const a = await launcher.submit(workerSpec('a'));
    const b = await launcher.submit(workerSpec('b'));
    const addressA = await launcher.ready(a.key, { timeoutMs: 30_000 });
    const addressB = await launcher.ready(b.key, { timeoutMs: 30_000 });

    // Lectern (the host side) reaches each worker through its forwarded port.
    assert.equal(await get(addressA, '/'), 'I am a');
    assert.equal(await get(addressB, '/'), 'I am b');

    const seen = JSON.parse(await get(addressA, '/probe', { 'X-Other-Port': String(addressB.port) })) as Record<string, unknown>;
    assert.notEqual(seen.other_worker, 'connected', `worker a connected to worker b on 127.0.0.1:${addressB.port}`);
    assert.notEqual(seen.host_loopback, 'connected', `worker a connected to the host's 127.0.0.1:${targets.loopback}`);
    assert.notEqual(seen.host_loopback6, 'connected', `worker a connected to the host's [::1]:${targets.loopback6}`);
    assert.notEqual(seen.gateway, 'connected', 'the gateway address does not lead to the host loopback');
    assert.equal(seen.internet, 'FROM-INTERNET!', 'a server outside the namespace is reachable');
    assert.deepEqual(
      seen.listening,
      [addressA.port, targets.api].sort((x, y) => x - y),
      "/proc/net/tcp shows the worker its own sockets and pasta's end of the API channel only",
    );

    // And the other way round: b cannot reach a either.
    const fromB = JSON.parse(await get(addressB, '/probe', { 'X-Other-Port': String(addressA.port) })) as Record<string, unknown>;
    assert.notEqual(fromB.other_worker, 'connected');
    assert.equal(fromB.internet, 'FROM-INTERNET!');

    assert.equal((await ourPastas()).length, 2, 'one pasta per running worker');
    // A stopped job and a killed job both take their network helper with them.
    await launcher.stop(a.key, { graceMs: 5000 });
    assert.equal((await launcher.status(a.key)).stopped, true);
    process.kill(b.pid!, 'SIGKILL');
    await launcher.wait(b.key);
    assert.deepEqual(await ourPastas(), [], 'no pasta outlives its job');
  });

  test("a worker reaches Lectern's API through the API channel, and nothing else of Lectern", async () => {
    const job = await launcher.submit(workerSpec('api'));
    const address = await launcher.ready(job.key, { timeoutMs: 30_000 });
    const seen = JSON.parse(await get(address, '/probe', { 'X-Other-Port': '9' })) as Record<string, [number, string, string] | string>;
    await launcher.stop(job.key, { graceMs: 5000 });

    assert.notEqual(seen.lectern_port, 'connected', `the worker connected to Lectern's main port 127.0.0.1:${targets.lectern}`);
    const [status, type, body] = seen.api_settings as [number, string, string];
    assert.equal(status, 200, `GET /__api__/server_settings on the API channel: ${JSON.stringify(seen.api_settings)}`);
    assert.match(type, /^application\/json/);
    assert.equal(typeof (JSON.parse(body) as { version?: unknown }).version, 'string');
    const [userStatus, , user] = seen.api_user as [number, string, string];
    assert.equal(userStatus, 200, 'an API key authenticates on the API channel as on the main port');
    assert.equal((JSON.parse(user) as { username: string }).username, 'admin');

    for (const probe of ['api_content', 'api_dashboard', 'api_login', 'api_dot_segments']) {
      const [refused, refusedType, error] = seen[probe] as [number, string, string];
      assert.equal(refused, 404, `${probe}: ${JSON.stringify(seen[probe])}`);
      assert.match(refusedType, /^application\/json/, probe);
      const json = JSON.parse(error) as { code: number; error: string; payload: unknown };
      assert.equal(json.code, 4, probe);
      assert.match(json.error, /serves only the Connect API/, probe);
    }
  });

  test('a worker that never listens is not reported ready although its port is forwarded', async () => {
    const spec = { ...workerSpec('silent'), command: [PYTHON, '-c', 'import time; time.sleep(30)'] };
    const job = await launcher.submit(spec);
    // pasta itself accepts on the forwarded port, so a bare TCP connect would call the worker ready.
    const [info] = await launcher.list({ contentGuid: spec.contentGuid });
    assert.equal(await acceptsConnections(info!.address!), true);
    await assert.rejects(launcher.ready(job.key, { timeoutMs: 1500 }), /did not accept connections within the init timeout \(2 s\)/, 'the scheduler is told the app does not listen yet');
    await launcher.stop(job.key, { graceMs: 2000 });
    assert.deepEqual(await ourPastas(), []);
  });
});

describe('start-up without a working pasta', () => {
  test('a missing pasta stops start-up with what to do', async () => {
    await assert.rejects(Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [], pasta: '/nonexistent/pasta' }), (err: Error) => {
      assert.match(err.message, /^Network isolation for content does not work: pasta is not an executable file at \/nonexistent\/pasta\./);
      assert.match(err.message, /apt-get install passt/);
      assert.match(err.message, /\[Applications\] NetworkIsolation = false/);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      return true;
    });
  });

  test('a pasta that cannot set up the namespace shows its own error', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-badpasta-'));
    const pasta = path.join(dir, 'pasta');
    await writeFile(pasta, '#!/bin/sh\necho "Failed to open tun socket in namespace" >&2\nexit 1\n', { mode: 0o755 });
    try {
      await assert.rejects(Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [], pasta }), (err: Error) => {
        assert.match(
          err.message,
          /Network isolation for content does not work: pasta could not connect the job's network namespace: pasta exited \(code 1\): Failed to open tun socket in namespace\./,
        );
        assert.match(err.message, /NetworkIsolation = false/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('NetworkIsolation = false leaves content on the host network', async () => {
    const shared = await Sandbox.create({ enabled: true, runAs: RUN_AS, processLimit: 64, hidePaths: [], networkIsolation: false });
    assert.match(shared.describe(), /network: host network \(\[Applications\] NetworkIsolation = false\)/);
  });
});
