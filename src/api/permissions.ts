import { noContent, requireUser } from '../auth/principal.js';
import type { Content } from '../db/schema.js';
import type { ContentPermission, Grant } from '../content/permissions.js';
import { badRequest, ErrorCode, invalidParameter } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';

const PRINCIPAL_TYPES = ['user', 'group'] as const;
const ROLES = ['viewer', 'owner'] as const;

function permissionJson(content: Content, p: ContentPermission) {
  return { id: String(p.id), content_guid: content.guid, principal_guid: p.principal_guid, principal_type: p.principal_type, role: p.role };
}

function parseBody(body: unknown): Grant {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.CannotParseRequestBody);
  const b = body as Record<string, unknown>;
  if (typeof b.principal_guid !== 'string' || b.principal_guid === '') throw badRequest('The "principal_guid" field is required.', ErrorCode.ParameterMissing);
  if (!PRINCIPAL_TYPES.includes(b.principal_type as never)) throw invalidParameter('principal_type must be "user" or "group".');
  if (!ROLES.includes(b.role as never)) throw invalidParameter('role must be "viewer" or "owner".');
  return { principal_guid: b.principal_guid.toLowerCase(), principal_type: b.principal_type as 'user' | 'group', role: b.role as 'viewer' | 'owner' };
}

/** Content ACL: editors (owner, collaborators, administrators) change it; anyone who can see the item reads it. */
export const permissionRoutes: RoutePlugin = (server, app) => {
  const permissions = app.contentPermissions;

  server.get('/__api__/v1/content/:guid/permissions', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getVisible((request.params as { guid: string }).guid, user);
    return (await permissions.list(content)).map((r) => permissionJson(content, r));
  });

  server.post('/__api__/v1/content/:guid/permissions', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    return permissionJson(content, await permissions.grant(user, content, parseBody(request.body)));
  });

  server.get('/__api__/v1/content/:guid/permissions/:id', async (request) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getVisible(guid, user);
    return permissionJson(content, await permissions.get(content, id));
  });

  server.put('/__api__/v1/content/:guid/permissions/:id', async (request) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getEditable(guid, user);
    return permissionJson(content, await permissions.change(user, content, id, parseBody(request.body)));
  });

  server.delete('/__api__/v1/content/:guid/permissions/:id', async (request, reply) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getEditable(guid, user);
    await permissions.revoke(user, content, id);
    return noContent(reply);
  });
};
