// Content whose environment is missing on this server (a new server on the same database and data
// dir, a wiped environment cache, a new image) is rebuilt on its first visit behind a waiting page;
// POST …/build and `lectern content build --guid G` rebuild it ahead of time, so the first visit is
// served at once.
// Run: node --import tsx --test test/e2e/rebuild-on-first-access.test.ts
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchContent, wsgiApiBundle } from '../support/apps.js';
import { executionSettings, ROOT, testPython } from '../support/execution.js';
import { postgresDatabaseUrl, PROVIDERS, startLectern, waitForTask, type TestServer } from '../support/lectern.js';

const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const APP = `
import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("served by " + os.path.basename(os.path.dirname(os.path.dirname(os.__file__)))).encode()]
`;

const bundle = () => wsgiApiBundle(APP, PYTHON_VERSION);

/** Runs the `lectern` command line with `env` as its configuration. */
function lectern(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then((m) => m.main(${JSON.stringify(args)}))`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

for (const provider of PROVIDERS) {
  describe(`rebuild on first access (${provider})`, () => {
    let t: TestServer | undefined;
    let dataDir: string;
    let databaseUrl: string | undefined;
    const settings = executionSettings();

    // One server for the describe, started before its tests: each test deploys its own content.
    before(async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-rebuild-'));
      databaseUrl = provider === 'postgres' ? await postgresDatabaseUrl() : undefined;
      t = await startLectern(provider, settings, { dataDir, databaseUrl });
    });

    after(async () => {
      await t?.stop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    /** Stops the server, removes every built environment, and starts a new server on the same database and data dir. */
    async function newServerWithoutEnvironments() {
      await t!.stop();
      await rm(path.join(dataDir, 'envs', 'python'), { recursive: true, force: true });
      t = await startLectern(provider, settings, { dataDir, databaseUrl });
    }

    /** Deploys the app as new content named `name`; returns its guid and ids. */
    async function deployed(name: string) {
      const { guid, id } = (await (await t!.api('/__api__/v1/content', { method: 'POST', json: { name } })).json()) as { guid: string; id: string };
      const uploaded = (await (await t!.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: new Uint8Array(bundle()) })).json()) as { id: string };
      const deploy = (await (await t!.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
      const task = await waitForTask(t!, deploy.task_id);
      assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
      assert.equal((await fetchContent(t!, guid, '')).status, 200);
      return { guid, contentId: Number(id), bundleId: Number(uploaded.id) };
    }

    it('a visit finds the environment missing, gets a waiting page, and is served once the rebuild is done', async () => {
      const { guid } = await deployed('rebuilt');

      await newServerWithoutEnvironments();
      const waiting = await fetchContent(t!, guid, '', { headers: { accept: 'text/html' } });
      assert.equal(waiting.status, 503);
      assert.equal(waiting.headers.get('retry-after'), '5');
      const page = await waiting.text();
      assert.match(page, /being prepared/);
      assert.match(page, /<meta http-equiv="refresh" content="5">/);
      // Another visit while the build runs waits too, without queueing a second build.
      let res = await fetchContent(t!, guid, '');
      for (let i = 0; res.status === 503; i++) {
        assert.ok(i < 120, 'the content was not served within 60 s of the first visit');
        await new Promise((r) => setTimeout(r, 500));
        res = await fetchContent(t!, guid, '');
      }
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(await res.text(), /^served by /);
      const builds = (await (await t!.api(`/__api__/v1/content/${guid}/jobs`)).json()) as Array<{ tag: string }>;
      assert.equal(builds.filter((j) => j.tag === 'python_restore').length, 2, 'one build at deploy, one rebuild after the visit');

      // Ahead of time: POST …/build on the new server, then the first visit is served directly.
      await newServerWithoutEnvironments();
      const build = await t!.api(`/__api__/v1/content/${guid}/build`, { method: 'POST', json: {} });
      assert.equal(build.status, 200, await build.clone().text());
      const built = await waitForTask(t!, ((await build.json()) as { task_id: string }).task_id);
      assert.equal(built.code, 0, `${built.error}\n${built.output.join('\n')}`);
      const first = await fetchContent(t!, guid, '');
      assert.equal(first.status, 200, await first.clone().text());

      // The same from the command line, on the server's configuration: the server runs the build, the CLI follows it.
      await newServerWithoutEnvironments();
      const env: NodeJS.ProcessEnv = { ...process.env, LECTERN_DATABASE_PROVIDER: provider, LECTERN_SERVER_DATADIR: dataDir, LECTERN_POSTGRES_URL: databaseUrl ?? '', LECTERN_LOGGING_LEVEL: 'silent' };
      for (const [key, value] of Object.entries(settings)) env[`LECTERN_${key.replace('.', '_').toUpperCase()}`] = value;
      const cli = await lectern(['content', 'build', '--guid', guid], env);
      assert.equal(cli.code, 0, cli.output);
      assert.match(cli.output, /Queued build task \S+ of content/);
      assert.match(cli.output, /Build completed successfully\./);
      const afterCli = await fetchContent(t!, guid, '');
      assert.equal(afterCli.status, 200, await afterCli.clone().text());

      const unknown = await lectern(['content', 'build', '--guid', '00000000-0000-0000-0000-000000000000'], env);
      assert.equal(unknown.code, 2);
      assert.match(unknown.output, /no content with guid 00000000-0000-0000-0000-000000000000/);
    });

    it('a rebuild that fails is shown to the owner in place of the waiting page, and visits do not queue build after build', async () => {
      const { guid, contentId, bundleId } = await deployed('unbuildable');
      await newServerWithoutEnvironments();
      // The server's copy of the bundle now asks for a package no index has: the rebuild cannot succeed.
      await writeFile(path.join(dataDir, 'apps', String(contentId), String(bundleId), 'requirements.txt'), 'lectern-no-such-package-anywhere==1.0\n');
      assert.equal((await fetchContent(t!, guid, '')).status, 503);
      let page = '';
      for (let i = 0; ; i++) {
        assert.ok(i < 120, `still waiting after 60 s:\n${page}`);
        await new Promise((r) => setTimeout(r, 500));
        const res = await fetchContent(t!, guid, '');
        assert.equal(res.status, 503);
        page = await res.text();
        if (!/being prepared/.test(page)) break;
      }
      assert.match(page, /Rebuilding the content(&#39;|&#x27;|')s environment failed: Restoring the environment failed/);
      for (let i = 0; i < 3; i++) assert.equal((await fetchContent(t!, guid, '')).status, 503);
      const rebuilds = await t!.app.store.db.selectFrom('tasks').select('id').where('content_id', '=', contentId).where('kind', '=', 'build').execute();
      assert.equal(rebuilds.length, 1, 'one rebuild for all those visits (the next only after the back-off)');
    });
  });
}
