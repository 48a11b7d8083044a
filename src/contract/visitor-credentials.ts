// RFC 8693 token exchange for Connect's visitor API keys (posit-sdk's ViewerConnectClientProvider).
import { Type, type Static } from 'typebox';
import { ABSENT_BODY_IS_EMPTY } from './common.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const USER_SESSION_TOKEN = 'urn:posit:connect:user-session-token';
export const API_KEY = 'urn:posit:connect:api-key';

/**
 * Form-encoded or JSON. The grant and token types are checked by the exchange (src/auth/visitor-keys.ts),
 * whose refusals say which value this server takes.
 */
export const TokenExchangeRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ description: `"${TOKEN_EXCHANGE}"` })),
    subject_token_type: Type.Optional(Type.String({ description: `"${USER_SESSION_TOKEN}"` })),
    subject_token: Type.Optional(Type.String({ description: "The Posit-Connect-User-Session-Token header content received with the visitor's request." })),
    requested_token_type: Type.Optional(Type.String({ description: `"${API_KEY}" (the default)` })),
  },
  { [ABSENT_BODY_IS_EMPTY]: true, additionalProperties: true },
);
export type TokenExchangeRequest = Static<typeof TokenExchangeRequest>;

export const TokenExchangeAnswer = Type.Object(
  { access_token: Type.String({ description: 'An API key of the visitor, valid for an hour.' }), issued_token_type: Type.Literal(API_KEY), token_type: Type.Literal('Key') },
  { additionalProperties: false },
);
export type TokenExchangeAnswer = Static<typeof TokenExchangeAnswer>;
