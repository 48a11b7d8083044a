import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, screenshot } from '../support/browser.js';
import { mathNotebookBundle } from '../support/content-scenarios.js';
import { executionSettings, testPython } from '../support/execution.js';
import { startLectern, waitForTask, type TestServer } from '../support/lectern.js';

// A rendered notebook typesets its math in Chromium with every host but Lectern unreachable, as on
// a server without internet: MathJax and require.js come from Lectern (src/serve/static-assets.ts).

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const notebookBundle = () => mathNotebookBundle('The area grows as $x^2$.\n\n$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$', PYTHON_VERSION);

describe('notebook math in a browser without internet', () => {
  let t: TestServer;
  let browser: Browser;
  let guid = '';

  before(async () => {
    t = await startLectern('sqlite', executionSettings());
    guid = ((await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'math' } })).json()) as { guid: string }).guid;
    await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'all' } });
    const bundle = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: notebookBundle() })).json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: bundle.id } })).json()) as { task_id: string };
    const task = await waitForTask(t, task_id);
    assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('MathJax typesets the inline and display math, loading nothing from another host', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const lectern = new URL(t.url).host;
    const elsewhere: string[] = [];
    const failed: string[] = [];
    // No internet: whatever is not Lectern is refused, and noted.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.host === lectern) return route.continue();
      elsewhere.push(url.href);
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    page.on('response', (res) => {
      if (res.status() >= 400) failed.push(`${res.status()} ${res.url()}`);
    });
    try {
      await page.goto(`${t.url}/content/${guid}/`);
      await page.getByText('six sevens are 42').waitFor();
      // MathJax 2's CommonHTML output: one element per formula, with the TeX kept for assistive tech.
      const formulas = page.locator('.MathJax_CHTML');
      await formulas.nth(1).waitFor({ timeout: 20_000 });
      assert.equal(await formulas.count(), 2);
      // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the rendered text; textContent would include the TeX MathJax keeps hidden
      assert.doesNotMatch(await page.locator('body').innerText(), /\$x\^2\$/, 'the TeX source is no longer shown as text');
      await screenshot(page, 'notebook-math');
      assert.deepEqual(elsewhere, [], 'requests to other hosts');
      assert.deepEqual(failed, [], 'failed requests to Lectern');
    } finally {
      await context.close();
    }
  });
});
