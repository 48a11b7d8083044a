import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchContent } from '../support/apps.js';
import { executionSettings } from '../support/execution.js';
import { startLectern, type TestServer } from '../support/lectern.js';
import { deployRBundle, installedPackageEntries, rBundle, type RPackageEntry } from '../support/r-bundles.js';

// An R Markdown report with math loads MathJax from Lectern, not from mathjax.rstudio.com (which
// rmarkdown's html_document names even in a self-contained document), so its math shows on a server
// without internet — behind a proxy's path prefix too. Real R, rmarkdown and pandoc (scripts/deps/r.sh).

const PREFIX = '/analytics';
const MATH_RMD = `---
title: "Areas"
output: html_document
---

The area of a square of side $x$ is $x^2$.
`;
// A document that chose its own MathJax keeps it.
const OWN_MATHJAX_RMD = `---
title: "Own MathJax"
output:
  html_document:
    mathjax: "https://mathjax.example.org/MathJax.js"
---

The area is $x^2$.
`;

describe('R Markdown math without a CDN', () => {
  let t: TestServer;
  let packages: Record<string, RPackageEntry>;

  before(async () => {
    t = await startLectern('sqlite', executionSettings({ r: true }));
    // As `lectern start` with [Server] Address set: the public URL, which content sees as CONNECT_SERVER.
    t.app.serverUrl.value = `http://lectern.example${PREFIX}/`;
    packages = await installedPackageEntries(['rmarkdown']);
  });
  after(async () => t?.stop());

  async function render(name: string, rmd: string): Promise<string> {
    const result = await deployRBundle(t, name, await rBundle({ appmode: 'rmd-static', files: { 'report.Rmd': rmd }, primaryRmd: 'report.Rmd', packages }));
    assert.equal(result.code, 0, `${result.error}\n${result.output.join('\n')}`);
    const page = await fetchContent(t, result.guid, '');
    assert.equal(page.status, 200);
    return page.text();
  }

  it("points the report's MathJax at Lectern's copy, which answers", async () => {
    const html = await render('r-math', MATH_RMD);
    assert.doesNotMatch(html, /mathjax\.rstudio\.com/);
    const url = html.match(/["'](\/[^"']*\/__static__\/mathjax-2\/MathJax\.js\?config=[^"']*)["']/)?.[1] ?? assert.fail('no MathJax URL of Lectern in the report');
    assert.ok(url.startsWith(`${PREFIX}/__static__/`), url);
    const root = url.slice(PREFIX.length).replace(/MathJax\.js.*$/, '');
    for (const file of ['MathJax.js', 'config/TeX-AMS-MML_HTMLorMML.js', 'jax/output/HTML-CSS/jax.js', 'fonts/HTML-CSS/TeX/woff/MathJax_Main-Regular.woff']) {
      assert.equal((await t.api(root + file, { key: null })).status, 200, root + file);
    }
  });

  it('leaves a MathJax URL the document chose itself', async () => {
    const html = await render('r-own-math', OWN_MATHJAX_RMD);
    assert.match(html, /https:\/\/mathjax\.example\.org\/MathJax\.js/);
    assert.doesNotMatch(html, /__static__\/mathjax-2/);
  });
});
