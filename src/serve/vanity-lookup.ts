import type { App } from '../app.js';
import { TableCache } from '../db/table-cache.js';

/**
 * Every vanity path and its content's GUID, read once and kept until a vanity or content row
 * changes (on any replica): each request to a path no other route claims is looked up here, so
 * the lookup, and the 404 for a path that is no vanity, costs no query.
 */
const tables = new WeakMap<App, TableCache<ReadonlyMap<string, string>>>();

function vanityTable(app: App): Promise<ReadonlyMap<string, string> | undefined> {
  let cache = tables.get(app);
  if (!cache) {
    cache = new TableCache(app.store.changes, ['vanities', 'content']);
    tables.set(app, cache);
  }
  return cache.get('all', async () => {
    const rows = await app.store.db.selectFrom('vanities').innerJoin('content', 'content.id', 'vanities.content_id').select(['vanities.path as path', 'content.guid as guid']).execute();
    return new Map(rows.map((r) => [r.path, r.guid]));
  });
}

/**
 * The content whose vanity path is the longest directory prefix of `pathWithoutSlash` (a request
 * path without its leading "/"), with the vanity path as stored ("/sales/q3/").
 */
export async function findVanity(app: App, pathWithoutSlash: string): Promise<{ guid: string; path: string } | undefined> {
  const segments = pathWithoutSlash.toLowerCase().split('/');
  // Candidates: every directory prefix of the path, and the path itself as a directory.
  const candidates = segments.map((_, i) => `/${segments.slice(0, i + 1).join('/')}/`.replace(/\/\/$/, '/')).filter((p) => p !== '/' && !p.startsWith('/__'));
  if (candidates.length === 0) return undefined;
  const vanities = await vanityTable(app);
  // The longest match wins, as ORDER BY path DESC did.
  const path = candidates
    .filter((c) => vanities?.has(c))
    .sort()
    .pop();
  return path === undefined ? undefined : { guid: vanities!.get(path)!, path };
}
