import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { builtImage, envOf, layoutConfig, runIn } from '../support/images.js';

// The server image (deploy/images/server/Dockerfile), which the Helm chart runs: what its config
// promises a kubelet, and that Lectern starts in it.

const ROOT = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
const image = builtImage('lectern-project/lectern');
const DATA_DIR = '/var/lib/lectern';

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
});
