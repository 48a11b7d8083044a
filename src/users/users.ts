import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { sql, type Kysely } from 'kysely';
import type { Database, KeyScope, User } from '../db/schema.js';
import { TableCache } from '../db/table-cache.js';
import type { TableChanges } from '../db/table-changes.js';
import { badRequest, conflict, ErrorCode, notFound } from '../errors.js';
import { apiTime, newGuid, nowIso, randomToken, sha256Hex } from '../util/ids.js';

export type Role = User['user_role'];
export const ROLES: readonly Role[] = ['viewer', 'publisher', 'administrator'];
const ROLE_RANK: Record<Role, number> = { viewer: 0, publisher: 1, administrator: 2 };
export const roleAtLeast = (user: Pick<User, 'user_role'>, role: Role) => ROLE_RANK[user.user_role] >= ROLE_RANK[role];

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const PROHIBITED_USERNAMES = new Set(['connect', 'apps', 'users', 'groups', 'setpassword', 'user-completion', 'admin-only']);

export interface NewUserInput {
  username: string;
  password?: string | null;
  email?: string;
  first_name?: string;
  last_name?: string;
  user_role?: Role;
}

/** The v1 `User` object clients read (rsconnect, posit-sdk, connectapi). */
export function userJson(user: User) {
  return {
    guid: user.guid,
    username: user.username,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    user_role: user.user_role,
    created_time: apiTime(user.created_time),
    updated_time: apiTime(user.updated_time),
    active_time: apiTime(user.active_time),
    confirmed: user.confirmed === 1,
    locked: user.locked === 1,
  };
}

export function validatePassword(password: string): void {
  if (password.length < 8) throw badRequest('The password must be at least 8 characters long.', ErrorCode.InvalidParameter);
}

let dummy: Promise<string> | undefined;
/** A hash no password matches, made with the same parameters as real ones. */
const dummyHash = () => (dummy ??= argon2Hash(randomToken(24)));

interface KeyRow {
  user: User;
  keyId: number;
  lastUsed: string | null;
  expiresAt: number | null;
  scope: KeyScope | null;
}

interface SessionRow {
  user: User;
  csrf: string;
  expiresAt: number;
}

/** Activity times (a user's, a key's) are kept to the minute: a write per request would cost more than it tells. */
const ACTIVITY_RESOLUTION_MS = 60_000;

export class Users {
  /** Every request names its caller: keys and sessions by hash, so no query per request. */
  private readonly keys: TableCache<KeyRow>;
  private readonly sessions: TableCache<SessionRow>;

  constructor(
    private readonly db: Kysely<Database>,
    changes?: TableChanges,
  ) {
    this.keys = new TableCache(changes, ['api_keys', 'users']);
    this.sessions = new TableCache(changes, ['sessions', 'users']);
    // When a user or key was last used is shown, never relied on: writing it drops no cache.
    changes?.quietColumns('users', ['active_time']);
    changes?.quietColumns('api_keys', ['last_used_time']);
  }

  /**
   * When this process last wrote each activity time. A cached row keeps the time it was loaded
   * with (quiet writes do not refresh it), so without this every request would write again until
   * the copy expired.
   */
  private readonly activityWritten = new Map<string, number>();

