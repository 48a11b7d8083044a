import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContentItem } from '../../dashboard/src/api/types';
import { applyQuery, DEFAULT_QUERY, facets, formatQuery, parseQuery } from '../../dashboard/src/content/list-query';

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

test('the default order is last deployed, newest first, never-deployed last', () => {
  assert.deepEqual(guids(applyQuery([...items], DEFAULT_QUERY)), ['api', 'report', 'sales', 'draft']);
});

test('search matches every word anywhere: title, name, description, owner, tag; case-insensitive', () => {
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, search: 'SALES' })), ['report', 'sales']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, search: 'sales finance' })), ['sales']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, search: 'bob' })), ['api']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, search: 'empty-one' })), ['draft']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, search: 'nothing-like-this' })), []);
});

test('filters by type group, owner and tag combine', () => {
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, type: 'api' })), ['api']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, type: 'document' })), ['report']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, type: 'unknown' })), ['draft']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, owner: 'u1' })), ['report', 'sales', 'draft']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, owner: 'u1', tag: 't1' })), ['sales']);
});

test('sorts by title (untitled items by name) and by owner', () => {
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, sort: 'title' })), ['draft', 'api', 'sales', 'report']);
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, sort: 'owner' }))[3], 'api');
  assert.deepEqual(guids(applyQuery([...items], { ...DEFAULT_QUERY, sort: 'created' }))[0], 'draft');
});

test('the query round-trips through its stored form and ignores unknown sorts', () => {
  const q = { search: 'a b', type: 'app', owner: 'u1', tag: 't1', sort: 'title' as const };
  assert.deepEqual(parseQuery(formatQuery(q)), q);
  assert.equal(formatQuery(DEFAULT_QUERY), '');
  assert.equal(parseQuery('sort=evil').sort, 'deployed');
});

test('facets list each owner and tag once, by name', () => {
  const f = facets(items);
  assert.deepEqual(f.owners, [
    { id: 'u1', name: 'alice' },
    { id: 'u2', name: 'bob' },
  ]);
  assert.deepEqual(f.tags, [{ id: 't1', name: 'finance' }]);
});
