// The one error type every layer below the HTTP edge raises for a failure the caller can act on.
// It knows nothing of HTTP: it carries a kind (what went wrong, in the caller's terms) and Connect's
// error code; src/http/errors.ts maps the kind to a status and renders Connect's `{code, error, payload}`.
// Anything else thrown is an internal failure (500, logged).

/**
 * Connect's error codes (1-based positions in its APIErrorCode enum), kept because clients branch
 * on them: rsconnect-python on 30, connectapi on "404 with a code".
 */
export const ErrorCode = {
  InternalFailure: 1,
  BadRequest: 2,
  InvalidId: 3,
  ObjectDoesNotExist: 4,
  InvalidApplicationName: 5,
  ParameterMissing: 12,
  NoViewPermission: 19,
  NoUpdatePermission: 21,
  PermissionDenied: 22,
  AuthRequired: 24,
  InvalidParameter: 25,
  DuplicateName: 26,
  BundleMissing: 28,
  InvalidLogin: 30,
  InvalidManifest: 38,
  AppModeChanged: 48,
  VanityPathInUse: 51,
  ProhibitedVanityPath: 52,
  DeleteActiveBundle: 75,
  CannotParseRequestBody: 87,
  ProhibitedAppMode: 109,
  ContentCategoryChanged: 110,
  InvalidJson: 121,
  BundleExtract: 135,
  TaskDoesNotExist: 141,
  NoBundleUploadForGitManagedApp: 144,
  InvalidAppMode: 148,
  DuplicateEnvironmentVariable: 149,
  InvalidInclude: 161,
} as const;

/** What went wrong, as the caller sees it; each kind is one HTTP status at the edge. */
export type ErrorKind =
  | 'invalid' // the request is wrong: a field, a body, a bundle
  | 'unauthenticated' // no caller, or credentials that do not sign in
  | 'forbidden' // a known caller who may not do this
  | 'not_found'
  | 'conflict' // the request is fine but the current state refuses it (a name taken, already set up)
  | 'too_large' // a body or bundle over a configured limit
  | 'rate_limited' // too many attempts; the payload says when to retry
  | 'unavailable' // not yet or not now (starting up)
  | 'internal';

export class LecternError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: number,
    message: string,
    /** Details a client can read (Connect's `payload`): the field at fault, a limit, a retry time. */
    readonly payload: unknown = null,
  ) {
    super(message);
  }

  /** The same error with details for the client. */
  withPayload(payload: unknown): LecternError {
    return new LecternError(this.kind, this.code, this.message, payload);
  }
}

export const badRequest = (message: string, code: number = ErrorCode.BadRequest) => new LecternError('invalid', code, message);
export const invalidParameter = (message: string) => new LecternError('invalid', ErrorCode.InvalidParameter, message);
export const notFound = (message: string, code: number = ErrorCode.ObjectDoesNotExist) => new LecternError('not_found', code, message);
export const forbidden = (message = 'You do not have permission to perform this operation.') => new LecternError('forbidden', ErrorCode.PermissionDenied, message);
export const authRequired = () => new LecternError('unauthenticated', ErrorCode.AuthRequired, 'This API requires authentication. Sign in or use an API key.');
export const invalidLogin = (message = 'Invalid login.') => new LecternError('unauthenticated', ErrorCode.InvalidLogin, message);
export const conflict = (message: string, code: number) => new LecternError('conflict', code, message);
