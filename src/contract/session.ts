// Signing in and out (src/serve/login.ts): the dashboard's session, the sign-in form, first run.
import { Type, type Static } from 'typebox';
import { ABSENT_BODY_IS_EMPTY, Nullable } from './common.js';

/** The signed-in user, as GET /__api__/v1/user shows it. */
export const SignedInUser = Type.Object(
  {
    guid: Type.String(),
    username: Type.String(),
    email: Type.String(),
    first_name: Type.String(),
    last_name: Type.String(),
    user_role: Type.Union([Type.Literal('viewer'), Type.Literal('publisher'), Type.Literal('administrator')]),
    created_time: Nullable(Type.String()),
    updated_time: Nullable(Type.String()),
    active_time: Nullable(Type.String()),
    confirmed: Type.Boolean(),
    locked: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const ReturnQuery = Type.Object({ url: Type.Optional(Type.String({ description: 'A path on this server to return to after signing in.' })) });

/** JSON (dashboard, scripts) or a form post (the sign-in page). */
export const SignInBody = Type.Object(
  {
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    url: Type.Optional(Type.String({ description: 'Form posts: where to go after signing in.' })),
  },
  { [ABSENT_BODY_IS_EMPTY]: true, additionalProperties: true },
);
export type SignInBody = Static<typeof SignInBody>;

/** A JSON sign-in's answer; the CSRF token is also the X-CSRF-Token header. */
export const SignedIn = Type.Object({ user: SignedInUser, csrf_token: Type.String() }, { additionalProperties: false });

export const Session = Type.Object(
  {
    user: Nullable(SignedInUser),
    csrf_token: Nullable(Type.String({ description: 'Cookie sessions only: what writes send as X-CSRF-Token.' })),
    setup_required: Type.Boolean({ description: 'Nobody is signed in and the server has no administrator yet.' }),
  },
  { additionalProperties: false },
);
export type Session = Static<typeof Session>;

/** First run: the setup token and the first administrator's account fields (src/users/first-run.ts checks each). */
export const SetupBody = Type.Object(
  {
    token: Type.Optional(Type.Unknown({ description: 'The setup token from the link "lectern start" printed.' })),
    username: Type.Optional(Type.Unknown()),
    password: Type.Optional(Type.Unknown()),
    email: Type.Optional(Type.Unknown()),
    first_name: Type.Optional(Type.Unknown()),
    last_name: Type.Optional(Type.Unknown()),
  },
  // 87: Connect's CannotParseRequestBody, what this route has always answered for a body that is no object.
  { [ABSENT_BODY_IS_EMPTY]: true, additionalProperties: true, 'x-error-message': 'The request body must be a JSON object.', 'x-error-code': 87 },
);

export const HTML_PAGE = { description: 'An HTML page.', content: { 'text/html': { schema: Type.String() } } };
