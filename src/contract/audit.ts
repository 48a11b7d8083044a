// GET /__api__/v1/audit_logs: keyset pages of the audit log, as Connect pages them.
import { Type, type Static } from 'typebox';
import { CursorPaging, Nullable } from './common.js';

export const AuditQuery = Type.Object({
  limit: Type.Optional(Type.String({ description: 'Entries per page: 1–500, default 20.' })),
  ascOrder: Type.Optional(Type.String({ description: 'true (default: oldest first) or false.' })),
  next: Type.Optional(Type.String({ description: 'A cursor from paging.cursors.next.' })),
  previous: Type.Optional(Type.String({ description: 'A cursor from paging.cursors.previous.' })),
});

export const AuditEntry = Type.Object(
  {
    id: Type.String(),
    time: Type.String({ description: 'RFC 3339, seconds precision, UTC.' }),
    user_id: Nullable(Type.String()),
    user_guid: Nullable(Type.String()),
    user_description: Type.String({ description: '"system" for changes no person made.' }),
    action: Type.String({ description: 'e.g. add_user, deploy, update_environment.' }),
    event_description: Type.String(),
  },
  { additionalProperties: false },
);
export type AuditEntry = Static<typeof AuditEntry>;

/** Cursors are opaque strings and the URLs absolute: connectapi follows `paging.next` verbatim. */
export const AuditPage = Type.Object(
  {
    paging: CursorPaging,
    results: Type.Array(AuditEntry),
  },
  { additionalProperties: false },
);
