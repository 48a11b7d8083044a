import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLectern, type TestServer } from '../support/lectern.js';

// One test per endpoint (issue #14): every path of the Connect API that the OpenAPI document lists
// is requested by at least one test, and the test client checks each answer against the document
// (test/support/openapi-check.ts). This test reads the tests' sources for the URLs they request —
// `/__api__/…` string and template literals, with each `${…}` standing for one path segment — so a
// route added without a test fails here, naming the route.

const TEST_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEARCHED = ['api', 'e2e', 'kube', 'browser', 'dashboard', 'support'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

/** Every API URL a test source requests, its interpolations replaced by one segment. */
function requestedUrls(): string[] {
  const urls = new Set<string>();
  for (const file of SEARCHED.flatMap((dir) => sources(path.join(TEST_ROOT, dir)))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/[`'"](?:\$\{[^}]*\})?(\/__api__\/[^`'"\s?#]*)/g)) {
      urls.add(match[1]!.replace(/\$\{[^}]*\}/g, 'x'));
    }
  }
  return [...urls];
}

function pattern(documented: string): RegExp {
  const source = documented
    .split(/(\{[^}]+\})/)
    .map((part) => (part === '{*}' ? '.*' : /^\{[^}]+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}/?$`);
}

let t: TestServer;
before(async () => {
  t = await startLectern('sqlite');
});
after(() => t.stop());

test('every documented /__api__ path is requested by some test', async () => {
  const document = (await (await t.api('/__api__/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
  const urls = requestedUrls();
  const untested = Object.entries(document.paths)
    .filter(([documented]) => documented.startsWith('/__api__/'))
    .filter(([documented]) => !urls.some((url) => pattern(documented).test(url)))
    .map(([documented, operations]) => `${Object.keys(operations).join('|').toUpperCase()} ${documented}`);
  assert.deepEqual(untested, [], `routes no test requests:\n${untested.join('\n')}`);
});
