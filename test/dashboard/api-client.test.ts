import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { api, ApiError, errorFrom, ndjson, setCsrfToken } from '../../dashboard/src/api/client';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
  setCsrfToken(null);
});

test("errors keep the API's own words and code; other bodies fall back to their first line or the status", async () => {
  const connect = await errorFrom(new Response(JSON.stringify({ code: 4, error: 'Content x does not exist.', payload: null }), { status: 404 }));
  assert.deepEqual([connect.status, connect.code, connect.message], [404, 4, 'Content x does not exist.']);
  const text = await errorFrom(new Response('404 page not found: GET /nope\n', { status: 404 }));
  assert.deepEqual([text.code, text.message], [null, '404 page not found: GET /nope']);
  const empty = await errorFrom(new Response('', { status: 502, statusText: 'Bad Gateway' }));
  assert.equal(empty.message, 'The server answered 502 Bad Gateway.');
  assert.equal(connect.field, null);
});

test('the payload is kept, and the field it names is readable for marking that input', async () => {
  const refused = await errorFrom(
    new Response(JSON.stringify({ code: 25, error: 'python.installations[0].path: expected an absolute path', payload: { field: 'python.installations[0].path' } }), { status: 400 }),
  );
  assert.equal(refused.field, 'python.installations[0].path');
  assert.deepEqual(refused.payload, { field: 'python.installations[0].path' });
  const other = await errorFrom(new Response(JSON.stringify({ code: 21, error: 'in use', payload: { content_guids: ['a'] } }), { status: 409 }));
  assert.equal(other.field, null);
});

test('writes carry the CSRF token and JSON body; reads do not; 204 is null; a network failure says so', async () => {
  const seen: Array<{ method: string; headers: Record<string, string>; body: unknown }> = [];
  globalThis.fetch = (async (_url: string, init: RequestInit) => {
    seen.push({ method: init.method!, headers: init.headers as Record<string, string>, body: init.body });
    return init.method === 'DELETE' ? new Response(null, { status: 204 }) : new Response('{"ok":true}', { status: 200 });
  }) as typeof fetch;
  setCsrfToken('tok');
  assert.deepEqual(await api('/a'), { ok: true });
  assert.deepEqual(await api('/b', { method: 'POST', json: { x: 1 } }), { ok: true });
  assert.equal(await api('/c', { method: 'DELETE' }), null);
  assert.equal(seen[0]!.headers['x-csrf-token'], undefined);
  assert.equal(seen[1]!.headers['x-csrf-token'], 'tok');
  assert.equal(seen[1]!.headers['content-type'], 'application/json');
  assert.equal(seen[1]!.body, '{"x":1}');
  globalThis.fetch = (async () => {
    throw new TypeError('fetch failed');
  }) as typeof fetch;
  await assert.rejects(api('/d'), (err: unknown) => err instanceof ApiError && err.status === 0 && /cannot be reached/.test(err.message));
});

test('log streams are split into entries however the chunks fall', async () => {
  const chunks = ['{"data":"one"}\n{"da', 'ta":"two"}\n', '\n{"data":"thr', 'ee"}\n'];
  globalThis.fetch = (async () =>
    new Response(
      new ReadableStream({
        start(controller) {
          for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
          controller.close();
        },
      }),
    )) as typeof fetch;
  const seen: string[] = [];
  for await (const entry of ndjson<{ data: string }>('/tail', new AbortController().signal)) seen.push(entry.data);
  assert.deepEqual(seen, ['one', 'two', 'three']);
});
