import type { App } from '../app.js';
import { noContent, requireUser } from '../auth/principal.js';
import type { Content } from '../db/schema.js';
import { badRequest, conflict, ErrorCode, invalidParameter, LecternError, notFound } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { roleAtLeast } from '../users/users.js';

interface PermissionRow {
  id: number;
  content_id: number;
  principal_type: 'user' | 'group';
  principal_guid: string;
  role: 'viewer' | 'owner';
}

const PRINCIPAL_TYPES = ['user', 'group'] as const;
const ROLES = ['viewer', 'owner'] as const;

function permissionJson(content: Content, p: PermissionRow) {
  return { id: String(p.id), content_guid: content.guid, principal_guid: p.principal_guid, principal_type: p.principal_type, role: p.role };
}

function parseBody(body: unknown): { principal_guid: string; principal_type: 'user' | 'group'; role: 'viewer' | 'owner' } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.CannotParseRequestBody);
  const b = body as Record<string, unknown>;
  if (typeof b.principal_guid !== 'string' || b.principal_guid === '') throw badRequest('The "principal_guid" field is required.', ErrorCode.ParameterMissing);
  if (!PRINCIPAL_TYPES.includes(b.principal_type as never)) throw invalidParameter('principal_type must be "user" or "group".');
  if (!ROLES.includes(b.role as never)) throw invalidParameter('role must be "viewer" or "owner".');
  return { principal_guid: b.principal_guid.toLowerCase(), principal_type: b.principal_type as 'user' | 'group', role: b.role as 'viewer' | 'owner' };
}

/**
 * Checks the principal exists, is not the content owner, and, for a collaborator grant to a user,
 * has an account that may edit: a viewer account can only be a viewer of content (as in Connect).
 * Groups may be collaborators; their viewer members still only view (ContentAccess caps the role).
 */
async function checkPrincipal(app: App, content: Content, p: { principal_guid: string; principal_type: 'user' | 'group'; role: 'viewer' | 'owner' }) {
  const db = app.store.db;
  if (p.principal_type === 'user') {
    const user = await db.selectFrom('users').select(['id', 'username', 'user_role']).where('guid', '=', p.principal_guid).executeTakeFirst();
    if (!user) throw invalidParameter(`User ${p.principal_guid} does not exist.`);
    if (user.id === content.owner_id) throw invalidParameter('The owner of the content already has full access; it cannot be given a permission.');
    if (p.role === 'owner' && !roleAtLeast(user, 'publisher')) {
      throw new LecternError('invalid', ErrorCode.InvalidParameter, `${user.username} has a viewer account and can only be a viewer of content: grant the "viewer" role, or give the account the publisher role first.`, {
        principal_guid: p.principal_guid,
        user_role: user.user_role,
      });
    }
  } else {
    const group = await db.selectFrom('groups').select(['id']).where('guid', '=', p.principal_guid).executeTakeFirst();
    if (!group) throw invalidParameter(`Group ${p.principal_guid} does not exist.`);
  }
}

async function findPermission(app: App, content: Content, id: string): Promise<PermissionRow> {
  const row = /^\d+$/.test(id)
    ? await app.store.db.selectFrom('content_permissions').selectAll().where('content_id', '=', content.id).where('id', '=', Number(id)).executeTakeFirst()
    : undefined;
  if (!row) throw notFound(`Permission ${id} does not exist for content ${content.guid}.`);
  return row;
}

async function requireNoDuplicate(app: App, content: Content, principalGuid: string, exceptId?: number) {
  let q = app.store.db.selectFrom('content_permissions').select('id').where('content_id', '=', content.id).where('principal_guid', '=', principalGuid);
  if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
  if (await q.executeTakeFirst()) throw conflict(`Principal ${principalGuid} already has a permission on this content.`, ErrorCode.DuplicateName);
}

/** Content ACL: editors (owner, collaborators, administrators) change it; anyone who can see the item reads it. */
export const permissionRoutes: RoutePlugin = (server, app) => {
  const db = app.store.db;

  server.get('/__api__/v1/content/:guid/permissions', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible((request.params as { guid: string }).guid, user);
    const rows = await db.selectFrom('content_permissions').selectAll().where('content_id', '=', content.id).orderBy('id').execute();
    return rows.map((r) => permissionJson(content, r));
  });

  server.post('/__api__/v1/content/:guid/permissions', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    const body = parseBody(request.body);
    await checkPrincipal(app, content, body);
    await requireNoDuplicate(app, content, body.principal_guid);
    const row = await db
      .insertInto('content_permissions')
      .values({ content_id: content.id, principal_guid: body.principal_guid, principal_type: body.principal_type, role: body.role })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(async (err) => {
        // A concurrent insert won the unique constraint.
        await requireNoDuplicate(app, content, body.principal_guid);
        throw err;
      });
    await app.audit.record(user, 'add_permission', `Granted ${body.role} on ${content.guid} to ${body.principal_type} ${body.principal_guid}`);
    return permissionJson(content, row);
  });

  server.get('/__api__/v1/content/:guid/permissions/:id', async (request) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getVisible(guid, user);
    return permissionJson(content, await findPermission(app, content, id));
  });

  server.put('/__api__/v1/content/:guid/permissions/:id', async (request) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getEditable(guid, user);
    const existing = await findPermission(app, content, id);
    const body = parseBody(request.body);
    await checkPrincipal(app, content, body);
    await requireNoDuplicate(app, content, body.principal_guid, existing.id);
    const row = await db
      .updateTable('content_permissions')
      .set({ principal_guid: body.principal_guid, principal_type: body.principal_type, role: body.role })
      .where('id', '=', existing.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await app.audit.record(user, 'update_permission', `Changed permission ${existing.id} on ${content.guid} to ${body.role} for ${body.principal_type} ${body.principal_guid}`);
    return permissionJson(content, row);
  });

  server.delete('/__api__/v1/content/:guid/permissions/:id', async (request, reply) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getEditable(guid, user);
    const existing = await findPermission(app, content, id);
    await db.deleteFrom('content_permissions').where('id', '=', existing.id).execute();
    await app.audit.record(user, 'remove_permission', `Removed ${existing.role} on ${content.guid} from ${existing.principal_type} ${existing.principal_guid}`);
    return noContent(reply);
  });
};
