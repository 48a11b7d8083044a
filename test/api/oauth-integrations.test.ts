import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';

after(stopPostgres);

async function json(res: Response, status = 200) {
  const text = await res.clone().text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

/** The body posit-sdk's integration tests create a custom integration with. */
function customIntegration(name: string) {
  return {
    name,
    description: `${name} description`,
    template: 'custom',
    config: {
      auth_mode: 'Confidential',
      authorization_uri: 'https://example.com/__tenand_id__/oauth2/v2.0/authorize',
      client_id: 'client_id',
      client_secret: 'the-client-secret-value',
      scopes: 'a b c',
      token_endpoint_auth_method: 'client_secret_post',
      token_uri: 'https://example.com/__tenant_id__/oauth2/v2.0/token',
    },
  };
}

for (const provider of PROVIDERS) {
  describe(`OAuth integrations (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string; id: number };
    let viewer: { key: string; guid: string; id: number };
    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('oauth-publisher', 'publisher');
      viewer = await t.addUser('oauth-viewer', 'viewer');
    });
    after(() => t.stop());

    const create = async (body: unknown) => json(await t.api('/__api__/v1/oauth/integrations', { method: 'POST', json: body }));
    const remove = async (guid: string) => assert.equal((await t.api(`/__api__/v1/oauth/integrations/${guid}`, { method: 'DELETE' })).status, 204);

    test("templates: Connect's keys, with their options and fields; secret fields marked", async () => {
      const templates = await json(await t.api('/__api__/v1/oauth/templates', { key: publisher.key }));
      const ids = templates.map((x: { id: string }) => x.id);
      for (const id of ['custom', 'connect', 'aws', 'azure', 'azure-openai', 'databricks', 'github', 'bigquery', 'drive', 'sheets', 'vertex-ai', 'msgraph', 'salesforce', 'sharepoint', 'snowflake']) {
        assert.ok(ids.includes(id), `template ${id} is offered`);
      }
      const custom = await json(await t.api('/__api__/v1/oauth/templates/custom'));
      assert.deepEqual(
        custom.fields.filter((f: { secret: boolean }) => f.secret).map((f: { name: string }) => f.name),
        ['client_secret'],
      );
      assert.deepEqual(custom.options.find((o: { name: string }) => o.name === 'auth_mode').values, ['Confidential', 'Public']);
      const missing = await json(await t.api('/__api__/v1/oauth/templates/nope'), 404);
      assert.equal(missing.code, 4);
      assert.equal((await json(await t.api('/__api__/v1/oauth/templates', { key: viewer.key }), 403)).code, 22);
    });

    test('create, get, list, update and delete as posit-sdk does; the secret never comes back', async () => {
      const first = await create(customIntegration('example integration'));
      const second = await create(customIntegration('another example integration'));
      assert.equal(first.template, 'custom');
      assert.equal(first.auth_type, 'Viewer');
      assert.equal(first.name, 'example integration');
      assert.equal(first.config.auth_mode, 'Confidential');
      assert.equal(first.config.client_id, 'client_id');
      assert.equal('client_secret' in first.config, false, 'the secret is not answered');
      assert.match(first.id, /^\d+$/);

      // integrations.get(guid) == the created one; find() lists oldest first.
      assert.deepEqual(await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`, { key: publisher.key })), first);
      const all = await json(await t.api('/__api__/v1/oauth/integrations', { key: publisher.key }));
      assert.deepEqual(
        all.map((i: { guid: string }) => i.guid),
        [first.guid, second.guid],
      );
      assert.ok(!JSON.stringify(all).includes('the-client-secret-value'));

      // Sealed at rest: the row holds no secret in clear, the exchange can still read it.
      const row = await t.app.store.db.selectFrom('oauth_integrations').selectAll().where('guid', '=', first.guid).executeTakeFirstOrThrow();
      assert.ok(!JSON.stringify(row).includes('the-client-secret-value'));
      assert.equal((await t.app.oauthIntegrations.secretConfig(first.guid)).client_secret, 'the-client-secret-value');

      // Integration.update(name=...) sends only the name; the answer is the whole integration.
      const renamed = await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`, { method: 'PATCH', json: { name: 'updated integration name' } }));
      assert.equal(renamed.name, 'updated integration name');
      assert.deepEqual(renamed.config, first.config);
      // rsconnect integration edit merges the config it read (no secret in it) and sends it whole.
      const edited = await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`, { method: 'PATCH', json: { config: { ...first.config, scopes: 'openid' } } }));
      assert.equal(edited.config.scopes, 'openid');
      assert.equal((await t.app.oauthIntegrations.secretConfig(first.guid)).client_secret, 'the-client-secret-value', 'the secret kept its value');
      await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`, { method: 'PATCH', json: { config: { client_secret: 'rotated' } } }));
      assert.equal((await t.app.oauthIntegrations.secretConfig(first.guid)).client_secret, 'rotated');
      // Removing a required field is refused and changes nothing.
      const refused = await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`, { method: 'PATCH', json: { config: { client_id: null } } }), 400);
      assert.equal(refused.code, 12);
      assert.equal(refused.payload.field, 'config.client_id');
      assert.equal((await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`))).config.client_id, 'client_id');

      await remove(first.guid);
      await remove(second.guid);
      assert.deepEqual(await json(await t.api('/__api__/v1/oauth/integrations')), []);
      assert.equal((await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`), 404)).code, 4);
      assert.equal((await json(await t.api(`/__api__/v1/oauth/integrations/${first.guid}`, { method: 'DELETE' }), 404)).code, 4);

      const actions = (await json(await t.api('/__api__/v1/audit_logs?limit=50'))).results.map((e: { action: string }) => e.action);
      for (const action of ['add_oauth_integration', 'update_oauth_integration', 'delete_oauth_integration']) assert.ok(actions.includes(action), action);
      assert.ok(!JSON.stringify(await json(await t.api('/__api__/v1/audit_logs?limit=50'))).includes('the-client-secret-value'));
    });

    test('configurations are checked against their template', async () => {
      const post = (body: unknown) => t.api('/__api__/v1/oauth/integrations', { method: 'POST', json: body });
      const base = customIntegration('checked');
      let err = await json(await post({ ...base, template: 'nope' }), 400);
      assert.equal(err.code, 25);
      assert.match(err.error, /"nope" does not exist/);
      err = await json(await post({ ...base, config: { ...base.config, colour: 'blue' } }), 400);
      assert.equal(err.payload.field, 'config.colour');
      err = await json(await post({ ...base, config: { ...base.config, auth_mode: 'Sideways' } }), 400);
      assert.match(err.error, /"Confidential", "Public"/);
      const { client_secret: _, ...withoutSecret } = base.config;
      err = await json(await post({ ...base, config: withoutSecret }), 400);
      assert.equal(err.payload.field, 'config.client_secret');
      // A public client needs no secret; a service account no authorization endpoint.
      const publicClient = await create({ ...base, config: { ...withoutSecret, auth_mode: 'Public' } });
      const { authorization_uri: __, ...serviceConfig } = base.config;
      const service = await create({ ...base, config: { ...serviceConfig, auth_type: 'Service Account' } });
      assert.equal(service.auth_type, 'Service Account');
      const visitorKeys = await create({ name: 'Connect API', template: 'connect', config: { scopes: 'admin' } });
      assert.equal(visitorKeys.auth_type, 'Visitor API Key');
      err = await json(await post({ ...base, permissions: [{ user_guid: publisher.guid, group_guid: null }] }), 400);
      assert.equal(err.payload.field, 'permissions');
      assert.equal((await json(await post({ ...base, config: 'text' }), 400)).code, 25);
      for (const i of [publicClient, service, visitorKeys]) await remove(i.guid);
    });

    test('the visitor-key exchange at v1/oauth/integrations/credentials still answers beside the integration routes', async () => {
      const res = await t.api('/__api__/v1/oauth/integrations/credentials', { method: 'POST', key: null, json: { grant_type: 'nope' } });
      assert.match((await json(res, 400)).error, /grant_type must be/);
      // GET of that path is an integration look-up, which finds none.
      assert.equal((await json(await t.api('/__api__/v1/oauth/integrations/credentials'), 404)).code, 4);
    });

    test('only administrators change integrations; publishers read them; viewers neither', async () => {
      const integration = await create(customIntegration('roles'));
      const asPublisher = await json(await t.api('/__api__/v1/oauth/integrations', { method: 'POST', key: publisher.key, json: customIntegration('nope') }), 403);
      assert.equal(asPublisher.code, 22);
      await json(await t.api(`/__api__/v1/oauth/integrations/${integration.guid}`, { method: 'PATCH', key: publisher.key, json: { name: 'x' } }), 403);
      await json(await t.api(`/__api__/v1/oauth/integrations/${integration.guid}`, { method: 'DELETE', key: publisher.key }), 403);
      await json(await t.api(`/__api__/v1/oauth/integrations/${integration.guid}/associations`, { key: publisher.key }), 403);
      await json(await t.api('/__api__/v1/oauth/integrations', { key: viewer.key }), 403);
      await json(await t.api(`/__api__/v1/oauth/integrations/${integration.guid}`, { key: viewer.key }), 403);
      assert.equal((await json(await t.api('/__api__/v1/oauth/integrations', { key: null }), 401)).code, 24);
      await remove(integration.guid);
    });

    test('associations: content editors replace the set; integrations list their content', async () => {
      const integration = await create(customIntegration('example integration'));
      const another = await create(customIntegration('another example integration'));
      const content = await json(await t.api('/__api__/v1/content', { method: 'POST', key: publisher.key, json: { name: 'oauth-app' } }));
      const url = `/__api__/v1/content/${content.guid}/oauth/integrations/associations`;
      const put = (body: unknown, key = publisher.key) => t.api(url, { method: 'PUT', key, json: body });

      assert.deepEqual(await json(await t.api(url, { key: publisher.key })), []);
      // content.oauth.associations.update([guid]) sends [{oauth_integration_guid}].
      const set = await json(await put([{ oauth_integration_guid: integration.guid }]));
      assert.equal(set.length, 1);
      const [association] = await json(await t.api(url, { key: publisher.key }));
      assert.equal(association.app_guid, content.guid);
      assert.equal(association.content_guid, content.guid);
      assert.equal(association.oauth_integration_guid, integration.guid);
      assert.equal(association.oauth_integration_name, 'example integration');
      assert.equal(association.oauth_integration_description, 'example integration description');
      assert.equal(association.oauth_integration_template, 'custom');
      assert.equal(association.oauth_integration_auth_type, 'Viewer');

      const byIntegration = await json(await t.api(`/__api__/v1/oauth/integrations/${integration.guid}/associations`));
      assert.deepEqual(
        byIntegration.map((a: { app_guid: string }) => a.app_guid),
        [content.guid],
      );
      assert.deepEqual(await json(await t.api(`/__api__/v1/oauth/integrations/${another.guid}/associations`)), []);

      // Replace with the other one, then with both, then clear.
      await json(await put([{ oauth_integration_guid: another.guid }]));
      assert.deepEqual(
        (await json(await t.api(url, { key: publisher.key }))).map((a: { oauth_integration_guid: string }) => a.oauth_integration_guid),
        [another.guid],
      );
      await json(await put([{ oauth_integration_guid: integration.guid }, { oauth_integration_guid: another.guid }, { oauth_integration_guid: integration.guid }]));
      assert.deepEqual(
        new Set((await json(await t.api(url, { key: publisher.key }))).map((a: { oauth_integration_guid: string }) => a.oauth_integration_guid)),
        new Set([integration.guid, another.guid]),
      );
      // An unknown integration changes nothing.
      const unknown = await json(await put([{ oauth_integration_guid: '00000000-0000-4000-8000-000000000000' }]), 404);
      assert.equal(unknown.code, 4);
      assert.equal((await json(await t.api(url, { key: publisher.key }))).length, 2);
      // Someone who cannot edit the content cannot see or change its associations.
      await json(await put([], viewer.key), 404);
      await json(await t.api(url, { key: viewer.key }), 404);
      assert.match((await json(await put({ oauth_integration_guid: integration.guid }), 400)).error, /JSON array of \{"oauth_integration_guid"/);

      // Deleting an integration drops its associations; content.oauth.associations.delete() sends [].
      await remove(another.guid);
      assert.deepEqual(
        (await json(await t.api(url, { key: publisher.key }))).map((a: { oauth_integration_guid: string }) => a.oauth_integration_guid),
        [integration.guid],
      );
      assert.deepEqual(await json(await put([])), []);
      assert.deepEqual(await json(await t.api(url, { key: publisher.key })), []);
      const actions = (await json(await t.api('/__api__/v1/audit_logs?limit=100'))).results.map((e: { action: string }) => e.action);
      assert.ok(actions.includes('update_oauth_associations'));

      // Deleting the content drops its associations too.
      await json(await put([{ oauth_integration_guid: integration.guid }]));
      assert.equal((await t.api(`/__api__/v1/content/${content.guid}`, { method: 'DELETE', key: publisher.key })).status, 204);
      assert.deepEqual(await json(await t.api(`/__api__/v1/oauth/integrations/${integration.guid}/associations`)), []);
      await remove(integration.guid);
    });
  });
}
