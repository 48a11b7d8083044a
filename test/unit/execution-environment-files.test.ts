import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DefinitionFileError, parseClusterDefinition, parseEnvironmentsFile } from '../../src/execution-environments/definition-files.js';

function failure(fn: () => unknown): DefinitionFileError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DefinitionFileError, `expected a DefinitionFileError, got ${err}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('ClusterDefinition files', () => {
  test("Connect's runtime.yaml schema: images with python, r and quarto installations", () => {
    const defs = parseClusterDefinition(
      `name: Kubernetes
images:
  - name: ghcr.io/acme/content:r4.4.0-py3.12.3-jammy
    r:      {installations: [{path: /opt/R/4.4.0/bin/R, version: 4.4.0}]}
    python: {installations: [{path: /opt/python/3.12.3/bin/python3, version: 3.12.3}]}
    quarto: {installations: [{path: /opt/quarto/1.4.553/bin/quarto, version: 1.4.553}]}
  - name: rstudio/content-base:r3.6.3-py3.10.0-bionic
    python:
      installations:
        - path: /opt/python/3.10.0/bin/python3
          version: 3.10
`,
      '/etc/lectern/runtime.yaml',
    );
    assert.equal(defs.length, 2);
    assert.deepEqual(defs[0], {
      title: 'ghcr.io/acme/content:r4.4.0-py3.12.3-jammy',
      description: '',
      cluster_name: 'Kubernetes',
      name: 'ghcr.io/acme/content:r4.4.0-py3.12.3-jammy',
      matching: 'any',
      supervisor: null,
      installations: {
        python: [{ version: '3.12.3', path: '/opt/python/3.12.3/bin/python3' }],
        r: [{ version: '4.4.0', path: '/opt/R/4.4.0/bin/R' }],
        quarto: [{ version: '1.4.553', path: '/opt/quarto/1.4.553/bin/quarto' }],
        tensorflow: [],
      },
      volume_mounts: [],
    });
    // YAML reads 3.10 as the number 3.1; the version is kept as written.
    assert.equal(defs[1]!.installations.python[0]!.version, '3.10');
  });

  test('errors name the file and the line of the offending value', () => {
    const cases: Array<[string, number | undefined, RegExp]> = [
      ['name: Kubernetes\nimages:\n  - name: img/a:1\n    python: {installations: [{path: /p, version: 3.12.1}]\n', 5, /invalid YAML: Flow map/],
      ['name: Local\nimages: []\n', 1, /cluster name must be "Kubernetes", got "Local"/],
      [
        'name: Kubernetes\nimages:\n  - name: img/a:1\n    python:\n      installations:\n        - path: bin/python\n          version: 3.12.1\n',
        6,
        /absolute path inside the image, got "bin\/python"/,
      ],
      ['name: Kubernetes\nimages:\n  - name: img/a:1\n    pyhton: {}\n', 4, /unknown field "pyhton"/],
      ['name: Kubernetes\nimages:\n  - name: "Not An Image"\n', 3, /not a container image reference/],
      ['name: Kubernetes\nimages:\n  - name: img/a:1\n  - name: img/a:1\n', 4, /image img\/a:1 is defined twice \(also at line 3\)/],
      ['name: Kubernetes\nimages:\n  - python: {installations: []}\n', 3, /"name" is required/],
      ['name: Kubernetes\nimages:\n  - name: img/a:1\n    r:\n      installations:\n        - {path: /opt/R/bin/R, version: four}\n', 6, /"four" is not a version number/],
    ];
    for (const [text, line, message] of cases) {
      const err = failure(() => parseClusterDefinition(text, '/etc/lectern/bad.yaml'));
      assert.equal(err.file, '/etc/lectern/bad.yaml');
      assert.equal(err.line, line, `${err.message} (for ${JSON.stringify(text)})`);
      assert.match(err.message, message);
      assert.ok(err.message.startsWith(`/etc/lectern/bad.yaml:${line}: `), err.message);
    }
  });
});

describe('declarative environments file', () => {
  test('a list of environment objects, with title, description, matching and supervisor', () => {
    const defs = parseEnvironmentsFile(
      `- name: ghcr.io/acme/py:3.12
  title: Python 3.12
  description: Scientific Python
  matching: exact
  supervisor: /opt/supervisor.sh
  python:
    installations:
      - {path: /opt/python/3.12.4/bin/python3, version: 3.12.4}
  volume_mounts:
    - source: {volume_type: nfs, nfs_host: nfs.example.org, nfs_export_path: /exports/data}
      target: {path: /mnt/data}
`,
      'envs.yaml',
    );
    assert.equal(defs.length, 1);
    assert.equal(defs[0]!.title, 'Python 3.12');
    assert.equal(defs[0]!.matching, 'exact');
    assert.equal(defs[0]!.supervisor, '/opt/supervisor.sh');
    assert.deepEqual(defs[0]!.volume_mounts, [{ source: { volume_type: 'nfs', nfs_host: 'nfs.example.org', nfs_export_path: '/exports/data' }, target: { path: '/mnt/data', read_only: true } }]);
  });

  test('an empty file means no environments; anything but a list is an error with its line', () => {
    assert.deepEqual(parseEnvironmentsFile('', 'envs.yaml'), []);
    assert.deepEqual(parseEnvironmentsFile('# nothing yet\n', 'envs.yaml'), []);
    const notList = failure(() => parseEnvironmentsFile('name: img/a:1\n', 'envs.yaml'));
    assert.match(notList.message, /^envs\.yaml:1: expected a list of environments/);
    const badMatching = failure(() => parseEnvironmentsFile('- name: img/a:1\n\n  matching: sometimes\n', 'envs.yaml'));
    assert.equal(badMatching.message, 'envs.yaml:3: matching must be one of any, exact, none; got "sometimes"');
    const duplicateKey = failure(() => parseEnvironmentsFile('- name: img/a:1\n  name: img/b:1\n', 'envs.yaml'));
    assert.equal(duplicateKey.line, 2);
    assert.match(duplicateKey.message, /invalid YAML/);
  });
});
