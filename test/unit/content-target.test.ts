import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { directContentTarget, normaliseUrl } from '../../src/serve/content-target.js';

const GUID = '0b6d2c4e-8f1a-4c3b-9d2e-7a6f5e4d3c2b';
const OTHER = '11111111-2222-4333-8444-555555555555';

// The one reading of a content URL every entry to content shares (HTTP, fast path, websockets, files).
describe('content request paths', () => {
  it('splits the prefix from what the worker is asked for and the file path', () => {
    assert.deepEqual(directContentTarget(`/content/${GUID}/a/b%20c?x=1`), {
      guid: GUID,
      prefix: `/content/${GUID}`,
      path: '/a/b%20c?x=1',
      rest: 'a/b c',
      pathname: `/content/${GUID}/a/b%20c`,
      query: '?x=1',
    });
    assert.deepEqual(directContentTarget(`/content/${GUID}/`), { guid: GUID, prefix: `/content/${GUID}`, path: '/', rest: '', pathname: `/content/${GUID}/`, query: '' });
    // The bare prefix (a redirect to the trailing slash), with or without a query.
    assert.equal(directContentTarget(`/content/${GUID}`)?.path, '');
    assert.equal(directContentTarget(`/content/${GUID}?x=1`)?.path, '');
    assert.equal(directContentTarget(`/content/${GUID}?x=1`)?.query, '?x=1');
    assert.equal(directContentTarget(`/content/${GUID.toUpperCase()}/`)?.guid, GUID);
  });

  it('makes runs of slashes one, anywhere in the path; a leading "//" would otherwise name a host', () => {
    assert.deepEqual(normaliseUrl(`//content/${GUID}/`), { pathname: `/content/${GUID}/`, query: '' });
    assert.deepEqual(normaliseUrl('///x//y?a=//b'), { pathname: '/x/y', query: '?a=//b' });
    const doubled = directContentTarget(`//content//${GUID}//x//y`);
    assert.deepEqual([doubled?.prefix, doubled?.path, doubled?.rest], [`/content/${GUID}`, '/x/y', 'x/y']);
    assert.equal(directContentTarget(`//content//${GUID}`)?.path, '', 'the bare prefix, however many slashes');
  });

  it('drops "." segments, also escaped, as browsers do before sending', () => {
    for (const dotted of ['/./x', '/%2e/x', '/%2E/x', '/././x']) {
      assert.equal(directContentTarget(`/content/${GUID}${dotted}`)?.path, '/x', dotted);
    }
    assert.equal(directContentTarget(`/content/${GUID}/x/.`)?.path, '/x/', 'a final "." names the directory');
    assert.equal(directContentTarget(`/content/./${GUID}/x`)?.prefix, `/content/${GUID}`);
  });

  it('refuses paths that climb above the content, however they are spelled', () => {
    for (const climbing of ['/..', '/a/../..', `/a/../../${OTHER}/`, '/a/%2e%2e/b', '/%2E%2E', '/a/..%2fb', '/a/%2e%2e%2f%2e%2e', '/a\\..\\b', '/a%5c..%5cb', '/a%00b', '/%zz']) {
      assert.ok(directContentTarget(`/content/${GUID}${climbing}`)?.refused, climbing);
    }
    for (const fine of ['/a..b', '/...', '/a/.b', '/a/b..', '/a\\b', '/a%2Fb']) assert.equal(directContentTarget(`/content/${GUID}${fine}`)?.refused, undefined, fine);
    // An escaped slash stays escaped for the worker and is a separator only in a file path.
    const escaped = directContentTarget(`/content/${GUID}/a%2Fb`);
    assert.deepEqual([escaped?.path, escaped?.rest], ['/a%2Fb', 'a/b']);
  });

  it('names no content for other paths', () => {
    for (const other of [
      '/content/',
      '/content/not-a-guid/',
      `/contents/${GUID}/`,
      `/content/${GUID}x/`,
      `/content%2F${GUID}/`,
      `/content/${GUID}%2Fx`,
      `/content/${GUID}\\..\\${OTHER}/`,
      '/__api__/v1/content',
    ]) {
      assert.equal(directContentTarget(other), undefined, other);
    }
  });
});
