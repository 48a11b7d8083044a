import { Type } from 'typebox';
import { noContent, requireRole, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { Association, AssociationReplacement, Integration, IntegrationChanges, IntegrationGuidParams, NewIntegration, Template, TemplateKeyParams } from '../contract/oauth-integrations.js';
import type { RoutePlugin } from '../http/routing.js';
import { getTemplate, listTemplates } from '../oauth/templates.js';

/**
 * Connect's OAuth integrations: administrators create, change and delete them; publishers and
 * administrators list them and their templates; a content item's editors choose which the item
 * may use. Secret configuration values are never answered. (The credential exchange itself,
 * POST v1/oauth/integrations/credentials, is src/api/visitor-credentials.ts.)
 */
export const oauthIntegrationRoutes: RoutePlugin = (server, app) => {
  const integrations = app.oauthIntegrations;
  const one = { params: IntegrationGuidParams };

  server.get(
    '/__api__/v1/oauth/integrations',
    { schema: { summary: 'List OAuth integrations (publishers and administrators)', response: answers({ 200: Type.Array(Integration) }) } },
    async (request) => {
      requireRole(request, 'publisher');
      return integrations.list();
    },
  );

  server.post(
    '/__api__/v1/oauth/integrations',
    { schema: { summary: 'Create an OAuth integration (administrators)', body: NewIntegration, response: answers({ 200: Integration }) } },
    async (request) => {
      const user = requireRole(request, 'administrator');
      return integrations.create(user, request.body);
    },
  );

  server.get(
    '/__api__/v1/oauth/integrations/:guid',
    { schema: { summary: 'An OAuth integration (publishers and administrators)', ...one, response: answers({ 200: Integration }) } },
    async (request) => {
      requireRole(request, 'publisher');
      return integrations.get(request.params.guid);
    },
  );

  server.patch(
    '/__api__/v1/oauth/integrations/:guid',
    { schema: { summary: "Change an OAuth integration's name, description or configuration (administrators)", ...one, body: IntegrationChanges, response: answers({ 200: Integration }) } },
    async (request) => {
      const user = requireRole(request, 'administrator');
      return integrations.update(user, request.params.guid, request.body);
    },
  );

  server.delete(
    '/__api__/v1/oauth/integrations/:guid',
    { schema: { summary: 'Delete an OAuth integration and its associations (administrators)', ...one, response: answers({ 204: NoContent }) } },
    async (request, reply) => {
      const user = requireRole(request, 'administrator');
      await integrations.delete(user, request.params.guid);
      return noContent(reply);
    },
  );

  server.get(
    '/__api__/v1/oauth/integrations/:guid/associations',
    { schema: { summary: 'The content associated with an OAuth integration (administrators)', ...one, response: answers({ 200: Type.Array(Association) }) } },
    async (request) => {
      requireRole(request, 'administrator');
      return integrations.associationsOfIntegration(request.params.guid);
    },
  );

  server.get('/__api__/v1/oauth/templates', { schema: { summary: 'The templates OAuth integrations are made from', response: answers({ 200: Type.Array(Template) }) } }, async (request) => {
    requireRole(request, 'publisher');
    return listTemplates();
  });

  server.get('/__api__/v1/oauth/templates/:key', { schema: { summary: 'One OAuth integration template', params: TemplateKeyParams, response: answers({ 200: Template }) } }, async (request) => {
    requireRole(request, 'publisher');
    return getTemplate(request.params.key);
  });

  server.get(
    '/__api__/v1/content/:guid/oauth/integrations/associations',
    { schema: { summary: 'The OAuth integrations a content item may use (its editors)', params: ContentGuidParams, response: answers({ 200: Type.Array(Association) }) } },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getEditable(request.params.guid, user);
      return integrations.associationsOfContent(content);
    },
  );

  server.put(
    '/__api__/v1/content/:guid/oauth/integrations/associations',
    {
      schema: {
        summary: 'Replace the OAuth integrations a content item may use ([] removes them all; its editors)',
        params: ContentGuidParams,
        body: AssociationReplacement,
        response: answers({ 200: Type.Array(Association) }),
      },
    },
    async (request) => {
      const user = requireUser(request);
      const content = await app.content.getChangeable(request.params.guid, user);
      return integrations.setAssociations(
        user,
        content,
        request.body.map((a) => a.oauth_integration_guid),
      );
    },
  );
};
