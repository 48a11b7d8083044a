// One error type for the whole API. Codes are Connect's (1-based positions in its APIErrorCode
// enum) because clients branch on them: rsconnect-python on 30, connectapi on "404 with a code".

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
  InvalidAppMode: 148,
  DuplicateEnvironmentVariable: 149,
  InvalidInclude: 161,
} as const;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly payload: unknown = null,
  ) {
    super(message);
  }

  toJSON() {
    return { code: this.code, error: this.message, payload: this.payload };
  }
}

export const badRequest = (message: string, code: number = ErrorCode.BadRequest) => new ApiError(400, code, message);
export const invalidParameter = (message: string) => new ApiError(400, ErrorCode.InvalidParameter, message);
export const notFound = (message: string, code: number = ErrorCode.ObjectDoesNotExist) => new ApiError(404, code, message);
export const forbidden = (message = 'You do not have permission to perform this operation.') =>
  new ApiError(403, ErrorCode.PermissionDenied, message);
export const authRequired = () => new ApiError(401, ErrorCode.AuthRequired, 'This API requires authentication. Sign in or use an API key.');
export const invalidLogin = (message = 'Invalid login.') => new ApiError(401, ErrorCode.InvalidLogin, message);
export const conflict = (message: string, code: number) => new ApiError(409, code, message);
