import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

// The settings endpoints Posit Publisher reads before it publishes (its Go client's
// internal/clients/connect/capabilities.go GetSettings), and the two request shapes of that client
// Lectern used to refuse: JSON bodies with no content type, and `"name": ""`.

after(stopPostgres);

const KINDS = { R: 'r', Python: 'python', Quarto: 'quarto' } as const;

for (const provider of PROVIDERS) {
  describe(`server settings for publishing clients (${provider})`, () => {
    let t: TestServer;
    let viewer: string;
    before(async () => {
      t = await startLectern(provider, { 'Scheduler.MaxProcesses': '5', 'Scheduler.IdleTimeout': '2m', 'Scheduler.MaxCPURequest': '2', 'Scheduler.MemoryLimit': '1G' });
      ({ key: viewer } = await t.addUser('settings-viewer', 'viewer'));
    });
    after(() => t.stop());

    test('server_settings.runtimes names exactly the runtimes v1/server_settings lists installations of', async () => {
      const settings = (await (await t.api('/__api__/server_settings', { key: null })).json()) as { runtimes: string[]; license: Record<string, boolean>; execution_type: string };
      for (const [label, kind] of Object.entries(KINDS)) {
        const { installations } = (await (await t.api(`/__api__/v1/server_settings/${kind}`)).json()) as { installations: unknown[] };
        assert.equal(settings.runtimes.includes(label), installations.length > 0, `${label}: listed ${JSON.stringify(settings.runtimes)}, ${installations.length} installation(s)`);
      }
      assert.equal(settings.license['enable-launcher'], false, 'content runs on this host');
      assert.equal(settings.execution_type, 'native');
    });

    test('v1/server_settings/tensorflow and nodejs list no installations (Lectern runs neither), and only for publishers', async () => {
      for (const res of [await t.api('/__api__/v1/server_settings/tensorflow'), await t.api('/__api__/v1/server_settings/nodejs')]) {
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { installations: [] });
      }
      assert.equal((await t.api('/__api__/v1/server_settings/tensorflow', { key: viewer })).status, 403);
      assert.equal((await t.api('/__api__/v1/server_settings/nodejs', { key: null })).status, 401);
    });

    test('v1/server_settings/public tells a signed-out visitor how to sign in', async () => {
      const res = await t.api('/__api__/v1/server_settings/public', { key: null });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { system_display_name: 'Lectern', authentication: { name: 'password', handles_login: true } });
    });

    test('server_settings/applications: who content runs as, for any signed-in user', async () => {
      assert.equal((await t.api('/__api__/server_settings/applications', { key: null })).status, 401);
      const res = await t.api('/__api__/server_settings/applications', { key: viewer });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { access_types: ['all', 'logged_in', 'acl'], run_as: 'lectern', run_as_group: '', run_as_current_user: false });
    });

    test("server_settings/scheduler[/{app_mode}]: the configured defaults and caps in Connect's flat shape", async () => {
      assert.equal((await t.api('/__api__/server_settings/scheduler', { key: null })).status, 401);
      const general = (await (await t.api('/__api__/server_settings/scheduler', { key: viewer })).json()) as Record<string, number>;
      assert.equal(general.max_processes, 5);
      assert.equal(general.min_processes, 0);
      assert.equal(general.idle_timeout, 120);
      assert.equal(general.max_cpu_request, 2);
      assert.equal(general.memory_limit, 1e9, 'bytes (1G = 10^9, as Connect reads it)');
      assert.equal(general.max_processes_limit, 20);
      for (const mode of ['python-fastapi', 'shiny', 'quarto-static', 'jupyter-static']) {
        const res = await t.api(`/__api__/server_settings/scheduler/${mode}`);
        assert.equal(res.status, 200, mode);
        assert.deepEqual(await res.json(), general, `${mode} has the server's defaults (no per-mode sections)`);
      }
      const staticMode = await t.api('/__api__/server_settings/scheduler/static');
      assert.equal(staticMode.status, 400);
      assert.equal(((await staticMode.json()) as { code: number }).code, 25);
      const unknown = await t.api('/__api__/server_settings/scheduler/no-such-mode');
      assert.equal(unknown.status, 400);
      assert.deepEqual(await unknown.json(), { code: 148, error: 'Unknown app mode "no-such-mode".', payload: null });
    });

    test('a JSON body sent with no content type is read as JSON where a route takes JSON', async () => {
      const body = new Uint8Array(Buffer.from(JSON.stringify({ name: 'no-content-type', title: 'Sent by Go' })));
      const created = await t.api('/__api__/v1/content', { method: 'POST', body });
      assert.equal(created.status, 200, await created.clone().text());
      const item = (await created.json()) as { guid: string; name: string; title: string };
      assert.deepEqual([item.name, item.title], ['no-content-type', 'Sent by Go']);

      const malformed = await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', body: new Uint8Array(Buffer.from('{"title": ')) });
      assert.equal(malformed.status, 400);
      assert.equal(((await malformed.json()) as { code: number }).code, 121);
    });

    test('"name": "" is no name: a created item gets one, an update keeps it', async () => {
      const created = await t.api('/__api__/v1/content', { method: 'POST', json: { name: '' } });
      assert.equal(created.status, 200, await created.clone().text());
      const item = (await created.json()) as { guid: string; name: string };
      assert.match(item.name, /^[A-Za-z0-9._-]{3,64}$/);

      const updated = await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', json: { name: '', title: 'Titled' } });
      assert.equal(updated.status, 200, await updated.clone().text());
      const after = (await updated.json()) as { name: string; title: string };
      assert.deepEqual([after.name, after.title], [item.name, 'Titled']);
    });
  });
}
