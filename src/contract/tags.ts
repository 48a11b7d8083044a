// Tags: a server-wide tree that content items carry (Connect's v1 Tag).
import { Type, type Static } from 'typebox';
import { Nullable } from './common.js';

const Time = Type.String({ description: 'RFC 3339, seconds precision, UTC.' });

export const Tag = Type.Object(
  { id: Type.String(), name: Type.String(), parent_id: Nullable(Type.String({ description: 'null for a top-level tag.' })), created_time: Time, updated_time: Time },
  { additionalProperties: false },
);
export type Tag = Static<typeof Tag>;

export const TagsQuery = Type.Object({
  name: Type.Optional(Type.String({ description: 'Tags of exactly this name.' })),
  parent_id: Type.Optional(Type.String({ description: 'Children of this tag; "null" or "0" for top-level tags.' })),
});

/** A numeric id, as a string or a number. */
const TagId = Type.Union([Type.String(), Type.Number()], { description: 'A tag id.' });

export const NewTag = Type.Object({
  name: Type.String({ description: 'Unique among its siblings; at most 255 characters.', 'x-error-message': 'The "name" field is required.' }),
  parent_id: Type.Optional(Nullable(TagId)),
});

export const TagChanges = Type.Object({
  name: Type.Optional(Type.String({ 'x-error-message': 'The "name" field is required.' })),
  parent_id: Type.Optional(Nullable(TagId)),
});

export const TagParams = Type.Object({ id: Type.String({ description: 'Tag id.' }) });
export const ContentTagParams = Type.Object({ guid: Type.String({ description: 'Content GUID.' }), tagId: Type.String({ description: 'Tag id.' }) });

export const ContentTagging = Type.Object({ tag_id: Type.Union([Type.String(), Type.Number()], { description: 'The tag to attach.', 'x-error-message': 'The "tag_id" field is required.' }) });
