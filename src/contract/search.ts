// Server-side content search (v1/search/content): Connect's query syntax, offset pages.
import { Type } from 'typebox';
import { INCLUDE_DESCRIPTION } from './content.js';

export const SearchContentQuery = Type.Object({
  q: Type.Optional(
    Type.String({
      description:
        'Words matching name, title or description, and terms: owner:<username>|@me, tag:<name>, type:<mode or kind>, published:true|false, locked:true|false, is:published|unpublished|locked|unlocked; "quotes" keep spaces, a,b lists alternatives, -term excludes (docs/search.md).',
    }),
  ),
  page_number: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Page to answer, from 1 (default 1).' })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'Items per page (default 500, at most 500).' })),
  sort: Type.Optional(Type.Union([Type.Literal('created'), Type.Literal('last_deployed'), Type.Literal('name'), Type.Literal('title')], { description: 'Order by (default created).' })),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'Direction (default desc); items never deployed come last either way.' })),
  include: Type.Optional(Type.String({ description: INCLUDE_DESCRIPTION })),
});
