import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { adminPage, launchChromium, screenshot } from '../support/browser.js';
import { executionSettings, testPython } from '../support/execution.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { wsgiApiBundle } from '../support/apps.js';

// One content item's page in Chromium on a common laptop screen (1366×768): the state badge
// follows the app the frame shows (a visit after the page loaded starts it), and the bundle
// table's buttons fit the settings column. Screenshots go to test-artifacts/dashboard/.

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
const VIEWPORT = { width: 1366, height: 768 };

// Standard library only, run without environment restore, so the test needs no downloads.
const APP = `
def app(environ, start_response):
    body = b"<!doctype html><html lang=en><title>Counter</title><h1>Hello from the counter app</h1></html>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
`;

const appBundle = () => wsgiApiBundle(APP, PYTHON_VERSION, { managed: false });

after(stopPostgres);

for (const provider of PROVIDERS)
  describe(`a content item's page at 1366×768 (${provider})`, () => {
    let t: TestServer;
    let browser: Browser;
    let page: Page;
    let guid = '';
    const bundleIds: string[] = [];

    before(async () => {
      t = await startLectern(provider, executionSettings());
      guid = ((await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'counter', title: 'Counter app' } })).json()) as { guid: string }).guid;
      // Two deployments, so the older bundle offers Activate next to Download.
      for (let i = 0; i < 2; i++) {
        const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: appBundle() })).json()) as { id: string };
        bundleIds.push(uploaded.id);
        const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
        const task = await waitForTask(t, task_id);
        assert.equal(task.code, 0, task.output.join('\n'));
      }
      browser = await launchChromium();
      page = await adminPage(browser, t.url, { timeoutMs: 15_000 });
      await page.setViewportSize(VIEWPORT);
    });
    after(async () => {
      await browser?.close();
      await t?.stop();
    });

    async function state(): Promise<string> {
      return ((await (await t.api(`/__api__/v1/content/${guid}?include=state`)).json()) as { state: string }).state;
    }

    it('the badge says Running once the frame has started the stopped app', async () => {
      // Stop every process the deployments left, as an idle timeout would.
      const jobs = (await (await t.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ key: string; status: number }>;
      for (const job of jobs.filter((j) => j.status === 0)) await t.api(`/__api__/v1/content/${guid}/jobs/${job.key}`, { method: 'DELETE' });
      for (let i = 0; (await state()) !== 'stopped'; i++) {
        assert.ok(i < 100, `the app's processes did not stop within 10 s (state ${await state()})`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }

      await page.goto(`${t.url}/connect/#/apps/${guid}/bundles`);
      await page.getByRole('heading', { name: 'Counter app', level: 1 }).waitFor();
      // The page read the state before the frame's visit started the app.
      await page.frameLocator('iframe#content-frame').getByRole('heading', { name: 'Hello from the counter app' }).waitFor();
      assert.equal(await state(), 'running');
      await page.locator('.item-head .badge').filter({ hasText: 'Running' }).waitFor({ timeout: 15_000 });
      await screenshot(page, `${provider}/content-item-1366`);
    });

    it('the bundle table shows Download and Activate whole, inside the settings column and the screen', async () => {
      const wrap = page.locator('.settings .table-wrap');
      await wrap.waitFor();
      const overflow = await wrap.evaluate((el) => el.scrollWidth - el.clientWidth);
      assert.ok(overflow <= 0, `the bundle table is ${overflow}px wider than its column, so part of it is scrolled away`);
      const column = (await page.locator('section.settings').boundingBox())!;
      const older = bundleIds[0]!;
      for (const control of [
        page.getByRole('link', { name: `Download bundle ${older}` }),
        page.getByRole('button', { name: `Activate bundle ${older}` }),
        page.getByRole('link', { name: `Download bundle ${bundleIds[1]}` }),
      ]) {
        await control.scrollIntoViewIfNeeded();
        const box = (await control.boundingBox())!;
        const name = (await control.getAttribute('aria-label')) ?? '';
        assert.ok(box.x >= column.x && box.x + box.width <= column.x + column.width, `${name} (${box.x}–${box.x + box.width}) is inside the settings column (${column.x}–${column.x + column.width})`);
        assert.ok(box.x >= 0 && box.x + box.width <= VIEWPORT.width, `${name} is inside the screen's width`);
        assert.ok(box.y >= 0 && box.y + box.height <= VIEWPORT.height, `${name} is inside the screen's height`);
      }
      await screenshot(page, `${provider}/content-bundles-1366`);
    });
  });
