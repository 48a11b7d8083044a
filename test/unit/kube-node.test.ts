// The node agent's pure parts (docs/kube-testbed.md): $(VAR) expansion, quantities, downward API
// fields, image names and the image map, pod address ranges, log lines and the sandbox layout.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PodAddresses } from '../support/kube-node/addresses.js';
import { expand, fieldValue, quantity, resourceValue } from '../support/kube-node/env.js';
import { loadImageMap, normalizeImage, resolveImage } from '../support/kube-node/images.js';
import { ContainerLog } from '../support/kube-node/logs.js';
import { bwrapArgs } from '../support/kube-node/sandbox.js';

describe('node agent: env', () => {
  it('expands $(VAR) as Kubernetes does', () => {
    assert.equal(expand('$(A)-$(B)-$(MISSING)-$$(A)-$$', { A: '1', B: '2' }), '1-2-$(MISSING)-$(A)-$');
  });

  it('parses quantities', () => {
    assert.equal(quantity('512Mi'), 512 * 1024 * 1024);
    assert.equal(quantity('100m'), 0.1);
    assert.equal(quantity('1.5G'), 1.5e9);
    assert.equal(quantity('2'), 2);
    assert.throws(() => quantity('12 apples'), /invalid quantity/);
  });

  it('resolves resourceFieldRef with divisors; unset limits are the allocatable', () => {
    const c = { resources: { limits: { memory: '128Mi', cpu: '250m' } } };
    assert.equal(resourceValue(c, { resource: 'limits.memory', divisor: '1Mi' }, {}), '128');
    assert.equal(resourceValue(c, { resource: 'limits.cpu' }, {}), '1'); // rounded up, as kubelet does
    assert.equal(resourceValue(c, { resource: 'limits.cpu', divisor: '1m' }, {}), '250');
    assert.equal(resourceValue({}, { resource: 'limits.cpu' }, { cpu: '2' }), '2');
    assert.equal(resourceValue({}, { resource: 'requests.memory' }, { memory: '1Gi' }), '0');
  });

  it('answers downward API field paths', () => {
    const pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u', labels: { b: '2', a: '1' } }, spec: { nodeName: 'n1' }, status: { podIP: '127.100.0.1', podIPs: [{ ip: '127.100.0.1' }] } };
    assert.equal(fieldValue(pod, 'status.podIP'), '127.100.0.1');
    assert.equal(fieldValue(pod, 'metadata.labels'), 'a="1"\nb="2"');
    assert.equal(fieldValue(pod, "metadata.labels['b']"), '2');
    assert.equal(fieldValue(pod, 'spec.nodeName'), 'n1');
    assert.throws(() => fieldValue(pod, 'spec.nope'), /unsupported fieldPath/);
  });
});

