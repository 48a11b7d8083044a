import type { App } from '../app.js';
import { noContent, requireRole, requireUser } from '../auth/principal.js';
import type { EnvironmentRow, User } from '../db/schema.js';
import { DefinitionError, formatPath, parseDefinition, type EnvironmentDefinition } from '../execution-environments/definition.js';
import { definitionFields, environmentJson, permissionJson } from '../execution-environments/environments.js';
import { runnerFor } from '../execution/runners.js';
import { badRequest, conflict, ErrorCode, invalidParameter, LecternError, notFound } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';

/** Validates a body into a definition; problems become 400s naming the field. */
function definitionFrom(body: unknown, options: { requireTitle: boolean; requireCluster: boolean }): EnvironmentDefinition {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.InvalidJson);
  try {
    return parseDefinition(body, { ...options, allowReadOnly: true });
  } catch (err) {
    if (err instanceof DefinitionError) {
      const field = formatPath(err.path);
      const missing = /is required/.test(err.message);
      const apiError = missing ? badRequest(`${field}: ${err.message}`, ErrorCode.ParameterMissing) : invalidParameter(`${field}: ${err.message}`);
      return throwWith(apiError, { field });
    }
    throw err;
  }
}

function throwWith(error: LecternError, payload: unknown): never {
  throw error.withPayload(payload);
}

/** Records owned by the declarative file are changed by editing the file, never through the API. */
function requireApiOwned(env: EnvironmentRow) {
  if (env.managed_by) {
    throw new LecternError(
      'conflict',
      ErrorCode.NoUpdatePermission,
      `Execution environment ${env.name} is managed by ${env.managed_by}; change that file instead ([ExecutionEnvironments] ConfigFilePath).`,
      { managed_by: env.managed_by },
    );
  }
}

/**
 * Environments API (connect-api §5.10): administrators create, change and restrict environments;
 * publishers list and read the ones they may use; viewers see none.
 */
