import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import { noContent, requireUser } from '../auth/principal.js';
import type { Content } from '../db/schema.js';
import { badRequest, conflict, ErrorCode, forbidden, LecternError, notFound } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { serveContent, withRawBodies } from '../serve/content-routes.js';
import { resolveContentTarget } from '../serve/content-target.js';
import { apiTime, nowIso } from '../util/ids.js';

/** Path prefixes Lectern itself answers; a vanity must not shadow them. */
const RESERVED_PREFIXES = ['/__', '/content/', '/connect/'];

const prohibited = (message: string) => new LecternError('invalid', ErrorCode.ProhibitedVanityPath, message);

/** Normalizes to "/a/b/": lower case, single slashes, leading and trailing slash. */
export function normalizeVanityPath(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw badRequest('The "path" field is required.', ErrorCode.ParameterMissing);
  const segments = raw.trim().toLowerCase().split('/').filter((s) => s !== '');
  const path = `/${segments.join('/')}/`;
  if (segments.length === 0) throw prohibited('The vanity path cannot be the server root.');
  for (const s of segments) {
    if (!/^[a-z0-9_-]+$/.test(s)) throw prohibited(`Invalid vanity path "${raw}": use letters, digits, "-", "_" and "/" only.`);
  }
  const reserved = RESERVED_PREFIXES.find((p) => path.startsWith(p));
  if (reserved) throw prohibited(`The vanity path "${path}" is reserved: paths starting with ${reserved} belong to the server.`);
  return path;
}

function vanityJson(guid: string, v: { path: string; created_time: string }) {
  return { content_guid: guid, path: v.path, created_time: apiTime(v.created_time) };
}

/** Vanities whose path equals, contains or lies under `path` (other than the content's own). */
async function conflicting(app: App, path: string, content: Content) {
  // Ancestors of `path` ("/a/" for "/a/b/"), the path itself, and anything below it.
  const segments = path.split('/').filter(Boolean);
  const ancestors = segments.map((_, i) => `/${segments.slice(0, i + 1).join('/')}/`);
  const rows = await app.store.db
    .selectFrom('vanities')
    .innerJoin('content', 'content.id', 'vanities.content_id')
    .select(['vanities.content_id', 'vanities.path', 'content.guid'])
    .where('vanities.content_id', '!=', content.id)
    .where((eb) => eb.or([eb('vanities.path', 'in', ancestors), eb('vanities.path', 'like', `${path}%`)]))
    .execute();
  // "_" is a LIKE wildcard and SQLite's LIKE ignores case: confirm the prefix match in code.
  return rows.filter((r) => ancestors.includes(r.path) || r.path.startsWith(path));
}

/**
 * Vanity URLs. Connect lets only administrators set them by default; Lectern lets anyone who can
 * edit the content set one, and only administrators may `force` a path away from other content.
 */
export const vanityRoutes: RoutePlugin = (server, app) => {
  const db = app.store.db;

  server.get('/__api__/v1/vanities', async (request) => {
    const user = requireUser(request);
    const rows = await db
      .selectFrom('vanities')
      .innerJoin('content', 'content.id', 'vanities.content_id')
      .select(['content.guid', 'vanities.path', 'vanities.created_time', 'vanities.content_id'])
      .orderBy('vanities.path')
      .execute();
    if (user.user_role === 'administrator') return rows.map((r) => vanityJson(r.guid, r));
    const visible = new Set((await app.content.list(user, {})).map((c) => c.id));
    return rows.filter((r) => visible.has(r.content_id)).map((r) => vanityJson(r.guid, r));
  });

  server.get('/__api__/v1/content/:guid/vanity', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible((request.params as { guid: string }).guid, user);
    const row = await db.selectFrom('vanities').selectAll().where('content_id', '=', content.id).executeTakeFirst();
    if (!row) throw notFound(`Content ${content.guid} has no vanity URL.`);
    return vanityJson(content.guid, row);
  });

  server.put('/__api__/v1/content/:guid/vanity', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    const body = request.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object {"path": ...}.', ErrorCode.CannotParseRequestBody);
    const { path: rawPath, force } = body as { path?: unknown; force?: unknown };
    const path = normalizeVanityPath(rawPath);
    const clashes = await conflicting(app, path, content);
    if (clashes.length > 0) {
      const clash = clashes[0]!;
      const what = clash.path === path ? `is in use by content ${clash.guid}` : `overlaps the vanity path ${clash.path} of content ${clash.guid}`;
      if (force !== true) throw conflict(`The vanity path ${path} ${what}.`, ErrorCode.VanityPathInUse);
      if (user.user_role !== 'administrator') throw forbidden('Only administrators can force a vanity path away from other content.');
    }
    const now = nowIso();
    const row = await db.transaction().execute(async (trx) => {
      for (const c of clashes) await trx.deleteFrom('vanities').where('content_id', '=', c.content_id).execute();
      await trx.deleteFrom('vanities').where('content_id', '=', content.id).execute();
      return trx.insertInto('vanities').values({ content_id: content.id, path, created_time: now }).returningAll().executeTakeFirstOrThrow();
    });
    await app.audit.record(user, 'set_vanity_url', `Set vanity path of ${content.guid} to ${path}${clashes.length ? ` (taken from ${clashes.map((c) => c.guid).join(', ')})` : ''}`);
    return vanityJson(content.guid, row);
  });

  server.delete('/__api__/v1/content/:guid/vanity', async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    const result = await db.deleteFrom('vanities').where('content_id', '=', content.id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound(`Content ${content.guid} has no vanity URL.`);
    await app.audit.record(user, 'remove_vanity_url', `Removed the vanity path of ${content.guid}`);
    return noContent(reply);
  });
};

/**
 * Serves content at its vanity path. Registered as the lowest-priority wildcard: the router tries
 * every static and parametric route first, and paths that are no vanity fall through to the
 * server's plain-text 404.
 */
export const vanityServingRoutes: RoutePlugin = (server, app) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const target = await resolveContentTarget(app, request.url);
    if (!target) return reply.callNotFound();
    return serveContent(app, request, reply, target);
  };
  // Content answers every method (APIs take POST, PUT, …); bodies stream through unread.
  return withRawBodies(server, (scope) => scope.all('/*', handler));
};
