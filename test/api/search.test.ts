import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseSearchQuery } from '../../src/content/search.js';
import { makeTarGz } from '../support/tarball.js';
import { PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';

// GET v1/search/content as connectapi's search_content() sends it (q, page_number, page_size,
// include) and as the dashboard's content list does.

after(stopPostgres);

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${res.status} ${await res.clone().text()}`);
  return res.json() as Promise<any>;
}

test('a query is words and key:value terms; quotes keep spaces, commas list alternatives, - excludes', () => {
  assert.deepEqual(parseSearchQuery('  sales   owner:@me  tag:"Q3 reports" -type:shiny,quarto "exact phrase" '), [
    { key: null, values: ['sales'], negated: false },
    { key: 'owner', values: ['@me'], negated: false },
    { key: 'tag', values: ['Q3 reports'], negated: false },
    { key: 'type', values: ['shiny', 'quarto'], negated: true },
    { key: null, values: ['exact phrase'], negated: false },
  ]);
  assert.deepEqual(parseSearchQuery('Published:true LOCKED:false'), [
    { key: 'published', values: ['true'], negated: false },
    { key: 'locked', values: ['false'], negated: false },
  ]);
  assert.throws(() => parseSearchQuery('color:red'), /Unknown search term "color:"/);
  assert.throws(() => parseSearchQuery('owner:'), /needs a value/);
});

for (const provider of PROVIDERS) {
  describe(`content search (${provider})`, () => {
    let t: TestServer;
    let alice: { key: string; guid: string; id: number };
    let bob: { key: string; guid: string; id: number };
    let viewer: { key: string; guid: string; id: number };
    const guids: Record<string, string> = {};

    const search = async (query: Record<string, string>, key?: string) => {
      const res = await t.api(`/__api__/v1/search/content?${new URLSearchParams(query)}`, { key });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    };
    const names = (page: { results: Array<{ name: string }> }) => page.results.map((c) => c.name).sort();

    before(async () => {
      t = await startLectern(provider);
      alice = await t.addUser('search-alice', 'publisher');
      bob = await t.addUser('search-bob', 'publisher');
      viewer = await t.addUser('search-viewer', 'viewer');
      const create = async (key: string, body: Record<string, unknown>) => {
        const res = await t.api('/__api__/v1/content', { method: 'POST', json: body, key });
        assert.equal(res.status, 200, await res.clone().text());
        const item = await json(res);
        guids[item.name] = item.guid;
        return item;
      };
      await create(alice.key, { name: 'sales-forecast', title: 'Sales Forecast', description: 'Next quarter, by region', access_type: 'logged_in' });
      await create(alice.key, { name: 'pricing-api', title: 'Pricing API', description: 'Prices 100% of products' });
      await create(bob.key, { name: 'weekly_report', title: 'Weekly report', description: 'Numbers for the sales team', access_type: 'acl' });
      const site = await create(bob.key, { name: 'team-site', title: 'Team site', access_type: 'all' });
      // A published static site: uploaded and deployed as a client does.
      const bundle = makeTarGz([
        { name: 'manifest.json', content: STATIC_MANIFEST },
        { name: 'index.html', content: '<h1>Team</h1>' },
      ]);
      const uploaded = await json(await t.api(`/__api__/v1/content/${site.guid}/bundles`, { method: 'POST', body: bundle, key: bob.key }));
      const deploy = await json(await t.api(`/__api__/v1/content/${site.guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id }, key: bob.key }));
      assert.equal((await waitForTask(t, deploy.task_id, bob.key)).code, 0);
      // Tags: Topics > Finance; the forecast is tagged Finance, the report Topics.
      const topics = await json(await t.api('/__api__/v1/tags', { method: 'POST', json: { name: 'Topics' } }));
      const finance = await json(await t.api('/__api__/v1/tags', { method: 'POST', json: { name: 'Finance', parent_id: topics.id } }));
      await t.api(`/__api__/v1/content/${guids['sales-forecast']}/tags`, { method: 'POST', json: { tag_id: finance.id } });
      await t.api(`/__api__/v1/content/${guids.weekly_report}/tags`, { method: 'POST', json: { tag_id: topics.id } });
      await t.api(`/__api__/v1/content/${guids['pricing-api']}`, { method: 'PATCH', json: { locked: true }, key: alice.key });
    });
    after(() => t.stop());

    test('an empty query lists what the caller may see, as one Connect offset page', async () => {
      const page = await search({ page_number: '1', page_size: '500', include: 'owner,vanity_url' });
      assert.deepEqual(Object.keys(page).sort(), ['current_page', 'results', 'total']);
      assert.equal(page.current_page, 1);
      assert.equal(page.total, 4);
      assert.deepEqual(names(page), ['pricing-api', 'sales-forecast', 'team-site', 'weekly_report']);
      const forecast = page.results.find((c: { name: string }) => c.name === 'sales-forecast');
      assert.equal(forecast.owner.username, 'search-alice');
      assert.equal('vanity_url' in forecast, false, 'vanity_url only for an item that has one, as v1/content includes it');
      assert.equal(forecast.tags, undefined, 'tags only when asked for');
      // Alice sees her own items and bob's open ones, not his acl report.
      assert.deepEqual(names(await search({}, alice.key)), ['pricing-api', 'sales-forecast', 'team-site']);
      // A viewer sees the logged_in and all items.
      assert.deepEqual(names(await search({}, viewer.key)), ['sales-forecast', 'team-site']);
    });

    test('free words match name, title or description, all of them, in any case; LIKE characters are literal', async () => {
      assert.deepEqual(names(await search({ q: 'SALES' })), ['sales-forecast', 'weekly_report']);
      assert.deepEqual(names(await search({ q: 'sales region' })), ['sales-forecast']);
      assert.deepEqual(names(await search({ q: '"sales team"' })), ['weekly_report']);
      assert.deepEqual(names(await search({ q: '100%' })), ['pricing-api']);
      assert.deepEqual(names(await search({ q: 'weekly_' })), ['weekly_report']);
      assert.deepEqual(names(await search({ q: 'y_r' })), ['weekly_report']);
      assert.deepEqual(names(await search({ q: 'nothing-like-this' })), []);
      assert.deepEqual(names(await search({ q: 'sales -forecast' })), ['weekly_report']);
    });

    test('owner:, tag: (with descendants), type:, published:, locked: and is: narrow; different terms all apply', async () => {
      assert.deepEqual(names(await search({ q: 'owner:search-bob' })), ['team-site', 'weekly_report']);
      assert.deepEqual(names(await search({ q: 'owner:@me' }, alice.key)), ['pricing-api', 'sales-forecast']);
      assert.deepEqual(names(await search({ q: 'owner:search-alice,search-bob sales' })), ['sales-forecast', 'weekly_report']);
      assert.deepEqual(names(await search({ q: 'owner:nobody' })), []);
      assert.deepEqual(names(await search({ q: 'tag:finance' })), ['sales-forecast']);
      assert.deepEqual(names(await search({ q: 'tag:Topics' })), ['sales-forecast', 'weekly_report']);
      assert.deepEqual(names(await search({ q: 'tag:topics -tag:finance' })), ['weekly_report']);
      assert.deepEqual(names(await search({ q: 'type:static' })), ['team-site']);
      assert.deepEqual(names(await search({ q: 'type:site' })), ['team-site']);
      assert.deepEqual(names(await search({ q: 'type:unknown' })), ['pricing-api', 'sales-forecast', 'weekly_report']);
      assert.deepEqual(names(await search({ q: 'published:true' })), ['team-site']);
      assert.deepEqual(names(await search({ q: 'published:false owner:search-bob' })), ['weekly_report']);
      assert.deepEqual(names(await search({ q: 'locked:true' })), ['pricing-api']);
      assert.deepEqual(names(await search({ q: 'is:locked,published' })), ['pricing-api', 'team-site']);
      // connectapi's own example query.
      assert.deepEqual(names(await search({ q: 'published:true locked:false team' })), ['team-site']);
    });

    test('sort and order, and paging with the total over all pages', async () => {
      const order = async (query: Record<string, string>) => (await search(query)).results.map((c: { name: string }) => c.name);
      assert.deepEqual(await order({ sort: 'name', order: 'asc' }), ['pricing-api', 'sales-forecast', 'team-site', 'weekly_report']);
      assert.deepEqual(await order({ sort: 'title', order: 'desc' }), ['weekly_report', 'team-site', 'sales-forecast', 'pricing-api']);
      // Newest first by default; the one deployed item leads by last_deployed, the never-deployed follow in either direction.
      assert.deepEqual(await order({}), ['team-site', 'weekly_report', 'pricing-api', 'sales-forecast']);
      assert.equal((await order({ sort: 'last_deployed', order: 'asc' }))[0], 'team-site');
      assert.equal((await order({ sort: 'last_deployed', order: 'desc' }))[0], 'team-site');
      const pages = [];
      for (let n = 1; n <= 3; n++) pages.push(await search({ sort: 'name', order: 'asc', page_size: '3', page_number: String(n) }));
      assert.deepEqual(
        pages.map((p) => [p.current_page, p.total, p.results.length]),
        [
          [1, 4, 3],
          [2, 4, 1],
          [3, 4, 0],
        ],
      );
      assert.deepEqual(
        [...pages[0].results, ...pages[1].results].map((c: { name: string }) => c.name),
        ['pricing-api', 'sales-forecast', 'team-site', 'weekly_report'],
      );
    });

    test('include= adds what exists; tags as the content item lists them', async () => {
      const page = await search({ q: 'tag:finance', include: 'tags,owner' });
      assert.deepEqual(
        page.results[0].tags.map((tag: { name: string }) => tag.name),
        ['Finance'],
      );
    });

    test("refusals are Connect's JSON errors naming the problem", async () => {
      const refused = async (query: Record<string, string>, pattern: RegExp) => {
        const res = await t.api(`/__api__/v1/search/content?${new URLSearchParams(query)}`);
        assert.equal(res.status, 400);
        const body = await json(res);
        assert.equal(body.code, 25);
        assert.match(body.error, pattern);
      };
      await refused({ q: 'type:spreadsheet' }, /type:spreadsheet is not a content type/);
      await refused({ q: 'published:maybe' }, /published:true or published:false/);
      await refused({ q: 'is:shiny' }, /is:shiny is not a search term/);
      await refused({ q: 'colour:red' }, /Unknown search term/);
      await refused({ page_size: '501' }, /page_size/);
      await refused({ sort: 'owner' }, /sort/);
      const res = await t.api('/__api__/v1/search/content?include=colours');
      assert.equal(res.status, 400);
      assert.equal((await json(res)).code, 161);
      assert.equal((await t.api('/__api__/v1/search/content', { key: null })).status, 401);
    });
  });
}
