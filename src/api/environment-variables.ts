import { requireUser } from '../auth/principal.js';
import { parseVariableChanges, updateVariables, variableNames } from '../content/environment-variables.js';
import type { RoutePlugin } from '../http/routing.js';

/** Content environment variables: names only are ever returned; values are sealed at rest. Editors only. */
export const environmentVariableRoutes: RoutePlugin = (server, app) => {
  server.get('/__api__/v1/content/:guid/environment', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    return variableNames(app, content.id);
  });

  server.patch('/__api__/v1/content/:guid/environment', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    const changes = parseVariableChanges(request.body, true);
    const names = await updateVariables(app, content.id, changes, false);
    // Running workers see variables only at start: restart them (posit-sdk restart() relies on this).
    await app.scheduler.refresh(content.id);
    await app.audit.record(user, 'update_environment', `Updated environment of ${content.guid}: ${changes.map((c) => c.name).join(', ')}`);
    return names;
  });

  server.put('/__api__/v1/content/:guid/environment', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    const changes = parseVariableChanges(request.body ?? [], true);
    const names = await updateVariables(app, content.id, changes, true);
    await app.scheduler.refresh(content.id);
    await app.audit.record(user, 'update_environment', `Replaced environment of ${content.guid}: ${names.join(', ')}`);
    return names;
  });
};
