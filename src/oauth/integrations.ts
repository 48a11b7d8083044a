// OAuth integrations (Connect's v1/oauth/integrations) and the content associated with each.
// Administrators manage integrations; a content item's editors choose which it may use. The
// exchange of a visitor's credentials for a provider's token reads `secretConfig`.
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Association, Integration, IntegrationChanges, NewIntegration } from '../contract/oauth-integrations.js';
import type { Content, Database, OAuthIntegrationRow, User } from '../db/schema.js';
import { invalidParameter, notFound } from '../errors.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { apiTime, GUID_PATTERN, newGuid, nowIso } from '../util/ids.js';
import { checkConfig } from './templates.js';

export function integrationJson(row: OAuthIntegrationRow): Integration {
  return {
    id: String(row.id),
    guid: row.guid,
    created_time: apiTime(row.created_time),
    updated_time: apiTime(row.updated_time),
    name: row.name,
    description: row.description,
    template: row.template,
    auth_type: row.auth_type,
    config: JSON.parse(row.config) as Record<string, unknown>,
  };
}

/** Permissions restricting who may use an integration are not kept: only "everyone" is taken. */
function refusePermissions(permissions: unknown[] | null | undefined): void {
  if (permissions && permissions.length > 0) {
    throw invalidParameter('permissions: Lectern does not restrict who may use an OAuth integration yet; send null or [] (everyone).').withPayload({ field: 'permissions' });
  }
}

