import type { FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { noContent, requireOwnCredentials, requireRole, requireUser } from '../auth/principal.js';
import type { Group, User } from '../db/schema.js';
import { badRequest, conflict, ErrorCode, forbidden, invalidParameter, LecternError, notFound } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { boolParam, intParam, type Query } from '../http/query.js';
import { roleAtLeast, ROLES, userJson, type Role } from '../users/users.js';
import { apiTime, newGuid, nowIso } from '../util/ids.js';

// ---- request parsing helpers ----

/** Offset paging as Connect does it: 1-based page_number, page_size default 20 and at most 500. */
function offsetParams(q: Query) {
  const pageNumber = intParam(q, 'page_number', 1, 1, 1_000_000_000);
  const pageSize = intParam(q, 'page_size', 20, 1, 500);
  return { pageNumber, pageSize, offset: (pageNumber - 1) * pageSize };
}

/** Exactly `{results, current_page, total}`: posit-sdk builds its Page from every key. */
const offsetPage = <T>(results: T[], currentPage: number, total: number) => ({ results, current_page: currentPage, total });

function bodyObject(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.CannotParseRequestBody);
  return body as Record<string, unknown>;
}

function rejectUnknown(body: Record<string, unknown>, allowed: readonly string[]) {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw invalidParameter(`Unknown field "${key}"; allowed fields are ${allowed.join(', ')}.`);
  }
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidParameter(`The field "${name}" must be a string.`);
  return v;
}

function optionalRole(body: Record<string, unknown>): Role | undefined {
  const role = optionalString(body, 'user_role');
  if (role === undefined || role === '') return undefined;
  if (!ROLES.includes(role as Role)) throw invalidParameter(`Invalid user_role ${JSON.stringify(role)}: use viewer, publisher or administrator.`);
  return role as Role;
}

function optionalEmail(body: Record<string, unknown>): string | undefined {
  const email = optionalString(body, 'email');
  if (email && !/^[^\s@]+@[^\s@]+$/.test(email)) throw invalidParameter(`Invalid email ${JSON.stringify(email)}.`);
  return email;
}

const groupJson = (g: Group) => ({ guid: g.guid, name: g.name, owner_guid: g.owner_guid });

const CREATE_USER_FIELDS = ['username', 'email', 'first_name', 'last_name', 'password', 'user_role', 'user_must_set_password', 'unique_id'] as const;
const UPDATE_USER_FIELDS = ['username', 'email', 'first_name', 'last_name', 'user_role'] as const;
const SELF_UPDATE_FIELDS = ['email', 'first_name', 'last_name'];

