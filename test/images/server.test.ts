import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort } from '../support/free-port.js';
import { builtImage, envOf, layoutConfig, runIn } from '../support/images.js';

// The server image (deploy/images/server/Dockerfile), which the Helm chart runs: what its config
// promises a kubelet, and that Lectern starts in it.

const ROOT = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
const image = builtImage('lectern-project/lectern');
const DATA_DIR = '/var/lib/lectern';
const START_TIMEOUT_S = 30;

describe('server image', () => {
  test("is tagged with Lectern's version and runs `lectern start` as 999:999 with its data in /var/lib/lectern", () => {
    assert.equal(image.reference, `lectern-project/lectern:${pkg.version}`);
    const { config } = layoutConfig(image);
    // Numeric, so runAsNonRoot can verify it; the Helm chart's securityContext uses the same ids.
    assert.equal(config.User, '999:999');
    assert.deepEqual(config.Entrypoint, ['node', '/opt/lectern/bin/lectern.js']);
    assert.deepEqual(config.Cmd, ['start']);
    assert.equal(config.WorkingDir, '/opt/lectern');
    assert.deepEqual(Object.keys(config.Volumes ?? {}), [DATA_DIR]);
    assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['3939/tcp']);
    const env = envOf(config);
    assert.equal(env.LECTERN_SERVER_DATADIR, DATA_DIR);
    assert.equal(env.LECTERN_HTTP_LISTEN, ':3939');
    assert.equal(env.NODE_ENV, 'production');
  });

  test('its entrypoint runs Lectern: --version prints the package version', async () => {
    const { config } = layoutConfig(image);
    const { stdout } = await runIn(image, [...config.Entrypoint!, '--version']);
    assert.match(stdout, new RegExp(`\\b${pkg.version.replace(/\./g, '\\.')}\\b`));
  });

  test('holds dist (with the dashboard), bin, runtime and production node_modules only, and owns its data dir', async () => {
    const dev = Object.keys(pkg.devDependencies).filter((name) => !name.startsWith('@types/'));
    const { stdout } = await runIn(image, [
      'sh',
      '-c',
      [
        'id -u; id -g; node --version; ls -A /opt/lectern',
        `stat -c %u:%g ${DATA_DIR}`,
        'test -f dist/cli/main.js && test -f dist/dashboard/index.html && echo built',
        // What only the build needed.
        `for m in ${dev.join(' ')}; do test -e node_modules/$m && echo "dev dependency $m"; done; true`,
      ].join('; '),
    ]);
    const expectedNode = readFileSync(path.join(ROOT, 'deploy/images/server/Dockerfile'), 'utf8').match(/^ARG NODE_VERSION=(\S+)$/m)?.[1];
    assert.deepEqual(stdout.trim().split('\n'), ['999', '999', `v${expectedNode}`, 'bin', 'dist', 'node_modules', 'package.json', 'runtime', '999:999', 'built']);
  });

  test("nothing the build mounted is left in the image (the build home over /root with npm's and pip's CA configuration)", async () => {
    // As root: /root is private to it.
    const { stdout } = await runIn(image, ['sh', '-c', 'ls -A /root; ls -d /etc/pip.conf /usr/local/etc/npmrc /run/lectern-build 2>/dev/null; true'], { user: '0:0' });
    assert.deepEqual(stdout.trim().split('\n'), ['.bashrc', '.profile']);
  });
  test('`lectern start` (its command) serves /__ping__ on a data volume owned by 999, and exits 0 on SIGTERM', async () => {
    const data = mkdtempSync(path.join(os.tmpdir(), 'lectern-server-image-'));
    after(() => rmSync(data, { recursive: true, force: true }));
    // As a pod's volume with fsGroup/ownership set for the image's user.
    chownSync(data, 999, 999);
    const { config } = layoutConfig(image);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/__ping__`;
    // Polled with the image's own Node (the slim image has no curl); the wait is bounded in the container.
    const poll = `const end = Date.now() + ${START_TIMEOUT_S * 1000}; for (;;) { try { const r = await fetch('${url}'); console.log('ping', r.status); process.exit(r.ok ? 0 : 1); } catch {} if (Date.now() > end) { console.log('no answer from ${url} in ${START_TIMEOUT_S} s'); process.exit(1); } await new Promise((r) => setTimeout(r, 200)); }`;
    const script = [
      `${[...config.Entrypoint!, ...config.Cmd!].join(' ')} >/tmp/lectern.log 2>&1 & pid=$!`,
      `node --input-type=module -e "${poll}"; rc=$?`,
      'kill -TERM $pid; wait $pid; echo "exit $?"',
      '[ $rc = 0 ] || cat /tmp/lectern.log',
      'ls ' + DATA_DIR + ' | head -50 | tr "\\n" " "',
    ].join('\n');
    const { stdout } = await runIn(image, ['sh', '-c', script], {
      volumes: [`${data}:${DATA_DIR}`],
      env: {
        LECTERN_HTTP_LISTEN: `127.0.0.1:${port}`,
        // No content runs here, and the sandbox's bubblewrap is not in the image (the chart turns on
        // the Kubernetes launcher instead, which needs a cluster: test/kube covers that).
        LECTERN_APPLICATIONS_SANDBOX: 'false',
      },
    });
    const lines = stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['ping 200', 'exit 0'], stdout);
    // The database and the secret key were made on the volume, as the image's user.
    assert.deepEqual(
      lines[2]!
        .trim()
        .split(' ')
        .filter((name) => ['db', 'secret.key'].includes(name)),
      ['db', 'secret.key'],
    );
  });
});
