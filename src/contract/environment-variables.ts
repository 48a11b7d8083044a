// A content item's environment variables: values go in, only names ever come out.
import { Type } from 'typebox';
import { Nullable } from './common.js';

/** Sorted names. */
export const VariableNames = Type.Array(Type.String());

/**
 * `[{name, value}]`; a null value removes the variable. The names' rules (pattern, reserved
 * prefixes, none twice) are src/content/environment-variables.ts's, whose refusals name the variable.
 */
export const VariableChanges = Type.Array(
  Type.Object({
    name: Type.Unknown({ description: 'Letters, digits and underscores, not starting with a digit; not CONNECT_… or RSTUDIO_….' }),
    value: Type.Optional(Nullable(Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
  }),
  { 'x-error-message': 'The request body must be a JSON array of {"name": ..., "value": ...} objects.' },
);

/** PUT also takes no body at all, which removes every variable (the validator hands an absent body over as `{}`). */
export const VariableReplacement = Type.Union([VariableChanges, Type.Object({}, { additionalProperties: false, description: 'No body: remove every variable.' })]);
