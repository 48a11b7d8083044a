import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Database, EnvironmentPermissionRow, EnvironmentRow, User } from '../db/schema.js';
import { conflict, ErrorCode, invalidParameter, LecternError, notFound } from '../errors.js';
import { parseDefinition, type EnvironmentDefinition } from './definition.js';
import { definitionFields, type ExecutionEnvironments } from './environments.js';

/** What a definition given to the server must hold (read-only fields are ignored, as Connect does). */
export const EDITABLE = { requireTitle: true, requireCluster: true, allowReadOnly: true } as const;

export interface Principal {
  type: 'user' | 'group';
  guid: string;
}

/**
 * Execution environments as people see and change them through the server: administrators
 * create, change and restrict them; publishers read the ones they may use. Changes keep to the
 * rules (records owned by the declarative file are read-only here, one record per image, no
 * deleting an image live content runs in) and are recorded in the audit log.
 */
export class EnvironmentAdministration {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly environments: ExecutionEnvironments,
    private readonly audit: AuditLog,
  ) {}

  usableBy(user: User): Promise<EnvironmentRow[]> {
    return this.environments.usableBy(user);
  }

  /** An environment `user` may use; a restricted one is as good as missing to those who may not. */
  async getUsable(guid: string, user: User): Promise<EnvironmentRow> {
    const usable = (await this.environments.withUsability(user)).find((e) => e.row.guid === guid.toLowerCase());
    if (!usable?.usable) throw notFound(`Execution environment ${guid} does not exist.`);
    return usable.row;
  }

  async get(guid: string): Promise<EnvironmentRow> {
    const env = await this.environments.find(guid);
    if (!env) throw notFound(`Execution environment ${guid} does not exist.`);
    return env;
  }

  async create(actor: User, def: EnvironmentDefinition): Promise<EnvironmentRow> {
    await this.requireUniqueImage(def.name);
    const env = await this.environments.create(def, 'api').catch(async (err) => {
      await this.requireUniqueImage(def.name); // a concurrent create of the same image won
      throw err;
    });
    await this.audit.record(actor, 'add_environment', `Added execution environment ${env.guid} (${env.name})`);
    return env;
  }

  /**
   * Applies `changes` over the record's current definition (fields left out keep their value, as
   * in Connect's UpdateEnvironmentInput). The image and cluster name identify the record and
   * cannot change; a merged definition that is not valid is a DefinitionError naming the field.
   */
  async update(actor: User, guid: string, changes: Record<string, unknown>): Promise<EnvironmentRow> {
    const env = await this.apiOwned(guid);
    for (const field of ['name', 'cluster_name'] as const) {
      if (changes[field] !== undefined && changes[field] !== env[field]) {
        throw new LecternError('invalid', ErrorCode.InvalidParameter, `${field} cannot be changed (it is ${JSON.stringify(env[field])}); create another environment instead.`, { field });
      }
    }
    const updated = await this.environments.update(env, parseDefinition({ ...definitionFields(env), ...changes }, EDITABLE));
    await this.audit.record(actor, 'update_environment', `Updated execution environment ${env.guid} (${env.name}): ${Object.keys(changes).join(', ')}`);
    return updated;
  }

  async delete(actor: User, guid: string): Promise<void> {
    const env = await this.apiOwned(guid);
    // Deleting the image live content runs in would fail its next worker start: refuse, naming it.
    const users = await this.environments.contentUsing([env.name]);
    if (users.length) {
      throw new LecternError(
        'conflict',
        ErrorCode.NoUpdatePermission,
        `Execution environment ${env.name} is in use by ${users.length} content item(s) (${users
          .slice(0, 5)
          .map((u) => u.guid)
          .join(', ')}${users.length > 5 ? ', …' : ''}); move them to another image first (default_image_name).`,
        { content_guids: users.map((u) => u.guid) },
      );
    }
    await this.environments.delete(env);
    await this.audit.record(actor, 'remove_environment', `Removed execution environment ${env.guid} (${env.name})`);
  }

  // Restrictions are administered here even for file-managed environments: the file format
  // (Connect's) has no place for them.

  async permissions(guid: string): Promise<{ env: EnvironmentRow; permissions: EnvironmentPermissionRow[] }> {
    const env = await this.get(guid);
    return { env, permissions: await this.environments.permissions(env) };
  }

  /** `principal.guid` any case; the user or group must exist and not be allowed already. */
  async grant(actor: User, guid: string, principal: Principal): Promise<{ env: EnvironmentRow; permission: EnvironmentPermissionRow }> {
    const env = await this.get(guid);
    const existing = await this.existingPrincipal(principal);
    if ((await this.environments.permissions(env)).some((p) => p.principal_guid === existing.guid)) {
      throw conflict(`The ${existing.type} ${existing.guid} may already use ${env.name}.`, ErrorCode.DuplicateName);
    }
    const permission = await this.environments.grant(env, existing);
    await this.audit.record(actor, 'add_environment_permission', `Allowed ${existing.type} ${existing.guid} to use execution environment ${env.name}`);
    return { env, permission };
  }

  async revoke(actor: User, guid: string, permissionGuid: string): Promise<void> {
    const env = await this.get(guid);
    const permission = await this.environments.findPermission(env, permissionGuid);
    if (!permission) throw notFound(`Permission ${permissionGuid} does not exist for execution environment ${env.guid}.`);
    await this.environments.revoke(permission);
    await this.audit.record(actor, 'remove_environment_permission', `Removed ${permission.principal_type} ${permission.principal_guid} from execution environment ${env.name}`);
  }

  /** Records owned by the declarative file are changed by editing the file, never through the server. */
  private async apiOwned(guid: string): Promise<EnvironmentRow> {
    const env = await this.get(guid);
    if (env.managed_by) {
      throw new LecternError(
        'conflict',
        ErrorCode.NoUpdatePermission,
        `Execution environment ${env.name} is managed by ${env.managed_by}; change that file instead ([ExecutionEnvironments] ConfigFilePath).`,
        {
          managed_by: env.managed_by,
        },
      );
    }
    return env;
  }

  private async requireUniqueImage(name: string) {
    const other = await this.environments.findByName(name);
    if (other) throw conflict(`An execution environment for image ${name} already exists (${other.guid}).`, ErrorCode.DuplicateName);
  }

  private async existingPrincipal(principal: Principal): Promise<Principal> {
    const guid = principal.guid.toLowerCase();
    const table = principal.type === 'user' ? 'users' : 'groups';
    if (!(await this.db.selectFrom(table).select('id').where('guid', '=', guid).executeTakeFirst())) {
      throw invalidParameter(`${principal.type === 'user' ? 'User' : 'Group'} ${principal.guid} does not exist.`);
    }
    return { type: principal.type, guid };
  }
}
