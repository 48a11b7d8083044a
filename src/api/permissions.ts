import { Type } from 'typebox';
import { noContent, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { ContentPermission, ContentPermissionParams, NewContentPermission } from '../contract/permissions.js';
import type { Content } from '../db/schema.js';
import type { ContentPermission as PermissionRow, Grant } from '../content/permissions.js';
import { badRequest, ErrorCode } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';

function permissionJson(content: Content, p: PermissionRow): ContentPermission {
  return { id: String(p.id), content_guid: content.guid, principal_guid: p.principal_guid, principal_type: p.principal_type, role: p.role };
}

function grantOf(body: NewContentPermission): Grant {
  if (body.principal_guid === '') throw badRequest('The "principal_guid" field is required.', ErrorCode.ParameterMissing);
  return { principal_guid: body.principal_guid.toLowerCase(), principal_type: body.principal_type, role: body.role };
}

/** Content ACL: editors (owner, collaborators, administrators) change it; anyone who can see the item reads it. */
export const permissionRoutes: RoutePlugin = (server, app) => {
  const permissions = app.contentPermissions;

  server.get(
    '/__api__/v1/content/:guid/permissions',
    { schema: { summary: "A content item's permissions", params: ContentGuidParams, response: answers({ 200: Type.Array(ContentPermission) }) } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getVisible(request.params.guid, user);
      return (await permissions.list(content)).map((r) => permissionJson(content, r));
    },
  );

  server.post(
    '/__api__/v1/content/:guid/permissions',
    { schema: { summary: 'Give a user or group a role on a content item (editors)', params: ContentGuidParams, body: NewContentPermission, response: answers({ 200: ContentPermission }) } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      return permissionJson(content, await permissions.grant(user, content, grantOf(request.body)));
    },
  );

  server.get(
    '/__api__/v1/content/:guid/permissions/:id',
    { schema: { summary: 'One permission of a content item', params: ContentPermissionParams, response: answers({ 200: ContentPermission }) } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getVisible(request.params.guid, user);
      return permissionJson(content, await permissions.get(content, request.params.id));
    },
  );

  server.put(
    '/__api__/v1/content/:guid/permissions/:id',
    { schema: { summary: 'Change a permission of a content item (editors)', params: ContentPermissionParams, body: NewContentPermission, response: answers({ 200: ContentPermission }) } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      return permissionJson(content, await permissions.change(user, content, request.params.id, grantOf(request.body)));
    },
  );

  server.delete(
    '/__api__/v1/content/:guid/permissions/:id',
    { schema: { summary: 'Remove a permission of a content item (editors)', params: ContentPermissionParams, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      await permissions.revoke(user, content, request.params.id);
      return noContent(reply);
    },
  );
};
