import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTarGz } from '../support/tarball.js';
import { postgresDatabaseUrl, PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';

// Usage instrumentation as Connect's clients read it: real requests to real (static) content are
// recorded by the content routes, written in batches, and paged through
// v1/instrumentation/content/visits, …/shiny/usage and …/content/hits. Shiny sessions over a
// real websocket are in test/e2e/instrumentation.test.ts; here they are recorded through the
// recorder the websocket proxy calls, to page through many of them.

after(stopPostgres);

const PAGES = ['index.html', 'style.css', 'p1.html', 'p2.html', 'p3.html', 'p4.html', 'p5.html', 'p6.html', 'p7.html'];
const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

async function json(res: Response, status = 200) {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  return res.json() as Promise<any>;
}

async function publishStatic(t: TestServer, name: string, key = t.adminKey): Promise<{ guid: string; bundleId: string }> {
  const { guid } = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name }, key }));
  const bundle = await json(
    await t.api(`/__api__/v1/content/${guid}/bundles`, {
      method: 'POST',
      key,
      body: makeTarGz([{ name: 'manifest.json', content: STATIC_MANIFEST }, ...PAGES.map((p) => ({ name: p, content: `<p>${p}</p>` }))]),
    }),
  );
  const task = await json(await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: bundle.id }, key }), 202);
  assert.equal((await waitForTask(t, task.task_id, key)).code, 0);
  return { guid, bundleId: bundle.id };
}

async function visit(t: TestServer, guid: string, rest: string, key: string | null, headers: Record<string, string> = {}) {
  const res = await t.api(`/content/${guid}/${rest}`, { key, headers });
  assert.equal(res.status, 200, `${rest}: ${await res.text()}`);
  await res.arrayBuffer().catch(() => undefined);
}

function checkPage(body: any, route: string, resultKeys: string[]) {
  assert.deepEqual(Object.keys(body).sort(), ['paging', 'results']);
  assert.deepEqual(Object.keys(body.paging).sort(), ['cursors', 'first', 'last', 'next', 'previous']);
  assert.deepEqual(Object.keys(body.paging.cursors).sort(), ['next', 'previous']);
  for (const k of ['first', 'last', 'next', 'previous']) {
    const v = body.paging[k];
    assert.ok(v === null || new RegExp(`^http://127\\.0\\.0\\.1:\\d+/__api__/v1/instrumentation/${route}\\?`).test(v), `${k}: ${v}`);
  }
  for (const r of body.results) assert.deepEqual(Object.keys(r).sort(), resultKeys);
  return body;
}

const VISIT_KEYS = ['bundle_id', 'content_guid', 'data_version', 'path', 'rendering_id', 'time', 'user_agent', 'user_guid', 'variant_key'];
const SHINY_KEYS = ['content_guid', 'data_version', 'ended', 'started', 'user_guid'];

