import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './execution.js';

/** Screenshots and accessibility reports of the browser tests (git-ignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'dashboard');

/**
 * Debian's Chromium (scripts/deps/chromium.sh installs it): Playwright's own browser download
 * cannot reach its CDN from the project's machines. LECTERN_TEST_CHROMIUM names another build.
 */
export function chromiumPath(): string {
  const candidates = [process.env.LECTERN_TEST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`Chromium is missing (looked for ${candidates.join(', ')}): run scripts/deps/chromium.sh (npm test does)`);
  return found;
}

export async function launchChromium(): Promise<Browser> {
  await mkdir(ARTIFACTS, { recursive: true });
  // Chromium's own sandbox needs user namespaces it cannot have as root in a container; the page
  // under test is our own dashboard, on loopback.
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/**
 * A desktop-sized page signed in to the dashboard as the test server's administrator; confirmations
 * (stop a process, delete) are accepted as a user would.
 */
export async function adminPage(browser: Browser, baseUrl: string, options: { timeoutMs: number }): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(options.timeoutMs);
  page.on('dialog', (dialog) => void dialog.accept());
  await page.goto(`${baseUrl}/connect/`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('admin-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

/** `name` may contain a folder ("sqlite/05-content-list"). */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(path.dirname(path.join(ARTIFACTS, name)), { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

interface AxeViolation {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

/** Runs axe-core (WCAG 2.x A/AA and best practices) on the page; fails on serious or critical findings. */
export async function checkAccessibility(page: Page, name: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: axeSource });
  const violations = (await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: unknown): Promise<{ violations: unknown[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return result.violations;
  })) as AxeViolation[];
  await writeFile(path.join(ARTIFACTS, `${name}.axe.json`), JSON.stringify(violations, null, 2));
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} — ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 5)
          .join(', ')}`,
    ),
    [],
    `axe-core found serious or critical accessibility problems on ${name}`,
  );
}
