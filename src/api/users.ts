import type { FastifyRequest } from 'fastify';
import { noContent, requireOwnCredentials, requireRole, requireUser } from '../auth/principal.js';
import type { Group } from '../db/schema.js';
import { ApiError, badRequest, ErrorCode, invalidParameter } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';
import { boolParam, intParam, type Query } from '../http/query.js';
import type { UserChanges } from '../users/administration.js';
import { ROLES, userJson, type Role } from '../users/users.js';
import { apiTime } from '../util/ids.js';

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


function parseUserChanges(request: FastifyRequest): UserChanges {
  const body = bodyObject(request);
  rejectUnknown(body, UPDATE_USER_FIELDS);
  const changes: UserChanges = {};
  const email = optionalEmail(body);
  if (email !== undefined) changes.email = email;
  for (const f of ['first_name', 'last_name', 'username'] as const) {
    const v = optionalString(body, f);
    if (v !== undefined) changes[f] = v;
  }
  const role = optionalRole(body);
  if (role !== undefined) changes.user_role = role;
  return changes;
}

/** The body's required `name`, trimmed, of at most `maxLength` characters. */
function requiredName(request: FastifyRequest, maxLength: number, tooLong: string): string {
  const body = bodyObject(request);
  rejectUnknown(body, ['name']);
  const name = (optionalString(body, 'name') ?? '').trim();
  if (!name) throw new ApiError(400, ErrorCode.ParameterMissing, 'The field "name" is required.');
  if (name.length > maxLength) throw invalidParameter(tooLong);
  return name;
}

export const userRoutes: RoutePlugin = (server, app) => {
  const { users, userAdministration, groups } = app;

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
    const { rows, total } = await users.list({ prefix: q.prefix, roles, locked, offset, limit: pageSize, ascending });
    return offsetPage(rows.map(userJson), pageNumber, total);
  });

  server.get('/__api__/v1/users/:guid', async (request) => {
    requireUser(request);
    const { guid } = request.params as { guid: string };
    return userJson(await users.get(guid));
  });

  server.post('/__api__/v1/users', async (request) => {
    const actor = requireRole(request, 'administrator');
    const body = bodyObject(request);
    rejectUnknown(body, CREATE_USER_FIELDS);
    const username = optionalString(body, 'username');
    if (!username) throw new ApiError(400, ErrorCode.ParameterMissing, 'The field "username" is required.');
    const password = optionalString(body, 'password');
    const mustSet = body.user_must_set_password;
    if (mustSet !== undefined && mustSet !== null && typeof mustSet !== 'boolean') throw invalidParameter('The field "user_must_set_password" must be a boolean.');
    if (mustSet === true && password) throw invalidParameter('Give either a password or user_must_set_password, not both.');
    optionalString(body, 'unique_id');
    const user = await userAdministration.add(actor, {
      username,
      password: password || null,
      email: optionalEmail(body),
      first_name: optionalString(body, 'first_name'),
      last_name: optionalString(body, 'last_name'),
      user_role: optionalRole(body),
    });
    return userJson(user);
  });

  const updateUser = async (request: FastifyRequest) => {
    const actor = requireUser(request);
    const { guid } = request.params as { guid: string };
    return userJson(await userAdministration.update(actor, guid, parseUserChanges(request)));
  };
  server.put('/__api__/v1/users/:guid', updateUser);
  server.patch('/__api__/v1/users/:guid', updateUser);

  server.post('/__api__/v1/users/:guid/lock', async (request) => {
    const actor = requireRole(request, 'administrator');
    const { guid } = request.params as { guid: string };
    const body = bodyObject(request);
    rejectUnknown(body, ['locked']);
    if (typeof body.locked !== 'boolean') throw invalidParameter('The field "locked" is required and must be true or false.');
    return userJson(await userAdministration.setLocked(actor, guid, body.locked));
  });

  // ---- API keys of the signed-in user ----

  server.get('/__api__/v1/user/api_keys', async (request) => {
    const user = requireOwnCredentials(request);
    const keys = await users.listApiKeys(user.id);
    return keys.map((k) => ({ id: String(k.id), name: k.name, key_hint: k.key_hint, created_time: apiTime(k.created_time), last_used_time: apiTime(k.last_used_time) }));
  });

  server.post('/__api__/v1/user/api_keys', async (request) => {
    const user = requireOwnCredentials(request);
    const name = requiredName(request, 100, 'The key name must be at most 100 characters long.');
    const created = await userAdministration.createApiKey(user, name);
    return { id: String(created.id), name: created.name, key: created.key, created_time: apiTime(created.created_time) };
  });

  server.delete('/__api__/v1/user/api_keys/:id', async (request, reply) => {
    const user = requireOwnCredentials(request);
    const { id } = request.params as { id: string };
    await userAdministration.deleteApiKey(user, id);
    return noContent(reply);
  });

  // ---- groups ----

  server.get('/__api__/v1/groups', async (request) => {
    requireUser(request);
    const q = request.query as Query;
    const { pageNumber, pageSize, offset } = offsetParams(q);
    const ascending = boolParam(q, 'asc_order', true);
    const { rows, total } = await groups.list({ prefix: q.prefix, offset, limit: pageSize, ascending });
    return offsetPage(rows.map(groupJson), pageNumber, total);
  });

  server.post('/__api__/v1/groups', async (request) => {
    const actor = requireRole(request, 'publisher');
    const name = requiredName(request, 4096, 'The group name is too long.');
    return groupJson(await groups.create(actor, name));
  });

  server.get('/__api__/v1/groups/:guid', async (request) => {
    requireUser(request);
    const { guid } = request.params as { guid: string };
    return groupJson(await groups.get(guid));
  });

  server.delete('/__api__/v1/groups/:guid', async (request, reply) => {
    const actor = requireUser(request);
    const { guid } = request.params as { guid: string };
    await groups.delete(actor, guid);
    return noContent(reply);
  });

  server.get('/__api__/v1/groups/:guid/members', async (request) => {
    requireUser(request);
    const { guid } = request.params as { guid: string };
    const { pageNumber, pageSize, offset } = offsetParams(request.query as Query);
    const { rows, total } = await groups.members(guid, { offset, limit: pageSize });
    return offsetPage(rows.map(userJson), pageNumber, total);
  });

  server.post('/__api__/v1/groups/:guid/members', async (request, reply) => {
    const actor = requireUser(request);
    const { guid } = request.params as { guid: string };
    const body = bodyObject(request);
    rejectUnknown(body, ['user_guid']);
    const userGuid = optionalString(body, 'user_guid');
    if (!userGuid) throw new ApiError(400, ErrorCode.ParameterMissing, 'The field "user_guid" is required.');
    await groups.addMember(actor, guid, userGuid);
    return noContent(reply);
  });

  server.delete('/__api__/v1/groups/:guid/members/:userGuid', async (request, reply) => {
    const actor = requireUser(request);
    const { guid, userGuid } = request.params as { guid: string; userGuid: string };
    await groups.removeMember(actor, guid, userGuid);
    return noContent(reply);
  });
};
