import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Content, Database, Tag, User } from '../db/schema.js';
import { conflict, ErrorCode, invalidParameter, notFound } from '../errors.js';
import { nowIso } from '../util/ids.js';
import type { ContentService } from './content.js';

/**
 * Tags: a server-wide tree that administrators manage and editors attach to their content. Names
 * are unique among siblings. Callers have checked the actor's role (administrator for the tree,
 * editor of the item for its tags); every change is recorded in the audit log.
 */
export class Tags {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly content: ContentService,
    private readonly audit: AuditLog,
  ) {}

  /** `parentId` null: top-level tags only. */
  list(filter: { name?: string; parentId?: number | null }): Promise<Tag[]> {
    let query = this.db.selectFrom('tags').selectAll();
    if (filter.name !== undefined) query = query.where('name', '=', filter.name);
    if (filter.parentId !== undefined) query = filter.parentId === null ? query.where('parent_id', 'is', null) : query.where('parent_id', '=', filter.parentId);
    return query.orderBy('id').execute();
  }

  /** `id` as the client sent it: anything but the id of a tag is a missing tag. */
  async get(id: string): Promise<Tag> {
    const tag = /^\d+$/.test(id) ? await this.db.selectFrom('tags').selectAll().where('id', '=', Number(id)).executeTakeFirst() : undefined;
    if (!tag) throw notFound(`Tag ${id} does not exist.`);
    return tag;
  }

  async create(actor: User, name: string, parentId: number | null): Promise<Tag> {
    await this.checkParent(parentId);
    await this.requireUniqueSibling(name, parentId);
    const now = nowIso();
    const tag = await this.db.insertInto('tags').values({ name, parent_id: parentId, created_time: now, updated_time: now }).returningAll().executeTakeFirstOrThrow();
    await this.audit.record(actor, 'add_tag', `Created tag ${tag.id} (${name})`);
    return tag;
  }

  /** Renames and/or moves a tag; what `changes` leaves out stays. */
  async update(actor: User, id: string, changes: { name?: string; parentId?: number | null }): Promise<Tag> {
    const tag = await this.get(id);
    const name = changes.name ?? tag.name;
    const parentId = changes.parentId === undefined ? tag.parent_id : changes.parentId;
    if (parentId !== tag.parent_id) await this.checkParent(parentId, tag.id);
    if (name !== tag.name || parentId !== tag.parent_id) await this.requireUniqueSibling(name, parentId, tag.id);
    const updated = await this.db.updateTable('tags').set({ name, parent_id: parentId, updated_time: nowIso() }).where('id', '=', tag.id).returningAll().executeTakeFirstOrThrow();
    await this.audit.record(actor, 'update_tag', `Updated tag ${tag.id} (${name})`);
    return updated;
  }

  /** The tag goes with its whole subtree, and off every item it was attached to. */
  async delete(actor: User, id: string): Promise<void> {
    const tag = await this.get(id);
    // ON DELETE CASCADE would do it, but SQLite foreign keys may be off: delete the subtree explicitly.
    const ids = await this.subtree(tag.id);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('content_tags').where('tag_id', 'in', ids).execute();
      for (const child of ids.reverse()) await trx.deleteFrom('tags').where('id', '=', child).execute();
    });
    await this.audit.record(actor, 'remove_tag', `Deleted tag ${tag.id} (${tag.name})`);
  }

  /** The items carrying tag `id` that `user` sees in listings. */
  async taggedContent(user: User, id: string): Promise<Content[]> {
    const tag = await this.get(id);
    const visible = await this.content.list(user, {});
    const tagged = new Set((await this.db.selectFrom('content_tags').select('content_id').where('tag_id', '=', tag.id).execute()).map((r) => r.content_id));
    return visible.filter((c) => tagged.has(c.id));
  }

  of(content: Content): Promise<Tag[]> {
    return this.db
      .selectFrom('tags')
      .selectAll('tags')
      .where('id', 'in', this.db.selectFrom('content_tags').select('tag_id').where('content_id', '=', content.id))
      .orderBy('id')
      .execute();
  }

  /**
   * Attaches a tag and, as Connect does, the tags above it, short of its top-level ancestor: a
   * top-level tag is a category, not a tag an item carries, unless it is attached itself.
   * Attaching what is already there changes nothing (and records nothing).
   */
  async attach(actor: User, content: Content, tagId: string): Promise<Tag> {
    const tag = await this.get(tagId);
    const ids = [tag.id];
    for (let parentId = tag.parent_id, depth = 0; parentId !== null && depth < 1000; depth++) {
      const parent = await this.db.selectFrom('tags').select(['id', 'parent_id']).where('id', '=', parentId).executeTakeFirst();
      if (!parent || parent.parent_id === null) break;
      ids.push(parent.id);
      parentId = parent.parent_id;
    }
    const present = new Set((await this.db.selectFrom('content_tags').select('tag_id').where('content_id', '=', content.id).where('tag_id', 'in', ids).execute()).map((r) => r.tag_id));
    const missing = ids.filter((id) => !present.has(id));
    if (missing.length) {
      await this.db
        .insertInto('content_tags')
        .values(missing.map((id) => ({ content_id: content.id, tag_id: id })))
        .onConflict((oc) => oc.columns(['content_id', 'tag_id']).doNothing())
        .execute();
      await this.audit.record(actor, 'add_content_tag', `Tagged ${content.guid} with ${tag.id} (${tag.name})`);
    }
    return tag;
  }

  /**
   * Detaches a tag and every tag under it, as Connect does (so detaching a category clears it
   * from the item); refused as missing when the item carries none of them.
   */
  async detach(actor: User, content: Content, tagId: string): Promise<void> {
    const tag = await this.get(tagId);
    const ids = await this.subtree(tag.id);
    const result = await this.db.deleteFrom('content_tags').where('content_id', '=', content.id).where('tag_id', 'in', ids).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound(`Content ${content.guid} is not tagged with ${tag.id}.`);
    await this.audit.record(actor, 'remove_content_tag', `Removed tag ${tag.id} (${tag.name}) from ${content.guid}`);
  }

  /** A tag's id and those of all the tags under it, parents before children. */
  private async subtree(id: number): Promise<number[]> {
    const ids = [id];
    for (let i = 0; i < ids.length; i++) {
      const children = await this.db.selectFrom('tags').select('id').where('parent_id', '=', ids[i]!).execute();
      ids.push(...children.map((c) => c.id));
    }
    return ids;
  }

  private async requireUniqueSibling(name: string, parentId: number | null, exceptId?: number) {
    let q = this.db.selectFrom('tags').select('id').where('name', '=', name);
    q = parentId === null ? q.where('parent_id', 'is', null) : q.where('parent_id', '=', parentId);
    if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
    if (await q.executeTakeFirst()) throw conflict(`A tag named "${name}" already exists under this parent.`, ErrorCode.DuplicateName);
  }

  /** Parent must exist and, when moving a tag, must not be the tag itself or one of its descendants. */
  private async checkParent(parentId: number | null, movingId?: number) {
    if (parentId === null) return;
    let cursor: number | null = parentId;
    for (let depth = 0; cursor !== null && depth < 1000; depth++) {
      if (cursor === movingId) throw invalidParameter('A tag cannot be moved under itself or one of its descendants.');
      const row: { parent_id: number | null } | undefined = await this.db.selectFrom('tags').select('parent_id').where('id', '=', cursor).executeTakeFirst();
      if (!row) {
        if (cursor === parentId) throw invalidParameter(`Parent tag ${parentId} does not exist.`);
        break;
      }
      cursor = row.parent_id;
    }
  }
}
