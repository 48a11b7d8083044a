// The browser libraries rendered notebooks load come from Lectern itself (src/serve/static-assets.ts),
// so a server without internet still shows their math. The end-to-end render is in
// test/e2e/notebook-assets.test.ts; this checks what is served and what is not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startLectern, type TestServer } from '../support/lectern.js';

describe('vendored browser libraries under /__static__/', () => {
  let t: TestServer;
  before(async () => {
    t = await startLectern('sqlite');
  });
  after(() => t.stop());

  test('MathJax 2 and require.js answer 200 with their types, anonymously, cached as immutable', async () => {
    for (const [pathname, type] of [
      ['/__static__/mathjax-2/MathJax.js?config=TeX-AMS_CHTML-full,Safe', /javascript/],
      ['/__static__/mathjax-2/config/TeX-AMS_CHTML-full.js', /javascript/],
      ['/__static__/mathjax-2/extensions/Safe.js', /javascript/],
      ['/__static__/mathjax-2/jax/output/CommonHTML/fonts/TeX/fontdata.js', /javascript/],
      ['/__static__/mathjax-2/jax/output/SVG/jax.js', /javascript/],
      ['/__static__/mathjax-2/fonts/HTML-CSS/TeX/woff/MathJax_Main-Regular.woff', /font\/woff/],
      ['/__static__/requirejs-2/require.js', /javascript/],
    ] as const) {
      const res = await t.api(pathname, { key: null });
      assert.equal(res.status, 200, pathname);
      assert.match(res.headers.get('content-type') ?? '', type, pathname);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', pathname);
      assert.ok((await res.arrayBuffer()).byteLength > 0, pathname);
    }
    const head = await t.api('/__static__/requirejs-2/require.js', { method: 'HEAD', key: null });
    assert.equal(head.status, 200);
  });

  test("the packages' other files, other libraries and paths out of a package are 404", async () => {
    for (const pathname of [
      '/__static__/mathjax-2/unpacked/MathJax.js',
      '/__static__/mathjax-2/package.json',
      '/__static__/mathjax-2/test/index.html',
      '/__static__/mathjax-2/fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff',
      '/__static__/mathjax-2/config/../package.json',
      '/__static__/mathjax-2/config/%2e%2e/package.json',
      '/__static__/mathjax-2/config/..%2fpackage.json',
      '/__static__/requirejs-2/bin/r.js',
      '/__static__/requirejs-2/package.json',
      '/__static__/react/index.js',
      '/__static__/mathjax-2/config/No-Such-Config.js',
    ]) {
      const res = await t.api(pathname, { key: null });
      assert.equal(res.status, 404, pathname);
    }
  });
});
