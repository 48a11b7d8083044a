import { requireUser } from '../auth/principal.js';
import { parseEnvChanges } from '../content/environment.js';
import type { RoutePlugin } from '../http/server.js';

/** Content environment variables: names only are ever returned; values are sealed at rest. Editors only. */
export const environmentRoutes: RoutePlugin = (server, app) => {
  const variables = app.contentVariables;

  server.get('/__api__/v1/content/:guid/environment', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    return variables.names(content);
  });

  server.patch('/__api__/v1/content/:guid/environment', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    return variables.update(user, content, parseEnvChanges(request.body, true), false);
  });

  server.put('/__api__/v1/content/:guid/environment', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    return variables.update(user, content, parseEnvChanges(request.body ?? [], true), true);
  });
};
