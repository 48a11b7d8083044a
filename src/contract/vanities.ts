// Vanity URLs: a path of the server's own under which a content item is also served.
import { Type, type Static } from 'typebox';

export const Vanity = Type.Object(
  {
    content_guid: Type.String(),
    path: Type.String({ description: 'Normalized: lower case, with a leading and trailing slash ("/sales/q3/").' }),
    created_time: Type.String({ description: 'RFC 3339, seconds precision, UTC.' }),
  },
  { additionalProperties: false },
);
export type Vanity = Static<typeof Vanity>;

export const VanityRequest = Type.Object({
  path: Type.String({ description: 'Letters, digits, "-", "_" and "/"; not under /__, /content/ or /connect/.', 'x-error-message': 'The "path" field is required.' }),
  force: Type.Optional(Type.Boolean({ description: 'Administrators only: take the path from the content holding it.' })),
});
