import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createDatabase, startPostgres } from '../support/postgres.js';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('test PostgreSQL harness', () => {
  // This suite tests the throwaway server itself, so it ignores an external LECTERN_TEST_POSTGRES_URL.
  const external = process.env.LECTERN_TEST_POSTGRES_URL;
  before(() => {
    delete process.env.LECTERN_TEST_POSTGRES_URL;
  });
  after(() => {
    if (external === undefined) delete process.env.LECTERN_TEST_POSTGRES_URL;
    else process.env.LECTERN_TEST_POSTGRES_URL = external;
  });

  it('starts a server, creates databases, and stops it', { timeout: 90_000 }, async () => {
    const server = await startPostgres();
    const url = new URL(server.url);
    const port = Number(url.port);
    try {
      assert.equal(url.protocol, 'postgres:');
      assert.equal(url.hostname, '127.0.0.1');
      assert.equal(url.pathname, '/lectern_test');
      assert.deepEqual(await query(server.url, 'select 1 as one'), [{ one: 1 }]);

      const second = await createDatabase(server.url, 'harness_second');
      assert.equal(new URL(second).pathname, '/harness_second');
      assert.equal(new URL(second).port, url.port);
      assert.deepEqual(await query(second, 'select current_database() as db'), [{ db: 'harness_second' }]);
      await assert.rejects(createDatabase(server.url, 'bad"name'), /invalid test database name/);

      // LECTERN_TEST_POSTGRES_URL reuses a running server; its stop() leaves that server alone.
      process.env.LECTERN_TEST_POSTGRES_URL = server.url;
      try {
        const reused = await startPostgres();
        assert.equal(reused.url, server.url);
        const third = await createDatabase(reused.url, 'harness_third');
        assert.deepEqual(await query(third, 'select 1 as one'), [{ one: 1 }]);
        await reused.stop();
        assert.deepEqual(await query(server.url, 'select 1 as one'), [{ one: 1 }]);
      } finally {
        delete process.env.LECTERN_TEST_POSTGRES_URL;
      }
      assert.equal(await portOpen(port), true);
    } finally {
      await server.stop();
    }
    assert.equal(await portOpen(port), false, 'port still accepting connections after stop()');
    await server.stop(); // idempotent
  });
});
