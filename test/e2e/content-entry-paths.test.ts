import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { wsgiApiBundle } from '../support/apps.js';
import { executionSettings, testPython } from '../support/execution.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { send, upgrade, type Answer } from '../support/raw-http.js';
import { makeTarGz } from '../support/tarball.js';
import { nowIso } from '../../src/util/ids.js';

// The same odd and hostile paths through every entry to content — the HTTP proxy (the fast
// path), a vanity URL (Fastify, then the same proxy), a websocket upgrade, static files, a
// rendered report — must get the same answer from each (src/serve/content-target.ts and
// content-admission.ts, docs/architecture.md "One content entry path").
const PYTHON_VERSION = execFileSync(testPython(), ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

/** A worker that says which path and prefix it was asked for. */
const ECHO_APP = `
import json

def app(environ, start_response):
    body = json.dumps({"path": environ["PATH_INFO"], "query": environ.get("QUERY_STRING", ""), "prefix": environ.get("HTTP_X_FORWARDED_PREFIX")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
`;

/** What the other content holds: no answer through any entry may contain it. */
const SECRET = 'the-other-contents-secret';

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });
const siteFiles = (title: string) => [
  { name: 'manifest.json', content: STATIC_MANIFEST },
  { name: 'index.html', content: `<h1>${title}</h1>` },
  { name: 'sub/page.html', content: `${title}: the page` },
];

/** One way into content: how a path below its root is sent, and the path an ordinary visit asks for. */
interface Entry {
  name: string;
  /** The public prefix, as the server spells it in redirects. */
  prefix: string;
  /** The prefix spelled with doubled slashes, as rsconnect-python 1.29 sends it. */
  doubled: string;
  /** A path below the root that the content answers with 200. */
  plain: string;
  ask(rawPath: string, headers?: Record<string, string>): Promise<Answer>;
}

/** The part of an answer that must be the same through every spelling of the same path. */
function gist(answer: Answer) {
  const type = String(answer.headers['content-type'] ?? '');
  // A worker's echo: the path and prefix it was asked for. Files: their bytes.
  const what = type.startsWith('application/json') && answer.status === 200 ? JSON.parse(answer.body.toString()) : answer.status === 200 ? answer.body.toString() : undefined;
  return { status: answer.status, location: answer.headers.location, what };
}

after(stopPostgres);