describe('node agent: images', () => {
  it('normalizes image names as the container runtime does', () => {
    assert.equal(normalizeImage('python'), 'docker.io/library/python:latest');
    assert.equal(normalizeImage('python:3.11'), 'docker.io/library/python:3.11');
    assert.equal(normalizeImage('org/app:1'), 'docker.io/org/app:1');
    assert.equal(normalizeImage('ghcr.io/org/app:1'), 'ghcr.io/org/app:1');
    assert.equal(normalizeImage('localhost:5000/app'), 'localhost:5000/app:latest');
  });

  it('reads a YAML image map; short and structured forms; unknown images are undefined', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kube-node-images-'));
    try {
      const file = path.join(dir, 'images.yaml');
      await writeFile(
        file,
        [
          'images:',
          '  python:3.11:',
          '    /opt/python: /srv/python',
          '  ghcr.io/x/app:1:',
          '    paths: { /opt/app: /srv/app }',
          '    env: { A: 1 }',
          '    cmd: [run, --fast]',
          '    user: 1000',
          '  bare: {}',
          '',
        ].join('\n'),
      );
      const map = loadImageMap(file);
      assert.deepEqual(resolveImage(map, 'docker.io/library/python:3.11'), { paths: { '/opt/python': '/srv/python' }, env: {} });
      assert.deepEqual(resolveImage(map, 'ghcr.io/x/app:1'), { paths: { '/opt/app': '/srv/app' }, env: { A: '1' }, entrypoint: undefined, cmd: ['run', '--fast'], workingDir: undefined, user: 1000 });
      assert.deepEqual(resolveImage(map, 'bare')?.paths, {});
      assert.equal(resolveImage(map, 'python:3.12'), undefined);
      await writeFile(file, 'images: [1, 2]\n');
      assert.throws(() => loadImageMap(file), /expected a top-level "images" mapping/);
      await writeFile(file, 'images:\n  app:\n    paths: { opt/app: /srv }\n');
      assert.throws(() => loadImageMap(file), /image app: paths must map absolute image paths/);
      await writeFile(file, 'images:\n  app:\n    user: nobody\n');
      assert.throws(() => loadImageMap(file), /image app: user must be a numeric uid/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('node agent: pod addresses', () => {
  it('claims distinct loopback ranges and hands out distinct addresses', () => {
    const a = PodAddresses.claim();
    const b = PodAddresses.claim();
    try {
      assert.notEqual(a.prefix, b.prefix);
      assert.match(a.cidr, /^127\.\d+\.0\.0\/16$/);
      const ips = new Set(Array.from({ length: 600 }, () => a.allocate()));
      assert.equal(ips.size, 600);
      for (const ip of ips) assert.ok(!/\.(0|255)$/.test(ip), ip);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('node agent: logs', () => {
  it('splits output into lines per stream, across chunks and multi-byte characters, and flushes the rest on close', () => {
    const log = new ContainerLog();
    const euro = Buffer.from('€');
    log.write('stdout', Buffer.concat([Buffer.from('one\ntw'), euro.subarray(0, 1)]));
    log.write('stderr', Buffer.from('err\n'));
    log.write('stdout', Buffer.concat([euro.subarray(1), Buffer.from('o\nthree')]));
    log.close();
    assert.deepEqual(
      log.lines.map((l) => [l.stream, l.text]),
      [
        ['stdout', 'one\n'],
        ['stderr', 'err\n'],
        ['stdout', 'tw€o\n'],
        ['stdout', 'three'],
      ],
    );
    assert.match(log.lines[0]!.stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });
});

describe('node agent: sandbox layout', () => {
  it('binds volumes at container paths, re-creating a system directory a mount lands in, and sets the env inside', () => {
    const args = bwrapArgs({
      mounts: [
        { source: '/tmp', target: '/etc/config', readOnly: true },
        { source: '/tmp', target: '/work', readOnly: false },
      ],
      workingDir: '/work',
      hostname: 'pod-a',
      uid: 1000,
      env: { A: '1' },
    });
    const joined = args.join(' ');
    assert.match(joined, /--dir \/etc /); // /etc is re-created…
    assert.match(joined, /--ro-bind \/etc\/passwd \/etc\/passwd/); // …with the host's entries bound one by one
    assert.match(joined, /--ro-bind \/tmp \/etc\/config/);
    assert.match(joined, /--bind \/tmp \/work/);
    assert.match(joined, /--clearenv --setenv A 1 /);
    assert.match(joined, /--hostname pod-a/);
    assert.match(joined, /--chdir \/work$/);
    assert.ok(!args.includes('--cap-drop'), 'setpriv drops capabilities for non-root users');
    // An image path and a volume at the same path: the volume (given later) is bound last and wins.
    const layered = bwrapArgs({
      mounts: [
        { source: '/usr', target: '/opt/app', readOnly: true },
        { source: '/tmp', target: '/opt/app', readOnly: false },
      ],
      workingDir: '/',
      hostname: 'h',
      uid: 0,
      env: {},
    }).join(' ');
    assert.ok(layered.indexOf('--ro-bind /usr /opt/app') < layered.indexOf('--bind /tmp /opt/app'), layered);
    assert.throws(() => bwrapArgs({ mounts: [{ source: '/nonexistent-source', target: '/x', readOnly: true }], workingDir: '/', hostname: 'h', uid: 0, env: {} }), /does not exist/);
  });
});
