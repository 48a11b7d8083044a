// Connect's visitor API keys (posit-sdk's ViewerConnectClientProvider): content exchanges the
// Posit-Connect-User-Session-Token it received with a visitor's request (RFC 8693 token exchange)
// for a short-lived API key of that visitor. The token names the visitor and the content it was
// sent to, and is refused once the visitor may no longer view that content.
import type { ContentService } from '../content/content.js';
import { API_KEY, TOKEN_EXCHANGE, USER_SESSION_TOKEN, type TokenExchangeAnswer, type TokenExchangeRequest } from '../contract/visitor-credentials.js';
import { badRequest, invalidLogin } from '../errors.js';
import type { Users } from '../users/users.js';
import type { ContentCredentials } from './content-credentials.js';

/** A visitor key lives this long: long enough for a session's calls, short enough to be worthless once taken. */
export const VISITOR_KEY_TTL_MS = 60 * 60_000;

export class VisitorKeys {
  constructor(private readonly services: { credentials: ContentCredentials; users: Users; content: ContentService }) {}

  async exchange(request: TokenExchangeRequest): Promise<TokenExchangeAnswer> {
    if (request.grant_type !== TOKEN_EXCHANGE) throw badRequest(`grant_type must be "${TOKEN_EXCHANGE}".`);
    if (request.subject_token_type !== USER_SESSION_TOKEN) {
      throw badRequest(`subject_token_type must be "${USER_SESSION_TOKEN}": this server issues visitor API keys only.`);
    }
    if (request.requested_token_type !== undefined && request.requested_token_type !== API_KEY) {
      throw badRequest(`requested_token_type must be "${API_KEY}": this server has no OAuth integrations.`);
    }
    if (request.subject_token === undefined || request.subject_token === '') throw badRequest('subject_token is required.');
    return { access_token: await this.visitorKey(request.subject_token), issued_token_type: API_KEY, token_type: 'Key' };
  }

  private async visitorKey(token: string): Promise<string> {
    const { credentials, users, content: contents } = this.services;
    const claims = credentials.verifyUserSessionToken(token);
    const refused = () => invalidLogin('The user session token is invalid or has expired.');
    if (!claims) throw refused();
    const user = await users.findByGuid(claims.userGuid);
    const content = await contents.find(claims.contentGuid);
    if (!user || user.locked || !content || !(await contents.access.canView(user, content))) throw refused();
    const { key } = await users.createApiKey(user.id, `visitor key for content ${content.guid}`, Date.now() + VISITOR_KEY_TTL_MS, 'visitor');
    return key;
  }
}