for (const provider of PROVIDERS)
  describe(`one content entry path: the same answer through every entry (${provider})`, () => {
    let t: TestServer;
    let auth: Record<string, string>;
    let other = '';
    const entries: Entry[] = [];

    async function createContent(name: string): Promise<{ guid: string; id: number }> {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name } });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as { guid: string; id: string };
      return { guid: body.guid, id: Number(body.id) };
    }

    async function deploy(guid: string, bundle: Buffer<ArrayBuffer>) {
      const uploaded = await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: bundle });
      assert.equal(uploaded.status, 200, await uploaded.clone().text());
      const queued = await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: ((await uploaded.json()) as { id: string }).id } });
      assert.equal(queued.status, 202, await queued.clone().text());
      const task = await waitForTask(t, ((await queued.json()) as { task_id: string }).task_id);
      assert.equal(task.code, 0, task.output.join('\n'));
    }

    async function vanity(guid: string, vanityPath: string) {
      const res = await t.api(`/__api__/v1/content/${guid}/vanity`, { method: 'PUT', json: { path: vanityPath } });
      assert.equal(res.status, 200, await res.clone().text());
    }

    const http = (prefix: string, plain: string, name: string): Entry => ({
      name,
      prefix,
      doubled: `/${prefix.replace(/\//g, '//')}`,
      plain,
      ask: (rawPath, headers = auth) => send(t.url, rawPath, { headers }),
    });

    before(async () => {
      t = await startLectern(provider, executionSettings());
      auth = { authorization: `Key ${t.adminKey}` };

      other = (await createContent('entry-other')).guid;
      await deploy(
        other,
        makeTarGz([
          { name: 'manifest.json', content: STATIC_MANIFEST },
          { name: 'index.html', content: SECRET },
          { name: 'sub/page.html', content: SECRET },
        ]),
      );

      const app = (await createContent('entry-app')).guid;
      await deploy(app, wsgiApiBundle(ECHO_APP, PYTHON_VERSION));
      await vanity(app, '/entry/app/');

      const site = (await createContent('entry-site')).guid;
      await deploy(site, makeTarGz(siteFiles('site')));
      await vanity(site, '/entry/site/');

      // A rendered report as a render task leaves it: a succeeded render of the live bundle, its
      // output in the content's render directory. Rendering for real needs nbconvert or R
      // Markdown, which other suites cover; this one is about the path to the output.
      const report = await createContent('entry-report');
      await deploy(report.guid, makeTarGz(siteFiles('report')));
      const db = t.app.store.db;
      const live = await db.selectFrom('content').select('bundle_id').where('id', '=', report.id).executeTakeFirstOrThrow();
      const render = await db
        .insertInto('renders')
        .values({
          content_id: report.id,
          bundle_id: live.bundle_id!,
          task_id: null,
          job_key: null,
          state: 'succeeded',
          error: null,
          requested_by: null,
          created_time: nowIso(),
          finished_time: nowIso(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const output = t.app.dataDir.renderDir(report.id, render.id);
      await mkdir(path.join(output, 'sub'), { recursive: true });
      await writeFile(path.join(output, 'index.html'), '<h1>report</h1>');
      await writeFile(path.join(output, 'sub', 'page.html'), 'report: the page');
      await db.updateTable('content').set({ app_mode: 'jupyter-static', render_id: render.id }).where('id', '=', report.id).execute();

      entries.push(
        http(`/content/${app}`, '/x', 'HTTP proxy (fast path)'),
        http('/entry/app', '/x', 'HTTP proxy at a vanity URL'),
        { ...http(`/content/${app}`, '/x', 'websocket upgrade'), ask: (rawPath, headers = auth) => upgrade(t.url, rawPath, headers) },
        { ...http('/entry/app', '/x', 'websocket upgrade at a vanity URL'), ask: (rawPath, headers = auth) => upgrade(t.url, rawPath, headers) },
        http(`/content/${site}`, '/sub/page.html', 'static content'),
        http('/entry/site', '/sub/page.html', 'static content at a vanity URL'),
        http(`/content/${report.guid}`, '/sub/page.html', 'rendered report'),
      );
      // Each entry answers its plain path: what the spellings below are compared with.
      for (const entry of entries) {
        const answer = await entry.ask(entry.prefix + entry.plain);
        assert.equal(answer.status, 200, `${entry.name}: ${answer.body.toString()}`);
      }
    });

    after(async () => {
      await t?.stop();
    });

    it('never reaches other content, however ".." is spelled: every entry refuses with 400', async () => {
      const climbing = [
        `/a/../../${other}/`,
        `/a/../../content/${other}/`,
        `/%2e%2e/%2e%2e/content/${other}/`,
        `/a/%2E%2E/%2e%2E/content/${other}/index.html`,
        `/a/..%2f..%2fcontent%2f${other}%2f`,
        `/a\\..\\..\\content\\${other}\\`,
        `/a%5c..%5c..%5ccontent%5c${other}%5c`,
        '/%zz',
        '/a%00b',
      ];
      for (const entry of entries) {
        for (const suffix of climbing) {
          for (const spelled of [entry.prefix + suffix, entry.doubled + suffix.replace(/\//g, '//')]) {
            const answer = await entry.ask(spelled);
            assert.equal(answer.status, 400, `${entry.name}: ${spelled} answered ${answer.status} ${answer.body.toString()}`);
            assert.ok(!answer.body.toString().includes(SECRET), `${entry.name}: ${spelled} reached the other content`);
          }
        }
      }
    });

    it('refuses a climbing path before it checks who is asking: anonymous callers get the same 400', async () => {
      for (const entry of entries) {
        const answer = await entry.ask(`${entry.prefix}/a/../../content/${other}/`, {});
        assert.equal(answer.status, 400, `${entry.name}: ${answer.status} ${answer.body.toString()}`);
      }
    });

    it('answers anonymous callers of content they may not view with 401 at every entry, before anything about the content shows', async () => {
      for (const entry of entries) {
        for (const suffix of [entry.plain, '/_bundle1/', '/_rendering1/', '/no-such-file']) {
          const answer = await entry.ask(entry.prefix + suffix, {});
          assert.equal(answer.status, 401, `${entry.name}: ${suffix} answered ${answer.status}`);
        }
      }
    });

    it('serves //content//{guid}//… and other doubled slashes as the single-slash path (rsconnect-python 1.29 verifies a deploy that way)', async () => {
      for (const entry of entries) {
        const expected = gist(await entry.ask(entry.prefix + entry.plain));
        for (const spelled of [entry.doubled + entry.plain.replace(/\//g, '//'), `${entry.prefix}//${entry.plain.slice(1)}`, `${entry.doubled}/${entry.plain}`]) {
          assert.deepEqual(gist(await entry.ask(spelled)), expected, `${entry.name}: ${spelled}`);
        }
      }
    });

    it('serves "." segments, also escaped, as the path without them', async () => {
      for (const entry of entries) {
        const expected = gist(await entry.ask(entry.prefix + entry.plain));
        const segments = entry.plain.slice(1).split('/');
        const leaf = segments.pop()!;
        for (const spelled of [
          `${entry.prefix}/.${entry.plain}`,
          `${entry.prefix}/%2e${entry.plain}`,
          `${entry.prefix}/${[...segments, '.', leaf].join('/')}`,
          `${entry.doubled}/./%2E/${entry.plain}`,
        ]) {
          assert.deepEqual(gist(await entry.ask(spelled)), expected, `${entry.name}: ${spelled}`);
        }
      }
    });

    it('redirects the bare prefix, however its slashes are doubled, to the prefix with one trailing slash', async () => {
      for (const entry of entries) {
        for (const [spelled, location] of [
          [entry.prefix, `${entry.prefix}/`],
          [entry.doubled, `${entry.prefix}/`],
          [`${entry.doubled}?x=1`, `${entry.prefix}/?x=1`],
        ] as const) {
          const answer = await entry.ask(spelled);
          assert.deepEqual([answer.status, answer.headers.location], [301, location], `${entry.name}: ${spelled}`);
        }
      }
    });

    it('tells the worker the normalised path and the public prefix', async () => {
      for (const entry of entries.filter((e) => e.plain === '/x')) {
        const answer = await entry.ask(`${entry.doubled}//./a//%2e/b%2Fc/?q=1`);
        assert.equal(answer.status, 200, `${entry.name}: ${answer.body.toString()}`);
        // Slashes and dot segments are gone before the worker; PATH_INFO is decoded by the WSGI server (b%2Fc reads b/c).
        assert.deepEqual(JSON.parse(answer.body.toString()), { path: '/a/b/c/', query: 'q=1', prefix: entry.prefix }, entry.name);
      }
    });
  });
