// Every answer under /__api__ that is not a route's own is Connect's error JSON
// ({code, error, payload}): posit-sdk's hooks.handle_errors reads `code` and `error` from any JSON
// error (a missing `code` is a KeyError) and falls back to raise_for_status only for a body that
// is not JSON at all; rsconnect-python and R rsconnect show `error`. Outside /__api__ the
// answers stay as they were.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

/** What posit-sdk does with an error answer: a ClientError built from `code`, `error`, `payload`. */
async function connectError(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${res.url} answers JSON`);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(typeof body.code, 'number', `code in ${JSON.stringify(body)}`);
  assert.equal(typeof body.error, 'string', `error in ${JSON.stringify(body)}`);
  assert.ok('payload' in body, `payload in ${JSON.stringify(body)}`);
  return body as { code: number; error: string; payload: unknown };
}

for (const provider of PROVIDERS) {
  describe(`errors under /__api__ (${provider})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startLectern(provider);
    });
    after(() => t.stop());

    test('an unknown route answers 404 with Connect error JSON naming the method and path', async () => {
      for (const [method, pathname] of [
        ['GET', '/__api__/v1/no-such-thing'],
        ['POST', '/__api__/v1/no-such-thing?x=1'],
        ['GET', '/__api__'],
        ['GET', '/__api__/'],
        ['PUT', '/__api__/v1/content/00000000-0000-0000-0000-000000000000/no-such-part'],
      ] as const) {
        for (const key of [undefined, null]) {
          const res = await t.api(pathname, { method, key });
          assert.equal(res.status, 404, `${method} ${pathname}`);
          const body = await connectError(res);
          assert.match(body.error, new RegExp(`${method} ${(pathname.split('?')[0] ?? '').replace(/[/]/g, '\\/')}`));
        }
      }
    });

    test('a known route asked with the wrong method answers 405 with Allow and Connect error JSON', async () => {
      const res = await t.api('/__api__/server_settings', { method: 'DELETE' });
      assert.equal(res.status, 405);
      assert.match(res.headers.get('allow') ?? '', /\bGET\b/);
      const body = await connectError(res);
      assert.match(body.error, /DELETE/);

      const content = await t.api('/__api__/v1/content/00000000-0000-0000-0000-000000000000', { method: 'POST', json: {} });
      assert.equal(content.status, 405);
      assert.match(content.headers.get('allow') ?? '', /\bPATCH\b/);
      await connectError(content);
    });

    test("Fastify's own errors (a malformed URL, a bad content type) are Connect error JSON", async () => {
      const badUrl = await t.api('/__api__/v1/content/%E0%A4%A');
      assert.equal(badUrl.status, 400);
      await connectError(badUrl);

      // A media type that does not parse is refused by Fastify itself (415). (A body of `{}` is no
      // refusal any more: POST v1/content takes it, as Connect does.)
      const badType = await t.api('/__api__/v1/content', { method: 'POST', body: '{}', headers: { 'content-type': '/' } });
      assert.equal(badType.status, 415);
      await connectError(badType);
    });

    test("connectapi's fallback probes reach real routes, so their 404s carry a code (an object, not an endpoint, is missing)", async () => {
      // connectapi falls back to the legacy /applications/{guid}/jobs only when
      // v1/content/{guid}/jobs answers 404 without `code`; Lectern serves the v1 routes, so the
      // fallback is never needed and a 404 there is always about the object.
      const created = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'jobs-probe' } })).json()) as { guid: string };
      const jobs = await t.api(`/__api__/v1/content/${created.guid}/jobs`);
      assert.equal(jobs.status, 200);
      assert.deepEqual(await jobs.json(), []);
      const kill = await t.api(`/__api__/v1/content/${created.guid}/jobs/no-such-key`, { method: 'DELETE' });
      assert.equal(kill.status, 404);
      await connectError(kill);
    });

    test('outside /__api__ an unknown page still answers a plain-text 404', async () => {
      const res = await t.api('/no-such-page');
      assert.equal(res.status, 404);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    });
  });
}
