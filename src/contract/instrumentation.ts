// GET /__api__/v1/instrumentation/…: usage of content as Connect reports it (visits and Shiny
// sessions in keyset pages, hits as one array).
import { Type, type Static } from 'typebox';
import { CursorPaging, Nullable } from './common.js';

const window = {
  content_guid: Type.Optional(Type.String({ description: 'Only this content item (several: GUIDs separated by "|").' })),
  from: Type.Optional(Type.String({ description: 'RFC 3339: only records at or after this time.' })),
  to: Type.Optional(Type.String({ description: 'RFC 3339: only records at or before this time (default: now).' })),
};

export const UsagePageQuery = Type.Object({
  ...window,
  min_data_version: Type.Optional(Type.String({ description: 'Only records of this data version or later (visits: default 3; Shiny usage: default 1).' })),
  limit: Type.Optional(Type.String({ description: 'Records per page: 1–500, default 20.' })),
  asc_order: Type.Optional(Type.String({ description: 'true (default: oldest first) or false.' })),
  next: Type.Optional(Type.String({ description: 'A cursor from paging.cursors.next.' })),
  previous: Type.Optional(Type.String({ description: 'A cursor from paging.cursors.previous.' })),
});
export type UsagePageQuery = Static<typeof UsagePageQuery>;

export const HitsQuery = Type.Object(window);

export const ContentVisit = Type.Object(
  {
    content_guid: Type.String(),
    user_guid: Nullable(Type.String({ description: 'null for an anonymous visitor.' })),
    variant_key: Nullable(Type.String({ description: 'Always null: Lectern has no variants.' })),
    rendering_id: Nullable(Type.String({ description: 'The rendering shown (rendered content), else null.' })),
    bundle_id: Nullable(Type.String()),
    time: Type.String({ description: 'RFC 3339, seconds precision, UTC.' }),
    data_version: Type.Integer(),
    path: Type.String({ description: 'The path below the content\'s root, "/" for the root; no query.' }),
    user_agent: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const ContentVisitPage = Type.Object({ paging: CursorPaging, results: Type.Array(ContentVisit) }, { additionalProperties: false });

export const ShinyUsage = Type.Object(
  {
    content_guid: Type.String(),
    user_guid: Nullable(Type.String({ description: 'null for an anonymous visitor.' })),
    started: Type.String({ description: 'When the websocket session opened (RFC 3339, UTC).' }),
    ended: Nullable(Type.String({ description: 'When it closed; null while it lasts.' })),
    data_version: Type.Integer(),
  },
  { additionalProperties: false },
);

export const ShinyUsagePage = Type.Object({ paging: CursorPaging, results: Type.Array(ShinyUsage) }, { additionalProperties: false });

export const ContentHit = Type.Object(
  {
    id: Type.String(),
    content_guid: Type.String(),
    user_guid: Nullable(Type.String()),
    timestamp: Type.String({ description: 'RFC 3339, seconds precision, UTC.' }),
    data: Type.Object(
      {
        path: Nullable(Type.String()),
        query: Nullable(Type.String()),
        user_agent: Nullable(Type.String()),
        sec_fetch_dest: Nullable(Type.String()),
        sec_fetch_site: Nullable(Type.String()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const ContentHits = Type.Array(ContentHit);
