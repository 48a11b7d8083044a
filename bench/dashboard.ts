// Dashboard benchmarks (issue #5): the JavaScript a first visit downloads (gzipped), and how long a
// content list of 1,000 items takes to become interactive in headless Chromium.
// Run: npm run build && node --import tsx bench/dashboard.ts
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { launchChromium } from '../test/support/browser.js';
import { startLectern } from '../test/support/lectern.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DIST = path.join(ROOT, 'dist', 'dashboard');
const RUNS = 7;

/** Every script the page loads before it can render: the entry module and what it preloads. */
function initialJavaScript(): { files: string[]; gzipBytes: number } {
  const html = readFileSync(path.join(DIST, 'index.html'), 'utf8');
  const files = [...html.matchAll(/(?:src|href)="\/connect\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
  if (files.length === 0) throw new Error('no scripts found in dist/dashboard/index.html: run npm run build');
  const gzipBytes = files.reduce((sum, f) => sum + gzipSync(readFileSync(path.join(DIST, f)), { level: 9 }).length, 0);
  return { files, gzipBytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const js = initialJavaScript();
  console.log(`initial JavaScript: ${js.files.join(', ')} = ${(js.gzipBytes / 1024).toFixed(1)} KiB gzipped (target < 250 KB)`);

  const t = await startLectern('sqlite', { 'Applications.Sandbox': 'false' });
  const browser = await launchChromium();
  try {
    const owners = await Promise.all(['ana', 'ben', 'chen', 'dee'].map((u) => t.addUser(u, 'publisher')));
    const tags = [];
    for (const name of ['finance', 'ops', 'research', 'sales']) {
      tags.push(((await (await t.api('/__api__/v1/tags', { method: 'POST', json: { name } })).json()) as { id: string }).id);
    }
    for (let i = 0; i < 1000; i++) {
      const owner = owners[i % owners.length]!;
      const res = await t.api('/__api__/v1/content', { method: 'POST', key: owner.key, json: { name: `item-${i}`, title: `Report ${i}`, description: `Numbers for team ${i % 17}` } });
      if (res.status !== 200) throw new Error(await res.text());
      const { guid } = (await res.json()) as { guid: string };
      await t.api(`/__api__/v1/content/${guid}/tags`, { method: 'POST', json: { tag_id: tags[i % tags.length] } });
    }

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const login = await context.request.post(`${t.url}/__login__`, { data: { username: 'admin', password: 'admin-password' } });
    if (!login.ok()) throw new Error(await login.text());

    const interactive: number[] = [];
    const filtering: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // A new tab each run: no saved filters; the first run also has a cold HTTP cache.
      const page = await context.newPage();
      await page.goto(`${t.url}/connect/#/`);
      // Interactive = the 1,000 rows are in the DOM and the search box is enabled, measured from navigation start.
      await page.waitForFunction(() => document.querySelectorAll('.content-row').length === 1000 && !!document.querySelector('input[type=search]'), null, { timeout: 30_000, polling: 'raf' });
      interactive.push(await page.evaluate(() => performance.now()));
      // A search narrowing 1,000 items, from typing to the updated list (includes the driver's round trips).
      await page.evaluate(() => ((window as unknown as { benchStart: number }).benchStart = performance.now()));
      await page.getByRole('searchbox').fill('Report 999');
      await page.waitForFunction(() => document.querySelectorAll('.content-row').length === 1, null, { timeout: 30_000, polling: 'raf' });
      const took = await page.evaluate(() => performance.now() - (window as unknown as { benchStart: number }).benchStart);
      filtering.push(took);
      await page.close();
    }
    console.log(
      `1,000-item content list interactive (median of ${RUNS}, from navigation start): ${median(interactive).toFixed(0)} ms (runs: ${interactive.map((x) => x.toFixed(0)).join(', ')}; target < 1000 ms)`,
    );
    console.log(`search over 1,000 items, keystroke to updated list (median of ${RUNS}): ${median(filtering).toFixed(0)} ms`);
  } finally {
    await browser.close();
    await t.stop();
  }
}

await main();