export const userRoutes: RoutePlugin = (server, app) => {
  const db = app.store.db;

  // ---- the signed-in user ----

  server.get('/__api__/v1/user', async (request) => userJson(requireUser(request)));

  // Legacy forms: rsconnect (R) stores the integer `id` as its account id.
  const legacyMe = async (request: FastifyRequest) => {
    const user = requireUser(request);
    return { id: user.id, ...userJson(user) };
  };
  server.get('/__api__/me', legacyMe);
  server.get('/__api__/users/current', legacyMe);

  // ---- users ----

  server.get('/__api__/v1/users', async (request) => {
    requireUser(request);
    const q = request.query as Query;
    const { pageNumber, pageSize, offset } = offsetParams(q);
    let roles: Role[] | undefined;
    if (q.user_role) {
      roles = q.user_role.split('|').map((r) => r.trim()).filter(Boolean) as Role[];
      for (const r of roles) if (!ROLES.includes(r)) throw invalidParameter(`Invalid user_role "${r}": use viewer, publisher or administrator, joined by "|".`);
    }
    let locked: boolean | undefined;
    if (q.account_status) {
      const statuses = new Set(q.account_status.split('|').map((s) => s.trim()).filter(Boolean));
      for (const s of statuses) if (!['locked', 'licensed', 'inactive'].includes(s)) throw invalidParameter(`Invalid account_status "${s}": use locked, licensed or inactive, joined by "|".`);
      const wantsLocked = statuses.has('locked');
      const wantsUnlocked = statuses.has('licensed') || statuses.has('inactive');
      if (wantsLocked !== wantsUnlocked) locked = wantsLocked;
    }
    const ascending = boolParam(q, 'asc_order', true);
    const { rows, total } = await app.users.list({ prefix: q.prefix, roles, locked, offset, limit: pageSize, ascending });
    return offsetPage(rows.map(userJson), pageNumber, total);
  });

  server.get('/__api__/v1/users/:guid', async (request) => {
    requireUser(request);
    const { guid } = request.params as { guid: string };
    return userJson(await app.users.get(guid));
  });

  server.post('/__api__/v1/users', async (request) => {
    const actor = requireRole(request, 'administrator');
    const body = bodyObject(request);
    rejectUnknown(body, CREATE_USER_FIELDS);
    const username = optionalString(body, 'username');
    if (!username) throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The field "username" is required.');
    const password = optionalString(body, 'password');
    const mustSet = body.user_must_set_password;
    if (mustSet !== undefined && mustSet !== null && typeof mustSet !== 'boolean') throw invalidParameter('The field "user_must_set_password" must be a boolean.');
    if (mustSet === true && password) throw invalidParameter('Give either a password or user_must_set_password, not both.');
    optionalString(body, 'unique_id');
    const user = await app.users.create({
      username,
      password: password || null,
      email: optionalEmail(body),
      first_name: optionalString(body, 'first_name'),
      last_name: optionalString(body, 'last_name'),
      user_role: optionalRole(body),
    });
    await app.audit.record(actor, 'add_user', `Added user ${user.username} (${user.guid}) with role ${user.user_role}`);
    return userJson(user);
  });

  const updateUser = async (request: FastifyRequest) => {
    const actor = requireUser(request);
    const { guid } = request.params as { guid: string };
    const target = await app.users.get(guid);
    const isAdmin = roleAtLeast(actor, 'administrator');
    const self = actor.id === target.id;
    if (!isAdmin && !self) throw forbidden('Only administrators can change other users.');
    const body = bodyObject(request);
    rejectUnknown(body, UPDATE_USER_FIELDS);
    const changes: { email?: string; first_name?: string; last_name?: string; user_role?: Role; username?: string } = {};
    const email = optionalEmail(body);
    if (email !== undefined) changes.email = email;
    for (const f of ['first_name', 'last_name', 'username'] as const) {
      const v = optionalString(body, f);
      if (v !== undefined) changes[f] = v;
    }
    const role = optionalRole(body);
    if (role !== undefined && role !== target.user_role) changes.user_role = role;
    if (changes.username !== undefined && changes.username === target.username) delete changes.username;
    if (!isAdmin) {
      for (const key of Object.keys(changes)) {
        if (!SELF_UPDATE_FIELDS.includes(key)) throw forbidden(`Only administrators can change ${key === 'user_role' ? 'user roles' : `the field "${key}"`}.`);
      }
    }
    if (self && changes.user_role !== undefined) throw forbidden('Administrators cannot change their own role.');
    const updated = await app.users.update(guid, changes);
    const fields = Object.keys(changes);
    if (fields.length) {
      await app.audit.record(actor, 'update_user', `Updated user ${updated.username} (${updated.guid}): ${fields.join(', ')}${changes.user_role ? ` (role ${target.user_role} → ${changes.user_role})` : ''}`);
    }
    return userJson(updated);
  };
  server.put('/__api__/v1/users/:guid', updateUser);
  server.patch('/__api__/v1/users/:guid', updateUser);

  server.post('/__api__/v1/users/:guid/lock', async (request) => {
    const actor = requireRole(request, 'administrator');
    const { guid } = request.params as { guid: string };
    const body = bodyObject(request);
    rejectUnknown(body, ['locked']);
    if (typeof body.locked !== 'boolean') throw invalidParameter('The field "locked" is required and must be true or false.');
    const target = await app.users.get(guid);
    if (target.id === actor.id && body.locked) throw forbidden('Administrators cannot lock their own account.');
    const updated = await app.users.setLocked(guid, body.locked);
    await app.audit.record(actor, body.locked ? 'lock_user' : 'unlock_user', `${body.locked ? 'Locked' : 'Unlocked'} user ${updated.username} (${updated.guid})`);
    return userJson(updated);
  });

  // ---- API keys of the signed-in user ----

  server.get('/__api__/v1/user/api_keys', async (request) => {
    const user = requireOwnCredentials(request);
    const keys = await app.users.listApiKeys(user.id);
    return keys.map((k) => ({ id: String(k.id), name: k.name, key_hint: k.key_hint, created_time: apiTime(k.created_time), last_used_time: apiTime(k.last_used_time) }));
  });

  server.post('/__api__/v1/user/api_keys', async (request) => {
    const user = requireOwnCredentials(request);
    const body = bodyObject(request);
    rejectUnknown(body, ['name']);
    const name = (optionalString(body, 'name') ?? '').trim();
    if (!name) throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The field "name" is required.');
    if (name.length > 100) throw invalidParameter('The key name must be at most 100 characters long.');
    const { key, id } = await app.users.createApiKey(user.id, name);
    const row = (await app.users.listApiKeys(user.id)).find((k) => k.id === id);
    await app.audit.record(user, 'add_api_key', `Created API key "${name}" (${id}) for ${user.username}`);
    return { id: String(id), name, key, created_time: apiTime(row?.created_time ?? nowIso()) };
  });

  server.delete('/__api__/v1/user/api_keys/:id', async (request, reply) => {
    const user = requireOwnCredentials(request);
    const { id } = request.params as { id: string };
    if (!/^\d{1,15}$/.test(id)) throw notFound(`API key ${id} does not exist.`);
    await app.users.deleteApiKey(user.id, Number(id));
    await app.audit.record(user, 'remove_api_key', `Deleted API key ${id} of ${user.username}`);
    return noContent(reply);
  });

  // ---- groups ----

  async function getGroup(guid: string): Promise<Group> {
    const group = await db.selectFrom('groups').selectAll().where('guid', '=', guid).executeTakeFirst();
    if (!group) throw notFound(`Group ${guid} does not exist.`);
    return group;
  }

  function requireGroupManager(user: User, group: Group) {
    if (!roleAtLeast(user, 'administrator') && group.owner_guid !== user.guid) throw forbidden('Only the group owner or an administrator can change this group.');
  }

  server.get('/__api__/v1/groups', async (request) => {
    requireUser(request);
    const q = request.query as Query;
    const { pageNumber, pageSize, offset } = offsetParams(q);
    let query = db.selectFrom('groups');
    if (q.prefix) {
      const p = `${q.prefix.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`;
      query = query.where(sql`lower(name)`, 'like', sql`${p} escape '\\'`);
    }
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const ascending = boolParam(q, 'asc_order', true);
    const rows = await query.selectAll().orderBy(sql`lower(name)`, ascending ? 'asc' : 'desc').offset(offset).limit(pageSize).execute();
    return offsetPage(rows.map(groupJson), pageNumber, Number(total.n));
  });

  server.post('/__api__/v1/groups', async (request) => {
    const actor = requireRole(request, 'publisher');
    const body = bodyObject(request);
    rejectUnknown(body, ['name']);
    const name = (optionalString(body, 'name') ?? '').trim();
    if (!name) throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The field "name" is required.');
    if (name.length > 4096) throw invalidParameter('The group name is too long.');
    const duplicate = () => conflict(`A group named "${name}" already exists.`, ErrorCode.DuplicateName);
    const existing = await db.selectFrom('groups').select('id').where(sql<string>`lower(name)`, '=', name.toLowerCase()).executeTakeFirst();
    if (existing) throw duplicate();
    let group: Group;
    try {
      group = await db
        .insertInto('groups')
        .values({ guid: newGuid(), name, owner_guid: actor.guid, created_time: nowIso() })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (err) {
      // A concurrent insert of the same name loses the race on the unique index.
      if (/unique/i.test(String((err as Error).message))) throw duplicate();
      throw err;
    }
    await app.audit.record(actor, 'add_group', `Added group ${group.name} (${group.guid})`);
    return groupJson(group);
  });

  server.get('/__api__/v1/groups/:guid', async (request) => {
    requireUser(request);
    const { guid } = request.params as { guid: string };
    return groupJson(await getGroup(guid));
  });

  server.delete('/__api__/v1/groups/:guid', async (request, reply) => {
    const actor = requireUser(request);
    const { guid } = request.params as { guid: string };
    const group = await getGroup(guid);
    requireGroupManager(actor, group);
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('content_permissions').where('principal_type', '=', 'group').where('principal_guid', '=', group.guid).execute();
      await trx.deleteFrom('group_members').where('group_id', '=', group.id).execute();
      await trx.deleteFrom('groups').where('id', '=', group.id).execute();
    });
    await app.audit.record(actor, 'remove_group', `Removed group ${group.name} (${group.guid})`);
    return noContent(reply);
  });

  server.get('/__api__/v1/groups/:guid/members', async (request) => {
    requireUser(request);
    const { guid } = request.params as { guid: string };
    const group = await getGroup(guid);
    const q = request.query as Query;
    const { pageNumber, pageSize, offset } = offsetParams(q);
    const base = db.selectFrom('users').innerJoin('group_members', 'group_members.user_id', 'users.id').where('group_members.group_id', '=', group.id);
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await base.selectAll('users').orderBy(sql`lower(users.username)`).offset(offset).limit(pageSize).execute();
    return offsetPage(rows.map(userJson), pageNumber, Number(total.n));
  });

  server.post('/__api__/v1/groups/:guid/members', async (request, reply) => {
    const actor = requireUser(request);
    const { guid } = request.params as { guid: string };
    const group = await getGroup(guid);
    requireGroupManager(actor, group);
    const body = bodyObject(request);
    rejectUnknown(body, ['user_guid']);
    const userGuid = optionalString(body, 'user_guid');
    if (!userGuid) throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The field "user_guid" is required.');
    const member = await app.users.findByGuid(userGuid);
    if (!member) throw notFound(`User ${userGuid} does not exist.`);
    const existing = await db.selectFrom('group_members').select('user_id').where('group_id', '=', group.id).where('user_id', '=', member.id).executeTakeFirst();
    if (!existing) {
      await db.insertInto('group_members').values({ group_id: group.id, user_id: member.id }).execute();
      await app.audit.record(actor, 'add_group_member', `Added ${member.username} (${member.guid}) to group ${group.name} (${group.guid})`);
    }
    return noContent(reply);
  });

  server.delete('/__api__/v1/groups/:guid/members/:userGuid', async (request, reply) => {
    const actor = requireUser(request);
    const { guid, userGuid } = request.params as { guid: string; userGuid: string };
    const group = await getGroup(guid);
    requireGroupManager(actor, group);
    const member = await app.users.findByGuid(userGuid);
    if (!member) throw notFound(`User ${userGuid} does not exist.`);
    const result = await db.deleteFrom('group_members').where('group_id', '=', group.id).where('user_id', '=', member.id).executeTakeFirst();
    if (!result.numDeletedRows) throw notFound(`User ${userGuid} is not a member of group ${group.guid}.`);
    await app.audit.record(actor, 'remove_group_member', `Removed ${member.username} (${member.guid}) from group ${group.name} (${group.guid})`);
    return noContent(reply);
  });
};
