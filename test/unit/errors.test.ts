// LecternError knows a kind, not a status; the edge's table gives each kind its one status. The
// API tests check real answers; this checks the table itself, so a new kind cannot go unmapped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authRequired, badRequest, conflict, ErrorCode, forbidden, invalidLogin, invalidParameter, LecternError, notFound, type ErrorKind } from '../../src/errors.js';
import { httpAnswer } from '../../src/http/errors.js';

test('each kind is answered with its status and Connect’s {code, error, payload}', () => {
  const expected: Record<ErrorKind, number> = {
    invalid: 400,
    unauthenticated: 401,
    forbidden: 403,
    not_found: 404,
    conflict: 409,
    too_large: 413,
    rate_limited: 429,
    unavailable: 503,
    internal: 500,
  };
  for (const [kind, status] of Object.entries(expected) as Array<[ErrorKind, number]>) {
    const answer = httpAnswer(new LecternError(kind, ErrorCode.BadRequest, `a ${kind} failure`, { field: 'x' }));
    assert.deepEqual(answer, { status, body: { code: ErrorCode.BadRequest, error: `a ${kind} failure`, payload: { field: 'x' } } }, kind);
  }
});

test('the helpers keep the statuses and codes clients saw before', () => {
  const cases: Array<[LecternError, number, number]> = [
    [badRequest('b'), 400, ErrorCode.BadRequest],
    [badRequest('b', ErrorCode.InvalidJson), 400, ErrorCode.InvalidJson],
    [invalidParameter('p'), 400, ErrorCode.InvalidParameter],
    [notFound('n'), 404, ErrorCode.ObjectDoesNotExist],
    [forbidden(), 403, ErrorCode.PermissionDenied],
    [authRequired(), 401, ErrorCode.AuthRequired],
    [invalidLogin(), 401, ErrorCode.InvalidLogin],
    [conflict('c', ErrorCode.DuplicateName), 409, ErrorCode.DuplicateName],
  ];
  for (const [error, status, code] of cases) {
    const answer = httpAnswer(error);
    assert.equal(answer.status, status, error.message);
    assert.equal(answer.body.code, code, error.message);
    assert.equal(answer.body.payload, null, error.message);
  }
});

test('withPayload keeps the kind, code and message', () => {
  const error = invalidParameter('default_image_name: unknown').withPayload({ field: 'default_image_name' });
  assert.deepEqual(httpAnswer(error), { status: 400, body: { code: ErrorCode.InvalidParameter, error: 'default_image_name: unknown', payload: { field: 'default_image_name' } } });
});
