import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { deployWith, fetchContent, writeApp, wsgiApiBundle } from '../support/apps.js';
import { checkAccessibility, launchChromium, screenshot } from '../support/browser.js';
import { executionSettings, testPython } from '../support/execution.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

// The dashboard end to end in Debian's Chromium against a real Lectern: first-run setup, sign-in,
// content deployed through the API and opened from the list, access changed and checked from a
// second user's browser, API keys, admin pages, the processes table, a report re-rendered. Each
// main page is screenshotted into test-artifacts/dashboard/ and checked with axe-core.

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
const ADMIN_PASSWORD = 'correct-horse-battery';

// A WSGI app on the standard library only, run without environment restore so the test needs no downloads.
const APP = `
import html, os
def app(environ, start_response):
    body = ("<!doctype html><html lang=en><title>Greeter</title><body style='font-family:sans-serif'>"
            "<h1>Hello from the greeter app</h1><p>Served at " + html.escape(environ.get("SCRIPT_NAME", "")) + "</p>"
            "<p>GREETING=" + html.escape(os.environ.get("GREETING", "(unset)")) + "</p></body></html>").encode()
    print("served", environ.get("PATH_INFO"), flush=True)
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
`;

const appBundle = () => wsgiApiBundle(APP, PYTHON_VERSION, { managed: false });

