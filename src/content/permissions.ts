import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Content, Database, User } from '../db/schema.js';
import { conflict, ErrorCode, invalidParameter, LecternError, notFound } from '../errors.js';
import { roleAtLeast } from '../users/users.js';

export interface ContentPermission {
  id: number;
  content_id: number;
  principal_type: 'user' | 'group';
  principal_guid: string;
  role: 'viewer' | 'owner';
}

/** Who is given which role; `principal_guid` in lower case. */
export interface Grant {
  principal_guid: string;
  principal_type: 'user' | 'group';
  role: 'viewer' | 'owner';
}

/**
 * A content item's ACL: the users and groups given a role on it besides its owner. Callers have
 * checked that the actor may edit the item; every change is recorded in the audit log.
 */
export class ContentPermissions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
  ) {}

  list(content: Content): Promise<ContentPermission[]> {
    return this.db.selectFrom('content_permissions').selectAll().where('content_id', '=', content.id).orderBy('id').execute();
  }

  /** `id` as the client sent it: anything but the id of one of this item's permissions is missing. */
  async get(content: Content, id: string): Promise<ContentPermission> {
    const row = /^\d+$/.test(id) ? await this.db.selectFrom('content_permissions').selectAll().where('content_id', '=', content.id).where('id', '=', Number(id)).executeTakeFirst() : undefined;
    if (!row) throw notFound(`Permission ${id} does not exist for content ${content.guid}.`);
    return row;
  }

  async grant(actor: User, content: Content, grant: Grant): Promise<ContentPermission> {
    await this.checkPrincipal(content, grant);
    await this.requireNoDuplicate(content, grant.principal_guid);
    const row = await this.db
      .insertInto('content_permissions')
      .values({ content_id: content.id, principal_guid: grant.principal_guid, principal_type: grant.principal_type, role: grant.role })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(async (err) => {
        // A concurrent insert won the unique constraint.
        await this.requireNoDuplicate(content, grant.principal_guid);
        throw err;
      });
    await this.audit.record(actor, 'add_permission', `Granted ${grant.role} on ${content.guid} to ${grant.principal_type} ${grant.principal_guid}`);
    return row;
  }

  /** Replaces permission `id` of the item (whose principal may change too). */
  async change(actor: User, content: Content, id: string, grant: Grant): Promise<ContentPermission> {
    const existing = await this.get(content, id);
    await this.checkPrincipal(content, grant);
    await this.requireNoDuplicate(content, grant.principal_guid, existing.id);
    const row = await this.db
      .updateTable('content_permissions')
      .set({ principal_guid: grant.principal_guid, principal_type: grant.principal_type, role: grant.role })
      .where('id', '=', existing.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.audit.record(actor, 'update_permission', `Changed permission ${existing.id} on ${content.guid} to ${grant.role} for ${grant.principal_type} ${grant.principal_guid}`);
    return row;
  }

  async revoke(actor: User, content: Content, id: string): Promise<void> {
    const existing = await this.get(content, id);
    await this.db.deleteFrom('content_permissions').where('id', '=', existing.id).execute();
    await this.audit.record(actor, 'remove_permission', `Removed ${existing.role} on ${content.guid} from ${existing.principal_type} ${existing.principal_guid}`);
  }

  /**
   * Checks the principal exists, is not the content owner, and, for a collaborator grant to a user,
   * has an account that may edit: a viewer account can only be a viewer of content (as in Connect).
   * Groups may be collaborators; their viewer members still only view (ContentAccess caps the role).
   */
  private async checkPrincipal(content: Content, grant: Grant) {
    if (grant.principal_type === 'user') {
      const user = await this.db.selectFrom('users').select(['id', 'username', 'user_role']).where('guid', '=', grant.principal_guid).executeTakeFirst();
      if (!user) throw invalidParameter(`User ${grant.principal_guid} does not exist.`);
      if (user.id === content.owner_id) throw invalidParameter('The owner of the content already has full access; it cannot be given a permission.');
      if (grant.role === 'owner' && !roleAtLeast(user, 'publisher')) {
        throw new LecternError(
          'invalid',
          ErrorCode.InvalidParameter,
          `${user.username} has a viewer account and can only be a viewer of content: grant the "viewer" role, or give the account the publisher role first.`,
          {
            principal_guid: grant.principal_guid,
            user_role: user.user_role,
          },
        );
      }
    } else {
      const group = await this.db.selectFrom('groups').select(['id']).where('guid', '=', grant.principal_guid).executeTakeFirst();
      if (!group) throw invalidParameter(`Group ${grant.principal_guid} does not exist.`);
    }
  }

  private async requireNoDuplicate(content: Content, principalGuid: string, exceptId?: number) {
    let q = this.db.selectFrom('content_permissions').select('id').where('content_id', '=', content.id).where('principal_guid', '=', principalGuid);
    if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
    if (await q.executeTakeFirst()) throw conflict(`Principal ${principalGuid} already has a permission on this content.`, ErrorCode.DuplicateName);
  }
}
