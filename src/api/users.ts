import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import { noContent, requireOwnCredentials, requireRole, requireUser } from '../auth/principal.js';
import { answers, NoContent } from '../contract/common.js';
import {
  ApiKey,
  ApiKeyParams,
  CreatedApiKey,
  Group,
  GroupMemberParams,
  GroupsQuery,
  GuidParams,
  LegacyUser,
  NewApiKey,
  NewGroup,
  NewGroupMember,
  NewUser,
  Page,
  PageQuery,
  User,
  UserLock,
  UsersQuery,
  UserUpdate,
} from '../contract/users.js';
import type { Group as GroupRow } from '../db/schema.js';
import { ErrorCode, invalidParameter, LecternError } from '../errors.js';
import { boolParam } from '../http/query.js';
import type { RoutePlugin } from '../http/routing.js';
import type { UserChanges } from '../users/administration.js';
import { ROLES, userJson, type Role } from '../users/users.js';
import { apiTime } from '../util/ids.js';

/** Exactly `{results, current_page, total}`: posit-sdk builds its Page from every key. */
const offsetPage = <T>(results: T[], currentPage: number, total: number): Page<T> => ({ results, current_page: currentPage, total });

/** Offset paging as Connect does it: 1-based page_number, page_size default 20 (the schema bounds both). */
function offsetParams(q: { page_number?: number; page_size?: number }) {
  const pageNumber = q.page_number ?? 1;
  const pageSize = q.page_size ?? 20;
  return { pageNumber, pageSize, offset: (pageNumber - 1) * pageSize };
}

/** Text fields: null is as good as absent. */
const given = (value: string | null | undefined): string | undefined => value ?? undefined;

function optionalRole(role: string | null | undefined): Role | undefined {
  if (role === undefined || role === null || role === '') return undefined;
  if (!ROLES.includes(role as Role)) throw invalidParameter(`Invalid user_role ${JSON.stringify(role)}: use viewer, publisher or administrator.`);
  return role as Role;
}

function optionalEmail(email: string | null | undefined): string | undefined {
  if (email && !/^[^\s@]+@[^\s@]+$/.test(email)) throw invalidParameter(`Invalid email ${JSON.stringify(email)}.`);
  return given(email);
}

function userChanges(body: UserUpdate): UserChanges {
  const changes: UserChanges = {};
  const email = optionalEmail(body.email);
  if (email !== undefined) changes.email = email;
  for (const f of ['first_name', 'last_name', 'username'] as const) {
    const v = given(body[f]);
    if (v !== undefined) changes[f] = v;
  }
  const role = optionalRole(body.user_role);
  if (role !== undefined) changes.user_role = role;
  return changes;
}

/** A required name, trimmed, of at most `maxLength` characters. */
function requiredName(raw: string | null | undefined, maxLength: number, tooLong: string): string {
  const name = (raw ?? '').trim();
  if (!name) throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The field "name" is required.');
  if (name.length > maxLength) throw invalidParameter(tooLong);
  return name;
}

const groupJson = (g: GroupRow): Group => ({ guid: g.guid, name: g.name, owner_guid: g.owner_guid });

