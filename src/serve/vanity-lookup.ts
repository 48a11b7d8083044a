import type { App } from '../app.js';

/**
 * The content whose vanity path is the longest directory prefix of `pathWithoutSlash` (a request
 * path without its leading "/"), with the vanity path as stored ("/sales/q3/").
 */
export async function findVanity(app: App, pathWithoutSlash: string): Promise<{ guid: string; path: string } | undefined> {
  const segments = pathWithoutSlash.toLowerCase().split('/');
  // Candidates: every directory prefix of the path, and the path itself as a directory.
  const candidates = segments.map((_, i) => `/${segments.slice(0, i + 1).join('/')}/`.replace(/\/\/$/, '/')).filter((p) => p !== '/' && !p.startsWith('/__'));
  if (candidates.length === 0) return undefined;
  return app.store.db
    .selectFrom('vanities')
    .innerJoin('content', 'content.id', 'vanities.content_id')
    .select(['vanities.path as path', 'content.guid as guid'])
    .where('vanities.path', 'in', candidates)
    .orderBy('vanities.path', 'desc')
    .executeTakeFirst();
}