export const executionEnvironmentRoutes: RoutePlugin = (server, app) => {
  const environments = app.environments;

  async function visible(guid: string, user: User): Promise<EnvironmentRow> {
    const usable = (await environments.withUsability(user)).find((e) => e.row.guid === guid.toLowerCase());
    // A restricted environment is as good as missing to those who may not use it.
    if (!usable?.usable) throw notFound(`Execution environment ${guid} does not exist.`);
    return usable.row;
  }

  async function existing(guid: string): Promise<EnvironmentRow> {
    const env = await environments.find(guid);
    if (!env) throw notFound(`Execution environment ${guid} does not exist.`);
    return env;
  }

  async function requireUniqueImage(name: string) {
    const other = await environments.findByName(name);
    if (other) throw conflict(`An execution environment for image ${name} already exists (${other.guid}).`, ErrorCode.DuplicateName);
  }

  server.get('/__api__/v1/environments', async (request) => {
    const user = requireRole(request, 'publisher');
    return (await environments.usableBy(user)).map(environmentJson);
  });

  server.post('/__api__/v1/environments', async (request) => {
    const user = requireRole(request, 'administrator');
    const def = definitionFrom(request.body, { requireTitle: true, requireCluster: true });
    await requireUniqueImage(def.name);
    const env = await environments.create(def, 'api').catch(async (err) => {
      await requireUniqueImage(def.name); // a concurrent create of the same image won
      throw err;
    });
    await app.audit.record(user, 'add_environment', `Added execution environment ${env.guid} (${env.name})`);
    return environmentJson(env);
  });

  server.get('/__api__/v1/environments/:guid', async (request) => {
    const user = requireRole(request, 'publisher');
    return environmentJson(await visible((request.params as { guid: string }).guid, user));
  });

  server.put('/__api__/v1/environments/:guid', async (request) => {
    const user = requireRole(request, 'administrator');
    const env = await existing((request.params as { guid: string }).guid);
    requireApiOwned(env);
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.InvalidJson);
    const changes = body as Record<string, unknown>;
    for (const field of ['name', 'cluster_name'] as const) {
      if (changes[field] !== undefined && changes[field] !== env[field]) {
        throwWith(invalidParameter(`${field} cannot be changed (it is ${JSON.stringify(env[field])}); create another environment instead.`), { field });
      }
    }
    // Fields left out keep their value, as in Connect's UpdateEnvironmentInput.
    const def = definitionFrom({ ...definitionFields(env), ...changes }, { requireTitle: true, requireCluster: true });
    const updated = await environments.update(env, def);
    await app.audit.record(user, 'update_environment', `Updated execution environment ${env.guid} (${env.name}): ${Object.keys(changes).join(', ')}`);
    return environmentJson(updated);
  });

  server.delete('/__api__/v1/environments/:guid', async (request, reply) => {
    const user = requireRole(request, 'administrator');
    const env = await existing((request.params as { guid: string }).guid);
    requireApiOwned(env);
    // Deleting the image live content runs in would fail its next worker start: refuse, naming it.
    const users = await environments.contentUsing([env.name]);
    if (users.length) {
      throw new LecternError(
        'conflict',
        ErrorCode.NoUpdatePermission,
        `Execution environment ${env.name} is in use by ${users.length} content item(s) (${users.slice(0, 5).map((u) => u.guid).join(', ')}${users.length > 5 ? ', …' : ''}); move them to another image first (default_image_name).`,
        { content_guids: users.map((u) => u.guid) },
      );
    }
    await environments.delete(env);
    await app.audit.record(user, 'remove_environment', `Removed execution environment ${env.guid} (${env.name})`);
    return noContent(reply);
  });

  // Restrictions are administered through the API even for file-managed environments: the
  // file format (Connect's) has no place for them.
  server.get('/__api__/v1/environments/:guid/permissions', async (request) => {
    requireRole(request, 'administrator');
    const env = await existing((request.params as { guid: string }).guid);
    return (await environments.permissions(env)).map((p) => permissionJson(env, p));
  });

  server.post('/__api__/v1/environments/:guid/permissions', async (request) => {
    const user = requireRole(request, 'administrator');
    const env = await existing((request.params as { guid: string }).guid);
    const principal = await principalFrom(app, request.body);
    if ((await environments.permissions(env)).some((p) => p.principal_guid === principal.guid)) {
      throw conflict(`The ${principal.type} ${principal.guid} may already use ${env.name}.`, ErrorCode.DuplicateName);
    }
    const permission = await environments.grant(env, principal);
    await app.audit.record(user, 'add_environment_permission', `Allowed ${principal.type} ${principal.guid} to use execution environment ${env.name}`);
    return permissionJson(env, permission);
  });

  server.delete('/__api__/v1/environments/:guid/permissions/:permission', async (request, reply) => {
    const user = requireRole(request, 'administrator');
    const { guid, permission: permissionGuid } = request.params as { guid: string; permission: string };
    const env = await existing(guid);
    const permission = await environments.findPermission(env, permissionGuid);
    if (!permission) throw notFound(`Permission ${permissionGuid} does not exist for execution environment ${env.guid}.`);
    await environments.revoke(permission);
    await app.audit.record(user, 'remove_environment_permission', `Removed ${permission.principal_type} ${permission.principal_guid} from execution environment ${env.name}`);
    return noContent(reply);
  });

  // Lectern's own (Connect has no such endpoint): which image a deploy of this bundle would run
  // in, and why every other environment was passed over. Under the content item, never under
  // Connect's /v1/environments.
  server.get('/__api__/v1/content/:guid/image-selection', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    const query = request.query as { bundle_id?: string };
    const bundleId = query.bundle_id ?? (content.bundle_id === null ? undefined : String(content.bundle_id));
    if (bundleId === undefined) throw badRequest(`Content ${content.guid} has no deployed bundle; name one with ?bundle_id=.`, ErrorCode.BundleMissing);
    if (!/^\d+$/.test(bundleId)) throw invalidParameter(`bundle_id must be a bundle id; got ${JSON.stringify(bundleId)}.`);
    const bundle = await app.bundles.get(content, bundleId);
    if (!app.execution.offHost) {
      return { off_host_execution: false, bundle_id: String(bundle.id), source: null, chosen: null, error: null, rejected: [], note: 'Off-host execution is off ([Launcher] Enabled and Kubernetes): content runs on local interpreters, not in images.' };
    }
    const manifest = app.bundles.manifest(bundle);
    if (runnerFor(manifest)?.serve === 'static') {
      return { off_host_execution: true, bundle_id: String(bundle.id), source: null, chosen: null, error: null, rejected: [], note: 'Static content is served by Lectern itself: it runs no process, so no image is selected.' };
    }
    const selection = await app.execution.selectImage(content, bundle);
    const live = bundle.id === content.bundle_id ? content.image_name : null;
    return {
      off_host_execution: true,
      bundle_id: String(bundle.id),
      requested: { image: manifest.environment.image ?? null, default_image_name: content.default_image_name, python: manifest.python?.version ?? null, r: manifest.r?.version ?? null, quarto: manifest.quarto?.version ?? null },
      source: selection.source,
      chosen: selection.ok
        ? { guid: selection.environment.guid, name: selection.environment.name, title: selection.environment.title, reason: selection.reason, installations: selection.installations }
        : null,
      error: selection.ok ? null : selection.error,
      rejected: selection.rejected,
      /** The image the live bundle runs in now (a deploy re-selects; runs and renders keep it). */
      current_image_name: live,
    };
  });
};

async function principalFrom(app: App, body: unknown): Promise<{ type: 'user' | 'group'; guid: string }> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.InvalidJson);
  const { user_guid: userGuid, group_guid: groupGuid, ...rest } = body as Record<string, unknown>;
  const unknownField = Object.keys(rest).find((k) => !['id', 'guid', 'environment_guid'].includes(k));
  if (unknownField) throw invalidParameter(`Unknown field "${unknownField}": send user_guid or group_guid.`);
  const given = [userGuid, groupGuid].filter((v) => v !== undefined && v !== null);
  if (given.length !== 1) throw badRequest('Send exactly one of user_guid and group_guid.', ErrorCode.ParameterMissing);
  const guid = given[0];
  if (typeof guid !== 'string') throw invalidParameter('user_guid and group_guid must be strings.');
  const db = app.store.db;
  if (userGuid !== undefined && userGuid !== null) {
    if (!(await db.selectFrom('users').select('id').where('guid', '=', guid.toLowerCase()).executeTakeFirst())) throw invalidParameter(`User ${guid} does not exist.`);
    return { type: 'user', guid: guid.toLowerCase() };
  }
  if (!(await db.selectFrom('groups').select('id').where('guid', '=', guid.toLowerCase()).executeTakeFirst())) throw invalidParameter(`Group ${guid} does not exist.`);
  return { type: 'group', guid: guid.toLowerCase() };
}
