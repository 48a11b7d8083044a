import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { adminPage, checkAccessibility, launchChromium, screenshot } from '../support/browser.js';
import { executionSettings } from '../support/execution.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { wsgiApiBundle } from '../support/apps.js';
import { eventually } from '../support/eventually.js';
import { OffHostLauncherDouble } from '../support/off-host-launcher.js';

// Admin → Execution environments and the content item's Execution panel in Debian's Chromium,
// against a real Lectern that runs content off-host ([Launcher] Enabled and Kubernetes), its jobs
// run on this machine by a launcher double (test/support/off-host-launcher.ts) in an environment naming this machine's
// Python. Screenshots and axe-core reports go to test-artifacts/dashboard/<database>/.

const PYTHON = '/usr/bin/python3';
const PYTHON_VERSION = execFileSync(PYTHON, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const APP = `
def app(environ, start_response):
    body = b"<!doctype html><html lang=en><title>Reporter</title><h1>Hello from the reporter</h1></html>"
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]
`;

const appBundle = () => wsgiApiBundle(APP, PYTHON_VERSION);

interface Env {
  guid: string;
  title: string;
  name: string;
  description: string;
  managed_by: string | null;
  matching: string;
  python?: { installations: Array<{ version: string; path: string }> };
  r?: { installations: Array<{ version: string; path: string }> };
}

const until = <T>(what: string, probe: () => Promise<T | undefined>) => eventually(what, probe, { timeoutMs: 15_000 });

after(stopPostgres);

for (const provider of PROVIDERS)
  describe(`execution environments and the execution panel in a real browser (${provider})`, () => {
    let t: TestServer;
    let browser: Browser;
    let page: Page;
    let dir: string;
    let file: string;
    let carol: { key: string; guid: string };
    let groupGuid = '';

    const environments = async () => (await (await t.api('/__api__/v1/environments')).json()) as Env[];
    const byTitle = async (title: string) => (await environments()).find((e) => e.title === title);

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-envfile-'));
      // Named but not written yet: the server starts with no environments; the file appears later.
      file = path.join(dir, 'environments.yaml');
      t = await startLectern(
        provider,
        {
          'Python.UvExecutable': executionSettings()['Python.UvExecutable']!,
          'Launcher.Enabled': 'true',
          'Launcher.Kubernetes': 'true',
          // Image interpreters are not on the server's disk in general, so the sandbox does not apply.
          'Applications.Sandbox': 'false',
          'Scheduler.MaxCPURequest': '2',
          'Scheduler.MaxCPULimit': '4',
          'Scheduler.MaxMemoryRequest': '1GiB',
          'Scheduler.MaxMemoryLimit': '2GiB',
          'Scheduler.MaxNvidiaGPULimit': '1',
          'Scheduler.MemoryRequest': '128MiB',
          'ExecutionEnvironments.ConfigFilePath': file,
          'ExecutionEnvironments.CheckInterval': '1s',
        },
        undefined,
        { launcher: OffHostLauncherDouble.create },
      );
      await chmod(t.dataDir, 0o755);
      carol = await t.addUser('carol', 'publisher');
      groupGuid = ((await (await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'data-science' } })).json()) as { guid: string }).guid;
      browser = await launchChromium();
      page = await adminPage(browser, t.url, { timeoutMs: 15_000 });
    });
    after(async () => {
      await browser?.close();
      await t?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("an execution environment is created and edited; bad input is answered in the API's words", async () => {
      await page.goto(`${t.url}/connect/#/admin/environments`);
      await page.getByText('No execution environments yet').waitFor();
      await screenshot(page, `${provider}/20-environments-empty`);
      await checkAccessibility(page, `${provider}/20-environments-empty`);

      await page.getByRole('button', { name: 'New environment' }).click();
      const form = page.getByRole('form', { name: 'New execution environment' });
      await form.getByLabel('Title').fill("This machine's Python");
      await form.getByRole('textbox', { name: 'Image', exact: true }).fill('lectern.test/python:local');
      await form.getByLabel('Description').fill('The Python the test machine has.');
      await form.getByRole('button', { name: 'Add Python installation' }).click();
      await form.getByLabel('Python version').fill(PYTHON_VERSION);
      await form.getByLabel('Python path').fill('python3');
      await form.getByRole('button', { name: 'Create environment' }).click();
      // The server's own check, word for word (a relative path cannot be found inside an image).
      const refusal = form.getByRole('alert');
      await refusal.waitFor();
      assert.match((await refusal.textContent())!, /python\.installations\[0\]\.path: .*absolute/);
      assert.equal(await form.getByLabel('Python path').getAttribute('aria-invalid'), 'true', 'the field the server named is marked');
      assert.equal((await environments()).length, 0, 'nothing was stored');
      await screenshot(page, `${provider}/21-environment-create-refused`);

      await form.getByLabel('Python path').fill(PYTHON);
      await form.getByRole('button', { name: 'Create environment' }).click();
      const item = page.getByRole('listitem', { name: "This machine's Python" });
      await item.waitFor();
      assert.match((await item.textContent())!, new RegExp(`Python ${PYTHON_VERSION.replace(/\./g, '\\.')}`));
      await screenshot(page, `${provider}/22-environments-list`);
      await checkAccessibility(page, `${provider}/22-environments-list`);

      // Edit: a new title, an R installation, matching "exact"; the image cannot change.
      await page.getByRole('button', { name: "Edit This machine's Python" }).click();
      const edit = page.getByRole('form', { name: "Edit This machine's Python" });
      assert.equal(await edit.getByRole('textbox', { name: /^Image/ }).isDisabled(), true);
      await edit.getByLabel('Title').fill('Local Python');
      await edit.getByRole('button', { name: 'Add R installation' }).click();
      await edit.getByLabel('R version').fill('4.4.1');
      await edit.getByLabel('R path').fill('/opt/R/4.4.1/bin/R');
      await edit.getByRole('combobox', { name: /^Matching/ }).selectOption('exact');
      await screenshot(page, `${provider}/23-environment-edit`);
      await checkAccessibility(page, `${provider}/23-environment-edit`);
      await edit.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('listitem', { name: 'Local Python' }).waitFor();
      const stored = (await byTitle('Local Python'))!;
      assert.equal(stored.name, 'lectern.test/python:local');
      assert.equal(stored.matching, 'exact');
      assert.equal(stored.description, 'The Python the test machine has.');
      assert.deepEqual(stored.python?.installations, [{ version: PYTHON_VERSION, path: PYTHON }]);
      assert.deepEqual(stored.r?.installations, [{ version: '4.4.1', path: '/opt/R/4.4.1/bin/R' }]);

      // Back to "any" so automatic selection may pick it for the panel below.
      await page.getByRole('button', { name: 'Edit Local Python' }).click();
      await page
        .getByRole('form', { name: 'Edit Local Python' })
        .getByRole('combobox', { name: /^Matching/ })
        .selectOption('any');
      await page.getByRole('form', { name: 'Edit Local Python' }).getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('form', { name: 'Edit Local Python' }).waitFor({ state: 'detached' });
      assert.equal((await byTitle('Local Python'))!.matching, 'any');
    });

    it('permissions: a user and a group are allowed, then the user removed', async () => {
      const env = (await byTitle('Local Python'))!;
      await page.getByRole('button', { name: 'Permissions of Local Python' }).click();
      const panel = page.getByRole('region', { name: 'Permissions of Local Python' });
      await panel.getByText('Everyone may use this environment.').waitFor();
      await panel.getByLabel('Allow a user or group to use Local Python').selectOption({ label: 'carol' });
      await panel.getByRole('button', { name: 'Allow' }).click();
      await panel.getByText('User carol').waitFor();
      await panel.getByLabel('Allow a user or group to use Local Python').selectOption({ label: 'data-science' });
      await panel.getByRole('button', { name: 'Allow' }).click();
      await panel.getByText('Group data-science').waitFor();
      await screenshot(page, `${provider}/24-environment-permissions`);
      await checkAccessibility(page, `${provider}/24-environment-permissions`);
      const granted = (await (await t.api(`/__api__/v1/environments/${env.guid}/permissions`)).json()) as Array<{ user_guid: string | null; group_guid: string | null }>;
      assert.deepEqual(granted.map((p) => p.user_guid ?? p.group_guid).sort(), [carol.guid, groupGuid].sort());
      // Carol may use it now; an outsider may not see it.
      assert.equal((await t.api(`/__api__/v1/environments/${env.guid}`, { key: carol.key })).status, 200);

      await panel.getByRole('button', { name: 'Remove User carol from Local Python' }).click();
      await panel.getByText('User carol').waitFor({ state: 'detached' });
      assert.equal((await t.api(`/__api__/v1/environments/${env.guid}`, { key: carol.key })).status, 404, 'restricted to the group, which carol is not in');
      await panel.getByRole('button', { name: 'Remove Group data-science from Local Python' }).click();
      await panel.getByText('Everyone may use this environment.').waitFor();
    });

    it('a file-managed environment is shown read-only with its file named; a save after the file took it over is refused', async () => {
      const created = await t.api('/__api__/v1/environments', { method: 'POST', json: { title: 'Scratch', name: 'lectern.test/scratch:1', cluster_name: 'Kubernetes' } });
      assert.equal(created.status, 200, await created.clone().text());
      await page.reload();
      await page.getByRole('button', { name: 'Edit Scratch' }).click();
      const edit = page.getByRole('form', { name: 'Edit Scratch' });
      await edit.getByLabel('Title').fill('Scratch, renamed');

      // Meanwhile the environments file appears and names the same image: the file takes it over.
      await writeFile(
        file,
        `- name: lectern.test/scratch:1
  title: Scratch (from the file)
- name: lectern.test/managed:1
  title: Managed image
  python:
    installations: [{version: 3.12.4, path: /opt/python/3.12.4/bin/python3}]
`,
      );
      await until('the file to be applied', async () => ((await environments()).filter((e) => e.managed_by === file).length === 2 ? true : undefined));
      await edit.getByRole('button', { name: 'Save changes' }).click();
      const refusal = edit.getByRole('alert');
      await refusal.waitFor();
      assert.match(
        (await refusal.textContent())!,
        new RegExp(`Execution environment lectern\\.test/scratch:1 is managed by ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; change that file instead`),
      );
      // The list is read again: the form turns read-only and names the file, beside the refusal.
      await edit
        .getByRole('note')
        .filter({ hasText: `Managed by ${file}` })
        .waitFor();
      assert.equal(await edit.getByRole('button', { name: 'Save changes' }).count(), 0);
      assert.equal(await edit.getByLabel('Title').inputValue(), 'Scratch (from the file)');
      await screenshot(page, `${provider}/25-environment-file-refused`);
      assert.equal((await byTitle('Scratch (from the file)'))?.managed_by, file, "the file's version stands");

      await page.reload();
      const managed = page.getByRole('listitem', { name: 'Managed image' });
      await managed.getByText('Read-only: file-managed').waitFor();
      await managed.getByText(`Managed by ${file}`).waitFor();
      assert.equal(await managed.getByRole('button', { name: /^Delete/ }).count(), 0);
      await managed.getByRole('button', { name: 'View Managed image' }).click();
      const view = page.getByRole('form', { name: 'Edit Managed image' });
      await view
        .getByRole('note')
        .filter({ hasText: `Managed by ${file}` })
        .waitFor();
      assert.equal(await view.getByLabel('Title').isDisabled(), true);
      assert.equal(await view.getByRole('button', { name: 'Save changes' }).count(), 0);
      await screenshot(page, `${provider}/26-environment-file-managed`);
      await checkAccessibility(page, `${provider}/26-environment-file-managed`);
      await view.getByRole('button', { name: 'Close' }).click();
    });

    it('the execution panel explains the image, sets the default image, resources and service account, and refuses values over the maximums', async () => {
      const created = (await (await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'reporter', title: 'Reporter' } })).json()) as { guid: string };
      const uploaded = (await (await t.api(`/__api__/v1/content/${created.guid}/bundles`, { method: 'POST', body: appBundle() })).json()) as { id: string };
      const { task_id } = (await (await t.api(`/__api__/v1/content/${created.guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
      const task = await waitForTask(t, task_id);
      assert.equal(task.code, 0, task.output.join('\n'));

      await page.goto(`${t.url}/connect/#/apps/${created.guid}/execution`);
      const chosen = page.getByTestId('image-chosen');
      await chosen.waitFor();
      assert.match((await chosen.textContent())!, /Local Python/);
      assert.match((await chosen.textContent())!, /Why: Closest compatible installations: Python/);
      assert.match((await chosen.textContent())!, /Chosen automatically/);
      await page.getByText('2 other images passed over').click();
      const rejected = page.getByRole('list', { name: 'Images passed over' });
      assert.match((await rejected.textContent())!, /lectern\.test\/managed:1: has no Python matching/);
      assert.match((await rejected.textContent())!, /lectern\.test\/scratch:1: has no Python installation/);
      assert.equal(await page.getByText('at most 4 cores').count(), 1);
      assert.equal(await page.getByText('at most 2 GiB').count(), 1);
      assert.equal(await page.getByText('none allowed on this server').count(), 1, 'AMD GPUs: the maximum is 0');
      assert.equal(await page.getByLabel('Memory request').getAttribute('placeholder'), 'Default: 128 MiB');

      // Over a maximum: refused in the API's words, nothing stored.
      await page.getByLabel('CPU limit (cores)').fill('8');
      await page.getByRole('button', { name: 'Save execution settings' }).click();
      await page.getByRole('alert').filter({ hasText: "cpu_limit (8) is above this server's limit of 4 ([Scheduler] MaxCPULimit)." }).waitFor();
      assert.equal(await page.getByLabel('CPU limit (cores)').getAttribute('aria-invalid'), 'true');
      await page.getByLabel('Memory limit').fill('lots');
      await page.getByRole('button', { name: 'Save execution settings' }).click();
      await page.getByRole('alert').filter({ hasText: 'Memory limit: "lots" is not an amount of memory' }).waitFor();
      assert.equal(((await (await t.api(`/__api__/v1/content/${created.guid}`)).json()) as { cpu_limit: number | null }).cpu_limit, null);

      await page.getByLabel('CPU limit (cores)').fill('2');
      await page.getByLabel('CPU request (cores)').fill('0.5');
      await page.getByLabel('Memory limit').fill('1.5 GiB');
      await page.getByLabel('NVIDIA GPUs').fill('1');
      await page.getByLabel('Service account').fill('reports-runner');
      await page.getByLabel('Default image').selectOption({ label: 'Local Python (lectern.test/python:local)' });
      await page.getByRole('button', { name: 'Save execution settings' }).click();
      await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
      const item = (await (await t.api(`/__api__/v1/content/${created.guid}`)).json()) as Record<string, unknown>;
      assert.deepEqual(
        {
          cpu_limit: item.cpu_limit,
          cpu_request: item.cpu_request,
          memory_limit: item.memory_limit,
          nvidia_gpu_limit: item.nvidia_gpu_limit,
          service_account_name: item.service_account_name,
          default_image_name: item.default_image_name,
        },
        { cpu_limit: 2, cpu_request: 0.5, memory_limit: 1.5 * 1024 ** 3, nvidia_gpu_limit: 1, service_account_name: 'reports-runner', default_image_name: 'lectern.test/python:local' },
      );
      await page.getByTestId('image-chosen').filter({ hasText: "Why: Named by the content's default_image_name." }).waitFor();
      await screenshot(page, `${provider}/27-content-execution`);
      await checkAccessibility(page, `${provider}/27-content-execution`);

      // Stored values read back in the units they were typed in.
      await page.reload();
      assert.equal(await page.getByLabel('Memory limit').inputValue(), '1.5 GiB');

      // Deleting the image live content runs in is refused, naming the content.
      await page.goto(`${t.url}/connect/#/admin/environments`);
      await page.getByRole('button', { name: 'Delete Local Python' }).click();
      await page
        .getByRole('alert')
        .filter({ hasText: `Execution environment lectern.test/python:local is in use by 1 content item(s) (${created.guid})` })
        .waitFor();
      await page.getByRole('listitem', { name: 'Local Python' }).waitFor();
    });

    it('a publisher sees the service account but cannot change it', async () => {
      const owned = (await (await t.api('/__api__/v1/content', { method: 'POST', key: carol.key, json: { name: 'carols', title: "Carol's item" } })).json()) as { guid: string };
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const carolPage = await context.newPage();
      try {
        await carolPage.goto(`${t.url}/connect/#/apps/${owned.guid}/execution`);
        await carolPage.getByLabel('Username').fill('carol');
        await carolPage.getByLabel('Password').fill('carol-password');
        await carolPage.getByRole('button', { name: 'Sign in' }).click();
        await carolPage.getByRole('heading', { name: 'Execution' }).waitFor();
        await carolPage.getByText('Nothing deployed yet: the image is chosen when a bundle is deployed.').waitFor();
        assert.equal(await carolPage.getByLabel('Service account').count(), 0);
        await carolPage.getByText('(set by administrators)').waitFor();
        // Only images she may use are offered.
        const options = await carolPage.getByLabel('Default image').locator('option').allTextContents();
        assert.ok(options.includes('Local Python (lectern.test/python:local)'), options.join(', '));
        await screenshot(carolPage, `${provider}/28-content-execution-publisher`);
        await checkAccessibility(carolPage, `${provider}/28-content-execution-publisher`);
      } finally {
        await context.close();
      }
    });
  });
