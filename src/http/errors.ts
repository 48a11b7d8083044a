// The HTTP face of LecternError (src/errors.ts): a status for each kind and Connect's error JSON.
// Only the edge (src/server.ts, src/http, src/api, src/serve) answers in statuses; the layers below raise kinds.
import type { ErrorKind, LecternError } from '../errors.js';

const STATUS: Record<ErrorKind, number> = {
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

/** Connect's error body: posit-sdk reads `code` and `error` from every JSON error. */
export interface ErrorBody {
  code: number;
  error: string;
  payload: unknown;
}

export const errorBody = (code: number, error: string, payload: unknown = null): ErrorBody => ({ code, error, payload });

/** The status and body a LecternError is answered with (src/server.ts answers anything else with a logged 500). */
export function httpAnswer(error: LecternError): { status: number; body: ErrorBody } {
  return { status: STATUS[error.kind], body: errorBody(error.code, error.message, error.payload) };
}
