// One log format, each request logged once; unknown LECTERN_* variables and a missing uv are
// reported at start (issue #11 item 17).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/logging/logger.js';
import { cliEnv, startCli } from '../support/cli.js';
import { startLectern } from '../support/lectern.js';

describe('logging', () => {
  test('each request is logged once, as one JSON record with its method, URL, status and time', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const t = await startLectern('sqlite', { 'Logging.Level': 'info' }, undefined, { logger: createLogger('info', sink) });
    try {
      assert.equal((await t.api('/__api__/server_settings')).status, 200);
      assert.equal((await t.api('/__api__/v1/no-such-route')).status, 404);
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const about = (url: string) => records.filter((r) => JSON.stringify(r).includes(url));
      assert.equal(about('/__api__/server_settings').length, 1, lines.join('\n'));
      assert.equal(about('/__api__/v1/no-such-route').length, 1, lines.join('\n'));
      assert.deepEqual((({ level, msg, method, url, statusCode }) => ({ level, msg, method, url, statusCode }))(about('/__api__/v1/no-such-route')[0]!), {
        level: 30,
        msg: 'request',
        method: 'GET',
        url: '/__api__/v1/no-such-route',
        statusCode: 404,
      });
      assert.equal(typeof about('/__api__/server_settings')[0]!.responseTime, 'number');
    } finally {
      await t.stop();
    }
  });

  test('lectern start warns of a LECTERN_* variable that matches no setting and of pip used for want of uv', async (t) => {
    const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
    if (existsSync(path.join(path.dirname(python), 'uv'))) return t.skip(`uv is installed next to ${python}: no machine here without it`);
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-logging-'));
    const server = startCli(
      ['start'],
      cliEnv({
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin'
          .split(':')
          .filter((d) => !existsSync(path.join(d, 'uv')))
          .join(':'),
        LECTERN_SERVER_DATADIR: dataDir,
        LECTERN_HTTP_LISTEN: '127.0.0.1:0',
        LECTERN_APPLICATIONS_SANDBOX: 'false',
        LECTERN_PYTHON_EXECUTABLE: python,
        LECTERN_HTTP_LISTNE: ':4000',
      }),
    );
    try {
      await server.waitFor('Content runs');
      const records = server
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string });
      const warnings = records.filter((r) => r.level === 40).map((r) => r.msg);
      assert.ok(warnings.includes('the environment variable LECTERN_HTTP_LISTNE matches no setting and is ignored (did you mean LECTERN_HTTP_LISTEN?)'), warnings.join('\n'));
      const uv = warnings.find((w) => w.startsWith('uv was not found'));
      assert.ok(uv, warnings.join('\n'));
      assert.match(uv, /Python packages are installed with pip/);
      assert.match(uv, /pip install uv/);
    } finally {
      await server.kill();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
