import { answers } from '../contract/common.js';
import { BootstrapAnswer } from '../contract/bootstrap.js';
import type { RoutePlugin } from '../http/routing.js';

/**
 * The first administrator's API key for a JWT signed with the bootstrap secret key
 * (src/users/bootstrap.ts), on a server with no users and [Bootstrap] Enabled. The JWT in
 * `Authorization: Connect-Bootstrap <jwt>` is the credential, so the route needs no other.
 * rsconnect-python posts to the experimental path; Connect's newer clients to v1/bootstrap.
 */
export const bootstrapRoutes: RoutePlugin = (server, app) => {
  const schema = {
    summary: 'Create the first administrator and its API key (Authorization: Connect-Bootstrap <jwt>)',
    security: [],
    response: answers({ 200: BootstrapAnswer }),
  };
  for (const path of ['/__api__/v1/experimental/bootstrap', '/__api__/v1/bootstrap']) {
    server.post(path, { schema }, async (request) => app.bootstrap.provision(request.headers.authorization));
  }
};
