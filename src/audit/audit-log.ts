import type { Kysely } from 'kysely';
import { keysetPage, type KeysetRequest } from '../db/keyset-page.js';
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

  /** A keyset page of the log (src/db/keyset-page.ts), oldest first when ascending. */
  page(opts: KeysetRequest) {
    return keysetPage(
      {
        rows: ({ beyond, order, limit }) => {
          let query = this.db.selectFrom('audit_logs').selectAll();
          if (beyond) query = query.where('id', beyond.op, beyond.id);
          return query.orderBy('id', order).limit(limit).execute();
        },
      },
      opts,
    );
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