export class OAuthIntegrations {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly secrets: SecretBox,
    private readonly audit: AuditLog,
  ) {}

  /** Oldest first, as Connect lists them. */
  async list(): Promise<Integration[]> {
    const rows = await this.db.selectFrom('oauth_integrations').selectAll().orderBy('id').execute();
    return rows.map(integrationJson);
  }

  private async row(guid: string, db: Kysely<Database> = this.db): Promise<OAuthIntegrationRow> {
    const row = GUID_PATTERN.test(guid) ? await db.selectFrom('oauth_integrations').selectAll().where('guid', '=', guid.toLowerCase()).executeTakeFirst() : undefined;
    if (!row) throw notFound(`The OAuth integration ${guid} does not exist.`);
    return row;
  }

  async get(guid: string): Promise<Integration> {
    return integrationJson(await this.row(guid));
  }

  /** The whole configuration, secrets opened: for exchanging credentials with the provider, never for an answer. */
  async secretConfig(guid: string): Promise<Record<string, unknown>> {
    const row = await this.row(guid);
    return { ...(JSON.parse(row.config) as Record<string, unknown>), ...this.openSecrets(row) };
  }

  private openSecrets(row: OAuthIntegrationRow): Record<string, string> {
    return row.secrets_sealed ? (JSON.parse(this.secrets.open(row.secrets_sealed)) as Record<string, string>) : {};
  }

  private seal(secret: Record<string, string>): string {
    return Object.keys(secret).length ? this.secrets.seal(JSON.stringify(secret)) : '';
  }

  async create(actor: User, input: NewIntegration): Promise<Integration> {
    refusePermissions(input.permissions);
    const checked = checkConfig(input.template, input.config);
    const now = nowIso();
    const row = await this.db
      .insertInto('oauth_integrations')
      .values({
        guid: newGuid(),
        name: input.name ?? null,
        description: input.description ?? null,
        template: input.template,
        auth_type: checked.authType,
        config: JSON.stringify(checked.visible),
        secrets_sealed: this.seal(checked.secret),
        created_time: now,
        updated_time: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.audit.record(actor, 'add_oauth_integration', `Added OAuth integration ${row.guid} "${row.name ?? ''}" (template ${row.template})`);
    return integrationJson(row);
  }

  /**
   * Changes name, description or configuration. A configuration is merged into the stored one
   * (null removes a key) and the result checked as a whole; secret fields not given keep their
   * sealed value, since no answer ever returned them for a client to send back.
   */
  async update(actor: User, guid: string, changes: IntegrationChanges): Promise<Integration> {
    refusePermissions(changes.permissions);
    const row = await this.db.transaction().execute(async (trx) => {
      const current = await this.row(guid, trx);
      const set: Partial<OAuthIntegrationRow> = { updated_time: nowIso() };
      if (changes.name !== undefined) set.name = changes.name;
      if (changes.description !== undefined) set.description = changes.description;
      if (changes.config !== undefined) {
        const merged: Record<string, unknown> = { ...(JSON.parse(current.config) as Record<string, unknown>), ...this.openSecrets(current) };
        for (const [key, value] of Object.entries(changes.config)) {
          if (value === null) delete merged[key];
          else merged[key] = value;
        }
        const checked = checkConfig(current.template, merged);
        set.auth_type = checked.authType;
        set.config = JSON.stringify(checked.visible);
        set.secrets_sealed = this.seal(checked.secret);
      }
      return trx.updateTable('oauth_integrations').set(set).where('id', '=', current.id).returningAll().executeTakeFirstOrThrow();
    });
    const what = [
      changes.name !== undefined && 'name',
      changes.description !== undefined && 'description',
      changes.config !== undefined && `config (${Object.keys(changes.config!).join(', ')})`,
    ].filter(Boolean);
    await this.audit.record(actor, 'update_oauth_integration', `Updated OAuth integration ${row.guid}: ${what.join(', ') || 'nothing'}`);
    return integrationJson(row);
  }

  /** Deletes the integration and its associations with content. */
  async delete(actor: User, guid: string): Promise<void> {
    const row = await this.row(guid);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('oauth_associations').where('integration_id', '=', row.id).execute();
      await trx.deleteFrom('oauth_integrations').where('id', '=', row.id).execute();
    });
    await this.audit.record(actor, 'delete_oauth_integration', `Deleted OAuth integration ${row.guid} "${row.name ?? ''}"`);
  }

  private associationQuery() {
    return this.db
      .selectFrom('oauth_associations as a')
      .innerJoin('oauth_integrations as i', 'i.id', 'a.integration_id')
      .innerJoin('content as c', 'c.id', 'a.content_id')
      .select(['c.guid as content_guid', 'i.guid', 'i.name', 'i.description', 'i.template', 'i.auth_type', 'a.created_time', 'i.id as integration_id'])
      .orderBy('a.created_time')
      .orderBy('i.id');
  }

  /** The integrations a content item may use. */
  async associationsOfContent(content: Pick<Content, 'id'>): Promise<Association[]> {
    return (await this.associationQuery().where('a.content_id', '=', content.id).execute()).map(associationJson);
  }

  /** The content items that may use an integration. */
  async associationsOfIntegration(guid: string): Promise<Association[]> {
    const row = await this.row(guid);
    return (await this.associationQuery().where('a.integration_id', '=', row.id).execute()).map(associationJson);
  }

  /**
   * Replaces the set of integrations a content item may use (an empty list removes them all).
   * Every GUID must name an integration, else nothing changes; associations kept keep their time.
   */
  async setAssociations(actor: User, content: Content, integrationGuids: string[]): Promise<Association[]> {
    const wanted = [...new Set(integrationGuids.map((g) => g.toLowerCase()))];
    await this.db.transaction().execute(async (trx) => {
      const ids: number[] = [];
      for (const guid of wanted) ids.push((await this.row(guid, trx)).id);
      let removal = trx.deleteFrom('oauth_associations').where('content_id', '=', content.id);
      if (ids.length) removal = removal.where('integration_id', 'not in', ids);
      await removal.execute();
      const now = nowIso();
      for (const id of ids) {
        await trx
          .insertInto('oauth_associations')
          .values({ content_id: content.id, integration_id: id, created_time: now })
          .onConflict((oc) => oc.columns(['content_id', 'integration_id']).doNothing())
          .execute();
      }
    });
    await this.audit.record(actor, 'update_oauth_associations', `Set the OAuth integrations of content ${content.guid}: ${wanted.join(', ') || 'none'}`);
    return this.associationsOfContent(content);
  }
}

function associationJson(row: { content_guid: string; guid: string; name: string | null; description: string | null; template: string; auth_type: string; created_time: string }): Association {
  return {
    app_guid: row.content_guid,
    content_guid: row.content_guid,
    oauth_integration_guid: row.guid,
    oauth_integration_name: row.name,
    oauth_integration_description: row.description,
    oauth_integration_template: row.template,
    oauth_integration_auth_type: row.auth_type,
    created_time: apiTime(row.created_time),
  };
}