  /** Whether a last-used time stored as `stored` is due to be written again (once a minute). */
  private activityDue(what: string, stored: string | null, now: number): boolean {
    const last = Math.max(this.activityWritten.get(what) ?? 0, stored ? Date.parse(stored) : 0);
    if (now - last < ACTIVITY_RESOLUTION_MS) return false;
    if (this.activityWritten.size >= 10_000) this.activityWritten.clear();
    this.activityWritten.set(what, now);
    return true;
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async create(input: NewUserInput): Promise<User> {
    const username = input.username?.trim() ?? '';
    if (!USERNAME.test(username)) {
      throw badRequest(`Invalid username ${JSON.stringify(username)}: use 1–64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit.`, ErrorCode.InvalidParameter);
    }
    if (PROHIBITED_USERNAMES.has(username.toLowerCase())) throw badRequest(`The username "${username}" is reserved.`, ErrorCode.InvalidParameter);
    if (input.user_role && !ROLES.includes(input.user_role)) {
      throw badRequest(`Invalid user_role ${JSON.stringify(input.user_role)}: use viewer, publisher or administrator.`, ErrorCode.InvalidParameter);
    }
    if (await this.findByUsername(username)) throw conflict(`A user named "${username}" already exists.`, ErrorCode.DuplicateName);
    let passwordHash: string | null = null;
    if (input.password) {
      validatePassword(input.password);
      passwordHash = await argon2Hash(input.password);
    }
    const now = nowIso();
    return this.db
      .insertInto('users')
      .values({
        guid: newGuid(),
        username,
        email: input.email ?? '',
        first_name: input.first_name ?? '',
        last_name: input.last_name ?? '',
        user_role: input.user_role ?? 'viewer',
        password_hash: passwordHash,
        locked: 0,
        confirmed: 1,
        created_time: now,
        updated_time: now,
        active_time: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  findByUsername(username: string): Promise<User | undefined> {
    return this.db.selectFrom('users').selectAll().where(sql<string>`lower(username)`, '=', username.toLowerCase()).executeTakeFirst();
  }

  findByGuid(guid: string): Promise<User | undefined> {
    return this.db.selectFrom('users').selectAll().where('guid', '=', guid).executeTakeFirst();
  }

  findById(id: number): Promise<User | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async get(guid: string): Promise<User> {
    const user = await this.findByGuid(guid);
    if (!user) throw notFound(`User ${guid} does not exist.`);
    return user;
  }

  async list(opts: { prefix?: string; roles?: Role[]; locked?: boolean; offset: number; limit: number; ascending: boolean }) {
    let query = this.db.selectFrom('users');
    if (opts.prefix) {
      const p = `${opts.prefix.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`;
      query = query.where((eb) =>
        eb.or([
          eb(sql`lower(username)`, 'like', sql`${p} escape '\\'`),
          eb(sql`lower(first_name)`, 'like', sql`${p} escape '\\'`),
          eb(sql`lower(last_name)`, 'like', sql`${p} escape '\\'`),
          eb(sql`lower(email)`, 'like', sql`${p} escape '\\'`),
        ]),
      );
    }
    if (opts.roles?.length) query = query.where('user_role', 'in', opts.roles);
    if (opts.locked !== undefined) query = query.where('locked', '=', opts.locked ? 1 : 0);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await query
      .selectAll()
      .orderBy(sql`lower(username)`, opts.ascending ? 'asc' : 'desc')
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
    return { rows, total: Number(total.n) };
  }

  async update(guid: string, changes: { email?: string; first_name?: string; last_name?: string; user_role?: Role; username?: string }): Promise<User> {
    const user = await this.get(guid);
    if (changes.user_role !== undefined && !ROLES.includes(changes.user_role)) {
      throw badRequest(`Invalid user_role ${JSON.stringify(changes.user_role)}: use viewer, publisher or administrator.`, ErrorCode.InvalidParameter);
    }
    if (changes.username !== undefined && changes.username.toLowerCase() !== user.username.toLowerCase()) {
      if (!USERNAME.test(changes.username)) throw badRequest(`Invalid username ${JSON.stringify(changes.username)}.`, ErrorCode.InvalidParameter);
      if (await this.findByUsername(changes.username)) throw conflict(`A user named "${changes.username}" already exists.`, ErrorCode.DuplicateName);
    }
    return this.db
      .updateTable('users')
      .set({ ...changes, updated_time: nowIso() })
      .where('id', '=', user.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async setPassword(userId: number, password: string): Promise<void> {
    validatePassword(password);
    await this.db
      .updateTable('users')
      .set({ password_hash: await argon2Hash(password), updated_time: nowIso() })
      .where('id', '=', userId)
      .execute();
  }

  /**
   * Locking is an account status, not a change to the user's record: `updated_time` stays, as in
   * Connect (posit-sdk's `user.lock()` sets only `locked` on the object it holds and compares it
   * with the server's afterwards).
   */
  async setLocked(guid: string, locked: boolean): Promise<User> {
    const user = await this.get(guid);
    const updated = await this.db
      .updateTable('users')
      .set({ locked: locked ? 1 : 0 })
      .where('id', '=', user.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    // A locked account loses its browser sessions at once; its keys stop working via the locked check.
    if (locked) await this.db.deleteFrom('sessions').where('user_id', '=', user.id).execute();
    return updated;
  }

  /** Password sign-in. Returns null for any failure so callers cannot leak which part was wrong. */
  /**
   * The user whose password this is, else null. Costs one password hash whatever the outcome —
   * a missing, locked or password-less account is checked against a hash of nothing — so the
   * time taken does not tell which usernames exist.
   */
  async verifyPassword(username: string, password: string): Promise<User | null> {
    const user = username ? await this.findByUsername(username) : undefined;
    const usable = user?.password_hash && !user.locked ? user : null;
    const matches = await argon2Verify(usable?.password_hash ?? (await dummyHash()), password);
    return usable && matches ? usable : null;
  }

  async touch(user: User): Promise<void> {
    // Only write when stale: every authenticated request would otherwise be a write.
    const now = Date.now();
    if (!this.activityDue(`user ${user.id}`, user.active_time, now)) return;
    await this.db
      .updateTable('users')
      .set({ active_time: new Date(now).toISOString() })
      .where('id', '=', user.id)
      .execute();
  }

  // API keys: random, shown once, stored as a hash, revocable; a user may hold several.

  /** `expiresAt` (epoch ms) makes a short-lived key (a visitor key); `jobKey` ties a 'content' key to its process (src/users/process-keys.ts). */
  async createApiKey(userId: number, name: string, expiresAt?: number, scope: KeyScope | null = null, jobKey: string | null = null): Promise<{ key: string; id: number }> {
    const key = randomToken(24);
    const row = await this.db
      .insertInto('api_keys')
      .values({
        user_id: userId,
        name: name || 'API key',
        key_hash: sha256Hex(key),
        key_hint: key.slice(0, 4),
        created_time: nowIso(),
        last_used_time: null,
        expires_at: expiresAt ?? null,
        scope,
        job_key: jobKey,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { key, id: row.id };
  }

  listApiKeys(userId: number) {
    return this.db
      .selectFrom('api_keys')
      .select(['id', 'name', 'key_hint', 'created_time', 'last_used_time'])
      .where('user_id', '=', userId)
      .where('expires_at', 'is', null)
      .where('job_key', 'is', null)
      .orderBy('id')
      .execute();
  }

  async deleteApiKey(userId: number, keyId: number): Promise<void> {
    const result = await this.db.deleteFrom('api_keys').where('user_id', '=', userId).where('id', '=', keyId).where('job_key', 'is', null).executeTakeFirst();
    if (!result.numDeletedRows) throw notFound(`API key ${keyId} does not exist.`);
  }

  /** The user a key acts as, and its scope (null = unrestricted). */
  async userForApiKey(key: string): Promise<{ user: User; scope: KeyScope | null } | null> {
    const hash = sha256Hex(key);
    const row = await this.keys.get(hash, async () => {
      const found = await this.db
        .selectFrom('api_keys')
        .innerJoin('users', 'users.id', 'api_keys.user_id')
        .selectAll('users')
        .select(['api_keys.id as key_id', 'api_keys.last_used_time as key_last_used', 'api_keys.expires_at as key_expires_at', 'api_keys.scope as key_scope'])
        .where('api_keys.key_hash', '=', hash)
        .executeTakeFirst();
      if (!found) return undefined;
      const { key_id, key_last_used, key_expires_at, key_scope, ...user } = found;
      return { user, keyId: key_id, lastUsed: key_last_used, expiresAt: key_expires_at === null ? null : Number(key_expires_at), scope: key_scope };
    });
    if (!row || row.user.locked) return null;
    if (row.expiresAt !== null && row.expiresAt < Date.now()) {
      await this.db.deleteFrom('api_keys').where('id', '=', row.keyId).execute();
      return null;
    }
    if (this.activityDue(`key ${row.keyId}`, row.lastUsed, Date.now())) {
      await this.db.updateTable('api_keys').set({ last_used_time: nowIso() }).where('id', '=', row.keyId).execute();
    }
    return { user: row.user, scope: row.scope };
  }

  // Browser sessions: the cookie holds a random token; the table holds its hash and a CSRF token.

  async createSession(userId: number, lifetimeMs: number): Promise<{ token: string; csrf: string; expiresAt: number }> {
    const token = randomToken();
    const csrf = randomToken(18);
    const expiresAt = Date.now() + lifetimeMs;
    await this.db
      .insertInto('sessions')
      .values({ id: sha256Hex(token), user_id: userId, csrf_token: csrf, created_time: nowIso(), expires_at: expiresAt })
      .execute();
    await this.db.deleteFrom('sessions').where('expires_at', '<', Date.now()).execute();
    return { token, csrf, expiresAt };
  }

  async session(token: string): Promise<{ user: User; csrf: string } | null> {
    const hash = sha256Hex(token);
    const row = await this.sessions.get(hash, async () => {
      const found = await this.db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .selectAll('users')
        .select(['sessions.csrf_token', 'sessions.expires_at'])
        .where('sessions.id', '=', hash)
        .executeTakeFirst();
      if (!found) return undefined;
      const { csrf_token, expires_at, ...user } = found;
      return { user, csrf: csrf_token, expiresAt: Number(expires_at) };
    });
    if (!row || row.expiresAt < Date.now() || row.user.locked) return null;
    return { user: row.user, csrf: row.csrf };
  }

  async deleteSession(token: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', sha256Hex(token)).execute();
  }
}
