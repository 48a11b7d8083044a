// How a request that fails its route's schema is refused: Connect's code, words naming the
// field, and `payload.field` in the form the dashboard marks inputs by.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from 'typebox';
import { ABSENT_BODY_IS_EMPTY } from '../../src/contract/common.js';
import { serializerCompiler, validationFailure, validatorCompiler } from '../../src/http/schema-compilers.js';
import { httpAnswer } from '../../src/http/errors.js';

type Check = ((data: unknown) => unknown) & { errors?: Parameters<typeof validationFailure>[0] | null };

function refusal(schema: object, data: unknown, httpPart: 'body' | 'querystring' = 'body') {
  const check = validatorCompiler({ schema, httpPart, method: 'POST', url: '/x' }) as Check;
  const result = check(data);
  assert.equal(result, false, `expected ${JSON.stringify(data)} to be refused`);
  return httpAnswer(validationFailure(check.errors ?? [], httpPart)).body;
}

const Definition = Type.Object(
  {
    name: Type.String(),
    python: Type.Optional(Type.Object({ installations: Type.Array(Type.Object({ path: Type.String({ pattern: '^/' }) }, { additionalProperties: false })) })),
    activate: Type.Optional(Type.Boolean({ 'x-error-message': 'activate must be true or false.' })),
  },
  { additionalProperties: false },
);

test('a missing field is code 12 naming it, nested ones by their path', () => {
  assert.deepEqual(refusal(Definition, {}), { code: 12, error: 'The field "name" is required.', payload: { field: 'name' } });
  assert.deepEqual(refusal(Definition, { name: 'x', python: { installations: [{ path: '/a' }, {}] } }).payload, { field: 'python.installations[1].path' });
});

test('an unknown or ill-typed field is code 25 naming it; a schema may keep its own words', () => {
  assert.deepEqual(refusal(Definition, { name: 'x', nmae: 'y' }), { code: 25, error: 'Unknown field "nmae".', payload: { field: 'nmae' } });
  assert.deepEqual(refusal(Definition, { name: 'x', python: { installations: [{ path: 'relative' }] } }), {
    code: 25,
    error: 'python.installations[0].path: must match pattern "^/".',
    payload: { field: 'python.installations[0].path' },
  });
  assert.deepEqual(refusal(Definition, { name: 'x', activate: 'yes' }), { code: 25, error: 'activate must be true or false.', payload: { field: 'activate' } });
});

test('a body that is no JSON object is code 121; a bodiless request too, unless the schema takes none', () => {
  assert.deepEqual(refusal(Definition, [1]), { code: 121, error: 'The request body must be a JSON object.', payload: null });
  assert.equal(refusal(Definition, null).code, 121);
  const optional = Type.Object({ activate: Type.Optional(Type.Boolean()) }, { [ABSENT_BODY_IS_EMPTY]: true });
  const check = validatorCompiler({ schema: optional, httpPart: 'body', method: 'POST', url: '/x' }) as Check;
  assert.deepEqual(check(null), { value: {} });
  assert.equal(check({ activate: true }), true);
});

test('query strings are coerced from text, JSON bodies are not, and nothing is removed', () => {
  const Query = Type.Object({ first: Type.Optional(Type.Integer({ minimum: 0 })) });
  const query = { first: '10', other: 'kept' };
  assert.equal((validatorCompiler({ schema: Query, httpPart: 'querystring', method: 'GET', url: '/x' }) as Check)(query), true);
  assert.deepEqual(query, { first: 10, other: 'kept' });
  assert.deepEqual(refusal(Query, { first: 'soon' }, 'querystring'), { code: 25, error: 'first: must be integer.', payload: { field: 'first' } });
  assert.equal(refusal(Type.Object({ n: Type.Integer() }), { n: '10' }).code, 25);
});

test('answers are serialized as they are, whatever their schema leaves out', () => {
  const serialize = serializerCompiler({ schema: Type.Object({ a: Type.String() }, { additionalProperties: false }), method: 'GET', url: '/x', httpStatus: '200' });
  assert.equal(serialize({ a: 1, b: [true] }), '{"a":1,"b":[true]}');
});
