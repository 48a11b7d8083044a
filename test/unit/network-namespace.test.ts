// The pure parts of local network isolation: pasta's options, readiness from /proc/net/tcp, and
// the start-up checks on what content in its namespace could reach. The namespaces themselves are
// tested with real processes in test/runtime/network-isolation.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dnsProblem, listensIn, pastaOptions } from '../../src/launcher/local/network-namespace.js';
import { unreachableFromContent } from '../../src/cli/server-reach.js';

const TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:B505 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 302126 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:9F3C 01 00000000:00000000 03:00001770 00000000     0        0 0 3 0
`;

test('a port counts as listening only with a LISTEN socket on it', () => {
  assert.equal(listensIn(TABLE, 0xb505), true);
  assert.equal(listensIn(TABLE, 0x1f90), false, 'an established connection is not a listener');
  assert.equal(listensIn(TABLE, 80), false);
  assert.equal(listensIn('', 0xb505), false);
});

test('pasta forwards nothing of the host into the namespace and only the job port out of it', () => {
  const options = pastaOptions([40865], [], '/run/x/pasta.pid');
  for (const flag of ['--no-map-gw', '--config-net', '--foreground']) assert.ok(options.includes(flag), flag);
  const value = (flag: string) => options.filter((_, i) => options[i - 1] === flag);
  assert.deepEqual(value('--tcp-ns'), ['none']);
  assert.deepEqual(value('--udp-ns'), ['none']);
  assert.deepEqual(value('--udp-ports'), ['none']);
  assert.deepEqual(value('--tcp-ports'), ['127.0.0.1/40865']);
  assert.deepEqual(value('--tcp-ports').length, 1);
  assert.deepEqual(
    pastaOptions([], [], '/p').filter((_, i, all) => all[i - 1] === '--tcp-ports'),
    ['none'],
  );
});

test('pasta forwards into the namespace only the host ports it is given', () => {
  const options = pastaOptions([40865], [41001], '/p');
  const value = (flag: string) => options.filter((_, i) => options[i - 1] === flag);
  assert.deepEqual(value('--tcp-ns'), ['41001']);
  assert.deepEqual(value('--tcp-ports'), ['127.0.0.1/40865']);
  assert.deepEqual(value('--udp-ns'), ['none']);
});

test('start-up names a DNS set-up content cannot use', () => {
  const problem = dnsProblem('# systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n');
  assert.match(problem ?? '', /Content will have no DNS: .* 127\.0\.0\.53, on the host's loopback/);
  assert.match(problem ?? '', /NetworkIsolation = false/);
  assert.equal(dnsProblem('nameserver 127.0.0.53\nnameserver 10.255.255.53\n'), null, 'one reachable server is enough');
  assert.equal(dnsProblem('nameserver 192.0.2.53\n'), null);
  assert.equal(dnsProblem(''), null);
});

test('start-up says when the public address leads back to this host', async () => {
  assert.match((await unreachableFromContent('http://127.0.0.1:3939/')) ?? '', /Content cannot reach this server's public address http:\/\/127\.0\.0\.1:3939\/ \(\[Server\] Address\)/);
  assert.match((await unreachableFromContent('http://127.0.0.1:3939/')) ?? '', /Connect API calls still work \(CONNECT_SERVER is the API channel/);
  assert.match((await unreachableFromContent('http://[::1]:3939/')) ?? '', /\[Server\] Address/);
  assert.match((await unreachableFromContent('http://localhost:3939/')) ?? '', /NetworkIsolation = false/);
  // An address documentation reserves, on no interface here: treated as another machine.
  assert.equal(await unreachableFromContent('http://198.51.100.7/'), null);
});