export const userRoutes: RoutePlugin = (server, app) => {
  const { users, userAdministration, groups } = app;

  // ---- the signed-in user ----

  server.get('/__api__/v1/user', { schema: { summary: 'The signed-in user', response: answers({ 200: User }) } }, async (request) => userJson(requireUser(request)));

  // Legacy forms: rsconnect (R) stores the integer `id` as its account id.
  const legacyMe = async (request: FastifyRequest) => {
    const user = requireUser(request);
    return { id: user.id, ...userJson(user) };
  };
  const legacy = { schema: { summary: 'The signed-in user, with its integer id (legacy)', response: answers({ 200: LegacyUser }) } };
  server.get('/__api__/me', legacy, legacyMe);
  server.get('/__api__/users/current', legacy, legacyMe);

  // ---- users ----

  server.get('/__api__/v1/users', { schema: { summary: 'Users, a page at a time', querystring: UsersQuery, response: answers({ 200: Page(User) }) } }, async (request) => {
    requireUser(request);
    const q = request.query;
    const { pageNumber, pageSize, offset } = offsetParams(q);
    let roles: Role[] | undefined;
    if (q.user_role) {
      roles = q.user_role
        .split('|')
        .map((r) => r.trim())
        .filter(Boolean) as Role[];
      for (const r of roles) if (!ROLES.includes(r)) throw invalidParameter(`Invalid user_role "${r}": use viewer, publisher or administrator, joined by "|".`);
    }
    let locked: boolean | undefined;
    if (q.account_status) {
      const statuses = new Set(
        q.account_status
          .split('|')
          .map((s) => s.trim())
          .filter(Boolean),
      );
      for (const s of statuses) if (!['locked', 'licensed', 'inactive'].includes(s)) throw invalidParameter(`Invalid account_status "${s}": use locked, licensed or inactive, joined by "|".`);
      const wantsLocked = statuses.has('locked');
      const wantsUnlocked = statuses.has('licensed') || statuses.has('inactive');
      if (wantsLocked !== wantsUnlocked) locked = wantsLocked;
    }
    const ascending = boolParam({ asc_order: q.asc_order }, 'asc_order', true);
    const { rows, total } = await users.list({ prefix: q.prefix, roles, locked, offset, limit: pageSize, ascending });
    return offsetPage(rows.map(userJson), pageNumber, total);
  });

  server.get('/__api__/v1/users/:guid', { schema: { summary: 'One user', params: GuidParams, response: answers({ 200: User }) } }, async (request) => {
    requireUser(request);
    return userJson(await users.get(request.params.guid));
  });

  server.post('/__api__/v1/users', { schema: { summary: 'Add a user (administrators)', body: NewUser, response: answers({ 200: User }) } }, async (request) => {
    const actor = requireRole(request, 'administrator');
    const body = request.body;
    if (!body.username) throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The field "username" is required.');
    if (body.user_must_set_password === true && body.password) throw invalidParameter('Give either a password or user_must_set_password, not both.');
    const user = await userAdministration.add(actor, {
      username: body.username,
      password: body.password || null,
      email: optionalEmail(body.email),
      first_name: given(body.first_name),
      last_name: given(body.last_name),
      user_role: optionalRole(body.user_role),
    });
    return userJson(user);
  });

  const update = { schema: { summary: 'Change a user (their own name and email, or anything as an administrator)', params: GuidParams, body: UserUpdate, response: answers({ 200: User }) } };
  server.put('/__api__/v1/users/:guid', update, async (request) => {
    const actor = requireUser(request);
    return userJson(await userAdministration.update(actor, request.params.guid, userChanges(request.body)));
  });
  server.patch('/__api__/v1/users/:guid', update, async (request) => {
    const actor = requireUser(request);
    return userJson(await userAdministration.update(actor, request.params.guid, userChanges(request.body)));
  });

  server.post(
    '/__api__/v1/users/:guid/lock',
    { schema: { summary: 'Lock or unlock a user (administrators)', params: GuidParams, body: UserLock, response: answers({ 200: User }) } },
    async (request) => {
      const actor = requireRole(request, 'administrator');
      return userJson(await userAdministration.setLocked(actor, request.params.guid, request.body.locked));
    },
  );

  // ---- API keys of the signed-in user ----

  server.get('/__api__/v1/user/api_keys', { schema: { summary: "The signed-in user's API keys", response: answers({ 200: Type.Array(ApiKey) }) } }, async (request) => {
    const user = requireOwnCredentials(request);
    const keys = await users.listApiKeys(user.id);
    return keys.map((k): ApiKey => ({ id: String(k.id), name: k.name, key_hint: k.key_hint, created_time: apiTime(k.created_time), last_used_time: apiTime(k.last_used_time) }));
  });

  server.post('/__api__/v1/user/api_keys', { schema: { summary: 'Create an API key for the signed-in user', body: NewApiKey, response: answers({ 200: CreatedApiKey }) } }, async (request) => {
    const user = requireOwnCredentials(request);
    const name = requiredName(request.body.name, 100, 'The key name must be at most 100 characters long.');
    const created = await userAdministration.createApiKey(user, name);
    return { id: String(created.id), name: created.name, key: created.key, created_time: apiTime(created.created_time) };
  });

  server.delete(
    '/__api__/v1/user/api_keys/:id',
    { schema: { summary: "Delete one of the signed-in user's API keys", params: ApiKeyParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireOwnCredentials(request);
      await userAdministration.deleteApiKey(user, request.params.id);
      return noContent(reply);
    },
  );

  // ---- groups ----

  server.get('/__api__/v1/groups', { schema: { summary: 'Groups, a page at a time', querystring: GroupsQuery, response: answers({ 200: Page(Group) }) } }, async (request) => {
    requireUser(request);
    const q = request.query;
    const { pageNumber, pageSize, offset } = offsetParams(q);
    const ascending = boolParam({ asc_order: q.asc_order }, 'asc_order', true);
    const { rows, total } = await groups.list({ prefix: q.prefix, offset, limit: pageSize, ascending });
    return offsetPage(rows.map(groupJson), pageNumber, total);
  });

  server.post('/__api__/v1/groups', { schema: { summary: 'Create a group (publishers), owned by its creator', body: NewGroup, response: answers({ 200: Group }) } }, async (request) => {
    const actor = requireRole(request, 'publisher');
    const name = requiredName(request.body.name, 4096, 'The group name is too long.');
    return groupJson(await groups.create(actor, name));
  });

  server.get('/__api__/v1/groups/:guid', { schema: { summary: 'One group', params: GuidParams, response: answers({ 200: Group }) } }, async (request) => {
    requireUser(request);
    return groupJson(await groups.get(request.params.guid));
  });

  server.delete(
    '/__api__/v1/groups/:guid',
    { schema: { summary: 'Delete a group (its owner or an administrator)', params: GuidParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const actor = requireUser(request);
      await groups.delete(actor, request.params.guid);
      return noContent(reply);
    },
  );

  server.get(
    '/__api__/v1/groups/:guid/members',
    { schema: { summary: "A group's members, a page at a time", params: GuidParams, querystring: PageQuery, response: answers({ 200: Page(User) }) } },
    async (request) => {
      requireUser(request);
      const { pageNumber, pageSize, offset } = offsetParams(request.query);
      const { rows, total } = await groups.members(request.params.guid, { offset, limit: pageSize });
      return offsetPage(rows.map(userJson), pageNumber, total);
    },
  );

  server.post(
    '/__api__/v1/groups/:guid/members',
    { schema: { summary: 'Add a member to a group', params: GuidParams, body: NewGroupMember, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const actor = requireUser(request);
      const userGuid = request.body.user_guid;
      if (!userGuid) throw new LecternError('invalid', ErrorCode.ParameterMissing, 'The field "user_guid" is required.');
      await groups.addMember(actor, request.params.guid, userGuid);
      return noContent(reply);
    },
  );

  server.delete(
    '/__api__/v1/groups/:guid/members/:userGuid',
    { schema: { summary: 'Remove a member from a group', params: GroupMemberParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const actor = requireUser(request);
      const { guid, userGuid } = request.params;
      await groups.removeMember(actor, guid, userGuid);
      return noContent(reply);
    },
  );
};
