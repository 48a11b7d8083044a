// How Fastify uses the routes' schemas (src/contract/): requests are validated with ajv, answers
// are serialized with plain JSON.stringify, and a request that fails validation becomes Connect's
// 400 naming the field. docs/api.md says how to declare a route's schemas.
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import * as ajvFormats from 'ajv-formats';
import { ABSENT_BODY_IS_EMPTY } from '../contract/common.js';
import { ErrorCode, LecternError } from '../errors.js';

/**
 * A schema keyword for the exact message a refusal carries, where clients or tests already know
 * one (`Type.Boolean({ 'x-error-message': 'activate must be true or false.' })`). An OpenAPI
 * extension, so the published document stays valid.
 */
export const ERROR_MESSAGE = 'x-error-message';
/** Likewise the Connect error code, where a route has long answered another than the default one. */
export const ERROR_CODE = 'x-error-code';

// ajv-formats is CommonJS; its plugin is the module itself or its `default`, depending on the loader.
const addFormats = ((ajvFormats as { default?: unknown }).default ?? ajvFormats) as (ajv: Ajv2020) => Ajv2020;

function validator(coerceTypes: boolean): Ajv2020 {
  const ajv = new Ajv2020({
    // Fastify's own defaults are removeAdditional: true and useDefaults: true, which rewrite the
    // body the handler sees: an unknown field would vanish instead of being refused, and a schema
    // default would look like something the client sent. Lectern refuses what it does not take.
    removeAdditional: false,
    useDefaults: false,
    coerceTypes,
    allErrors: false,
    // The failing schema travels with the error, so ERROR_MESSAGE can be read from it.
    verbose: true,
  });
  addFormats(ajv);
  ajv.addKeyword({ keyword: ERROR_MESSAGE, schemaType: 'string' });
  ajv.addKeyword({ keyword: ERROR_CODE, schemaType: 'number' });
  ajv.addKeyword({ keyword: ABSENT_BODY_IS_EMPTY, schemaType: 'boolean' });
  return ajv;
}

// Query strings, path parameters and headers are text on the wire: `?first=10` is validated as
// the integer 10. A JSON body has real types: `"activate": "true"` is refused, not read as true.
const textParts = validator(true);
const jsonBody = validator(false);

/**
 * Fastify validates a request's body even when it has none (it passes null). A body schema marked
 * ABSENT_BODY_IS_EMPTY reads an absent body (and a JSON `null`) as `{}`, so a route whose fields
 * are all optional takes a bare POST, as Connect's do; any other refuses it as no JSON object.
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (httpPart !== 'body') return textParts.compile(schema as object);
  const validate = jsonBody.compile(schema as object);
  if ((schema as Record<string, unknown>)[ABSENT_BODY_IS_EMPTY] !== true) return validate;
  const check = (data: unknown) => {
    const value = data ?? {};
    const valid = validate(value);
    check.errors = validate.errors;
    if (!valid) return false;
    return data === value ? true : { value };
  };
  check.errors = validate.errors;
  return check;
};

/**
 * Response schemas document the answers; they do not shape them. Fastify's default serializer
 * (fast-json-stringify) would drop every field a schema leaves out and coerce the rest, so a
 * schema that lagged behind a handler would silently change what clients receive. JSON.stringify
 * is what every route answered with before it had a schema, so the bytes stay the same; the API
 * tests check the answers against the schemas instead (test/support/openapi-check.ts).
 */
export const serializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

type Part = 'body' | 'querystring' | 'params' | 'headers';

/** `a/0/b` → `a[0].b`, the way Lectern's other refusals name a field. */
function fieldPath(instancePath: string, child?: string): string {
  const segments = instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) segments.push(child);
  return segments.reduce((path, s) => (/^\d+$/.test(s) ? `${path}[${s}]` : path === '' ? s : `${path}.${s}`), '');
}

/**
 * Connect's answer to a request that fails its route's schema (Fastify's FST_ERR_VALIDATION):
 * a missing field is code 12 (ParameterMissing), an unknown or ill-typed one code 25
 * (InvalidParameter), a body that is not a JSON object at all code 121 (InvalidJson); the
 * payload names the field, as the dashboard's forms expect (`payload.field`).
 */
export function validationFailure(errors: ErrorObject[], part: Part): LecternError {
  // Without allErrors, ajv stops at the first failure; under anyOf/oneOf the branches' errors come
  // first and the combinator's own (which carries the union's ERROR_MESSAGE) last.
  const error = errors[errors.length - 1];
  if (!error) return new LecternError('invalid', ErrorCode.BadRequest, `The request ${part} is not valid.`);
  const noun = part === 'body' ? 'field' : part === 'headers' ? 'header' : 'parameter';
  const custom = (error.parentSchema as Record<string, unknown> | undefined)?.[ERROR_MESSAGE];
  const customCode = (error.parentSchema as Record<string, unknown> | undefined)?.[ERROR_CODE];
  const code = (fallback: number) => (typeof customCode === 'number' ? customCode : fallback);
  if (error.keyword === 'required') {
    const field = fieldPath(error.instancePath, String(error.params.missingProperty));
    return new LecternError('invalid', code(ErrorCode.ParameterMissing), typeof custom === 'string' ? custom : `The ${noun} "${field}" is required.`, { field });
  }
  if (error.keyword === 'additionalProperties') {
    const field = fieldPath(error.instancePath, String(error.params.additionalProperty));
    return new LecternError('invalid', code(ErrorCode.InvalidParameter), typeof custom === 'string' ? custom : `Unknown ${noun} "${field}".`, { field });
  }
  const field = fieldPath(error.instancePath);
  if (part === 'body' && field === '') {
    const message = error.keyword === 'type' && error.params.type === 'object' ? 'must be a JSON object' : (error.message ?? 'is not valid');
    return new LecternError('invalid', code(ErrorCode.InvalidJson), typeof custom === 'string' ? custom : `The request body ${message}.`);
  }
  return new LecternError('invalid', code(ErrorCode.InvalidParameter), typeof custom === 'string' ? custom : `${field}: ${error.message ?? 'is not valid'}.`, { field });
}
