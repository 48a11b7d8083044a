import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

async function json(res: Response, status: number) {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  return res.json() as Promise<any>;
}

/** A token as rsconnect-python's TokenGenerator.bootstrap() signs it, with changes a test asks for. */
function bootstrapJwt(key: Uint8Array, opts: { scope?: string; audience?: string; issuedAgo?: number; lifetime?: number; alg?: string } = {}) {
  const now = Math.floor(Date.now() / 1000) - (opts.issuedAgo ?? 0);
  return new SignJWT({ scope: opts.scope ?? 'bootstrap' })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setIssuer('rsconnect-python')
    .setAudience(opts.audience ?? 'rsconnect')
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.lifetime ?? 15 * 60))
    .sign(key);
}

for (const provider of PROVIDERS) {
  describe(`bootstrap of the first administrator (${provider})`, () => {
    let dir: string;
    let keyFile: string;
    let key: Uint8Array;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-bootstrap-'));
      key = new Uint8Array(randomBytes(32));
      keyFile = path.join(dir, 'secret.key');
      await writeFile(keyFile, Buffer.from(key).toString('base64') + '\n');
    });
    after(() => rm(dir, { recursive: true, force: true }));

    const post = (t: TestServer, authorization?: string, pathname = '/__api__/v1/experimental/bootstrap') =>
      t.api(pathname, { method: 'POST', key: null, headers: authorization ? { authorization } : {} });

    describe('enabled, on a server with no users', () => {
      let t: TestServer;
      before(async () => {
        t = await startLectern(provider, { 'Bootstrap.Enabled': 'true', 'Bootstrap.SecretKeyFile': keyFile }, undefined, { firstRun: true });
      });
      after(() => t.stop());

      test('tokens that are not valid bootstrap tokens are refused with 401, and create nothing', async () => {
        const other = new Uint8Array(randomBytes(32));
        const cases: Array<[string | undefined, RegExp]> = [
          [undefined, /Connect-Bootstrap <jwt>/],
          [`Connect-Bootstrap ${await bootstrapJwt(other)}`, /signature/],
          [`Connect-Bootstrap ${await bootstrapJwt(key, { issuedAgo: 20 * 60 })}`, /expired|too old|age/],
          [`Connect-Bootstrap ${await bootstrapJwt(key, { lifetime: 24 * 3600 })}`, /at most 900 s/],
          [`Connect-Bootstrap ${await bootstrapJwt(key, { scope: 'admin' })}`, /scope/],
          [`Connect-Bootstrap ${await bootstrapJwt(key, { audience: 'someone-else' })}`, /aud/],
          [`Connect-Bootstrap ${await bootstrapJwt(key, { alg: 'HS512' })}`, /alg/i],
          ['Connect-Bootstrap not.a.jwt', /refused/],
          [`Key ${await bootstrapJwt(key)}`, /Connect-Bootstrap <jwt>/],
        ];
        for (const [authorization, reason] of cases) {
          const err = await json(await post(t, authorization), 401);
          assert.equal(err.code, 30);
          assert.match(err.error, reason, authorization);
        }
        assert.equal(await t.app.users.count(), 0);
      });

      test('a valid token gets the API key of a new administrator, once', async () => {
        const token = await bootstrapJwt(key);
        const { api_key } = await json(await post(t, `Connect-Bootstrap ${token}`), 200);
        assert.equal(typeof api_key, 'string');
        const me = await json(await t.api('/__api__/v1/user', { key: api_key }), 200);
        assert.equal(me.username, 'bootstrap-admin');
        assert.equal(me.user_role, 'administrator');
        // The key administers the server: it can add users.
        await json(
          await t.api('/__api__/v1/users', { method: 'POST', key: api_key, json: { username: 'provisioned', password: 'provisioned-pw', user_role: 'publisher', email: 'p@example.org' } }),
          200,
        );

        // The same token, or a new one, cannot make another administrator.
        for (const again of [token, await bootstrapJwt(key)]) {
          const err = await json(await post(t, `Connect-Bootstrap ${again}`, '/__api__/v1/bootstrap'), 403);
          assert.match(err.error, /no users/);
        }
        const log = await json(await t.api('/__api__/v1/audit_logs?limit=50', { key: api_key }), 200);
        assert.ok(log.results.some((e: { action: string; event_description: string }) => e.action === 'add_user' && /bootstrap endpoint/.test(e.event_description)));
      });
    });

    test('a server that already has users refuses with 403', async () => {
      const t = await startLectern(provider, { 'Bootstrap.Enabled': 'true', 'Bootstrap.SecretKey': Buffer.from(key).toString('base64') });
      try {
        assert.equal((await json(await post(t, `Connect-Bootstrap ${await bootstrapJwt(key)}`), 403)).code, 22);
      } finally {
        await t.stop();
      }
    });

    test('off unless enabled: 404, as rsconnect bootstrap reports "Unable to find provisioning endpoint"', async () => {
      const t = await startLectern(provider, {}, undefined, { firstRun: true });
      try {
        const err = await json(await post(t, `Connect-Bootstrap ${await bootstrapJwt(key)}`), 404);
        assert.equal(err.code, 4);
        assert.match(err.error, /\[Bootstrap\] Enabled/);
        assert.equal(await t.app.users.count(), 0);
      } finally {
        await t.stop();
      }
    });

    test('enabled without a usable key, the server does not start and says why', async () => {
      // Data directories inside `dir`, so nothing outlives the test when start-up stops.
      const start = async (settings: Record<string, string>) =>
        startLectern(provider, { 'Bootstrap.Enabled': 'true', ...settings }, { dataDir: await mkdtemp(path.join(dir, 'data-')) }, { firstRun: true });
      await assert.rejects(start({}), /no secret key is set/);
      const short = path.join(dir, 'short.key');
      await writeFile(short, Buffer.from('too short').toString('base64'));
      await assert.rejects(start({ 'Bootstrap.SecretKeyFile': short }), /at least 32/);
      await assert.rejects(start({ 'Bootstrap.SecretKeyFile': path.join(dir, 'missing.key') }), /cannot be read/);
      await assert.rejects(start({ 'Bootstrap.SecretKey': 'not base64!' }), /not base64/);
    });
  });
}
