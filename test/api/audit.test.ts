import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

async function json(res: Response, status = 200) {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

const RESULT_KEYS = ['action', 'event_description', 'id', 'time', 'user_description', 'user_guid', 'user_id'];

/** Asserts the exact Connect cursor-page shape and returns it. */
function checkShape(body: any) {
  assert.deepEqual(Object.keys(body).sort(), ['paging', 'results']);
  assert.deepEqual(Object.keys(body.paging).sort(), ['cursors', 'first', 'last', 'next', 'previous']);
  assert.deepEqual(Object.keys(body.paging.cursors).sort(), ['next', 'previous']);
  for (const k of ['first', 'last', 'next', 'previous']) {
    const v = body.paging[k];
    assert.ok(v === null || /^http:\/\/127\.0\.0\.1:\d+\/__api__\/v1\/audit_logs\?/.test(v), `${k}: ${v}`);
  }
  for (const c of ['next', 'previous']) assert.ok(body.paging.cursors[c] === null || typeof body.paging.cursors[c] === 'string');
  for (const r of body.results) assert.deepEqual(Object.keys(r).sort(), RESULT_KEYS);
  return body;
}

for (const provider of PROVIDERS) {
  describe(`audit logs (${provider})`, () => {
    let t: TestServer;
    let viewer: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      viewer = await t.addUser('audit-viewer', 'viewer');
    });
    after(() => t.stop());

    const events = (body: any) => body.results.map((r: any) => r.event_description);

    test('admin only; invalid keys and bad parameters', async () => {
      const denied = await json(await t.api('/__api__/v1/audit_logs', { key: viewer.key }), 403);
      assert.equal(denied.code, 22);
      assert.equal((await json(await t.api('/__api__/v1/audit_logs', { key: 'bogus' }), 401)).code, 30);
      assert.equal((await json(await t.api('/__api__/v1/audit_logs', { key: null }), 401)).code, 24);
      for (const bad of ['limit=0', 'limit=501', 'limit=ten', 'next=abc', 'previous=-1', 'ascOrder=sideways', 'next=1&previous=2']) {
        assert.equal((await json(await t.api(`/__api__/v1/audit_logs?${bad}`), 400)).code, 25, bad);
      }
    });

    // The paging tests read one fixed history: a server of their own, its seven entries recorded
    // before them, so they depend neither on each other nor on what the other tests record.
    describe('seven recorded entries', () => {
      let t: TestServer;
      const descriptions = [1, 2, 3, 4, 5, 6, 7].map((i) => `event ${i}`);
      /** GET an absolute URL the server handed out, with the admin key. */
      const follow = async (url: string) => checkShape(await json(await fetch(url, { headers: { authorization: `Key ${t.adminKey}` } })));
      before(async () => {
        t = await startLectern(provider);
        const start = checkShape(await json(await t.api('/__api__/v1/audit_logs?limit=500')));
        assert.equal(start.results.length, 0, 'a fresh server has no audit entries');
        assert.deepEqual(start.paging.cursors, { previous: null, next: null });
        assert.equal(start.paging.next, null);
        assert.equal(start.paging.previous, null);
        assert.ok(start.paging.first);
        const admin = (await t.app.users.findByUsername('admin'))!;
        for (const [i, description] of descriptions.entries()) {
          await t.app.audit.record(i === 6 ? null : admin, i % 2 ? 'even_action' : 'odd_action', description);
        }
      });
      after(() => t.stop());

      test('records and fields', async () => {
        const admin = (await t.app.users.findByUsername('admin'))!;
        const all = checkShape(await json(await t.api('/__api__/v1/audit_logs')));
        assert.deepEqual(events(all), descriptions);
        const first = all.results[0];
        assert.equal(typeof first.id, 'string');
        assert.match(first.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.equal(first.user_id, String(admin.id));
        assert.equal(first.user_guid, admin.guid);
        assert.equal(first.user_description, 'admin');
        assert.equal(first.action, 'odd_action');
        const system = all.results[6];
        assert.equal(system.user_id, null);
        assert.equal(system.user_guid, null);
        assert.equal(system.user_description, 'system');
        assert.equal(all.paging.next, null);
        assert.equal(all.paging.previous, null);
      });

      test('ascending paging through next, previous, first and last URLs', async () => {
        const p1 = checkShape(await json(await t.api('/__api__/v1/audit_logs?limit=3')));
        assert.deepEqual(events(p1), ['event 1', 'event 2', 'event 3']);
        assert.equal(p1.paging.previous, null);
        assert.equal(p1.paging.cursors.previous, null);
        assert.equal(p1.paging.cursors.next, p1.results[2].id);

        const p2 = await follow(p1.paging.next);
        assert.deepEqual(events(p2), ['event 4', 'event 5', 'event 6']);
        assert.ok(p2.paging.previous && p2.paging.next);
        const p3 = await follow(p2.paging.next);
        assert.deepEqual(events(p3), ['event 7']);
        assert.equal(p3.paging.next, null);
        assert.equal(p3.paging.cursors.next, null);

        const back2 = await follow(p3.paging.previous);
        assert.deepEqual(events(back2), ['event 4', 'event 5', 'event 6']);
        const back1 = await follow(back2.paging.previous);
        assert.deepEqual(events(back1), ['event 1', 'event 2', 'event 3']);
        assert.equal(back1.paging.previous, null);

        assert.deepEqual(events(await follow(p3.paging.first)), ['event 1', 'event 2', 'event 3']);
        const last = await follow(p1.paging.last);
        assert.deepEqual(events(last), ['event 5', 'event 6', 'event 7']);
        assert.equal(last.paging.next, null);
        assert.deepEqual(events(await follow(last.paging.previous)), ['event 2', 'event 3', 'event 4']);

        // Cursors are accepted as query parameters too, the way posit-sdk passes them back.
        const viaCursor = checkShape(await json(await t.api(`/__api__/v1/audit_logs?limit=3&next=${p1.paging.cursors.next}`)));
        assert.deepEqual(events(viaCursor), ['event 4', 'event 5', 'event 6']);
      });

      test('descending paging (ascOrder=false)', async () => {
        const p1 = checkShape(await json(await t.api('/__api__/v1/audit_logs?limit=3&ascOrder=false')));
        assert.deepEqual(events(p1), ['event 7', 'event 6', 'event 5']);
        assert.equal(p1.paging.previous, null);
        const p2 = await follow(p1.paging.next);
        assert.deepEqual(events(p2), ['event 4', 'event 3', 'event 2']);
        const p3 = await follow(p2.paging.next);
        assert.deepEqual(events(p3), ['event 1']);
        assert.equal(p3.paging.next, null);
        assert.deepEqual(events(await follow(p3.paging.previous)), ['event 4', 'event 3', 'event 2']);
        assert.deepEqual(events(await follow(p3.paging.last)), ['event 3', 'event 2', 'event 1']);
        assert.deepEqual(events(await follow(p3.paging.first)), ['event 7', 'event 6', 'event 5']);
      });

      test('collecting every page by following next yields each entry once', async () => {
        const seen: string[] = [];
        let url: string | null = `${t.url}/__api__/v1/audit_logs?limit=2`;
        for (let i = 0; url && i < 20; i++) {
          const page = await follow(url);
          seen.push(...events(page));
          url = page.paging.next;
        }
        assert.deepEqual(seen, descriptions);
      });
    });

    test('API state changes appear in the log', async () => {
      const res = await t.api('/__api__/v1/users', { method: 'POST', json: { username: 'audited-user' } });
      assert.equal(res.status, 200);
      const newest = checkShape(await json(await t.api('/__api__/v1/audit_logs?limit=1&ascOrder=false')));
      assert.equal(newest.results[0].action, 'add_user');
      assert.match(newest.results[0].event_description, /audited-user/);
      assert.equal(newest.results[0].user_description, 'admin');
    });
  });
}
