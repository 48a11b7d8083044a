import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalUrl, directContentTarget } from '../../src/serve/content-target.js';

const GUID = '0b6d2c4e-8f1a-4c3b-9d2e-7a6f5e4d3c2b';

// The one reading of a content URL every entry to content shares (HTTP, fast path, websockets, files).
describe('content request paths', () => {
  it('splits the prefix from what the worker is asked for and the file path', () => {
    assert.deepEqual(directContentTarget(`/content/${GUID}/a/b%20c?x=1`), { guid: GUID, prefix: `/content/${GUID}`, path: '/a/b%20c?x=1', rest: 'a/b c' });
    assert.deepEqual(directContentTarget(`/content/${GUID}/`), { guid: GUID, prefix: `/content/${GUID}`, path: '/', rest: '' });
    // The bare prefix (a redirect to the trailing slash), with or without a query.
    assert.equal(directContentTarget(`/content/${GUID}`)?.path, '');
    assert.equal(directContentTarget(`/content/${GUID}?x=1`)?.path, '');
    assert.equal(directContentTarget(`/content/${GUID.toUpperCase()}/`)?.guid, GUID);
  });

  it('collapses duplicate leading slashes, which would otherwise name a host', () => {
    assert.equal(canonicalUrl(`//content/${GUID}/`), `/content/${GUID}/`);
    assert.equal(canonicalUrl('///x//y'), '/x//y');
    assert.deepEqual(directContentTarget(`//content/${GUID}/x`), { guid: GUID, prefix: `/content/${GUID}`, path: '/x', rest: 'x' });
  });

  it('refuses paths that climb above the content, however they are spelled', () => {
    for (const climbing of ['/..', '/a/../..', '/a/%2e%2e/b', '/%2E%2E', '/a/..%2fb', '/a/%2e%2e%2f%2e%2e', '/a%00b', '/%zz']) {
      assert.ok(directContentTarget(`/content/${GUID}${climbing}`)?.refused, climbing);
    }
    for (const fine of ['/a..b', '/...', '/a/.b', '/a/b..']) assert.equal(directContentTarget(`/content/${GUID}${fine}`)?.refused, undefined, fine);
  });

  it('names no content for other paths', () => {
    for (const other of ['/content/', '/content/not-a-guid/', `/contents/${GUID}/`, `/content/${GUID}x/`, '/__api__/v1/content']) {
      assert.equal(directContentTarget(other), undefined, other);
    }
  });
});
