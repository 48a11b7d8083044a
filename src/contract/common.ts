// Building blocks the API's schemas share. src/contract/ is the one set of request and answer
// types (DTOs) for the routes, the CLI and the dashboard's client: each file declares TypeBox
// schemas and exports their `Static<>` types beside them. It imports nothing of Lectern, so any
// layer may use it; the dashboard uses `import type` only, which keeps TypeBox out of its bundle.
import { Type, type TSchema } from 'typebox';

/** Connect's error JSON, which every refusal under /__api__ carries (src/http/errors.ts). */
export const ConnectError = Type.Object(
  {
    code: Type.Integer({ description: "Connect's error code (src/http/errors.ts lists those Lectern uses)." }),
    error: Type.String({ description: 'What went wrong, in words a person can act on.' }),
    payload: Type.Unknown({ description: 'Details, e.g. `{field}` naming the input that was refused; often null.' }),
  },
  { additionalProperties: false },
);

/**
 * Marks a body schema whose route takes a request without a body (or with JSON `null`) as one
 * with no fields: `Type.Object({...}, { [ABSENT_BODY_IS_EMPTY]: true })`. Without it an absent
 * body is refused as "not a JSON object", as the routes that need one always have.
 */
export const ABSENT_BODY_IS_EMPTY = 'x-absent-body-is-empty';

/** `T` or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/**
 * A route's answers: its successes as given, and Connect's error JSON for every 4xx and 5xx.
 * Answers are serialized with JSON.stringify, so these schemas document them (and the API tests
 * check them) without changing a byte (src/http/schema-compilers.ts). An answer that is not JSON
 * is `{ description, content: { 'media/type': { schema } } }`.
 */
export function answers<T extends Record<number, TSchema | { description: string; content: object }>>(successes: T) {
  return { ...successes, '4xx': ConnectError, '5xx': ConnectError };
}

/** A success with no body (204). */
export const NoContent = Type.Null({ description: 'No content.' });

/** Path parameter of every content route: the content's GUID (the legacy routes also take its integer id). */
export const ContentGuidParams = Type.Object({ guid: Type.String({ description: 'Content GUID.' }) });

/**
 * Connect's `paging` of a keyset (cursor) page (src/http/cursor-page.ts): cursors are opaque
 * strings and the links absolute URLs, since connectapi follows `paging.next` verbatim.
 */
export const CursorPaging = Type.Object(
  {
    cursors: Type.Object({ previous: Nullable(Type.String()), next: Nullable(Type.String()) }, { additionalProperties: false }),
    first: Type.String(),
    previous: Nullable(Type.String()),
    next: Nullable(Type.String()),
    last: Type.String(),
  },
  { additionalProperties: false },
);
