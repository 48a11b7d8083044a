import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseClusterDefinition, parseEnvironmentsFile } from '../../src/execution-environments/definition-files.js';
import type { EnvironmentDefinition } from '../../src/execution-environments/definition.js';
import { builtImage, envOf, layoutConfig, runIn } from '../support/images.js';

// The example execution environments (deploy/cluster-definition.yaml, deploy/environments.yaml) and
// the content image the test bed builds (deploy/images/content-debian/Dockerfile): every interpreter
// the definitions name for it runs inside the built image and reports the version they declare.
// (deploy/images/content/Dockerfile cannot be built here: it needs ubuntu:24.04 and cdn.posit.co.)

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (relative: string) => readFileSync(path.join(ROOT, relative), 'utf8');
const cluster = parseClusterDefinition(read('deploy/cluster-definition.yaml'), 'deploy/cluster-definition.yaml');
const file = parseEnvironmentsFile(read('deploy/environments.yaml'), 'deploy/environments.yaml');
const image = builtImage('lectern-project/content-debian');
/** Where the definitions publish it: the same repository and tag under ghcr.io. */
const definition = cluster.find((def) => def.name === `ghcr.io/${image.reference}`);
const BINARIES = { python: 'python', r: 'R', quarto: 'quarto' } as const;
const RUNTIME_DIRS = { python: 'python', r: 'R', quarto: 'quarto' } as const;

const installations = (defs: EnvironmentDefinition[]) => defs.map((d) => ({ name: d.name, installations: d.installations }));

describe('example execution environments', () => {
  test("both files load with Lectern's parsers and describe the same images the same way", () => {
    assert.equal(cluster.length, 2);
    assert.deepEqual(installations(file), installations(cluster));
    assert.ok(file.every((def) => def.matching === 'any'));
  });

  test("every installation is at Posit's /opt/<runtime>/<version>/bin/<binary>, and each image's tag names its versions", () => {
    for (const def of cluster) {
      for (const runtime of ['python', 'r', 'quarto'] as const) {
        for (const inst of def.installations[runtime]) {
          assert.equal(inst.path, `/opt/${RUNTIME_DIRS[runtime]}/${inst.version}/bin/${BINARIES[runtime]}`);
          assert.ok(def.name.includes(inst.version), `image tag ${def.name} does not mention ${inst.version}`);
        }
      }
    }
  });
});

describe('content image (Debian)', () => {
  test('the definitions name the built image, with R and Python and no Quarto (Debian has none)', () => {
    assert.ok(definition, `no definition in deploy/cluster-definition.yaml names ghcr.io/${image.reference} (it has ${cluster.map((d) => d.name).join(', ')})`);
    assert.equal(definition.installations.python.length, 1);
    assert.equal(definition.installations.r.length, 1);
    assert.equal(definition.installations.quarto.length, 0);
  });

  test('runs as the non-root 999:999 by default, in UTF-8 and UTC', () => {
    const { config } = layoutConfig(image);
    assert.equal(config.User, '999:999');
    const env = envOf(config);
    assert.equal(env.LANG, 'C.UTF-8');
    assert.equal(env.TZ, 'UTC');
  });

  test('every interpreter the definitions name runs in the image and reports the declared version', async () => {
    const steps = Object.entries(definition!.installations).flatMap(([runtime, list]) => list.map((inst) => ({ runtime, inst, command: `${inst.path} --version 2>&1 | head -1` })));
    assert.ok(steps.length > 0);
    const { stdout } = await runIn(image, ['sh', '-c', steps.map((s) => s.command).join('; ')]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, steps.length, stdout);
    for (const [index, { runtime, inst }] of steps.entries()) {
      const expected = runtime === 'python' ? `Python ${inst.version}` : `R version ${inst.version} `;
      assert.ok(lines[index]!.startsWith(expected), `${inst.path} --version says "${lines[index]}", the definition says ${inst.version}`);
    }
  });

  test("as the content user: uv makes a virtualenv from the definition's Python, and R evaluates code", async () => {
    const python = definition!.installations.python[0]!.path;
    const r = definition!.installations.r[0]!.path;
    const { stdout } = await runIn(image, [
      'sh',
      '-c',
      [
        'id -u',
        '/opt/uv/bin/uv --version',
        `UV_CACHE_DIR=/tmp/uv-cache /opt/uv/bin/uv venv --quiet --python ${python} /tmp/env`,
        `/tmp/env/bin/python -c 'import sys; print(sys.version.split()[0])'`,
        `${path.dirname(r)}/Rscript -e 'cat(R.version$major, R.version$minor, capabilities("cairo"), "\\n")'`,
      ].join(' && '),
    ]);
    const uvVersion = read('deploy/images/content-debian/Dockerfile').match(/^ARG UV_VERSION=(\S+)$/m)?.[1];
    const [major, minor] = definition!.installations.r[0]!.version.split(/\.(.*)/);
    assert.deepEqual(stdout.trim().split('\n'), ['999', `uv ${uvVersion} (x86_64-unknown-linux-gnu)`, definition!.installations.python[0]!.version, `${major} ${minor} TRUE`]);
  });

  test("nothing the build mounted is left in the image (the build home over /root with npm's and pip's CA configuration)", async () => {
    // As root: /root is private to it.
    const { stdout } = await runIn(image, ['sh', '-c', 'ls -A /root; ls -d /etc/pip.conf /usr/local/etc/npmrc /run/lectern-build 2>/dev/null; true'], { user: '0:0' });
    assert.deepEqual(stdout.trim().split('\n'), ['.bashrc', '.profile']);
  });
});
