import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeZones, utcOffset } from '../../src/util/time-zones.js';

test('offsets follow daylight saving and keep half and quarter hours', () => {
  assert.equal(utcOffset('America/New_York', new Date('2026-01-15T12:00:00Z')), '-05:00');
  assert.equal(utcOffset('America/New_York', new Date('2026-07-15T12:00:00Z')), '-04:00');
  assert.equal(utcOffset('Europe/Berlin', new Date('2026-07-15T12:00:00Z')), '+02:00');
  assert.equal(utcOffset('Asia/Kolkata', new Date('2026-07-15T12:00:00Z')), '+05:30');
  assert.equal(utcOffset('Asia/Kathmandu', new Date('2026-07-15T12:00:00Z')), '+05:45');
  assert.equal(utcOffset('UTC', new Date('2026-07-15T12:00:00Z')), '+00:00');
});

test('every zone is listed once, sorted, UTC included', () => {
  const zones = timeZones(new Date('2026-07-15T12:00:00Z'));
  const names = zones.map((z) => z.timezone);
  assert.ok(names.length > 300);
  assert.deepEqual(names, [...names].sort());
  assert.equal(new Set(names).size, names.length);
  for (const name of ['UTC', 'Etc/UTC', 'America/New_York', 'Pacific/Auckland', 'Asia/Kolkata', 'Asia/Calcutta', 'Europe/Kyiv']) assert.ok(names.includes(name), name);
  for (const zone of zones) assert.match(zone.offset, /^[+-]\d{2}:\d{2}$/, zone.timezone);
});
