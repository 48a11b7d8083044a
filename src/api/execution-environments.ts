import { Type, type Static } from 'typebox';
import { noContent, requireRole, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import {
  Environment,
  EnvironmentDefinition,
  EnvironmentPermission,
  EnvironmentPermissionParams,
  ImageSelection,
  ImageSelectionQuery,
  NewEnvironmentPermission,
} from '../contract/execution-environments.js';
import { GuidParams } from '../contract/users.js';
import { EDITABLE, type Principal } from '../execution-environments/administration.js';
import { DefinitionError, formatPath, parseDefinition } from '../execution-environments/definition.js';
import { environmentJson, permissionJson } from '../execution-environments/environments.js';
import { badRequest, ErrorCode, invalidParameter } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';

/** A definition that is not valid is a 400 naming the field (payload `{field}`). */
async function definitionErrorsAs400<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof DefinitionError)) throw err;
    const field = formatPath(err.path);
    const missing = /is required/.test(err.message);
    const apiError = missing ? badRequest(`${field}: ${err.message}`, ErrorCode.ParameterMissing) : invalidParameter(`${field}: ${err.message}`);
    throw apiError.withPayload({ field });
  }
}

function principalFrom(body: Static<typeof NewEnvironmentPermission>): Principal {
  const { user_guid: userGuid, group_guid: groupGuid } = body;
  if (userGuid != null && groupGuid == null) return { type: 'user', guid: userGuid };
  if (groupGuid != null && userGuid == null) return { type: 'group', guid: groupGuid };
  throw badRequest('Send exactly one of user_guid and group_guid.', ErrorCode.ParameterMissing);
}

/**
 * ExecutionEnvironments API (connect-api §5.10): administrators create, change and restrict environments;
 * publishers list and read the ones they may use; viewers see none.
 */
export const executionEnvironmentRoutes: RoutePlugin = (server, app) => {
  const environments = app.environmentAdministration;

  server.get(
    '/__api__/v1/environments',
    { schema: { summary: 'The execution environments the caller may use (publishers)', response: answers({ 200: Type.Array(Environment) }) } },
    async (request) => {
      const user = requireRole(request, 'publisher');
      return (await environments.usableBy(user)).map(environmentJson);
    },
  );

  server.post(
    '/__api__/v1/environments',
    { schema: { summary: 'Add an execution environment (administrators)', body: EnvironmentDefinition, response: answers({ 200: Environment }) } },
    async (request) => {
      const user = requireRole(request, 'administrator');
      const def = await definitionErrorsAs400(() => parseDefinition(request.body, EDITABLE));
      return environmentJson(await environments.create(user, def));
    },
  );

  server.get(
    '/__api__/v1/environments/:guid',
    { schema: { summary: 'One execution environment the caller may use', params: GuidParams, response: answers({ 200: Environment }) } },
    async (request) => {
      const user = requireRole(request, 'publisher');
      return environmentJson(await environments.getUsable(request.params.guid, user));
    },
  );

  server.put(
    '/__api__/v1/environments/:guid',
    {
      schema: {
        summary: 'Change an execution environment (administrators); fields left out keep their value',
        params: GuidParams,
        body: EnvironmentDefinition,
        response: answers({ 200: Environment }),
      },
    },
    async (request) => {
      const user = requireRole(request, 'administrator');
      const changes = request.body;
      return environmentJson(await definitionErrorsAs400(() => environments.update(user, request.params.guid, changes)));
    },
  );

  server.delete(
    '/__api__/v1/environments/:guid',
    { schema: { summary: 'Remove an execution environment no live content runs in (administrators)', params: GuidParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireRole(request, 'administrator');
      await environments.delete(user, request.params.guid);
      return noContent(reply);
    },
  );

  server.get(
    '/__api__/v1/environments/:guid/permissions',
    { schema: { summary: 'Who may use a restricted execution environment (administrators)', params: GuidParams, response: answers({ 200: Type.Array(EnvironmentPermission) }) } },
    async (request) => {
      requireRole(request, 'administrator');
      const { env, permissions } = await environments.permissions(request.params.guid);
      return permissions.map((p) => permissionJson(env, p));
    },
  );

  server.post(
    '/__api__/v1/environments/:guid/permissions',
    {
      schema: {
        summary: 'Let a user or group use an execution environment, which restricts it (administrators)',
        params: GuidParams,
        body: NewEnvironmentPermission,
        response: answers({ 200: EnvironmentPermission }),
      },
    },
    async (request) => {
      const user = requireRole(request, 'administrator');
      const { env, permission } = await environments.grant(user, request.params.guid, principalFrom(request.body));
      return permissionJson(env, permission);
    },
  );

  server.delete(
    '/__api__/v1/environments/:guid/permissions/:permission',
    { schema: { summary: 'Remove a permission of an execution environment (administrators)', params: EnvironmentPermissionParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireRole(request, 'administrator');
      const { guid, permission } = request.params;
      await environments.revoke(user, guid, permission);
      return noContent(reply);
    },
  );

  // Lectern's own (Connect has no such endpoint), under the content item, never under Connect's
  // /v1/environments.
  server.get(
    '/__api__/v1/content/:guid/image-selection',
    {
      schema: { summary: 'Which image a deploy of a bundle would run in, and why (Lectern)', params: ContentGuidParams, querystring: ImageSelectionQuery, response: answers({ 200: ImageSelection }) },
    },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      return app.imageSelection.explain(content, request.query.bundle_id);
    },
  );
};
