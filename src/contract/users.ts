// Users, their API keys and groups (Connect's v1 User, Group and offset pages).
import { Type, type Static, type TSchema } from 'typebox';
import { Nullable } from './common.js';

const Time = Type.String({ description: 'RFC 3339, seconds precision, UTC.' });

export const Role = Type.Union([Type.Literal('viewer'), Type.Literal('publisher'), Type.Literal('administrator')]);
export type Role = Static<typeof Role>;

/** Connect's v1 User, as rsconnect, posit-sdk and connectapi read it. */
export const User = Type.Object(
  {
    guid: Type.String(),
    username: Type.String(),
    email: Type.String(),
    first_name: Type.String(),
    last_name: Type.String(),
    user_role: Role,
    created_time: Time,
    updated_time: Time,
    active_time: Nullable(Time),
    confirmed: Type.Boolean(),
    locked: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type User = Static<typeof User>;

/** GET /__api__/me and /__api__/users/current: rsconnect (R) keeps the integer `id` as its account id. */
export const LegacyUser = Type.Object({ id: Type.Integer(), ...User.properties }, { additionalProperties: false });

/** Connect's offset page: exactly these keys (posit-sdk builds its Page from every key). */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object(
    { results: Type.Array(item), current_page: Type.Integer({ description: 'The page_number asked for.' }), total: Type.Integer({ description: 'Rows in all pages.' }) },
    { additionalProperties: false },
  );
export interface Page<T> {
  results: T[];
  current_page: number;
  total: number;
}

/** Offset paging as Connect does it: 1-based page_number, page_size default 20 and at most 500. */
const paging = {
  page_number: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Page to answer, from 1 (default 1).' })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'Rows per page (default 20, at most 500).' })),
};
const ascOrder = Type.Optional(Type.String({ description: 'true (default) or false: sort ascending or descending by name (also yes/no, 1/0).' }));

export const PageQuery = Type.Object(paging);

export const UsersQuery = Type.Object({
  ...paging,
  prefix: Type.Optional(Type.String({ description: 'Users whose username, first or last name or email starts with this (any case).' })),
  user_role: Type.Optional(Type.String({ description: 'Roles joined by "|", e.g. publisher|administrator.' })),
  account_status: Type.Optional(Type.String({ description: 'locked, licensed or inactive, joined by "|".' })),
  asc_order: ascOrder,
});

export const GroupsQuery = Type.Object({
  ...paging,
  prefix: Type.Optional(Type.String({ description: 'Groups whose name starts with this (any case).' })),
  asc_order: ascOrder,
});

export const GuidParams = Type.Object({ guid: Type.String() });

// Request bodies refuse unknown fields, as these routes always have; null is "not given".
const text = (description?: string) => Type.Optional(Nullable(Type.String(description ? { description } : {})));

export const NewUser = Type.Object(
  {
    username: text('Required: 1–64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit.'),
    email: text(),
    first_name: text(),
    last_name: text(),
    password: text('At least 8 characters; leave out for an account that signs in once its password is set.'),
    user_role: text('viewer (default), publisher or administrator.'),
    user_must_set_password: Type.Optional(Nullable(Type.Boolean({ 'x-error-message': 'The field "user_must_set_password" must be a boolean.' }))),
    unique_id: text('Accepted for compatibility with Connect, not stored.'),
  },
  { additionalProperties: false },
);
export type NewUser = Static<typeof NewUser>;

/** Users change their own name and email; administrators anything of anyone but their own role. */
export const UserUpdate = Type.Object(
  { username: text(), email: text(), first_name: text(), last_name: text(), user_role: text('viewer, publisher or administrator.') },
  { additionalProperties: false },
);
export type UserUpdate = Static<typeof UserUpdate>;

export const UserLock = Type.Object({ locked: Type.Boolean({ 'x-error-message': 'The field "locked" is required and must be true or false.' }) }, { additionalProperties: false });

export const ApiKey = Type.Object(
  { id: Type.String(), name: Type.String(), key_hint: Type.String({ description: 'The first characters of the key.' }), created_time: Time, last_used_time: Nullable(Time) },
  { additionalProperties: false },
);
export type ApiKey = Static<typeof ApiKey>;

export const NewApiKey = Type.Object({ name: text('Required, at most 100 characters.') }, { additionalProperties: false });

/** The new key itself is in this answer only, never again. */
export const CreatedApiKey = Type.Object({ id: Type.String(), name: Type.String(), key: Type.String(), created_time: Time }, { additionalProperties: false });

export const ApiKeyParams = Type.Object({ id: Type.String() });

export const Group = Type.Object({ guid: Type.String(), name: Type.String(), owner_guid: Nullable(Type.String()) }, { additionalProperties: false });
export type Group = Static<typeof Group>;

export const NewGroup = Type.Object({ name: text('Required; unique regardless of case.') }, { additionalProperties: false });

export const NewGroupMember = Type.Object({ user_guid: text('Required.') }, { additionalProperties: false });

export const GroupMemberParams = Type.Object({ guid: Type.String(), userGuid: Type.String() });
