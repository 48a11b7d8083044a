import { requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams } from '../contract/common.js';
import { VariableChanges, VariableNames, VariableReplacement } from '../contract/environment-variables.js';
import { parseVariableChanges } from '../content/environment-variables.js';
import type { RoutePlugin } from '../http/routing.js';

/** Content environment variables: names only are ever returned; values are sealed at rest. Editors only. */
export const environmentRoutes: RoutePlugin = (server, app) => {
  const variables = app.contentVariables;
  const response = answers({ 200: VariableNames });

  server.get(
    '/__api__/v1/content/:guid/environment',
    { schema: { summary: "The names of a content item's environment variables (editors)", params: ContentGuidParams, response } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      return variables.names(content);
    },
  );

  server.patch(
    '/__api__/v1/content/:guid/environment',
    { schema: { summary: 'Set or remove (value null) some environment variables; restarts running processes', params: ContentGuidParams, body: VariableChanges, response } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getChangeable(request.params.guid, user);
      return variables.update(user, content, parseVariableChanges(request.body, true), false);
    },
  );

  server.put(
    '/__api__/v1/content/:guid/environment',
    { schema: { summary: 'Replace all environment variables; restarts running processes', params: ContentGuidParams, body: VariableReplacement, response } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getChangeable(request.params.guid, user);
      const replacement = Array.isArray(request.body) ? request.body : [];
      return variables.update(user, content, parseVariableChanges(replacement, true), true);
    },
  );
};
