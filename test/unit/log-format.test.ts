import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLogLine } from '../../src/logging/terminal-format.js';

test("a log record on a terminal: time, level, message, fields, and an error's stack indented below", () => {
  const time = Date.UTC(2026, 11, 3, 12, 4, 5);
  const json = JSON.stringify({ level: 30, time, pid: 1, hostname: 'h', reqId: 'req-1', msg: 'request', method: 'GET', url: '/a b', statusCode: 200 });
  assert.equal(formatLogLine(json, { color: false }), '12:04:05 INFO  request reqId=req-1 method=GET url="/a b" statusCode=200\n');
  const failed = JSON.stringify({ level: 50, time, msg: 'task crashed', err: { message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' } });
  assert.equal(formatLogLine(failed, { color: false }), '12:04:05 ERROR task crashed\n    Error: boom\n        at f (x.ts:1:1)\n');
  assert.match(formatLogLine(json, { color: true }), /\x1b\[32mINFO \x1b\[0m/);
  assert.equal(formatLogLine('not json\n', { color: false }), 'not json\n');
});
