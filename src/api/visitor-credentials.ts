import type { App } from '../app.js';
import { badRequest, invalidLogin } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const USER_SESSION_TOKEN = 'urn:posit:connect:user-session-token';
const API_KEY = 'urn:posit:connect:api-key';
/** A visitor key lives this long: long enough for a session's calls, short enough to be worthless once taken. */
export const VISITOR_KEY_TTL_MS = 60 * 60_000;

/**
 * Connect's visitor API keys (posit-sdk's ViewerConnectClientProvider): content exchanges the
 * Posit-Connect-User-Session-Token it received with a visitor's request (RFC 8693 token exchange,
 * form-encoded or JSON) for a short-lived API key of that visitor. The token names the visitor and
 * the content it was sent to, and is refused once the visitor may no longer view that content.
 */
export const visitorCredentialRoutes: RoutePlugin = (server, app) => {
  server.post('/__api__/v1/oauth/integrations/credentials', async (request) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (body.grant_type !== TOKEN_EXCHANGE) throw badRequest(`grant_type must be "${TOKEN_EXCHANGE}".`);
    if (body.subject_token_type !== USER_SESSION_TOKEN) {
      throw badRequest(`subject_token_type must be "${USER_SESSION_TOKEN}": this server issues visitor API keys only.`);
    }
    if (body.requested_token_type !== undefined && body.requested_token_type !== API_KEY) {
      throw badRequest(`requested_token_type must be "${API_KEY}": this server has no OAuth integrations.`);
    }
    if (typeof body.subject_token !== 'string' || body.subject_token === '') throw badRequest('subject_token is required.');
    const key = await visitorKey(app, body.subject_token);
    return { access_token: key, issued_token_type: API_KEY, token_type: 'Key' };
  });
};

async function visitorKey(app: App, token: string): Promise<string> {
  const claims = app.credentials.verifyUserSessionToken(token);
  const refused = () => invalidLogin('The user session token is invalid or has expired.');
  if (!claims) throw refused();
  const user = await app.users.findByGuid(claims.userGuid);
  const content = await app.content.find(claims.contentGuid);
  if (!user || user.locked || !content || !(await app.content.access.canView(user, content))) throw refused();
  const { key } = await app.users.createApiKey(user.id, `visitor key for content ${content.guid}`, Date.now() + VISITOR_KEY_TTL_MS, 'visitor');
  return key;
}
