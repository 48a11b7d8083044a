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

/** `T` or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/**
 * A route's answers: its successes as given, and Connect's error JSON for every 4xx and 5xx.
 * Answers are serialized with JSON.stringify, so these schemas document them (and the API tests
 * check them) without changing a byte (src/http/schema-compilers.ts).
 */
export function answers<T extends Record<number, TSchema>>(successes: T) {
  return { ...successes, '4xx': ConnectError, '5xx': ConnectError };
}

/** A success with no body (204). */
export const NoContent = Type.Null({ description: 'No content.' });

/** Path parameter of every content route: the content's GUID (the legacy routes also take its integer id). */
export const ContentGuidParams = Type.Object({ guid: Type.String({ description: 'Content GUID.' }) });
