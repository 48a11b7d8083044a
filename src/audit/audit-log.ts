import type { Kysely } from 'kysely';
import type { Database, User } from '../db/schema.js';
import { nowIso } from '../util/ids.js';

export type Actor = Pick<User, 'id' | 'guid' | 'username' | 'first_name' | 'last_name'> | null;

/** Records state changes; served (newest first, cursor-paged) at GET /__api__/v1/audit_logs. */
export class AuditLog {
  constructor(private readonly db: Kysely<Database>) {}

  async record(actor: Actor, action: string, description: string): Promise<void> {
    await this.db
      .insertInto('audit_logs')
      .values({
        time: nowIso(),
        user_id: actor?.id ?? null,
        user_guid: actor?.guid ?? null,
        user_description: actor ? auditText(describeUser(actor)) : 'system',
        action,
        event_description: auditText(description),
      })
      .execute();
  }

  /**
   * Keyset page in display order (oldest first when ascending, else newest first). `next` is the id
   * of the last row of the page before (rows after it in display order); `previous` the id of the
   * first row of the page after (the `limit` rows just before it). Also says whether rows exist
   * beyond either end of the returned page, as the cursors to pass back for the pages on either
   * side (null where there is none), and `last`: a `previous` cursor that lands on the final page
   * (null when the log is empty).
   */
  async page(opts: { limit: number; next?: number; previous?: number; ascending: boolean }) {
    // "after x in display order" is id > x when ascending, id < x when descending.
    const after = opts.ascending ? ('>' as const) : ('<' as const);
    const before = opts.ascending ? ('<' as const) : ('>' as const);
    const displayDir = opts.ascending ? ('asc' as const) : ('desc' as const);
    const reverseDir = opts.ascending ? ('desc' as const) : ('asc' as const);
    let rows;
    if (opts.previous !== undefined) {
      // Walk backwards from the cursor, then restore display order.
      rows = await this.db.selectFrom('audit_logs').selectAll().where('id', before, opts.previous).orderBy('id', reverseDir).limit(opts.limit).execute();
      rows.reverse();
    } else {
      let query = this.db.selectFrom('audit_logs').selectAll();
      if (opts.next !== undefined) query = query.where('id', after, opts.next);
      rows = await query.orderBy('id', displayDir).limit(opts.limit).execute();
    }
    const exists = async (op: '<' | '>', id: number) => (await this.db.selectFrom('audit_logs').select('id').where('id', op, id).limit(1).executeTakeFirst()) !== undefined;
    const first = rows[0];
    const last = rows[rows.length - 1];
    const hasPrevious = first ? await exists(before, first.id) : false;
    const hasNext = last ? await exists(after, last.id) : false;
    return { rows, cursors: { next: hasNext ? last!.id : null, previous: hasPrevious ? first!.id : null, last: await this.lastPageCursor(opts.ascending) } };
  }

  private async lastPageCursor(ascending: boolean): Promise<number | null> {
    const row = await this.db
      .selectFrom('audit_logs')
      .select((eb) => [eb.fn.min('id').as('min'), eb.fn.max('id').as('max')])
      .executeTakeFirst();
    if (!row || row.max === null || row.min === null) return null;
    return ascending ? Number(row.max) + 1 : Number(row.min) - 1;
  }
}

const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * One line of text whatever went into it: control characters (newlines included), line and
 * paragraph separators are written as escapes, so text a user supplied cannot forge entries.
 */
export function auditText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function describeUser(user: Pick<User, 'username' | 'first_name' | 'last_name'>): string {
  const full = `${user.first_name} ${user.last_name}`.trim();
  return full ? `${full} (${user.username})` : user.username;
}
