import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

async function json(res: Response, status: number) {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

/** Signs in with JSON as a script would; extra headers stand in for a browser or a proxy. */
function signIn(t: TestServer, username: string, password: string, headers: Record<string, string> = {}) {
  return fetch(`${t.url}/__login__`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username, password }), redirect: 'manual' });
}

function signInForm(t: TestServer, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${t.url}/__login__`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

async function auditEntries(t: TestServer, action: string): Promise<Array<{ event_description: string }>> {
  const page = await json(await t.api('/__api__/v1/audit_logs?limit=500'), 200);
  return page.results.filter((r: { action: string }) => r.action === action);
}

/** Waits out a 429's Retry-After (bounded: the test's delay settings are seconds) before the next try. */
async function waitOut(res: Response) {
  const seconds = Number(res.headers.get('retry-after'));
  assert.ok(seconds >= 1 && seconds <= 5, `Retry-After ${res.headers.get('retry-after')}`);
  await sleep(seconds * 1000 + 100);
}

for (const provider of PROVIDERS) {
  describe(`sign-in (${provider})`, () => {
    // One server behind a "proxy" (the test itself, from 127.0.0.1), one reached directly.
    let proxied: TestServer;
    let direct: TestServer;
    before(async () => {
      const throttle = { 'Authentication.SignInAttempts': '3', 'Authentication.SignInDelay': '1s', 'Authentication.SignInMaxDelay': '1m' };
      proxied = await startLectern(provider, { ...throttle, 'HTTP.TrustedProxies': '127.0.0.1' });
      direct = await startLectern(provider, throttle);
      for (const t of [proxied, direct]) await t.addUser('carol', 'publisher');
    });
    after(async () => {
      await proxied?.stop();
      await direct?.stop();
    });

    test('too many wrong passwords: 429 with Retry-After, the right one refused too until the wait is over', async () => {
      const from = { 'x-forwarded-for': '203.0.113.10' };
      for (let i = 0; i < 3; i++) assert.equal((await signIn(proxied, 'carol', 'wrong-password', from)).status, 401);
      const throttled = await signIn(proxied, 'carol', 'carol-password', from);
      const body = await json(throttled, 429);
      assert.equal(body.code, 30);
      assert.match(body.error, /Too many failed sign-in attempts/);
      assert.ok(Number(throttled.headers.get('retry-after')) >= 1);
      // The same answer for a browser's form, as a page.
      const form = await signInForm(proxied, { username: 'carol', password: 'carol-password' }, from);
      assert.equal(form.status, 429);
      assert.match(await form.text(), /Too many failed sign-in attempts/);
      assert.ok(form.headers.get('retry-after'));

      // The real user at another address is not locked out by the guesses.
      assert.equal((await signIn(proxied, 'carol', 'carol-password', { 'x-forwarded-for': '198.51.100.20' })).status, 200);

      await waitOut(throttled);
      // One more wrong guess after the wait doubles it; the right password still waits.
      assert.equal((await signIn(proxied, 'carol', 'wrong-password', from)).status, 401);
      const again = await signIn(proxied, 'carol', 'carol-password', from);
      await json(again, 429);
      assert.ok(Number(again.headers.get('retry-after')) >= 2, 'the wait doubles');
      await waitOut(again);
      assert.equal((await signIn(proxied, 'carol', 'carol-password', from)).status, 200);
      // A success starts afresh.
      assert.equal((await signIn(proxied, 'carol', 'wrong-password', from)).status, 401);
      assert.equal((await signIn(proxied, 'carol', 'carol-password', from)).status, 200);
      assert.ok((await auditEntries(proxied, 'login_throttled')).some((e) => e.event_description.includes('203.0.113.10')));
    });

    test('the count is in the database: another replica throttles the same guesses', async () => {
      const second = await startLectern(
        provider,
        { 'Authentication.SignInAttempts': '3', 'Authentication.SignInDelay': '1s', 'Authentication.SignInMaxDelay': '1m' },
        { dataDir: direct.dataDir, databaseUrl: direct.app.config.get('Postgres.URL') },
      );
      try {
        const user = await direct.addUser('dave', 'publisher');
        assert.ok(user.guid);
        assert.equal((await signIn(direct, 'dave', 'wrong-password')).status, 401);
        assert.equal((await signIn(second, 'dave', 'wrong-password')).status, 401);
        assert.equal((await signIn(direct, 'dave', 'wrong-password')).status, 401);
        await json(await signIn(second, 'dave', 'dave-password'), 429);
      } finally {
        await second.stop();
      }
    });

    test('a missing user gets the same answer as a wrong password', async () => {
      const wrong = await json(await signIn(direct, 'carol', 'not-her-password'), 401);
      const missing = await json(await signIn(direct, 'nobody-here', 'not-a-password'), 401);
      assert.deepEqual(missing, wrong);
      const wrongForm = await signInForm(direct, { username: 'carol', password: 'x' });
      const missingForm = await signInForm(direct, { username: 'nobody-here', password: 'x' });
      assert.equal(missingForm.status, wrongForm.status);
      assert.equal(await missingForm.text(), await wrongForm.text());
      // Start afresh for the other tests (a right password clears its username's count).
      assert.equal((await signIn(direct, 'carol', 'carol-password')).status, 200);
    });

    test('X-Forwarded-For counts only from a configured proxy', async () => {
      assert.equal((await signIn(direct, 'forged-user', 'x', { 'x-forwarded-for': '203.0.113.66' })).status, 401);
      const directly = (await auditEntries(direct, 'login_failed')).find((e) => e.event_description.includes('forged-user'));
      assert.ok(directly, 'the failure is audited');
      assert.match(directly.event_description, /from 127\.0\.0\.1$/);
      assert.doesNotMatch(directly.event_description, /203\.0\.113\.66/);

      assert.equal((await signIn(proxied, 'proxied-user', 'x', { 'x-forwarded-for': '192.0.2.1, 203.0.113.77' })).status, 401);
      const viaProxy = (await auditEntries(proxied, 'login_failed')).find((e) => e.event_description.includes('proxied-user'));
      assert.ok(viaProxy);
      assert.match(viaProxy.event_description, /from 203\.0\.113\.77$/, 'the nearest untrusted hop is the client');
    });

    test('user-supplied text goes into audit descriptions escaped, on one line', async () => {
      const forged = 'mallory"\nadmin signed in\r\u2028';
      assert.equal((await signIn(direct, forged, 'x')).status, 401);
      const entry = (await auditEntries(direct, 'login_failed')).find((e) => e.event_description.includes('mallory'));
      assert.ok(entry);
      assert.doesNotMatch(entry.event_description, /[\n\r\u2028]/);
      assert.equal(entry.event_description, 'Failed sign-in for "mallory\\"\\nadmin signed in\\r\\u2028" from 127.0.0.1');
    });

    test('only same-origin paths are followed after sign-in, and odd ones never give a 500', async () => {
      const refused = ['/\t/evil.example', '/\\evil.example', '//evil.example', '/\r\n/evil.example', '/\n', 'https://evil.example/', '/%0d%0aSet-Cookie:x', '\\/evil.example'];
      for (const url of refused) {
        const page = await fetch(`${direct.url}/__login__?url=${encodeURIComponent(url)}`);
        assert.equal(page.status, 200, JSON.stringify(url));
        const res = await signInForm(direct, { username: 'carol', password: 'carol-password', url });
        assert.equal(res.status, 303, JSON.stringify(url));
        const location = res.headers.get('location')!;
        // Anything kept stays a path on this server once a browser resolves it.
        assert.equal(new URL(location, 'http://lectern.test').origin, 'http://lectern.test', `${JSON.stringify(url)} → ${location}`);
        assert.doesNotMatch(location, /[\t\r\n\\]/);
      }
      assert.equal((await signInForm(direct, { username: 'carol', password: 'carol-password', url: '/\t/evil.example' })).headers.get('location'), '/connect/');
      const kept = await signInForm(direct, { username: 'carol', password: 'carol-password', url: '/content/abc/?x=1#part' });
      assert.equal(kept.headers.get('location'), '/content/abc/?x=1#part');
    });

    test('the session cookie is Secure when the client used TLS, as a trusted proxy says', async () => {
      const cookie = async (t: TestServer, headers: Record<string, string>) => (await signIn(t, 'carol', 'carol-password', headers)).headers.get('set-cookie') ?? '';
      assert.doesNotMatch(await cookie(direct, {}), /;\s*Secure/i);
      assert.doesNotMatch(await cookie(direct, { 'x-forwarded-proto': 'https' }), /;\s*Secure/i, 'an untrusted peer cannot claim TLS');
      assert.match(await cookie(proxied, { 'x-forwarded-proto': 'https' }), /;\s*Secure/i);
      assert.doesNotMatch(await cookie(proxied, { 'x-forwarded-proto': 'http' }), /;\s*Secure/i);
    });

    test('sign-in, sign-out and cookie-authenticated changes cannot be made cross-site', async () => {
      const crossSite: Array<Record<string, string>> = [
        { origin: 'https://evil.example' },
        { origin: 'null' },
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'same-site', origin: direct.url },
      ];
      for (const headers of crossSite) {
        const body = await json(await signIn(direct, 'carol', 'carol-password', headers), 403);
        assert.equal(body.code, 22);
        assert.match(body.error, /Cross-site request refused/);
      }
      const login = await signIn(direct, 'carol', 'carol-password', { origin: direct.url, 'sec-fetch-site': 'same-origin' });
      const { csrf_token } = await json(login, 200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const session = async () => (await json(await fetch(`${direct.url}/__session__`, { headers: { cookie } }), 200)).user;

      // A cookie-authenticated change from another site is refused even with the CSRF token.
      const change = (origin: string) =>
        fetch(`${direct.url}/__api__/v1/content`, {
          method: 'POST',
          headers: { cookie, origin, 'content-type': 'application/json', 'x-csrf-token': csrf_token },
          body: JSON.stringify({ name: `cross-${origin.length}` }),
        });
      assert.equal((await json(await change('https://evil.example'), 403)).code, 22);
      assert.equal((await change(direct.url)).status, 200);

      // GET /__logout__ only shows a button; a cross-site POST does nothing.
      const page = await fetch(`${direct.url}/__logout__`, { headers: { cookie } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<form method="post" action="\/__logout__">/);
      assert.equal((await json(await fetch(`${direct.url}/__logout__`, { method: 'POST', headers: { cookie, origin: 'https://evil.example' }, redirect: 'manual' }), 403)).code, 22);
      assert.equal((await session())?.username, 'carol');
      const out = await fetch(`${direct.url}/__logout__`, { method: 'POST', headers: { cookie, origin: direct.url }, redirect: 'manual' });
      assert.equal(out.status, 303);
      assert.equal(await session(), null);
    });
  });
}
