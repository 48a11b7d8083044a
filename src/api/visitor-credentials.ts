import { answers } from '../contract/common.js';
import { TokenExchangeAnswer, TokenExchangeRequest } from '../contract/visitor-credentials.js';
import { VisitorKeys } from '../auth/visitor-keys.js';
import type { RoutePlugin } from '../http/routing.js';

/**
 * Connect's visitor API keys: content exchanges the user session token it received with a
 * visitor's request for a short-lived key of that visitor (src/auth/visitor-keys.ts). The token
 * is the credential, so the route needs no other.
 */
export const visitorCredentialRoutes: RoutePlugin = (server, app) => {
  const visitorKeys = new VisitorKeys({ credentials: app.credentials, users: app.users, content: app.content });
  const schema = {
    summary: "Exchange a visitor's session token for their API key",
    security: [],
    body: TokenExchangeRequest,
    response: answers({ 200: TokenExchangeAnswer }),
  };
  server.post('/__api__/v1/oauth/integrations/credentials', { schema }, async (request) => visitorKeys.exchange(request.body));
};
