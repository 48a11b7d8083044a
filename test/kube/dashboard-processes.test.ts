import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { adminPage, checkAccessibility, launchChromium, screenshot } from '../support/browser.js';
import { startKubeLectern, type KubeLectern } from '../support/kube-lectern.js';
import { waitForTask } from '../support/lectern.js';
import { wsgiApiBundle } from '../support/apps.js';

// Admin → Processes in Debian's Chromium against a whole Lectern in Kubernetes mode (the test bed's
// control plane and real node): a python-api runs in a pod, and its row shows the node, pod, replica
// and image, requests and limits beside usage, the pod phase and its start-up phases; stopping it
// from the table removes it. Screenshots and axe-core reports go to test-artifacts/dashboard/kubernetes/.
// Run (after `npm run build`): bash scripts/kube-testbed.sh run node --import tsx --test test/kube/dashboard-processes.test.ts

// The test bed's content image and its Python, set in before().
let IMAGE = '';
let PYTHON = '';
let PYTHON_VERSION = '';

const APP = `
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from a pod"]
`;

// Unmanaged: the image's interpreter serves the app as it is.
const bundle = () => wsgiApiBundle(APP, PYTHON_VERSION, { managed: false });

const MiB = 1024 * 1024;

describe('the processes table shows pods (Kubernetes mode, real browser)', { timeout: 10 * 60_000 }, () => {
  let kube: KubeLectern;
  let browser: Browser;
  let page: Page;
  let guid = '';

  before(async () => {
    kube = await startKubeLectern({ 'Scheduler.MaxCPULimit': '2', 'Scheduler.MaxMemoryLimit': '1GiB' }, 'dashboard');
    ({
      image: IMAGE,
      python: { path: PYTHON, version: PYTHON_VERSION },
    } = kube.content);
    const t = kube.t!;
    const env = await t.api('/__api__/v1/environments', {
      method: 'POST',
      json: { title: 'Python on the test bed', name: IMAGE, cluster_name: 'Kubernetes', matching: 'any', python: { installations: [{ version: PYTHON_VERSION, path: PYTHON }] } },
    });
    assert.equal(env.status, 200, await env.text());
    ({ guid } = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'pod-greeter', title: 'Pod greeter' } })).json()) as { guid: string });
    const resources = await t.api(`/__api__/v1/content/${guid}`, {
      method: 'PATCH',
      json: { cpu_request: 0.25, cpu_limit: 1, memory_request: 256 * MiB, memory_limit: 512 * MiB },
    });
    assert.equal(resources.status, 200, await resources.text());
    const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle() })).json()) as { id: string };
    const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
    const task = await waitForTask(t, task_id);
    assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
    const served = await t.api(`/content/${guid}/`);
    assert.equal(await served.text(), 'hello from a pod');

    browser = await launchChromium();
    page = await adminPage(browser, t.url, { timeoutMs: 20_000 });
  });
  after(async () => {
    await browser?.close();
    await kube?.stop();
  });

  it('shows where the pod runs, what it may use, and how long it took to start', async () => {
    const t = kube.t!;
    const processes = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; pod?: { name: string } }>;
    const podName = processes.find((p) => p.content_guid === guid)?.pod?.name;
    assert.ok(podName, JSON.stringify(processes));

    await page.goto(`${t.url}/connect/#/admin/processes`);
    const row = page.getByRole('row').filter({ hasText: 'Pod greeter' });
    await row
      .getByRole('list', { name: 'Start-up, seconds after the pod was created' })
      .getByRole('listitem')
      .filter({ hasText: /^ready \d/ })
      .waitFor();
    const text = (await row.textContent())!;
    for (const expected of [kube.nodeName, `pod ${podName}`, 'replica lectern-0', IMAGE, 'request 0.25 cores · limit 1 core', 'request 256 MiB · limit 512 MiB', 'Running']) {
      assert.ok(text.includes(expected), `"${expected}" in the row: ${text}`);
    }
    const steps = await row.getByRole('listitem').allTextContents();
    assert.equal(steps.length, 3);
    assert.match(steps[0]!, /^scheduled \d+(\.\d)? s/);
    assert.match(steps[1]!, /^init done \d+(\.\d)? s/);
    assert.match(steps[2]!, /^ready \d+(\.\d)? s/);
    assert.equal(await page.getByRole('columnheader', { name: 'Pod start-up' }).count(), 1);
    await screenshot(page, 'kubernetes/30-admin-processes-pods');
    await checkAccessibility(page, 'kubernetes/30-admin-processes-pods');

    await page.setViewportSize({ width: 390, height: 844 });
    await row.waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`);
    await screenshot(page, 'kubernetes/31-admin-processes-pods-phone');
    await checkAccessibility(page, 'kubernetes/31-admin-processes-pods-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('stops the pod from the table', async () => {
    const t = kube.t!;
    const processes = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; job_key: string }>;
    const keys = processes.filter((p) => p.content_guid === guid).map((p) => p.job_key);
    assert.ok(keys.length >= 1);
    for (const key of keys) await page.getByRole('button', { name: `Stop process ${key} of Pod greeter` }).click();
    await page.getByText('No content processes are running').waitFor({ timeout: 60_000 });
    const left = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string }>;
    assert.equal(left.filter((p) => p.content_guid === guid).length, 0);
  });
});
