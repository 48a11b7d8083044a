// Which paths the API channel (src/http/api-channel.ts) hands to Fastify: the Connect API only,
// also when a client doubles slashes, never a path a router could resolve outside /__api__.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isApiPath } from '../../src/http/api-channel.js';

test('the API channel passes Connect API paths, as clients join them to CONNECT_SERVER', () => {
  for (const pathname of ['/__api__', '/__api__/', '/__api__/server_settings', '/__api__/v1/content/abc/bundles', '//__api__/v1/user', '/__api__//v1/user']) {
    assert.equal(isApiPath(pathname), true, pathname);
  }
});

test('the API channel refuses every other path, and dot segments or backslashes that could leave /__api__', () => {
  for (const pathname of [
    '/',
    '/connect/',
    '/__login__',
    '/content/abc/',
    '/__api__x',
    '/__apix/',
    '/__api__/../connect/',
    '/__api__/%2e%2e/content/abc/',
    '/__api__/..%2f__login__',
    '/__api__/.',
    '/__api__/%5c..%5cconnect',
    '/__api__/%zz',
  ]) {
    assert.equal(isApiPath(pathname), false, pathname);
  }
});
