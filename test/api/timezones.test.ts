import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

for (const provider of PROVIDERS) {
  describe(`time zones (${provider})`, () => {
    let t: TestServer;
    let viewer: { key: string };
    before(async () => {
      t = await startLectern(provider);
      viewer = await t.addUser('tz-viewer', 'viewer');
    });
    after(() => t.stop());

    test('v1/timezones: [{timezone, offset}] for every IANA zone, to any signed-in user', async () => {
      const res = await t.api('/__api__/v1/timezones', { key: viewer.key });
      assert.equal(res.status, 200);
      const zones = (await res.json()) as Array<{ timezone: string; offset: string }>;
      const byName = new Map(zones.map((z) => [z.timezone, z.offset]));
      assert.equal(byName.get('UTC'), '+00:00');
      assert.equal(byName.get('Asia/Kolkata'), '+05:30');
      assert.match(byName.get('America/New_York') ?? '', /^-0[45]:00$/);
      assert.ok(zones.length > 300);
    });

    test('the unversioned /timezones connectapi falls back to answers the same', async () => {
      const v1 = await (await t.api('/__api__/v1/timezones')).json();
      const legacy = await t.api('/__api__/timezones');
      assert.equal(legacy.status, 200);
      assert.deepEqual(
        ((await legacy.json()) as Array<{ timezone: string }>).map((z) => z.timezone),
        (v1 as Array<{ timezone: string }>).map((z) => z.timezone),
      );
    });

    test("anonymous callers are refused with Connect's error", async () => {
      const res = await t.api('/__api__/v1/timezones', { key: null });
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { code: number }).code, 24);
    });
  });
}
