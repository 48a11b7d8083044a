import { noContent, requireRole, requireUser } from '../auth/principal.js';
import { EDITABLE, type Principal } from '../environments/administration.js';
import { DefinitionError, formatPath, parseDefinition, type EnvironmentDefinition } from '../environments/definition.js';
import { environmentJson, permissionJson } from '../environments/environments.js';
import { ApiError, badRequest, ErrorCode, invalidParameter } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';

function objectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.InvalidJson);
  return body as Record<string, unknown>;
}

/** A definition that is not valid is a 400 naming the field (payload `{field}`). */
async function definitionErrorsAs400<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof DefinitionError)) throw err;
    const field = formatPath(err.path);
    const missing = /is required/.test(err.message);
    const apiError = missing ? badRequest(`${field}: ${err.message}`, ErrorCode.ParameterMissing) : invalidParameter(`${field}: ${err.message}`);
    throw new ApiError(apiError.status, apiError.code, apiError.message, { field });
  }
}

function principalFrom(body: unknown): Principal {
  const { user_guid: userGuid, group_guid: groupGuid, ...rest } = objectBody(body);
  const unknownField = Object.keys(rest).find((k) => !['id', 'guid', 'environment_guid'].includes(k));
  if (unknownField) throw invalidParameter(`Unknown field "${unknownField}": send user_guid or group_guid.`);
  const given = [userGuid, groupGuid].filter((v) => v !== undefined && v !== null);
  if (given.length !== 1) throw badRequest('Send exactly one of user_guid and group_guid.', ErrorCode.ParameterMissing);
  const guid = given[0];
  if (typeof guid !== 'string') throw invalidParameter('user_guid and group_guid must be strings.');
  return { type: userGuid !== undefined && userGuid !== null ? 'user' : 'group', guid };
}

/**
 * Environments API (connect-api §5.10): administrators create, change and restrict environments;
 * publishers list and read the ones they may use; viewers see none.
 */
export const executionEnvironmentRoutes: RoutePlugin = (server, app) => {
  const environments = app.environmentAdministration;
  const guidOf = (params: unknown) => (params as { guid: string }).guid;

  server.get('/__api__/v1/environments', async (request) => {
    const user = requireRole(request, 'publisher');
    return (await environments.usableBy(user)).map(environmentJson);
  });

  server.post('/__api__/v1/environments', async (request) => {
    const user = requireRole(request, 'administrator');
    const def: EnvironmentDefinition = await definitionErrorsAs400(() => parseDefinition(objectBody(request.body), EDITABLE));
    return environmentJson(await environments.create(user, def));
  });

  server.get('/__api__/v1/environments/:guid', async (request) => {
    const user = requireRole(request, 'publisher');
    return environmentJson(await environments.getUsable(guidOf(request.params), user));
  });

  server.put('/__api__/v1/environments/:guid', async (request) => {
    const user = requireRole(request, 'administrator');
    const changes = objectBody(request.body);
    return environmentJson(await definitionErrorsAs400(() => environments.update(user, guidOf(request.params), changes)));
  });

  server.delete('/__api__/v1/environments/:guid', async (request, reply) => {
    const user = requireRole(request, 'administrator');
    await environments.delete(user, guidOf(request.params));
    return noContent(reply);
  });

  server.get('/__api__/v1/environments/:guid/permissions', async (request) => {
    requireRole(request, 'administrator');
    const { env, permissions } = await environments.permissions(guidOf(request.params));
    return permissions.map((p) => permissionJson(env, p));
  });

  server.post('/__api__/v1/environments/:guid/permissions', async (request) => {
    const user = requireRole(request, 'administrator');
    const { env, permission } = await environments.grant(user, guidOf(request.params), principalFrom(request.body));
    return permissionJson(env, permission);
  });

  server.delete('/__api__/v1/environments/:guid/permissions/:permission', async (request, reply) => {
    const user = requireRole(request, 'administrator');
    const { guid, permission } = request.params as { guid: string; permission: string };
    await environments.revoke(user, guid, permission);
    return noContent(reply);
  });

  // Lectern's own (Connect has no such endpoint), under the content item, never under Connect's
  // /v1/environments.
  server.get('/__api__/v1/content/:guid/image-selection', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable(guidOf(request.params), user);
    return app.imageSelection.explain(content, (request.query as { bundle_id?: string }).bundle_id);
  });
};
