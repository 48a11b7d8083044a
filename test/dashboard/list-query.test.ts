import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContentItem } from '../../dashboard/src/api/types';
import { DEFAULT_QUERY, facets, formatQuery, inOrder, isFiltered, parseQuery, searchPath, searchTerms } from '../../dashboard/src/content/list-query';

function item(over: Partial<ContentItem> & { guid: string }): ContentItem {
  return {
    id: over.guid,
    name: over.guid,
    title: null,
    description: '',
    access_type: 'acl',
    app_mode: 'python-api',
    content_category: '',
    created_time: '2026-01-01T00:00:00Z',
    last_deployed_time: null,
    bundle_id: '1',
    owner_guid: 'u1',
    owner: { guid: 'u1', username: 'alice', first_name: '', last_name: '' },
    tags: [],
    content_url: '',
    dashboard_url: '',
    app_role: 'owner',
    connection_timeout: null,
    read_timeout: null,
    init_timeout: null,
    idle_timeout: null,
    max_processes: null,
    min_processes: null,
    max_conns_per_process: null,
    load_factor: null,
    r_version: null,
    py_version: null,
    quarto_version: null,
    memory_request: null,
    memory_limit: null,
    cpu_request: null,
    cpu_limit: null,
    nvidia_gpu_limit: null,
    amd_gpu_limit: null,
    service_account_name: null,
    default_image_name: null,
    image_name: null,
    ...over,
  };
}

const bob = { guid: 'u2', username: 'bob', first_name: '', last_name: '' };
const items = [
  item({
    guid: 'sales',
    title: 'Sales forecast',
    app_mode: 'python-streamlit',
    last_deployed_time: '2026-03-01T00:00:00Z',
    tags: [{ id: 't1', name: 'finance', parent_id: null, created_time: '2026-01-01T00:00:00Z', updated_time: '2026-01-01T00:00:00Z' }],
  }),
  item({ guid: 'api', title: 'Pricing API', app_mode: 'python-fastapi', last_deployed_time: '2026-05-01T00:00:00Z', owner_guid: 'u2', owner: bob }),
  item({ guid: 'report', title: 'weekly report', description: 'Numbers for the sales team', app_mode: 'quarto-static', last_deployed_time: '2026-04-01T00:00:00Z' }),
  item({ guid: 'draft', title: null, name: 'an-empty-one', app_mode: 'unknown', bundle_id: null, created_time: '2026-06-01T00:00:00Z' }),
];
const guids = (list: ContentItem[]) => list.map((i) => i.guid);
const asked = (path: string) => Object.fromEntries(new URL(path, 'http://x').searchParams);

test('the whole list is one search page of everything, in the chosen order, with owners, tags and states', () => {
  const path = searchPath({ ...DEFAULT_QUERY, search: 'ignored here' }, { filters: false });
  assert.ok(path.startsWith('/__api__/v1/search/content?'));
  assert.deepEqual(asked(path), { sort: 'last_deployed', order: 'desc', page_size: '500', include: 'owner,tags,state' });
  assert.deepEqual(asked(searchPath({ ...DEFAULT_QUERY, sort: 'title' }, { filters: false })), { sort: 'title', order: 'asc', page_size: '500', include: 'owner,tags,state' });
  assert.equal(asked(searchPath({ ...DEFAULT_QUERY, sort: 'created' }, { filters: false })).sort, 'created');
});

test('the filters become Connect search terms after the typed words', () => {
  assert.equal(searchTerms(DEFAULT_QUERY), '');
  assert.equal(searchTerms({ ...DEFAULT_QUERY, search: '  sales  ' }), 'sales');
  assert.equal(searchTerms({ ...DEFAULT_QUERY, search: 'sales', type: 'api', owner: 'alice', tag: 'finance' }), 'sales type:api owner:alice tag:finance');
  assert.equal(searchTerms({ ...DEFAULT_QUERY, type: 'unknown' }), 'is:unpublished');
  // Values with spaces or commas are quoted (a quote inside is dropped: the syntax has no escape).
  assert.equal(searchTerms({ ...DEFAULT_QUERY, tag: 'Q3 "final", reports' }), 'tag:"Q3 final, reports"');
  assert.equal(asked(searchPath({ ...DEFAULT_QUERY, search: 'sales', owner: 'bob' }, { filters: true })).q, 'sales owner:bob');
  assert.equal(isFiltered(DEFAULT_QUERY), false);
  assert.equal(isFiltered({ ...DEFAULT_QUERY, search: '   ' }), false);
  assert.equal(isFiltered({ ...DEFAULT_QUERY, tag: 'finance' }), true);
});

test("the owner sort regroups the server's title order by owner, keeping titles in order", () => {
  const byTitle = [items[1]!, items[0]!, items[2]!];
  assert.deepEqual(guids(inOrder(byTitle, 'owner')), ['sales', 'report', 'api']);
  assert.deepEqual(guids(inOrder(byTitle, 'title')), ['api', 'sales', 'report']);
});

test('the query round-trips through its stored form and ignores unknown sorts', () => {
  const q = { search: 'a b', type: 'app', owner: 'alice', tag: 'finance', sort: 'title' as const };
  assert.deepEqual(parseQuery(formatQuery(q)), q);
  assert.equal(formatQuery(DEFAULT_QUERY), '');
  assert.equal(parseQuery('sort=evil').sort, 'deployed');
});

test('facets list each owner and tag once, by name', () => {
  const f = facets(items);
  assert.deepEqual(f.owners, [
    { id: 'alice', name: 'alice' },
    { id: 'bob', name: 'bob' },
  ]);
  assert.deepEqual(f.tags, [{ id: 'finance', name: 'finance' }]);
});
