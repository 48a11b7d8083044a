// GET /__api__/openapi.json: a valid OpenAPI 3 document that lists every route the server
// registers, served without a key. The answers of the other API tests are checked against it by
// the test client (test/support/openapi-check.ts); here the checker itself is shown to catch a
// mismatch, and refusals of bad input are shown to name the field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { RouteOptions } from 'fastify';
import { OPENAPI_METHODS } from '../../src/http/openapi.js';
import { ROUTES } from '../../src/routes.js';
import { OpenApiCheck, type OpenApiDocument } from '../support/openapi-check.js';
import { startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

/** Fastify's `/a/:b/*` as OpenAPI writes it: `/a/{b}/{*}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*/g, '{*}');

describe('the OpenAPI document', () => {
  let t: TestServer;
  const registered: Array<{ method: string; url: string }> = [];
  before(async () => {
    const listRoutes = (server: Parameters<(typeof ROUTES)[number]>[0]) => {
      server.addHook('onRoute', (route: RouteOptions) => {
        for (const method of [route.method].flat()) registered.push({ method, url: route.url });
      });
    };
    t = await startLectern('sqlite', {}, undefined, { routes: [listRoutes, ...ROUTES] });
  });
  after(() => t.stop());

  const fetchDocument = async () => {
    const res = await t.api('/__api__/openapi.json', { key: null });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return (await res.json()) as OpenApiDocument;
  };

  test('is served without a key and is a valid OpenAPI 3.1 document', async () => {
    const document = await fetchDocument();
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(document as unknown as Parameters<Validator['validate']>[0]);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
  });

  test('lists every route the server registers', async () => {
    const document = await fetchDocument();
    // Fastify adds a HEAD route beside each GET (the document lists the GET), and content routes
    // take methods OpenAPI 3.1 cannot describe (QUERY).
    const heads = new Set(registered.filter((r) => r.method === 'GET').map((r) => `HEAD ${r.url}`));
    const routes = registered.filter((r) => !heads.has(`${r.method} ${r.url}`) && OPENAPI_METHODS.has(r.method.toLowerCase()));
    assert.ok(routes.length > 50, `only ${routes.length} routes were seen registering`);
    const missing = routes.filter((r) => !document.paths[openApiPath(r.url)]?.[r.method.toLowerCase()]).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(missing, [], 'routes missing from the document');
    assert.ok(document.paths['/__api__/openapi.json']?.get, 'the document lists itself');
  });

  test('the checker the API tests use refuses an answer that does not match', async () => {
    const check = new OpenApiCheck(await fetchDocument());
    const settings = (await (await t.api('/__api__/server_settings')).json()) as Record<string, unknown>;
    assert.equal(check.problem('GET', '/__api__/server_settings', 200, settings), null);
    assert.match(check.problem('GET', '/__api__/server_settings', 200, { ...settings, version: 2025 }) ?? '', /\/version must be string/);
    assert.match(check.problem('GET', '/__api__/server_settings', 200, { ...settings, surprise: true }) ?? '', /additional/);
    assert.match(check.problem('GET', '/__api__/server_settings//', 404, { code: 4, error: 'x' }) ?? '', /payload/);
    assert.match(check.problem('GET', '/__api__/server_settings', 302, undefined) ?? '', /no such status/);
  });

  test('bad input is refused with Connect error JSON naming the parameter', async () => {
    const res = await t.api('/__api__/v1/tasks/some-task?first=-1');
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: number; error: string; payload: { field: string } };
    assert.equal(body.code, 25);
    assert.match(body.error, /^first: /);
    assert.deepEqual(body.payload, { field: 'first' });
    const word = (await (await t.api('/__api__/v1/tasks/some-task?wait=soon')).json()) as { code: number; error: string };
    assert.equal(word.code, 25);
    assert.match(word.error, /^wait: must be integer/);
  });

  test('a caller who is not signed in is refused as such before the input is checked, on routes that need sign-in', async () => {
    const anonymous = await t.api('/__api__/v1/tags', { method: 'POST', key: null, json: {} });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { code: number }).code, 24);
    const badKey = await t.api('/__api__/v1/tasks/some-task?first=-1', { key: 'not-a-key' });
    assert.equal(badKey.status, 401);
    assert.equal(((await badKey.json()) as { code: number }).code, 30);
    // A route open to everyone still names the bad field.
    const signIn = await t.api('/__login__', { method: 'POST', key: null, json: { username: 5, password: 'x' } });
    assert.equal(signIn.status, 400);
    assert.equal(((await signIn.json()) as { payload: { field: string } }).payload.field, 'username');
  });

  test('a body that does not fit its schema is refused naming the field; nothing is dropped or coerced', async () => {
    const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'schema-bodies' } })).json()) as { guid: string };
    const refusal = async (json: unknown) => {
      const res = await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json });
      assert.equal(res.status, 400, JSON.stringify(json));
      return (await res.json()) as { code: number; error: string; payload: unknown };
    };
    assert.deepEqual(await refusal({ activate: 'true' }), { code: 25, error: 'activate must be true or false.', payload: { field: 'activate' } });
    assert.deepEqual(await refusal({ bundle_id: true }), { code: 25, error: 'bundle_id must be a string or a number.', payload: { field: 'bundle_id' } });
    assert.deepEqual(await refusal({ bundle: 1 }), { code: 25, error: 'Unknown field "bundle".', payload: { field: 'bundle' } });
    assert.deepEqual(await refusal([1]), { code: 121, error: 'The request body must be a JSON object.', payload: null });
    // No body at all is no fields: the newest bundle, and here there is none.
    const bare = await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST' });
    assert.equal(bare.status, 400);
    assert.equal(((await bare.json()) as { code: number }).code, 28);
    // A route that needs a body still refuses none as no JSON object.
    const noFields = await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH' });
    assert.deepEqual(await noFields.json(), { code: 121, error: 'The request body must be a JSON object.', payload: null });
    // A route that has long answered another code for a body that is no object keeps it.
    const setup = await t.api('/__setup__', { method: 'POST', json: 'token', key: null });
    assert.deepEqual(await setup.json(), { code: 87, error: 'The request body must be a JSON object.', payload: null });
  });
});
