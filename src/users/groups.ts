import { sql, type Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Database, Group, User } from '../db/schema.js';
import { conflict, ErrorCode, forbidden, notFound } from '../errors.js';
import { newGuid, nowIso } from '../util/ids.js';
import { roleAtLeast, type Users } from './users.js';

/** An offset page of rows and the number of rows in all pages. */
export interface Counted<T> {
  rows: T[];
  total: number;
}

/**
 * Groups of users: any publisher may create one and becomes its owner; the owner or an
 * administrator changes it. Every change is recorded in the audit log.
 */
export class Groups {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly users: Users,
    private readonly audit: AuditLog,
  ) {}

  async get(guid: string): Promise<Group> {
    const group = await this.db.selectFrom('groups').selectAll().where('guid', '=', guid).executeTakeFirst();
    if (!group) throw notFound(`Group ${guid} does not exist.`);
    return group;
  }

  /** Groups whose name starts with `prefix` (any case), ordered by name. */
  async list(opts: { prefix?: string; offset: number; limit: number; ascending: boolean }): Promise<Counted<Group>> {
    let query = this.db.selectFrom('groups');
    if (opts.prefix) {
      const p = `${opts.prefix.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`;
      query = query.where(sql`lower(name)`, 'like', sql`${p} escape '\\'`);
    }
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await query
      .selectAll()
      .orderBy(sql`lower(name)`, opts.ascending ? 'asc' : 'desc')
      .offset(opts.offset)
      .limit(opts.limit)
      .execute();
    return { rows, total: Number(total.n) };
  }

  /** Names are unique regardless of case. */
  async create(owner: User, name: string): Promise<Group> {
    const duplicate = () => conflict(`A group named "${name}" already exists.`, ErrorCode.DuplicateName);
    const existing = await this.db.selectFrom('groups').select('id').where(sql<string>`lower(name)`, '=', name.toLowerCase()).executeTakeFirst();
    if (existing) throw duplicate();
    let group: Group;
    try {
      group = await this.db.insertInto('groups').values({ guid: newGuid(), name, owner_guid: owner.guid, created_time: nowIso() }).returningAll().executeTakeFirstOrThrow();
    } catch (err) {
      // A concurrent insert of the same name loses the race on the unique index.
      if (/unique/i.test(String((err as Error).message))) throw duplicate();
      throw err;
    }
    await this.audit.record(owner, 'add_group', `Added group ${group.name} (${group.guid})`);
    return group;
  }

  /** The group goes with its memberships and every content permission granted to it. */
  async delete(actor: User, guid: string): Promise<void> {
    const group = await this.managed(actor, guid);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('content_permissions').where('principal_type', '=', 'group').where('principal_guid', '=', group.guid).execute();
      await trx.deleteFrom('group_members').where('group_id', '=', group.id).execute();
      await trx.deleteFrom('groups').where('id', '=', group.id).execute();
    });
    await this.audit.record(actor, 'remove_group', `Removed group ${group.name} (${group.guid})`);
  }

  async members(guid: string, page: { offset: number; limit: number }): Promise<Counted<User>> {
    const group = await this.get(guid);
    const base = this.db.selectFrom('users').innerJoin('group_members', 'group_members.user_id', 'users.id').where('group_members.group_id', '=', group.id);
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await base.selectAll('users').orderBy(sql`lower(users.username)`).offset(page.offset).limit(page.limit).execute();
    return { rows, total: Number(total.n) };
  }

  /** Adding a member twice changes nothing (and records nothing). */
  async addMember(actor: User, guid: string, userGuid: string): Promise<void> {
    const group = await this.managed(actor, guid);
    const member = await this.existingUser(userGuid);
    const existing = await this.db.selectFrom('group_members').select('user_id').where('group_id', '=', group.id).where('user_id', '=', member.id).executeTakeFirst();
    if (existing) return;
    await this.db.insertInto('group_members').values({ group_id: group.id, user_id: member.id }).execute();
    await this.audit.record(actor, 'add_group_member', `Added ${member.username} (${member.guid}) to group ${group.name} (${group.guid})`);
  }

  async removeMember(actor: User, guid: string, userGuid: string): Promise<void> {
    const group = await this.managed(actor, guid);
    const member = await this.existingUser(userGuid);
    const result = await this.db.deleteFrom('group_members').where('group_id', '=', group.id).where('user_id', '=', member.id).executeTakeFirst();
    if (!result.numDeletedRows) throw notFound(`User ${userGuid} is not a member of group ${group.guid}.`);
    await this.audit.record(actor, 'remove_group_member', `Removed ${member.username} (${member.guid}) from group ${group.name} (${group.guid})`);
  }

  /** The group, if `actor` may change it: its owner or an administrator. */
  private async managed(actor: User, guid: string): Promise<Group> {
    const group = await this.get(guid);
    if (!roleAtLeast(actor, 'administrator') && group.owner_guid !== actor.guid) throw forbidden('Only the group owner or an administrator can change this group.');
    return group;
  }

  private async existingUser(guid: string): Promise<User> {
    const user = await this.users.findByGuid(guid);
    if (!user) throw notFound(`User ${guid} does not exist.`);
    return user;
  }
}
