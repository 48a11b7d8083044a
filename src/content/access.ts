// Who may do what with a content item: a caller's role on it, from its grants, the caller's groups
// and the account's own role (the rule is roleFrom, applied here only), with both kept in memory.
import type { Kysely } from 'kysely';
import type { Content, Database, User } from '../db/schema.js';
import { TableCache } from '../db/table-cache.js';
import type { TableChanges } from '../db/table-changes.js';
import { forbidden } from '../errors.js';
import { roleAtLeast } from '../users/users.js';

export type AppRole = 'owner' | 'editor' | 'viewer' | 'none';

/** What a caller may do with one content item: the one place the role rule (`roleFrom`) is applied. */
export class ContentAccess {
  /** Per content item and per user: what one item's access check needs, without a query each time. */
  private readonly grantCache: TableCache<Array<{ principal_guid: string; role: string }>>;
  private readonly groupCache: TableCache<Array<{ guid: string; name: string }>>;

  constructor(
    private readonly db: Kysely<Database>,
    changes?: TableChanges,
  ) {
    // Cascading deletes remove rows no statement names: grants go with their content, memberships
    // with their group or user, so those tables are watched too.
    this.grantCache = new TableCache(changes, ['content_permissions', 'content']);
    this.groupCache = new TableCache(changes, ['groups', 'group_members', 'users']);
  }

  /** One item's role, from the cached grants of the item and groups of the user. */
  async role(user: User | null, content: Content): Promise<AppRole> {
    if (!user) return 'none';
    const [principals, grants] = await Promise.all([this.principalGuids(user), this.grants(content.id)]);
    const mine = new Set(grants.filter((g) => principals.includes(g.principal_guid)).map((g) => g.role));
    return roleFrom(user, content, mine.size ? mine : undefined);
  }

  /** The caller's role on each item, in two queries whatever the number of items. */
  async roles(user: User | null, items: Content[]): Promise<Map<number, AppRole>> {
    const roles = new Map<number, AppRole>();
    if (!user || items.length === 0) return roles;
    const grants = await this.db
      .selectFrom('content_permissions')
      .select(['content_id', 'role'])
      .where('principal_guid', 'in', await this.principalGuids(user))
      .where(
        'content_id',
        'in',
        items.map((c) => c.id),
      )
      .execute();
    const granted = new Map<number, Set<string>>();
    for (const g of grants) granted.set(g.content_id, (granted.get(g.content_id) ?? new Set()).add(g.role));
    for (const c of items) roles.set(c.id, roleFrom(user, c, granted.get(c.id)));
    return roles;
  }

  /** Viewing the content itself (not its settings): also governed by access_type. */
  async canView(user: User | null, content: Content): Promise<boolean> {
    if (content.access_type === 'all') return true;
    if (!user) return false;
    if (content.access_type === 'logged_in') return true;
    return (await this.role(user, content)) !== 'none';
  }

  async canEdit(user: User, content: Content): Promise<boolean> {
    const role = await this.role(user, content);
    return role === 'owner' || role === 'editor';
  }

  async requireEdit(user: User, content: Content): Promise<void> {
    if (await this.canEdit(user, content)) return;
    if (!roleAtLeast(user, 'publisher')) {
      throw forbidden(`Viewer accounts cannot change content: ${user.username} may view content ${content.guid} but needs the publisher role to change it.`);
    }
    throw forbidden(`You do not have permission to change content ${content.guid}.`);
  }

  async principalGuids(user: User): Promise<string[]> {
    return [user.guid, ...(await this.groupsOf(user)).map((g) => g.guid)];
  }

  /** The groups a user belongs to (content sees their names in RStudio-Connect-Credentials). */
  async groupsOf(user: User): Promise<ReadonlyArray<{ guid: string; name: string }>> {
    return (await this.groupCache.get(String(user.id), () =>
      this.db
        .selectFrom('group_members')
        .innerJoin('groups', 'groups.id', 'group_members.group_id')
        .select(['groups.guid', 'groups.name'])
        .where('group_members.user_id', '=', user.id)
        .orderBy('groups.name')
        .execute(),
    ))!;
  }

  private async grants(contentId: number) {
    return (await this.grantCache.get(String(contentId), () => this.db.selectFrom('content_permissions').select(['principal_guid', 'role']).where('content_id', '=', contentId).execute()))!;
  }
}

/**
 * The role rule. What an item grants is capped by the account's role, as in Connect: only
 * publishers and administrators edit content; a viewer account is at most a viewer, even of
 * content it owns (a publisher demoted to viewer keeps seeing its content, no longer changes it)
 * and whatever it was granted, directly or through a group, before or after its demotion.
 * Owner → owner; an owner (collaborator) grant or administrator → editor; any other grant → viewer.
 */
function roleFrom(user: User, content: Content, granted: Set<string> | undefined): AppRole {
  const mayEdit = roleAtLeast(user, 'publisher');
  const owns = content.owner_id === user.id;
  if (!mayEdit) return owns || granted ? 'viewer' : 'none';
  if (owns) return 'owner';
  if (granted?.has('owner') || user.user_role === 'administrator') return 'editor';
  if (granted) return 'viewer';
  return 'none';
}