function notebook(text: string): string {
  return JSON.stringify({
    cells: [
      { cell_type: 'markdown', metadata: {}, source: '# Weekly numbers' },
      { cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: `import datetime\nprint("${text}", datetime.datetime.now().isoformat())` },
    ],
    metadata: { kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' }, language_info: { name: 'python' } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

after(stopPostgres);

const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 860 } };

/** A page as the tests use one: a bounded default wait, confirmations (revoke a key, stop a process) accepted as a user would. */
async function newPage(context: BrowserContext): Promise<Page> {
  const p = await context.newPage();
  p.setDefaultTimeout(15_000);
  p.on('dialog', (dialog) => void dialog.accept());
  return p;
}

async function signIn(p: Page, username: string, password: string) {
  await p.getByLabel('Username').fill(username);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
}

// The tests run once per database (both unless LECTERN_TEST_DATABASES narrows it);
// screenshots and accessibility reports go to test-artifacts/dashboard/<database>/.
//
// Every test stands alone, in any order or by itself (--test-name-pattern): `before` sets up, through
// the API, what several tests read — the administrator "admin" made through the setup link (so the
// audit log has that entry), its API key, a browser context signed in as it, and "Greeter app"
// deployed — and one page in that context, which each test starts by navigating to where it looks
// (so what the previous test left on it does not matter). A test that changes something others
// would see makes its own: the first-run test its own server, signing out its own session, API keys
// their own user, rolling back and stopping processes their own apps, locking and group membership
// their own users, the phone-sized view its own page. The tests that change "Greeter app" (access,
// variables, runtime) leave nothing another test looks at, and the ones that need its process
// running or its log written request the app first.
for (const provider of PROVIDERS)
  describe(`the dashboard in a real browser (${provider})`, () => {
    let t: TestServer;
    let browser: Browser;
    let adminContext: BrowserContext;
    let page: Page;
    let appGuid = '';

    /** Creates `name`, optionally describes it, uploads `bundle` and deploys it; returns its GUID. */
    async function deployApp(name: string, title: string, bundle: Buffer<ArrayBuffer>, description?: string): Promise<string> {
      const created = await t.api('/__api__/v1/content', { method: 'POST', json: { name, title } });
      assert.equal(created.status, 200, await created.clone().text());
      const { guid } = (await created.json()) as { guid: string };
      if (description) await t.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { description } });
      const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle })).json()) as { id: string };
      const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
      const task = await waitForTask(t, task_id);
      assert.equal(task.code, 0, task.output.join('\n'));
      return guid;
    }

    /** A browser context of its own, signed in as `username` through the sign-in API. */
    async function signedInContext(username: string, password: string): Promise<BrowserContext> {
      const context = await browser.newContext(DESKTOP);
      const res = await context.request.post(`${t.url}/__login__`, { data: { username, password } });
      assert.equal(res.status(), 200, await res.text());
      return context;
    }

    /** Requests the app as the administrator: starts its process if none runs, and it logs the request. */
    async function openApp(guid: string) {
      const res = await fetchContent(t, guid);
      assert.equal(res.status, 200, await res.text());
    }

    before(async () => {
      t = await startLectern(provider, executionSettings(), undefined, { firstRun: true });
      browser = await launchChromium();
      adminContext = await browser.newContext(DESKTOP);
      // The setup link's API creates the administrator and signs this context in.
      const setUp = await adminContext.request.post(`${t.url}/__setup__`, { data: { token: t.setupToken, username: 'admin', email: 'admin@example.org', password: ADMIN_PASSWORD } });
      assert.equal(setUp.status(), 200, await setUp.text());
      const admin = await t.app.users.findByUsername('admin');
      assert.ok(admin, 'the setup link created "admin"');
      t.adminKey = (await t.app.users.createApiKey(admin.id, 'tests')).key;
      appGuid = await deployApp('greeter', 'Greeter app', appBundle(), 'Says hello to whoever opens it.');
      page = await newPage(adminContext);
    });
    after(async () => {
      await browser?.close();
      await t?.stop();
    });

    it("first run: the setup link creates the administrator and signs them in; a wrong token is refused in the API's words", async () => {
      // A server of its own: the shared one was set up in `before`.
      const fresh = await startLectern(provider, executionSettings(), undefined, { firstRun: true });
      const context = await browser.newContext(DESKTOP);
      try {
        const setup = await newPage(context);
        assert.ok(fresh.setupToken);
        await setup.goto(`${fresh.url}/connect/#/setup/wrong-token`);
        await setup.getByRole('heading', { name: /Welcome to Lectern/ }).waitFor();
        await setup.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
        await setup.getByLabel('Confirm password').fill(ADMIN_PASSWORD);
        await setup.getByRole('button', { name: /Create administrator/ }).click();
        await setup.getByRole('alert').filter({ hasText: 'This setup link is not valid' }).waitFor();

        await setup.goto(`${fresh.url}/connect/#/setup/${fresh.setupToken}`);
        await setup.reload();
        await setup.getByRole('heading', { name: /Welcome to Lectern/ }).waitFor();
        await setup.getByLabel('Email (optional)').fill('admin@example.org');
        await setup.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
        await setup.getByLabel('Confirm password').fill(ADMIN_PASSWORD);
        await screenshot(setup, `${provider}/01-first-run-setup`);
        await checkAccessibility(setup, `${provider}/01-first-run-setup`);
        await setup.getByRole('button', { name: /Create administrator/ }).click();
        await setup.getByRole('heading', { name: 'Content' }).waitFor();
        await setup.getByText('No content yet').waitFor();
        assert.equal(new URL(setup.url()).hash, '#/');
        await screenshot(setup, `${provider}/02-content-list-empty`);
        await checkAccessibility(setup, `${provider}/02-content-list-empty`);
        // The link was used once; the server is now set up.
        const again = await fetch(`${fresh.url}/__setup__`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token: fresh.setupToken, username: 'x', password: 'yyyyyyyyy' }),
        });
        assert.equal(again.status, 409);
      } finally {
        await context.close();
        await fresh.stop();
      }
    });

    it("signs out and back in; a wrong password is answered in the API's words", async () => {
      // Its own session: signing out of the shared one would sign every later test out.
      const context = await signedInContext('admin', ADMIN_PASSWORD);
      try {
        const own = await newPage(context);
        await own.goto(`${t.url}/connect/`);
        await own.getByRole('button', { name: 'Sign out' }).click();
        await own.getByRole('heading', { name: 'Sign in to Lectern' }).waitFor();
        await own.getByLabel('Username').fill('admin');
        await own.getByLabel('Password').fill('not-the-password');
        await own.getByRole('button', { name: 'Sign in' }).click();
        await own.getByRole('alert').filter({ hasText: 'Incorrect username or password.' }).waitFor();
        await screenshot(own, `${provider}/03-sign-in`);
        await checkAccessibility(own, `${provider}/03-sign-in`);
        await signIn(own, 'admin', ADMIN_PASSWORD);
      } finally {
        await context.close();
      }
    });

    it('creates an API key (shown once), uses it, lists and revokes another', async () => {
      // An administrator of its own, who has no keys yet ("admin" has the one `before` made).
      await t.app.users.create({ username: 'keyholder', password: 'keyholder-password', user_role: 'administrator' });
      const context = await signedInContext('keyholder', 'keyholder-password');
      try {
        const own = await newPage(context);
        await own.goto(`${t.url}/connect/`);
        await own.getByRole('link', { name: 'API keys' }).click();
        await own.getByText('No API keys yet').waitFor();
        await own.getByLabel('Name of a new key').fill('publishing');
        await own.getByRole('button', { name: 'Create key' }).click();
        const key = (await own.getByTestId('new-api-key').textContent())!.trim();
        assert.match(key, /^\S{20,}$/);
        const me = await fetch(`${t.url}/__api__/v1/user`, { headers: { authorization: `Key ${key}` } });
        assert.equal(me.status, 200);
        assert.equal(((await me.json()) as { username: string }).username, 'keyholder');

        await own.getByLabel('Name of a new key').fill('old laptop');
        await own.getByRole('button', { name: 'Create key' }).click();
        const oldKey = (await own.getByTestId('new-api-key').filter({ hasNotText: key }).textContent())!.trim();
        await own.getByRole('cell', { name: 'old laptop', exact: true }).waitFor();
        await screenshot(own, `${provider}/04-api-keys`);
        await checkAccessibility(own, `${provider}/04-api-keys`);
        await own.getByRole('button', { name: 'Revoke old laptop' }).click();
        await own.getByRole('cell', { name: 'old laptop', exact: true }).waitFor({ state: 'detached' });
        assert.equal((await fetch(`${t.url}/__api__/v1/user`, { headers: { authorization: `Key ${oldKey}` } })).status, 401);
        assert.equal((await fetch(`${t.url}/__api__/v1/user`, { headers: { authorization: `Key ${key}` } })).status, 200);
      } finally {
        await context.close();
      }
    });

    it('a Python app deployed through the API appears in the list, running, and opens from it', async () => {
      // Deployed in `before`; another test may have stopped its process, which this request starts.
      await openApp(appGuid);
      await page.goto(`${t.url}/connect/`);
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Content' }).click();
      const row = page.getByRole('listitem').filter({ hasText: 'Greeter app' });
      await row.waitFor();
      assert.match((await row.textContent())!, /Flask API · admin/);
      assert.match((await row.textContent())!, /Running/);
      await page.getByLabel('Search').fill('no such thing');
      await page.getByText('Nothing matches these filters').waitFor();
      await page.getByLabel('Search').fill('greeter');
      await row.waitFor();
      await screenshot(page, `${provider}/05-content-list`);
      await checkAccessibility(page, `${provider}/05-content-list`);

      await page.getByRole('link', { name: 'Greeter app' }).click();
      await page.getByRole('heading', { name: 'Greeter app', level: 1 }).waitFor();
      assert.equal(new URL(page.url()).hash, `#/apps/${appGuid}`);
      const frame = page.frameLocator('iframe#content-frame');
      await frame.getByRole('heading', { name: 'Hello from the greeter app' }).waitFor();
      await page.getByText('Says hello to whoever opens it.').waitFor({ state: 'attached' });
      await screenshot(page, `${provider}/06-content-item`);
      await checkAccessibility(page, `${provider}/06-content-item`);
    });

    it('dashboard_url and its suffixes open the right view', async () => {
      // A request for the log to show.
      await openApp(appGuid);
      const item = (await (await t.api(`/__api__/v1/content/${appGuid}`)).json()) as { dashboard_url: string };
      assert.equal(item.dashboard_url, `${t.url}/connect/#/apps/${appGuid}`);
      await page.goto(`${item.dashboard_url}/logs`);
      await page.getByRole('heading', { name: 'Logs' }).waitFor();
      await page.locator('pre.log').filter({ hasText: 'served /' }).waitFor();
      await screenshot(page, `${provider}/07-content-logs`);
      await checkAccessibility(page, `${provider}/07-content-logs`);
      await page.goto(`${item.dashboard_url}/access`);
      await page.getByRole('heading', { name: 'Access' }).waitFor();
      const bundles = (await (await t.api(`/__api__/v1/content/${appGuid}/bundles`)).json()) as Array<{ id: string }>;
      await page.goto(`${item.dashboard_url}/draft/${bundles[0]!.id}`);
      await page.getByText(`Draft preview of bundle ${bundles[0]!.id}`).waitFor();
    });

    it("an administrator adds a user; access changed in the dashboard is seen from that user's browser both ways", async () => {
      await page.goto(`${t.url}/connect/#/admin/users`);
      await page.getByRole('heading', { name: 'Add a user' }).waitFor();
      const form = page.locator('form').filter({ has: page.getByRole('heading', { name: 'Add a user' }) });
      await form.getByLabel('Username').fill('bob');
      await form.getByLabel('Email').fill('bob@example.org');
      await form.getByLabel('Password').fill('bob-password');
      await form.getByLabel('Role').selectOption('viewer');
      await form.getByRole('button', { name: 'Add user' }).click();
      await page.getByText('Added bob as viewer.').waitFor();
      await screenshot(page, `${provider}/08-admin-users`);
      await checkAccessibility(page, `${provider}/08-admin-users`);

      const bobContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const bobPage = await bobContext.newPage();
      try {
        await bobPage.goto(`${t.url}/connect/#/apps/${appGuid}`);
        await signIn(bobPage, 'bob', 'bob-password');
        await bobPage.getByRole('heading', { name: 'Content not available' }).waitFor();
        await bobPage
          .getByRole('alert')
          .filter({ hasText: `Content ${appGuid} does not exist.` })
          .waitFor();
        await screenshot(bobPage, `${provider}/09-viewer-denied-phone`);

        // The owner grants bob viewer access in the access panel.
        await page.goto(`${t.url}/connect/#/apps/${appGuid}/access`);
        await page.getByLabel('Add a user or group').selectOption({ label: 'bob' });
        await page.getByRole('combobox', { name: /^As/ }).selectOption('viewer');
        await page.getByRole('button', { name: 'Add', exact: true }).click();
        await page.getByRole('button', { name: 'Remove bob' }).waitFor();
        await screenshot(page, `${provider}/10-content-access`);
        await checkAccessibility(page, `${provider}/10-content-access`);

        await bobPage.reload();
        await bobPage.getByRole('heading', { name: 'Greeter app', level: 1 }).waitFor();
        await bobPage.frameLocator('iframe#content-frame').getByRole('heading', { name: 'Hello from the greeter app' }).waitFor();
        // A viewer sees the content and its info, not its settings.
        assert.equal(await bobPage.getByRole('link', { name: 'Variables' }).count(), 0);
        assert.equal(await bobPage.getByRole('link', { name: 'Admin' }).count(), 0);
        await screenshot(bobPage, `${provider}/11-viewer-content-phone`);
        await checkAccessibility(bobPage, `${provider}/11-viewer-content-phone`);
        await bobPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Content' }).click();
        await bobPage.getByRole('listitem').filter({ hasText: 'Greeter app' }).waitFor();
        await screenshot(bobPage, `${provider}/12-viewer-list-phone`);
        await checkAccessibility(bobPage, `${provider}/12-viewer-list-phone`);

        // And takes it away again.
        await page.getByRole('button', { name: 'Remove bob' }).click();
        await page.getByText('Nobody has been added yet.').waitFor();
        await bobPage.goto(`${t.url}/connect/#/apps/${appGuid}`);
        await bobPage.reload();
        await bobPage.getByRole('heading', { name: 'Content not available' }).waitFor();
        const direct = await bobPage.request.get(`${t.url}/content/${appGuid}/`);
        assert.equal(direct.status(), 403);
      } finally {
        await bobContext.close();
      }
    });

    it('environment variables are set, changed and removed; the app sees the value', async () => {
      await page.goto(`${t.url}/connect/#/apps/${appGuid}/environment`);
      await page.getByText('No variables yet.', { exact: false }).waitFor();
      await page.getByLabel('Name').fill('GREETING');
      await page.getByLabel('Value').fill('bonjour');
      await page.getByRole('button', { name: 'Add variable' }).click();
      await page.getByRole('button', { name: 'Change GREETING' }).waitFor();
      await page.getByLabel('Name').fill('9BAD');
      await page.getByLabel('Value').fill('x');
      // The browser's own pattern check would stop this; the API must answer too.
      const bad = await t.api(`/__api__/v1/content/${appGuid}/environment`, { method: 'PATCH', json: [{ name: '9BAD', value: 'x' }] });
      assert.equal(bad.status, 400);
      await page.getByLabel('Name').fill('');
      await page.getByLabel('Value').fill('');
      await page.getByRole('button', { name: 'Change GREETING' }).click();
      await page.getByLabel('New value of GREETING').fill('hola');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByRole('button', { name: 'Change GREETING' }).waitFor();
      await page.getByRole('button', { name: 'Reload' }).click();
      await page.frameLocator('iframe#content-frame').getByText('GREETING=hola').waitFor();
      await screenshot(page, `${provider}/13-content-variables`);
      await checkAccessibility(page, `${provider}/13-content-variables`);
      await page.getByRole('button', { name: 'Remove GREETING' }).click();
      await page.getByText('No variables yet.', { exact: false }).waitFor();
      assert.deepEqual(await (await t.api(`/__api__/v1/content/${appGuid}/environment`)).json(), []);
      await page.frameLocator('iframe#content-frame').getByText('GREETING=(unset)').waitFor();
    });

    it('the runtime panel shows the server defaults and saves a setting', async () => {
      await page.goto(`${t.url}/connect/#/apps/${appGuid}/runtime`);
      const max = page.getByLabel('Max processes');
      await max.waitFor();
      assert.equal(await max.getAttribute('placeholder'), 'Default: 3');
      await max.fill('2');
      await page.getByLabel('Min processes').fill('5');
      await page.getByRole('button', { name: 'Save runtime settings' }).click();
      await page.getByRole('alert').filter({ hasText: 'min_processes (5) cannot be greater than max_processes (2).' }).waitFor();
      await page.getByLabel('Min processes').fill('');
      await page.getByRole('button', { name: 'Save runtime settings' }).click();
      await page.getByText('Saved; running processes use the new settings now.').waitFor();
      const item = (await (await t.api(`/__api__/v1/content/${appGuid}`)).json()) as { max_processes: number | null; min_processes: number | null };
      assert.deepEqual([item.max_processes, item.min_processes], [2, null]);
      await screenshot(page, `${provider}/14-content-runtime`);
      await checkAccessibility(page, `${provider}/14-content-runtime`);
    });

    it('the bundles panel lists the history with downloads, and activating an earlier bundle rolls back with a streaming log', async () => {
      const v2 = makeTarGz([
        {
          name: 'manifest.json',
          content: JSON.stringify({
            version: 1,
            metadata: { appmode: 'python-api', entrypoint: 'app:app' },
            python: { version: PYTHON_VERSION, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
            environment: { environment_management: { python: false } },
            files: { 'app.py': { checksum: '' }, 'requirements.txt': { checksum: '' } },
          }),
        },
        { name: 'app.py', content: APP.replace('Hello from the greeter app', 'Version two of the greeter') },
        { name: 'requirements.txt', content: '' },
      ]);
      // An app of its own: rolling back changes what its frame shows.
      const guid = await deployApp('versioned', 'Versioned app', appBundle());
      const uploaded = (await (await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: v2 })).json()) as { id: string };
      const { task_id } = (await (await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
      assert.equal((await waitForTask(t, task_id)).code, 0);

      // Switching panels keeps the frame; a reload shows the version deployed meanwhile from outside.
      await page.goto(`${t.url}/connect/#/apps/${guid}/bundles`);
      await page.reload();
      await page.frameLocator('iframe#content-frame').getByRole('heading', { name: 'Version two of the greeter' }).waitFor();
      await page
        .getByRole('link', { name: /Download bundle/ })
        .first()
        .waitFor();
      const href = await page
        .getByRole('link', { name: /Download bundle/ })
        .first()
        .getAttribute('href');
      const download = await page.request.get(`${t.url}${href}`);
      assert.equal(download.status(), 200);
      const bundles = (await (await t.api(`/__api__/v1/content/${guid}/bundles`)).json()) as Array<{ id: string; active: boolean }>;
      const earlier = bundles.find((b) => !b.active)!;
      await page.getByRole('button', { name: `Activate bundle ${earlier.id}` }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Deploying bundle ${earlier.id}: done.` })
        .waitFor({ timeout: 60_000 });
      await page.locator('pre.log').filter({ hasText: 'Deployment completed successfully.' }).waitFor();
      await page.frameLocator('iframe#content-frame').getByRole('heading', { name: 'Hello from the greeter app' }).waitFor();
      await screenshot(page, `${provider}/15-content-bundles`);
      await checkAccessibility(page, `${provider}/15-content-bundles`);
    });

    it('the processes table shows the running app and stops it', async () => {
      // An app of its own to stop. The table empties only when nothing else runs: the processes other
      // tests started (each test starts again what it needs) are stopped through the API first.
      const guid = await deployApp('stoppable', 'Stoppable app', appBundle());
      const running = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; job_key: string }>;
      for (const p of running) if (p.content_guid !== guid) await t.api(`/__api__/v1/content/${p.content_guid}/jobs/${p.job_key}`, { method: 'DELETE' });
      await openApp(guid);
      await page.goto(`${t.url}/connect/#/admin/processes`);
      const row = page.getByRole('row').filter({ hasText: 'Stoppable app' });
      await row.first().waitFor();
      assert.match((await row.first().textContent())!, /Flask process/);
      await screenshot(page, `${provider}/16-admin-processes`);
      await checkAccessibility(page, `${provider}/16-admin-processes`);
      const before = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string; job_key: string }>;
      const keys = before.filter((p) => p.content_guid === guid).map((p) => p.job_key);
      assert.ok(keys.length >= 1);
      for (const key of keys) await page.getByRole('button', { name: `Stop process ${key} of Stoppable app` }).click();
      await page.getByText('No content processes are running').waitFor({ timeout: 20_000 });
      const left = (await (await t.api('/__api__/v1/system/processes')).json()) as Array<{ content_guid: string }>;
      assert.equal(left.filter((p) => p.content_guid === guid).length, 0);
    });

    it('a report is re-rendered from the renders panel with its streaming log', async () => {
      const dir = await writeApp('weekly', { 'weekly.ipynb': notebook('The weekly total is 42'), 'requirements.txt': 'nbconvert\nipykernel\n' });
      const { guid } = await deployWith(t, 'notebook', [path.join(dir, 'weekly.ipynb')]);
      assert.ok(guid);
      await page.goto(`${t.url}/connect/#/apps/${guid}/renders`);
      await page.getByRole('heading', { name: 'Renders' }).waitFor();
      await page.frameLocator('iframe#content-frame').locator('pre').filter({ hasText: 'The weekly total is 42' }).first().waitFor();
      await page.getByRole('button', { name: 'Render now' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: 'Rendering: in progress' })
        .or(page.getByRole('status').filter({ hasText: 'Rendering: done.' }))
        .first()
        .waitFor();
      await page.getByRole('status').filter({ hasText: 'Rendering: done.' }).waitFor({ timeout: 300_000 });
      await page.locator('pre.log').filter({ hasText: 'Render completed successfully.' }).waitFor();
      await page.getByRole('row').nth(2).waitFor();
      assert.equal(await page.getByRole('link', { name: 'View' }).count(), 2);
      await screenshot(page, `${provider}/17-content-renders`);
      await checkAccessibility(page, `${provider}/17-content-renders`);
      // An earlier rendering opens on its own.
      const older = await page.getByRole('link', { name: 'View' }).nth(1).getAttribute('href');
      const res = await page.request.get(older!);
      assert.equal(res.status(), 200);
      assert.match(await res.text(), /The weekly total is 42/);
    });

    it('audit log, groups and effective server settings', async () => {
      // The audit entry is from `before`'s setup; the member added to the new group is a user of its own.
      await t.addUser('dana', 'viewer');
      await page.goto(`${t.url}/connect/#/admin/audit`);
      await page.getByRole('cell', { name: /Created the first administrator "admin" through the setup link/ }).waitFor();
      await screenshot(page, `${provider}/18-admin-audit`);
      await checkAccessibility(page, `${provider}/18-admin-audit`);
      await page.goto(`${t.url}/connect/#/admin/groups`);
      await page.getByLabel('Name of a new group').fill('analysts');
      await page.getByRole('button', { name: 'Create group' }).click();
      await page.getByRole('button', { name: 'Members' }).click();
      await page.getByLabel('Add a member to analysts').selectOption({ label: 'dana' });
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await page.getByRole('button', { name: 'Remove dana from analysts' }).waitFor();
      await screenshot(page, `${provider}/19-admin-groups`);
      await checkAccessibility(page, `${provider}/19-admin-groups`);
      await page.goto(`${t.url}/connect/#/admin/settings`);
      await page
        .getByRole('rowheader', { name: /MaxProcesses/ })
        .first()
        .waitFor();
      await screenshot(page, `${provider}/20-admin-settings`);
      await checkAccessibility(page, `${provider}/20-admin-settings`);
    });

    it('keyboard: skip link, search and opening an item without a mouse', async () => {
      await page.goto(`${t.url}/connect/#/`);
      await page.reload();
      await page.getByRole('listitem').filter({ hasText: 'Greeter app' }).waitFor();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
      // The search box comes first after the heading (and "Clear filters", when a filter is kept from earlier).
      const focusedType = () => page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.type);
      for (let i = 0; i < 3 && (await focusedType()) !== 'search'; i++) await page.keyboard.press('Tab');
      assert.equal(await focusedType(), 'search');
      await page.keyboard.press('Control+A');
      await page.keyboard.type('greeter');
      // Past the filters to the first item, then open it.
      for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.textContent)) !== 'Greeter app'; i++) await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Greeter app', level: 1 }).waitFor();
    });

    it('an administrator locks and unlocks a user; a locked user cannot sign in', async () => {
      // A user of its own to lock.
      await t.addUser('carol', 'viewer');
      await page.goto(`${t.url}/connect/#/admin/users`);
      await page.getByRole('button', { name: 'Lock carol' }).click();
      await page.getByRole('button', { name: 'Unlock carol' }).waitFor();
      const refused = await fetch(`${t.url}/__login__`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-password' }) });
      assert.equal(refused.status, 401);
      await page.getByRole('button', { name: 'Unlock carol' }).click();
      await page.getByRole('button', { name: 'Lock carol' }).waitFor();
      const allowed = await fetch(`${t.url}/__login__`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-password' }) });
      assert.equal(allowed.status, 200);
    });

    it('the content list on a phone-sized screen', async () => {
      // A page of its own: the shared one keeps the desktop size.
      const phone = await newPage(adminContext);
      try {
        await phone.setViewportSize({ width: 390, height: 844 });
        await phone.goto(`${t.url}/connect/#/`);
        await phone.getByRole('listitem').filter({ hasText: 'Greeter app' }).waitFor();
        await screenshot(phone, `${provider}/21-content-list-phone`);
        await phone.goto(`${t.url}/connect/#/apps/${appGuid}`);
        await phone.getByRole('heading', { name: 'Greeter app', level: 1 }).waitFor();
        // An app stopped meanwhile starts again on this request.
        await phone.frameLocator('iframe#content-frame').getByRole('heading', { name: 'Hello from the greeter app' }).waitFor({ timeout: 60_000 });
        await screenshot(phone, `${provider}/22-content-item-phone`);
        await checkAccessibility(phone, `${provider}/22-content-item-phone`);
      } finally {
        await phone.close();
      }
    });
  });
