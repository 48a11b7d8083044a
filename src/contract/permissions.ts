// A content item's ACL (Connect's v1 ContentPermission).
import { Type, type Static } from 'typebox';

export const PrincipalType = Type.Union([Type.Literal('user'), Type.Literal('group')]);
export const ContentRole = Type.Union([Type.Literal('viewer'), Type.Literal('owner')], { description: '"owner" makes a collaborator (an editor).' });

export const ContentPermission = Type.Object(
  { id: Type.String(), content_guid: Type.String(), principal_guid: Type.String(), principal_type: PrincipalType, role: ContentRole },
  { additionalProperties: false },
);
export type ContentPermission = Static<typeof ContentPermission>;

/** Clients send back fields of a permission they read, so others are ignored. */
export const NewContentPermission = Type.Object({
  principal_guid: Type.String({ description: 'The user or group GUID.' }),
  principal_type: Type.Union([Type.Literal('user'), Type.Literal('group')], { 'x-error-message': 'principal_type must be "user" or "group".' }),
  role: Type.Union([Type.Literal('viewer'), Type.Literal('owner')], { 'x-error-message': 'role must be "viewer" or "owner".' }),
});
export type NewContentPermission = Static<typeof NewContentPermission>;

export const ContentPermissionParams = Type.Object({ guid: Type.String({ description: 'Content GUID.' }), id: Type.String({ description: 'Permission id.' }) });
