import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuPercent, sample } from '../../dashboard/src/admin/cpu';
import type { Process } from '../../dashboard/src/api/types';
import { displayName, formatBytes, formatDuration, formatRelative } from '../../dashboard/src/ui/format';

test('bytes in binary units', () => {
  assert.equal(formatBytes(null), '—');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(52_428_800), '50 MiB');
});

test('relative times, then dates past a month', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  assert.equal(formatRelative(null, now), 'never');
  assert.equal(formatRelative('2026-12-02T11:59:50Z', now), 'just now');
  assert.equal(formatRelative('2026-12-02T11:50:00Z', now), '10 min ago');
  assert.equal(formatRelative('2026-12-02T09:00:00Z', now), '3 h ago');
  assert.equal(formatRelative('2026-12-01T12:00:00Z', now), '1 day ago');
  assert.equal(formatRelative('2026-09-01T12:00:00Z', now), '2026-09-01');
});

test('durations', () => {
  assert.equal(formatDuration(12.7), '12 s');
  assert.equal(formatDuration(185), '3 min 05 s');
  assert.equal(formatDuration(3720), '1 h 02 min');
});

test('display names prefer the full name', () => {
  assert.equal(displayName({ username: 'ada', first_name: 'Ada', last_name: 'Lovelace' }), 'Ada Lovelace (ada)');
  assert.equal(displayName({ username: 'ada', first_name: '', last_name: '' }), 'ada');
  assert.equal(displayName(null), 'unknown');
});

test('CPU percent comes from the growth of cumulative CPU seconds between two samples', () => {
  const proc = (job_key: string, cpu_seconds: number | null) => ({ job_key, cpu_seconds }) as Process;
  const first = sample([proc('a', 10), proc('b', null)], 1_000);
  const second = sample([proc('a', 11.5), proc('b', null), proc('c', 3)], 4_000);
  assert.equal(cpuPercent(null, first, 'a'), null);
  assert.equal(cpuPercent(first, second, 'a'), 50);
  assert.equal(cpuPercent(first, second, 'b'), null);
  assert.equal(cpuPercent(first, second, 'c'), null);
});
