import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Content, Database, User } from '../db/schema.js';
import { badRequest, conflict, ErrorCode, forbidden, LecternError, notFound } from '../errors.js';
import { nowIso } from '../util/ids.js';
import type { ContentService } from './content.js';

/** Path prefixes Lectern itself answers; a vanity must not shadow them. */
const RESERVED_PREFIXES = ['/__', '/content/', '/connect/'];

const prohibited = (message: string) => new LecternError('invalid', ErrorCode.ProhibitedVanityPath, message);

/** Normalizes to "/a/b/": lower case, single slashes, leading and trailing slash. */
export function normalizeVanityPath(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw badRequest('The "path" field is required.', ErrorCode.ParameterMissing);
  const segments = raw
    .trim()
    .toLowerCase()
    .split('/')
    .filter((s) => s !== '');
  const path = `/${segments.join('/')}/`;
  if (segments.length === 0) throw prohibited('The vanity path cannot be the server root.');
  for (const s of segments) {
    if (!/^[a-z0-9_-]+$/.test(s)) throw prohibited(`Invalid vanity path "${raw}": use letters, digits, "-", "_" and "/" only.`);
  }
  const reserved = RESERVED_PREFIXES.find((p) => path.startsWith(p));
  if (reserved) throw prohibited(`The vanity path "${path}" is reserved: paths starting with ${reserved} belong to the server.`);
  return path;
}

export interface Vanity {
  content_guid: string;
  path: string;
  created_time: string;
}

/**
 * Vanity URLs: at most one path per content item, and no path inside another's. Connect lets
 * only administrators set them by default; Lectern lets anyone who can change the content set
 * one, and only administrators may `force` a path away from other content. Every change is
 * recorded in the audit log.
 */
export class Vanities {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly content: ContentService,
    private readonly audit: AuditLog,
  ) {}

  /** Every vanity of content `user` sees in listings, by path. */
  async visibleTo(user: User): Promise<Vanity[]> {
    const rows = await this.db
      .selectFrom('vanities')
      .innerJoin('content', 'content.id', 'vanities.content_id')
      .select(['content.guid as content_guid', 'vanities.path', 'vanities.created_time', 'vanities.content_id'])
      .orderBy('vanities.path')
      .execute();
    if (user.user_role === 'administrator') return rows.map(vanityOf);
    const visible = new Set((await this.content.list(user, {})).map((c) => c.id));
    return rows.filter((r) => visible.has(r.content_id)).map(vanityOf);
  }

  async of(content: Content): Promise<Vanity> {
    const row = await this.db.selectFrom('vanities').selectAll().where('content_id', '=', content.id).executeTakeFirst();
    if (!row) throw notFound(`Content ${content.guid} has no vanity URL.`);
    return { content_guid: content.guid, path: row.path, created_time: row.created_time };
  }

  /** `path` normalized (normalizeVanityPath); with `force` an administrator takes it from the content holding it. */
  async set(actor: User, content: Content, path: string, force: boolean): Promise<Vanity> {
    const clashes = await this.conflicting(path, content);
    if (clashes.length > 0) {
      const clash = clashes[0]!;
      const what = clash.path === path ? `is in use by content ${clash.guid}` : `overlaps the vanity path ${clash.path} of content ${clash.guid}`;
      if (!force) throw conflict(`The vanity path ${path} ${what}.`, ErrorCode.VanityPathInUse);
      if (actor.user_role !== 'administrator') throw forbidden('Only administrators can force a vanity path away from other content.');
    }
    const row = await this.db.transaction().execute(async (trx) => {
      for (const c of clashes) await trx.deleteFrom('vanities').where('content_id', '=', c.content_id).execute();
      await trx.deleteFrom('vanities').where('content_id', '=', content.id).execute();
      return trx.insertInto('vanities').values({ content_id: content.id, path, created_time: nowIso() }).returningAll().executeTakeFirstOrThrow();
    });
    await this.audit.record(actor, 'set_vanity_url', `Set vanity path of ${content.guid} to ${path}${clashes.length ? ` (taken from ${clashes.map((c) => c.guid).join(', ')})` : ''}`);
    return { content_guid: content.guid, path: row.path, created_time: row.created_time };
  }

  async remove(actor: User, content: Content): Promise<void> {
    const result = await this.db.deleteFrom('vanities').where('content_id', '=', content.id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound(`Content ${content.guid} has no vanity URL.`);
    await this.audit.record(actor, 'remove_vanity_url', `Removed the vanity path of ${content.guid}`);
  }

  /** Vanities whose path equals, contains or lies under `path` (other than the content's own). */
  private async conflicting(path: string, content: Content) {
    // Ancestors of `path` ("/a/" for "/a/b/"), the path itself, and anything below it.
    const segments = path.split('/').filter(Boolean);
    const ancestors = segments.map((_, i) => `/${segments.slice(0, i + 1).join('/')}/`);
    const rows = await this.db
      .selectFrom('vanities')
      .innerJoin('content', 'content.id', 'vanities.content_id')
      .select(['vanities.content_id', 'vanities.path', 'content.guid'])
      .where('vanities.content_id', '!=', content.id)
      .where((eb) => eb.or([eb('vanities.path', 'in', ancestors), eb('vanities.path', 'like', `${path}%`)]))
      .execute();
    // "_" is a LIKE wildcard and SQLite's LIKE ignores case: confirm the prefix match in code.
    return rows.filter((r) => ancestors.includes(r.path) || r.path.startsWith(path));
  }
}

const vanityOf = (r: { content_guid: string; path: string; created_time: string }): Vanity => ({ content_guid: r.content_guid, path: r.path, created_time: r.created_time });
