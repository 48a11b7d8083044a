// A rendered notebook loads MathJax and require.js from Lectern, not from a CDN, so it shows its
// math on a server without internet, behind a proxy that serves Lectern under a path prefix too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { mathNotebookBundle } from '../support/content-scenarios.js';
import { executionSettings, testPython } from '../support/execution.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
// The proxy in front of this server serves it under /analytics/ (and strips that before Lectern).
const PREFIX = '/analytics';

const notebookBundle = () => mathNotebookBundle('The area grows as $x^2$ when the side is $x$.', PYTHON_VERSION);

describe('a rendered notebook needs no CDN', () => {
  let t: TestServer;
  let html: string;

  before(async () => {
    t = await startLectern('sqlite', executionSettings());
    // As `lectern start` with [Server] Address set: the public URL, which content sees as CONNECT_SERVER.
    t.app.serverUrl.value = `http://lectern.example${PREFIX}/`;
    const { guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'offline-math' } })).json()) as { guid: string };
    const bundle = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: notebookBundle() })).json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: bundle.id } })).json()) as { task_id: string };
    const task = await waitForTask(t, task_id);
    assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
    const page = await t.api(`/content/${guid}/`);
    assert.equal(page.status, 200);
    html = await page.text();
  });
  after(async () => t?.stop());

  test('the page has its math source and its output', () => {
    assert.match(html, /grows as \$x\^2\$/);
    assert.match(html, /six sevens are 42/);
  });

  test('no script or stylesheet comes from another host', () => {
    const sources = [...html.matchAll(/<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]*)"/g)].map((m) => m[1] ?? '');
    const external = sources.filter((s) => /^(?:[a-z]+:)?\/\//i.test(s));
    assert.deepEqual(external, [], 'scripts and stylesheets from other hosts');
  });

  test('MathJax and require.js are named under the prefix and answer 200 from Lectern', async () => {
    const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]*)"/g)].map((m) => m[1] ?? '');
    const mathjax = scripts.find((s) => /MathJax\.js/.test(s)) ?? assert.fail(`no MathJax script in ${scripts.join(', ')}`);
    const requirejs = scripts.find((s) => /require\.js/.test(s)) ?? assert.fail(`no require.js script in ${scripts.join(', ')}`);
    assert.ok(mathjax.startsWith(`${PREFIX}/__static__/`), `MathJax script: ${mathjax}`);
    assert.ok(requirejs.startsWith(`${PREFIX}/__static__/`), `require.js script: ${requirejs}`);
    assert.match(mathjax, /[?&]config=TeX-AMS_CHTML-full,Safe/);
    for (const src of [mathjax, requirejs]) {
      // What the proxy forwards: the path with its prefix taken off.
      const res = await t.api(src.slice(PREFIX.length), { key: null });
      assert.equal(res.status, 200, src);
      assert.match(res.headers.get('content-type') ?? '', /javascript/, src);
    }
    // What MathJax loads next, relative to its own URL, for that configuration.
    const root = mathjax.slice(PREFIX.length).replace(/MathJax\.js.*$/, '');
    for (const file of ['config/TeX-AMS_CHTML-full.js', 'extensions/Safe.js', 'jax/output/CommonHTML/fonts/TeX/fontdata.js', 'fonts/HTML-CSS/TeX/woff/MathJax_Math-Italic.woff']) {
      assert.equal((await t.api(root + file, { key: null })).status, 200, root + file);
    }
  });
});
