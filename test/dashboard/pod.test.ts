import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuBounds, formatCores, formatPhaseSeconds, hasPod, memoryBounds, podPlacement, startupSteps, startupSummary } from '../../dashboard/src/admin/pod';
import type { Pod, Process } from '../../dashboard/src/api/types';

const local: Process = {
  content_guid: 'g1',
  content_name: 'api',
  content_title: null,
  job_key: 'k1',
  kind: 'run',
  tag: 'run_app',
  pid: 4242,
  hostname: 'host-a',
  address: '127.0.0.1:4000',
  replica: 'replica-1',
  start_time: '2026-12-02T12:00:00Z',
  cpu_seconds: 1.5,
  memory_bytes: 50 * 1024 * 1024,
};

const pod: Pod = {
  name: 'lectern-run-abc12-x7k2p',
  node: 'kind-worker',
  phase: 'Running',
  image: 'ghcr.io/lectern/python:3.11',
  cpu_request: 0.25,
  cpu_limit: 1,
  memory_request: 256 * 1024 * 1024,
  memory_limit: 512 * 1024 * 1024,
  scheduled_seconds: 0.04,
  initialized_seconds: 3.26,
  ready_seconds: 74.6,
};

test('only off-host processes carry a pod', () => {
  assert.equal(hasPod(local), false);
  assert.equal(hasPod({ ...local, pod: null }), false);
  assert.equal(hasPod({ ...local, pod }), true);
});

test('cores in plain numbers, singular for exactly one', () => {
  assert.equal(formatCores(null), '—');
  assert.equal(formatCores(undefined), '—');
  assert.equal(formatCores(0.25), '0.25 cores');
  assert.equal(formatCores(0.0034), '0.003 cores');
  assert.equal(formatCores(1), '1 core');
  assert.equal(formatCores(1.53), '1.5 cores');
  assert.equal(formatCores(12.4), '12 cores');
});

test('requests and limits show only what the pod declares', () => {
  assert.equal(cpuBounds(pod), 'request 0.25 cores · limit 1 core');
  assert.equal(memoryBounds(pod), 'request 256 MiB · limit 512 MiB');
  assert.equal(cpuBounds({ ...pod, cpu_request: null }), 'limit 1 core');
  assert.equal(memoryBounds({ ...pod, memory_request: null, memory_limit: null }), null);
});

test('where a pod runs: node, then pod and replica', () => {
  assert.deepEqual(podPlacement({ ...local, pod }), { node: 'kind-worker', detail: 'pod lectern-run-abc12-x7k2p · replica replica-1' });
  assert.deepEqual(podPlacement({ ...local, replica: null, pod: { ...pod, node: null, phase: 'Pending' } }), {
    node: 'not scheduled yet',
    detail: 'pod lectern-run-abc12-x7k2p',
  });
});

test('start-up phases in seconds after creation, pending ones marked', () => {
  assert.equal(formatPhaseSeconds(0.04), '0.0 s');
  assert.equal(formatPhaseSeconds(3.26), '3.3 s');
  assert.equal(formatPhaseSeconds(42.4), '42 s');
  assert.equal(formatPhaseSeconds(74.6), '1 min 15 s');
  assert.deepEqual(
    startupSteps(pod).map((s) => `${s.label} ${s.text}`),
    ['scheduled 0.0 s', 'init done 3.3 s', 'ready 1 min 15 s'],
  );
  const pending = { ...pod, initialized_seconds: null, ready_seconds: null };
  assert.deepEqual(
    startupSteps(pending).map((s) => s.text),
    ['0.0 s', '…', '…'],
  );
  assert.equal(startupSummary(pending), 'Seconds after the pod was created: scheduled at 0.0 s, init not done yet, not ready yet');
});
