import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';

after(stopPostgres);

const MANIFEST = '{"version":1,"metadata":{"appmode":"static","primary_html":"index.html"},"files":null,"packages":null}';
const HTML = '<!doctype html><html><body><h1>Legacy R publish</h1></body></html>\n';

/** A bundle the way R's utils::tar writes it: `./`-prefixed members and directory entries. */
function rStyleBundle(): Buffer<ArrayBuffer> {
  return makeTarGz([
    { name: './', type: 'dir' },
    { name: './manifest.json', content: MANIFEST },
    { name: './index.html', content: HTML },
    { name: './assets/', type: 'dir' },
    { name: './assets/app.css', content: 'h1 { color: teal; }\n' },
  ]);
}

interface V0App {
  id: number;
  guid: string;
  name: string;
  title: string | null;
  url: string;
  app_mode: number;
  build_status: number;
  bundle_id: number | null;
  owner_username: string;
  vanity_url: boolean;
  content_url?: unknown;
  dashboard_url?: unknown;
  [key: string]: unknown;
}

interface V0List {
  applications: V0App[];
  count: number;
  total: number;
  continuation: string | null;
}

async function json<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return JSON.parse(text) as T;
}

for (const provider of PROVIDERS) {
  describe(`legacy /__api__/applications (${provider})`, () => {
    let t: TestServer;
    let adminId: number;

    before(async () => {
      t = await startLectern(provider);
      adminId = (await t.app.users.findByUsername('admin'))!.id;
    });
    after(() => t?.stop());

    it('publishes the way rsconnect R 0.8.x does, end to end', async () => {
      // 2. look for an existing app by owner and name (none yet)
      let list = await json<V0List>(await t.api(`/__api__/applications?filter=account_id:${adminId}&filter=name:r-legacy&count=100&offset=0`));
      assert.deepEqual(list.applications, []);
      assert.equal(list.count, 0);
      assert.equal(list.total, 0);

      // 3. create
      const created = await json<V0App>(await t.api('/__api__/applications', { method: 'POST', json: { name: 'r-legacy' } }));
      assert.equal(typeof created.id, 'number');
      assert.match(created.guid, /^[0-9a-f-]{36}$/);
      assert.equal(created.name, 'r-legacy');
      assert.equal(created.url, `${t.url}/content/${created.guid}/`);
      assert.equal(created.owner_username, 'admin');
      assert.equal(created.build_status, 0);
      assert.equal(created.bundle_id, null);
      assert.equal(created.vanity_url, false);
      assert.equal(typeof created.app_mode, 'number');
      assert.equal(created.content_url, undefined);
      assert.equal(created.dashboard_url, undefined);
      for (const key of ['created_time', 'last_deployed_time', 'owner_first_name', 'owner_last_name', 'owner_email', 'owner_locked', 'has_parameters', 'is_scheduled']) {
        assert.ok(key in created, `missing ${key}`);
      }
      assert.deepEqual([created.users, created.groups, created.vanities, created.git], [[], [], [], null]);

      // 4. upload, R style
      const bundleBytes = rStyleBundle();
      const bundle = await json<{ id: number; app_id: number; size: number; created_time: string }>(
        await t.api(`/__api__/applications/${created.id}/upload`, { method: 'POST', body: bundleBytes, headers: { 'content-type': 'application/x-gzip' } }),
      );
      assert.equal(typeof bundle.id, 'number');
      assert.equal(bundle.app_id, created.id);
      assert.equal(bundle.size, bundleBytes.length);
      assert.ok(bundle.created_time);

      // 5. deploy
      const task = await json<{ id: string; task_id: string; user_id: number; status: string[]; finished: boolean; code: number; error: string; last_status: number; result: unknown }>(
        await t.api(`/__api__/applications/${created.id}/deploy`, { method: 'POST', json: { bundle: bundle.id } }),
      );
      assert.equal(typeof task.id, 'string');
      assert.equal(task.task_id, task.id);
      assert.equal(task.user_id, adminId);
      assert.deepEqual([task.status, task.finished, task.code, task.error, task.last_status, task.result], [[], false, 0, '', 0, null]);

      // 6. poll with first_status
      let first = 0;
      const lines: string[] = [];
      let final: { finished: boolean; code: number; error: string; last_status: number; id: string } | undefined;
      for (let i = 0; i < 60 && !final; i++) {
        const poll = await json<{ id: string; status: string[]; finished: boolean; code: number; error: string; last_status: number; user_id: number; result: unknown }>(
          await t.api(`/__api__/tasks/${task.id}?first_status=${first}`),
        );
        assert.equal(poll.id, task.id);
        assert.ok(Array.isArray(poll.status));
        assert.equal(poll.last_status, first + poll.status.length);
        lines.push(...poll.status);
        first = poll.last_status;
        if (poll.finished) final = poll;
      }
      assert.ok(final, 'task never finished');
      assert.equal(final.code, 0, lines.join('\n'));
      assert.equal(final.error, '');
      assert.ok(lines.length > 0);
      // Past the end: no lines repeated.
      const tail = await json<{ status: string[]; last_status: number; finished: boolean }>(await t.api(`/__api__/tasks/${task.id}?first_status=${first}`));
      assert.deepEqual(tail.status, []);
      assert.equal(tail.last_status, first);
      assert.equal(tail.finished, true);

      // 7. config links
      const config = await json<{ config_url: string; logs_url: string }>(await t.api(`/__api__/applications/${created.id}/config`));
      assert.equal(config.config_url, `${t.url}/connect/#/apps/${created.guid}`);
      assert.equal(config.logs_url, `${t.url}/connect/#/apps/${created.guid}/logs`);

      // The content is served, and the record reflects the deploy.
      const page = await t.api(`/content/${created.guid}/`);
      assert.equal(page.status, 200);
      assert.equal(await page.text(), HTML);
      const css = await t.api(`/content/${created.guid}/assets/app.css`);
      assert.equal(css.status, 200);
      assert.match(await css.text(), /teal/);
      const deployed = await json<V0App>(await t.api(`/__api__/applications/${created.id}`));
      assert.equal(deployed.build_status, 2);
      assert.equal(deployed.bundle_id, bundle.id);
      assert.equal(deployed.app_mode, (await json<V0App>(await t.api(`/__api__/applications/${created.guid}`))).app_mode);
      assert.notEqual(deployed.app_mode, created.app_mode, 'static has its own ordinal, not unknown');
      assert.ok(deployed.last_deployed_time);

      // A redeploy finds it by owner + name now.
      list = await json<V0List>(await t.api(`/__api__/applications?filter=account_id:${adminId}&filter=name:r-legacy&count=100&offset=0`));
      assert.deepEqual(
        list.applications.map((a) => a.id),
        [created.id],
      );
    });

    it('looks applications up by numeric id and GUID, and 404s with a code', async () => {
      const created = await json<V0App>(await t.api('/__api__/applications', { method: 'POST', json: { name: 'lookup-me', title: 'Look Me Up' } }));
      assert.equal(created.title, 'Look Me Up');
      const byId = await json<V0App>(await t.api(`/__api__/applications/${created.id}`));
      const byGuid = await json<V0App>(await t.api(`/__api__/applications/${created.guid}`));
      assert.deepEqual(byId, byGuid);
      assert.equal(byId.guid, created.guid);

      for (const missing of ['999999', '00000000-0000-0000-0000-000000000000']) {
        const res = await t.api(`/__api__/applications/${missing}`);
        const body = await json<{ code: number; error: string }>(res, 404);
        assert.equal(body.code, 4);
        assert.ok(body.error);
      }
      const noTask = await json<{ code: number }>(await t.api('/__api__/tasks/nope?first_status=0'), 404);
      assert.equal(noTask.code, 141);
      const unauth = await t.api(`/__api__/applications/${created.id}`, { key: null });
      assert.equal(unauth.status, 401);
    });

    it('creates and updates with v1 validation', async () => {
      const bad = await json<{ code: number }>(await t.api('/__api__/applications', { method: 'POST', json: { name: 'x' } }), 400);
      assert.equal(bad.code, 5);
      await json(await t.api('/__api__/applications', { method: 'POST', json: { name: 'dupe-app' } }));
      const dupe = await json<{ code: number }>(await t.api('/__api__/applications', { method: 'POST', json: { name: 'dupe-app' } }), 409);
      assert.equal(dupe.code, 26);

      const created = await json<V0App>(await t.api('/__api__/applications', { method: 'POST', json: { name: 'update-me' } }));
      const updated = await json<V0App>(await t.api(`/__api__/applications/${created.id}`, { method: 'POST', json: { title: 'Updated Title', description: 'd' } }));
      assert.equal(updated.title, 'Updated Title');
      assert.equal(updated.description, 'd');
      assert.equal(updated.id, created.id);
      // Echoing a whole v0 record back is accepted (read-only fields ignored).
      const echoed = await json<V0App>(await t.api(`/__api__/applications/${created.guid}`, { method: 'POST', json: { ...updated, title: 'Again' } }));
      assert.equal(echoed.title, 'Again');
      const invalid = await json<{ code: number }>(await t.api(`/__api__/applications/${created.id}`, { method: 'POST', json: { name: '!' } }), 400);
      assert.equal(invalid.code, 5);
    });

    it('deploy accepts bundle_id and rejects unknown bundles', async () => {
      const created = await json<V0App>(await t.api('/__api__/applications', { method: 'POST', json: { name: 'deploy-by-bundle-id' } }));
      const bundle = await json<{ id: number }>(await t.api(`/__api__/applications/${created.guid}/upload`, { method: 'POST', body: rStyleBundle() }));
      const task = await json<{ id: string; task_id: string }>(await t.api(`/__api__/applications/${created.id}/deploy`, { method: 'POST', json: { bundle_id: String(bundle.id) } }));
      assert.equal(task.task_id, task.id);
      const missing = await t.api(`/__api__/applications/${created.id}/deploy`, { method: 'POST', json: { bundle: 987654 } });
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { code: number }).code, 28);
    });

    it('lists with filters, search and paging, only visible content', async () => {
      const names = ['page-alpha', 'page-beta', 'page-gamma', 'page-delta', 'other-thing'];
      for (const name of names) await json(await t.api('/__api__/applications', { method: 'POST', json: { name, title: name === 'other-thing' ? 'Has PAGE in title' : null } }));
      const publisher = await t.addUser('legacy-pub', 'publisher');
      const own = await json<V0App>(await t.api('/__api__/applications', { method: 'POST', json: { name: 'page-private' }, key: publisher.key }));

      // search matches name or title, case-insensitively
      const search = await json<V0List>(await t.api('/__api__/applications?search=PAGE&count=100'));
      assert.deepEqual(search.applications.map((a) => a.name).sort(), [...names, 'page-private'].sort());
      assert.equal(search.total, 6);

      // paging: count/start with an opaque continuation; later pages the rsconnect-python ≤ 1.28
      // way, with only start/count/cont (its filters are dropped, the continuation keeps them)
      const seen: string[] = [];
      let query = 'search=page&count=4';
      let pages = 0;
      for (;;) {
        assert.ok(pages < 10, `paging did not end after ${pages} pages (continuations must run out): ${seen.join(', ')}`);
        const page = await json<V0List>(await t.api(`/__api__/applications?${query}`));
        pages++;
        assert.equal(page.total, 6);
        assert.equal(page.count, page.applications.length);
        seen.push(...page.applications.map((a) => a.name));
        if (!page.continuation) break;
        query = `start=${seen.length}&count=4&cont=${encodeURIComponent(page.continuation)}`;
      }
      assert.equal(pages, 2);
      assert.equal(new Set(seen).size, 6);
      // connectapi keeps its filters and passes start + cont
      const first = await json<V0List>(await t.api('/__api__/applications?search=page&count=5'));
      const second = await json<V0List>(await t.api(`/__api__/applications?search=page&count=5&start=5&cont=${encodeURIComponent(first.continuation!)}`));
      assert.equal(second.count, 1);
      assert.equal(second.continuation, null);

      // the R `offset` spelling, with the count/total loop R runs
      const rPage = await json<V0List>(await t.api('/__api__/applications?search=page&count=4&offset=4'));
      assert.equal(rPage.count, 2);
      assert.equal(rPage.continuation, null);

      // owner filter
      const byOwner = await json<V0List>(await t.api(`/__api__/applications?filter=account_id:${publisher.id}`));
      assert.deepEqual(
        byOwner.applications.map((a) => a.id),
        [own.id],
      );

      // connectapi joins filters with `&` inside one value
      const joined = await json<V0List>(await t.api(`/__api__/applications?count=25&filter=${encodeURIComponent(`name:page-private&account_id:${publisher.id}`)}`));
      assert.deepEqual(
        joined.applications.map((a) => a.id),
        [own.id],
      );
      const joinedOther = await json<V0List>(await t.api(`/__api__/applications?count=25&filter=${encodeURIComponent(`name:page-private&account_id:${adminId}`)}`));
      assert.equal(joinedOther.total, 0);
      const unencoded = await json<V0List>(await t.api(`/__api__/applications?count=25&filter=name:page-beta&account_id:${adminId}`));
      assert.deepEqual(
        unencoded.applications.map((a) => a.name),
        ['page-beta'],
      );

      // content_type narrows by app mode: nothing here is deployed
      const staticOnly = await json<V0List>(await t.api('/__api__/applications?search=page&filter=content_type:static'));
      assert.equal(staticOnly.total, 0);
      const unknownOnly = await json<V0List>(await t.api('/__api__/applications?search=page&filter=content_type:unknown'));
      assert.equal(unknownOnly.total, 6);

      // the publisher sees only what it can see
      const pubView = await json<V0List>(await t.api('/__api__/applications?search=page', { key: publisher.key }));
      assert.deepEqual(
        pubView.applications.map((a) => a.id),
        [own.id],
      );
      const hidden = await t.api(`/__api__/applications?filter=name:page-alpha`, { key: publisher.key });
      assert.equal((await json<V0List>(hidden)).total, 0);
      const notVisible = await t.api(`/__api__/applications/${search.applications.find((a) => a.name === 'page-alpha')!.id}`, { key: publisher.key });
      assert.equal(notVisible.status, 404);
    });

    it("variants, as posit-sdk's render() reads them: one default for rendered content, none for other content; rendering it queues a render task", async () => {
      const created = await json<{ guid: string; id: string }>(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'variant-report' } }));
      const bundle = await json<{ id: string }>(await t.api(`/__api__/v1/content/${created.guid}/bundles`, { method: 'POST', body: rStyleBundle() }));
      const deployed = await json<{ task_id: string }>(await t.api(`/__api__/v1/content/${created.guid}/deploy`, { method: 'POST', json: { bundle_id: bundle.id } }), 202);
      assert.equal((await waitForTask(t, deployed.task_id)).code, 0);
      assert.deepEqual(await json(await t.api(`/__api__/applications/${created.guid}/variants`)), [], 'static content has no variants');

      // A rendered report (the app mode a notebook deploy gives); rendering one for real needs
      // nbconvert, which the e2e suites have.
      await t.app.store.db.updateTable('content').set({ app_mode: 'jupyter-static' }).where('id', '=', Number(created.id)).execute();
      const variants = await json<Array<{ id: number; app_id: number; is_default: boolean; bundle_id: number | null; key: string }>>(await t.api(`/__api__/applications/${created.guid}/variants`));
      assert.equal(variants.length, 1);
      const [variant] = variants;
      assert.equal(variant!.is_default, true);
      assert.equal(variant!.app_id, Number(created.id));
      assert.equal(variant!.bundle_id, Number(bundle.id));
      assert.deepEqual(await json(await t.api(`/__api__/variants/${variant!.id}`)), variant);

      const rendered = await json<{ id: string; task_id: string; finished: boolean }>(await t.api(`/__api__/variants/${variant!.id}/render`, { method: 'POST' }));
      assert.equal(rendered.id, rendered.task_id);
      const task = await waitForTask(t, rendered.id);
      assert.equal(task.finished, true);
      // The task renders the item's live bundle (here a static bundle, which the render refuses).
      assert.match(task.output[0] ?? '', new RegExp(`^Building .* ${created.guid} from bundle ${bundle.id}$`), JSON.stringify(task));
      for (const missing of ['999999', 'not-a-number']) {
        const res = await t.api(`/__api__/variants/${missing}/render`, { method: 'POST' });
        assert.equal(res.status, 404);
        assert.equal((await json<{ code: number }>(res, 404)).code, 4);
      }
    });
  });
}
