import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyForm, environmentBody, formFrom, installationSummary } from '../../dashboard/src/admin/execution-environment-form';
import type { ExecutionEnvironment } from '../../dashboard/src/api/types';
import { maximumText, memoryText, parseMemory } from '../../dashboard/src/content/panels/resources';

const env: ExecutionEnvironment = {
  guid: 'e1',
  id: '1',
  title: 'Python and R',
  description: 'Team image',
  cluster_name: 'Kubernetes',
  name: 'ghcr.io/team/py-r:1',
  environment_type: 'Kubernetes',
  matching: 'exact',
  supervisor: null,
  managed_by: null,
  python: {
    installations: [
      { version: '3.11.9', path: '/opt/python/3.11.9/bin/python3' },
      { version: '3.12.4', path: '/opt/python/3.12.4/bin/python3' },
    ],
  },
  r: { installations: [{ version: '4.4.1', path: '/opt/R/4.4.1/bin/R' }] },
  quarto: { installations: [] },
  tensorflow: { installations: [{ version: '2.16.1', path: '/usr/bin/tensorflow_model_server' }] },
};

test('a new environment is sent with its image and cluster; blank installation rows are dropped, half-filled ones kept for the server to name', () => {
  const form = emptyForm();
  form.title = '  Base  ';
  form.name = ' ghcr.io/team/base:1 ';
  form.installations.python = [
    { version: '3.12.4', path: '/opt/python/3.12.4/bin/python3' },
    { version: '', path: '' },
    { version: '3.13.0', path: ' ' },
  ];
  assert.deepEqual(environmentBody(form, 'create'), {
    title: 'Base',
    description: '',
    matching: 'any',
    supervisor: null,
    name: 'ghcr.io/team/base:1',
    cluster_name: 'Kubernetes',
    python: {
      installations: [
        { version: '3.12.4', path: '/opt/python/3.12.4/bin/python3' },
        { version: '3.13.0', path: '' },
      ],
    },
    r: { installations: [] },
    quarto: { installations: [] },
  });
});

test('an edit leaves out the image and cluster (they cannot change) and TensorFlow (kept by the server)', () => {
  const form = formFrom(env);
  form.installations.r = [];
  form.supervisor = '/usr/local/bin/wrap.sh';
  const body = environmentBody(form, 'edit');
  assert.equal('name' in body, false);
  assert.equal('cluster_name' in body, false);
  assert.equal('tensorflow' in body, false);
  assert.deepEqual(body.r, { installations: [] });
  assert.equal(body.supervisor, '/usr/local/bin/wrap.sh');
  assert.deepEqual(body.python, env.python);
  assert.equal(body.matching, 'exact');
});

test('installation summary names versions per runtime, or says why none matters', () => {
  assert.equal(installationSummary(env), 'Python 3.11.9, 3.12.4 · R 4.4.1');
  assert.match(installationSummary({}), /No installations/);
});

test('memory is typed with units and stored in bytes; it reads back the same', () => {
  assert.deepEqual(parseMemory(''), { bytes: null });
  assert.deepEqual(parseMemory('512MiB'), { bytes: 512 * 1024 ** 2 });
  assert.deepEqual(parseMemory('1.5 GiB'), { bytes: 1.5 * 1024 ** 3 });
  assert.deepEqual(parseMemory('2g'), { bytes: 2 * 1024 ** 3 });
  assert.deepEqual(parseMemory('1 GB'), { bytes: 1e9 });
  assert.deepEqual(parseMemory('1000'), { bytes: 1000 });
  assert.match((parseMemory('lots') as { error: string }).error, /not an amount of memory/);
  assert.match((parseMemory('2 XB') as { error: string }).error, /512 MiB/);
  assert.equal(memoryText(null), '');
  assert.equal(memoryText(512 * 1024 ** 2), '512 MiB');
  assert.equal(memoryText(1.5 * 1024 ** 3), '1.5 GiB');
  assert.equal(memoryText(1e9), '1 GB');
  assert.equal(memoryText(1001), '1001 B');
  for (const text of ['256 MiB', '2 GiB', '1.25 GiB', '1 GB', '999 B']) assert.equal(memoryText((parseMemory(text) as { bytes: number }).bytes), text);
});

test('maximums: 0 is no cap for CPU and memory, but no GPUs at all', () => {
  assert.equal(maximumText(0, 'cpu'), 'no maximum');
  assert.equal(maximumText(0, 'memory'), 'no maximum');
  assert.equal(maximumText(0, 'gpu'), 'none allowed on this server');
  assert.equal(maximumText(4, 'cpu'), 'at most 4 cores');
  assert.equal(maximumText(1, 'cpu'), 'at most 1 core');
  assert.equal(maximumText(2 * 1024 ** 3, 'memory'), 'at most 2 GiB');
  assert.equal(maximumText(1, 'gpu'), 'at most 1');
});
