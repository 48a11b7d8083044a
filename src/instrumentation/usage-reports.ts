import type { Kysely, Selectable } from 'kysely';
import { keysetPage, type KeysetPage, type KeysetRequest } from '../db/keyset-page.js';
import type { ContentHitsTable, Database, ShinySessionsTable, User } from '../db/schema.js';

export type ContentHit = Selectable<ContentHitsTable>;
export type ShinySessionRecord = Selectable<ShinySessionsTable>;

/** Whose usage a caller may read: everything (administrators), or the content a publisher owns or collaborates on. */
export type UsageScope = { all: true } | { all: false; userId: number; principalGuids: string[] };

export interface UsageFilter {
  /** Only these content items (Connect's `content_guid`, `|`-separated on the hits endpoint). */
  contentGuids?: string[];
  minDataVersion?: number;
  /** RFC 3339 bounds as ISO strings (UTC, milliseconds), both inclusive. */
  from?: string;
  to?: string;
}

/** Reads what UsageRecorder wrote, for the v1/instrumentation routes. */
export class UsageReports {
  constructor(private readonly db: Kysely<Database>) {}

  /** A keyset page of visits (the hits that count as visits), oldest first when ascending. */
  visits(scope: UsageScope, filter: UsageFilter, page: KeysetRequest): Promise<KeysetPage<ContentHit>> {
    return keysetPage(
      {
        rows: ({ beyond, order, limit }) => {
          let query = this.hitQuery(scope, filter).where('visit', '=', 1);
          if (beyond) query = query.where('id', beyond.op, beyond.id);
          return query.orderBy('id', order).limit(limit).execute();
        },
      },
      page,
    );
  }

  /** A keyset page of Shiny sessions, by when they started. */
  shinySessions(scope: UsageScope, filter: UsageFilter, page: KeysetRequest): Promise<KeysetPage<ShinySessionRecord>> {
    return keysetPage(
      {
        rows: ({ beyond, order, limit }) => {
          let query = this.db.selectFrom('shiny_sessions').selectAll();
          if (!scope.all) query = query.where('content_id', 'in', this.editableContent(scope));
          if (filter.contentGuids) query = query.where('content_guid', 'in', filter.contentGuids);
          if (filter.minDataVersion !== undefined) query = query.where('data_version', '>=', filter.minDataVersion);
          if (filter.from) query = query.where('started', '>=', filter.from);
          if (filter.to) query = query.where('started', '<=', filter.to);
          if (beyond) query = query.where('id', beyond.op, beyond.id);
          return query.orderBy('id', order).limit(limit).execute();
        },
      },
      page,
    );
  }

  /**
   * Every hit in the window, oldest first, read `batch` rows at a time: Connect's hits endpoint
   * is one unpaged array, which a year of a busy API makes millions of rows long, so it is
   * streamed rather than held in memory.
   */
  async *hits(scope: UsageScope, filter: UsageFilter, batch = 5_000): AsyncGenerator<ContentHit[]> {
    let after = 0;
    for (;;) {
      const rows = await this.hitQuery(scope, filter).where('id', '>', after).orderBy('id').limit(batch).execute();
      if (rows.length > 0) yield rows;
      if (rows.length < batch) return;
      after = rows[rows.length - 1]!.id;
    }
  }

  private hitQuery(scope: UsageScope, filter: UsageFilter) {
    let query = this.db.selectFrom('content_hits').selectAll();
    if (!scope.all) query = query.where('content_id', 'in', this.editableContent(scope));
    if (filter.contentGuids) query = query.where('content_guid', 'in', filter.contentGuids);
    if (filter.minDataVersion !== undefined) query = query.where('data_version', '>=', filter.minDataVersion);
    if (filter.from) query = query.where('time', '>=', filter.from);
    if (filter.to) query = query.where('time', '<=', filter.to);
    return query;
  }

  /** Ids of the content a publisher owns or is a collaborator on (directly or through a group), as a subquery. */
  private editableContent(scope: Extract<UsageScope, { all: false }>) {
    return this.db
      .selectFrom('content')
      .select('id')
      .where((eb) =>
        eb.or([
          eb('owner_id', '=', scope.userId),
          eb('id', 'in', eb.selectFrom('content_permissions').select('content_id').where('role', '=', 'owner').where('principal_guid', 'in', scope.principalGuids)),
        ]),
      );
  }
}

/** The scope of `user`'s reading; callers below publisher are refused before this. */
export async function usageScope(user: User, principalGuids: (user: User) => Promise<string[]>): Promise<UsageScope> {
  if (user.user_role === 'administrator') return { all: true };
  return { all: false, userId: user.id, principalGuids: await principalGuids(user) };
}