for (const provider of PROVIDERS) {
  describe(`usage instrumentation (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    let viewer: { key: string; guid: string; id: number };
    let adminGuid: string;
    let a: { guid: string; bundleId: string };
    let b: { guid: string; bundleId: string };
    let c: { guid: string; bundleId: string };
    const visits = (query = '', key?: string | null) => t.api(`/__api__/v1/instrumentation/content/visits${query}`, { key });
    const follow = async (url: string, route = 'content/visits', keys = VISIT_KEYS) => checkPage(await json(await fetch(url, { headers: { authorization: `Key ${t.adminKey}` } })), route, keys);

    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('usage-publisher', 'publisher');
      viewer = await t.addUser('usage-viewer', 'viewer');
      adminGuid = (await t.app.users.findByUsername('admin'))!.guid;
      a = await publishStatic(t, 'usage-a');
      b = await publishStatic(t, 'usage-b', publisher.key);
      c = await publishStatic(t, 'usage-c');
      // The publisher collaborates on c; a is the administrator's alone.
      await json(await t.api(`/__api__/v1/content/${c.guid}/permissions`, { method: 'POST', json: { principal_guid: publisher.guid, principal_type: 'user', role: 'owner' } }));
      await json(await t.api(`/__api__/v1/content/${a.guid}`, { method: 'PATCH', json: { access_type: 'all' } }));

      // a: the root page by a script, a stylesheet and a page opened in a browser, an anonymous visit, seven pages.
      await visit(t, a.guid, '', t.adminKey, { 'user-agent': 'usage-test/1.0' });
      await visit(t, a.guid, 'style.css', t.adminKey, { 'sec-fetch-dest': 'style', 'sec-fetch-site': 'same-origin' });
      await visit(t, a.guid, 'index.html?view_hit_source=email', t.adminKey, { 'sec-fetch-dest': 'document', 'sec-fetch-site': 'none' });
      await visit(t, a.guid, '', null);
      for (let i = 1; i <= 7; i++) await visit(t, a.guid, `p${i}.html`, t.adminKey);
      await visit(t, b.guid, '', publisher.key);
      await visit(t, c.guid, 'p1.html', publisher.key);
      // Written in the background every second; the tests read what is written.
      await t.app.usage.flush();
    });
    after(() => t.stop());

    test('administrators, publishers (their content) and nobody else', async () => {
      assert.equal((await json(await visits('', viewer.key), 403)).code, 22);
      assert.equal((await json(await visits('', null), 401)).code, 24);
      assert.equal((await json(await visits('', 'bogus'), 401)).code, 30);
      assert.equal((await json(await t.api('/__api__/v1/instrumentation/shiny/usage', { key: viewer.key }), 403)).code, 22);
      assert.equal((await json(await t.api('/__api__/v1/instrumentation/content/hits', { key: viewer.key }), 403)).code, 22);

      const mine = checkPage(await json(await visits('?limit=500', publisher.key)), 'content/visits', VISIT_KEYS);
      assert.deepEqual(mine.results.map((r: any) => r.content_guid).sort(), [b.guid, c.guid].sort());
      const hits = await json(await t.api('/__api__/v1/instrumentation/content/hits', { key: publisher.key }));
      assert.deepEqual([...new Set(hits.map((h: any) => h.content_guid))].sort(), [b.guid, c.guid].sort());
    });

    test('visits: what counts, and every field', async () => {
      const all = checkPage(await json(await visits(`?content_guid=${a.guid}&limit=500`)), 'content/visits', VISIT_KEYS);
      // The stylesheet is a hit, not a visit.
      assert.deepEqual(
        all.results.map((r: any) => r.path),
        ['/', '/index.html', '/', '/p1.html', '/p2.html', '/p3.html', '/p4.html', '/p5.html', '/p6.html', '/p7.html'],
      );
      const [root, page, anonymous] = all.results;
      assert.deepEqual(
        { ...root, time: undefined },
        {
          content_guid: a.guid,
          user_guid: adminGuid,
          variant_key: null,
          rendering_id: null,
          bundle_id: a.bundleId,
          time: undefined,
          data_version: 3,
          path: '/',
          user_agent: 'usage-test/1.0',
        },
      );
      assert.match(root.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(page.path, '/index.html');
      assert.equal(anonymous.user_guid, null);
      assert.equal(all.paging.next, null);
      assert.equal(all.paging.previous, null);
    });

    test('hits: every request, with its path, query and fetch headers', async () => {
      const hits = await json(await t.api(`/__api__/v1/instrumentation/content/hits?content_guid=${a.guid}`));
      assert.equal(hits.length, 11);
      for (const h of hits) assert.deepEqual(Object.keys(h).sort(), ['content_guid', 'data', 'id', 'timestamp', 'user_guid']);
      assert.equal(typeof hits[0].id, 'string');
      assert.deepEqual(hits[1].data, { path: '/style.css', query: null, user_agent: 'node', sec_fetch_dest: 'style', sec_fetch_site: 'same-origin' });
      assert.deepEqual(hits[2].data, { path: '/index.html', query: 'view_hit_source=email', user_agent: 'node', sec_fetch_dest: 'document', sec_fetch_site: 'none' });
      // Several GUIDs separated by "|", as posit-sdk sends a list; a GUID of nothing matches nothing.
      const both = await json(await t.api(`/__api__/v1/instrumentation/content/hits?content_guid=${a.guid}|${b.guid}`));
      assert.deepEqual([...new Set(both.map((h: any) => h.content_guid))].sort(), [a.guid, b.guid].sort());
      assert.deepEqual(await json(await t.api('/__api__/v1/instrumentation/content/hits?content_guid=00000000-0000-0000-0000-000000000000')), []);
      const everything = await json(await t.api('/__api__/v1/instrumentation/content/hits'));
      assert.equal(everything.length, 13);
      assert.equal(new Set(everything.map((h: any) => h.id)).size, 13, 'each request is recorded once');
      // The array is streamed from batches of rows; read in batches of 4, it is the same.
      const batches = [];
      for await (const rows of t.app.usageReports.hits({ all: true }, {}, 4)) batches.push(rows.length);
      assert.deepEqual(batches, [4, 4, 4, 1]);
    });

    test('filters: time window, data version', async () => {
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const past = '2020-01-01T00:00:00Z';
      assert.equal((await json(await visits(`?from=${future}`))).results.length, 0);
      assert.equal((await json(await visits(`?to=${past}`))).results.length, 0);
      assert.equal((await json(await visits(`?from=${past}&to=${future}&limit=500`))).results.length, 12);
      assert.equal((await json(await visits('?min_data_version=4'))).results.length, 0);
      assert.equal((await json(await visits('?min_data_version=0&limit=500'))).results.length, 12);
      assert.deepEqual(await json(await t.api(`/__api__/v1/instrumentation/content/hits?from=${future}`)), []);
      // "to" a whole second includes that second.
      const [first] = (await json(await visits('?limit=1'))).results;
      assert.equal((await json(await visits(`?to=${first.time}`))).results.length >= 1, true);
    });

    test('paging through next, previous, first and last, both orders, filters kept', async () => {
      const paths = (body: any) => body.results.map((r: any) => r.path);
      const p1 = checkPage(await json(await visits(`?content_guid=${a.guid}&limit=4`)), 'content/visits', VISIT_KEYS);
      assert.deepEqual(paths(p1), ['/', '/index.html', '/', '/p1.html']);
      assert.equal(p1.paging.previous, null);
      assert.ok(p1.paging.next.includes(`content_guid=${a.guid}`), p1.paging.next);
      const p2 = await follow(p1.paging.next);
      assert.deepEqual(paths(p2), ['/p2.html', '/p3.html', '/p4.html', '/p5.html']);
      const p3 = await follow(p2.paging.next);
      assert.deepEqual(paths(p3), ['/p6.html', '/p7.html']);
      assert.equal(p3.paging.next, null);
      assert.equal(p3.paging.cursors.next, null);
      assert.deepEqual(paths(await follow(p3.paging.previous)), paths(p2));
      assert.deepEqual(paths(await follow(p3.paging.first)), paths(p1));
      assert.deepEqual(paths(await follow(p1.paging.last)), ['/p4.html', '/p5.html', '/p6.html', '/p7.html']);
      // The cursor as a query parameter, as posit-sdk passes it back.
      assert.deepEqual(paths(await json(await visits(`?content_guid=${a.guid}&limit=4&next=${p1.paging.cursors.next}`))), paths(p2));

      const d1 = await json(await visits(`?content_guid=${a.guid}&limit=4&asc_order=false`));
      assert.deepEqual(paths(d1), ['/p7.html', '/p6.html', '/p5.html', '/p4.html']);
      assert.deepEqual(paths(await follow(d1.paging.next)), ['/p3.html', '/p2.html', '/p1.html', '/']);
    });

    test('bad parameters are Connect 400s', async () => {
      for (const bad of [
        'limit=0',
        'limit=501',
        'next=abc',
        'previous=-1',
        'next=1&previous=2',
        'asc_order=sideways',
        'from=yesterday',
        'to=2025-13-45T00:00:00Z',
        'content_guid=nope',
        'min_data_version=-1',
      ]) {
        assert.equal((await json(await visits(`?${bad}`), 400)).code, 25, bad);
      }
      assert.equal((await json(await t.api('/__api__/v1/instrumentation/content/hits?from=soon'), 400)).code, 25);
    });

    test('Shiny sessions: started, ended, paged', async () => {
      const content = (await t.app.content.find(c.guid))!;
      const app = { ...content, app_mode: 'python-shiny' };
      const admin = { guid: adminGuid };
      const ended = [];
      for (let i = 0; i < 5; i++) ended.push(t.app.usage.shinySession(app, i === 4 ? null : admin)!);
      // Not Shiny: nothing is recorded for another app's websocket.
      assert.equal(t.app.usage.shinySession({ ...content, app_mode: 'python-streamlit' }, admin), undefined);
      for (const s of ended.slice(0, 3)) s.end();
      await t.app.usage.flush();
      ended[3]!.end();
      ended[3]!.end();
      await t.app.usage.flush();

      const route = '/__api__/v1/instrumentation/shiny/usage';
      const all = checkPage(await json(await t.api(route)), 'shiny/usage', SHINY_KEYS);
      assert.equal(all.results.length, 5);
      for (const r of all.results.slice(0, 4)) {
        assert.equal(r.content_guid, c.guid);
        assert.equal(r.user_guid, adminGuid);
        assert.match(r.ended, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.ok(r.ended >= r.started);
        assert.equal(r.data_version, 1);
      }
      assert.equal(all.results[4].ended, null, 'a session still open has no end');
      assert.equal(all.results[4].user_guid, null);
      const first = checkPage(await json(await t.api(`${route}?limit=2`)), 'shiny/usage', SHINY_KEYS);
      assert.equal(first.results.length, 2);
      const second = await follow(first.paging.next, 'shiny/usage', SHINY_KEYS);
      assert.equal(second.results.length, 2);
      assert.equal((await follow(second.paging.next, 'shiny/usage', SHINY_KEYS)).results.length, 1);
      assert.equal((await json(await t.api(`${route}?content_guid=${a.guid}`))).results.length, 0);
      assert.equal((await json(await t.api(route, { key: publisher.key }))).results.length, 5, 'the publisher collaborates on c');
      ended[4]!.end();
      await t.app.usage.flush();
    });

    test('old records are pruned after the retention', async () => {
      const before = (await json(await t.api('/__api__/v1/instrumentation/content/hits'))).length;
      assert.equal(await t.app.usage.prune(), 0, 'nothing is a year old yet');
      const aYearOn = Date.now() + 8761 * 3_600_000;
      assert.equal(await t.app.usage.prune(aYearOn), before + 5);
      assert.deepEqual(await json(await t.api('/__api__/v1/instrumentation/content/hits')), []);
      assert.equal((await json(await t.api('/__api__/v1/instrumentation/shiny/usage'))).results.length, 0);
    });
  });

  describe(`usage records survive a shutdown and every replica counts its own (${provider})`, () => {
    test('what is in memory at shutdown is written; two replicas on one database each record what they served, once', async () => {
      const databaseUrl = provider === 'postgres' ? await postgresDatabaseUrl() : undefined;
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-usage-'));
      const shared = { dataDir, databaseUrl };
      const first = await startLectern(provider, {}, shared);
      const { guid } = await publishStatic(first, 'usage-shutdown');
      await json(await first.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { access_type: 'all' } }));
      await visit(first, guid, '', null);
      first.app.usage.shinySession({ ...(await first.app.content.find(guid))!, app_mode: 'shiny' }, null);
      // Stopped before the background flush could run: close() writes what is still in memory,
      // and a session still open ends with the server.
      await first.stop();

      const a = await startLectern(provider, {}, shared);
      const replicas = [a];
      try {
        if (provider === 'postgres') replicas.push(await startLectern(provider, {}, shared));
        for (const r of replicas) for (let i = 0; i < 3; i++) await visit(r, guid, `p${i + 1}.html`, null);
        for (const r of replicas) await r.app.usage.flush();
        const hits = await json(await a.api(`/__api__/v1/instrumentation/content/hits?content_guid=${guid}`));
        assert.equal(hits.length, 1 + 3 * replicas.length);
        assert.equal(new Set(hits.map((h: any) => h.id)).size, hits.length);
        const sessions = await json(await a.api(`/__api__/v1/instrumentation/shiny/usage?content_guid=${guid}`));
        assert.equal(sessions.results.length, 1);
        assert.notEqual(sessions.results[0].ended, null);
      } finally {
        for (const r of replicas) await r.stop();
      }
    });
  });

  describe(`[Metrics] Instrumentation = false (${provider})`, () => {
    test('records nothing, and the endpoints still answer', async () => {
      const t = await startLectern(provider, { 'Metrics.Instrumentation': 'false' });
      try {
        const { guid } = await publishStatic(t, 'usage-off');
        await visit(t, guid, '', t.adminKey);
        await t.app.usage.flush();
        assert.deepEqual(await json(await t.api('/__api__/v1/instrumentation/content/hits')), []);
        assert.deepEqual((await json(await t.api('/__api__/v1/instrumentation/content/visits'))).results, []);
      } finally {
        await t.stop();
      }
    });
  });
}
