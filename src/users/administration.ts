import type { AuditLog } from '../audit/audit-log.js';
import type { User } from '../db/schema.js';
import { forbidden, notFound } from '../errors.js';
import { nowIso } from '../util/ids.js';
import { roleAtLeast, type NewUserInput, type Role, type Users } from './users.js';

export type UserChanges = { email?: string; first_name?: string; last_name?: string; user_role?: Role; username?: string };

/** What a user may change of their own account; the rest (and other accounts) is for administrators. */
const SELF_SERVICE_FIELDS = ['email', 'first_name', 'last_name'];

/**
 * Changes people make to accounts and keys through the server (not the command line), each
 * checked against who may make it and recorded in the audit log under the person who made it.
 */
export class UserAdministration {
  constructor(
    private readonly users: Users,
    private readonly audit: AuditLog,
  ) {}

  async add(actor: User, input: NewUserInput): Promise<User> {
    const user = await this.users.create(input);
    await this.audit.record(actor, 'add_user', `Added user ${user.username} (${user.guid}) with role ${user.user_role}`);
    return user;
  }

  /**
   * Fields equal to their current value are no change. Users change their own name and email;
   * administrators change anything of anyone, except their own role (so the last one cannot lock
   * everybody out).
   */
  async update(actor: User, guid: string, requested: UserChanges): Promise<User> {
    const target = await this.users.get(guid);
    const isAdmin = roleAtLeast(actor, 'administrator');
    const self = actor.id === target.id;
    if (!isAdmin && !self) throw forbidden('Only administrators can change other users.');
    const changes = { ...requested };
    if (changes.user_role !== undefined && changes.user_role === target.user_role) delete changes.user_role;
    if (changes.username !== undefined && changes.username === target.username) delete changes.username;
    if (!isAdmin) {
      for (const key of Object.keys(changes)) {
        if (!SELF_SERVICE_FIELDS.includes(key)) throw forbidden(`Only administrators can change ${key === 'user_role' ? 'user roles' : `the field "${key}"`}.`);
      }
    }
    if (self && changes.user_role !== undefined) throw forbidden('Administrators cannot change their own role.');
    const updated = await this.users.update(guid, changes);
    const fields = Object.keys(changes);
    if (fields.length) {
      await this.audit.record(
        actor,
        'update_user',
        `Updated user ${updated.username} (${updated.guid}): ${fields.join(', ')}${changes.user_role ? ` (role ${target.user_role} → ${changes.user_role})` : ''}`,
      );
    }
    return updated;
  }

  /** A locked account can neither sign in nor use its keys; nobody locks themselves out. */
  async setLocked(actor: User, guid: string, locked: boolean): Promise<User> {
    const target = await this.users.get(guid);
    if (target.id === actor.id && locked) throw forbidden('Administrators cannot lock their own account.');
    const updated = await this.users.setLocked(guid, locked);
    await this.audit.record(actor, locked ? 'lock_user' : 'unlock_user', `${locked ? 'Locked' : 'Unlocked'} user ${updated.username} (${updated.guid})`);
    return updated;
  }

  /** A new key of the user's own; the key itself is returned this once and never again. */
  async createApiKey(user: User, name: string): Promise<{ id: number; name: string; key: string; created_time: string }> {
    const { key, id } = await this.users.createApiKey(user.id, name);
    const row = (await this.users.listApiKeys(user.id)).find((k) => k.id === id);
    await this.audit.record(user, 'add_api_key', `Created API key "${name}" (${id}) for ${user.username}`);
    return { id, name, key, created_time: row?.created_time ?? nowIso() };
  }

  /** `id` as the client sent it: anything but a key id of this user's is a missing key. */
  async deleteApiKey(user: User, id: string): Promise<void> {
    if (!/^\d{1,15}$/.test(id)) throw notFound(`API key ${id} does not exist.`);
    await this.users.deleteApiKey(user.id, Number(id));
    await this.audit.record(user, 'remove_api_key', `Deleted API key ${id} of ${user.username}`);
  }
}
