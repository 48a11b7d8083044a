/**
 * Keyset pages over rows with increasing integer ids, as Connect pages its audit log and
 * instrumentation: the cursor is a row id, so a page costs an index range scan however deep it
 * is, and rows added meanwhile neither repeat nor shift a page. The table and its filters are the
 * caller's (`KeysetSource`); the paging rule is here once.
 */
export interface KeysetSource<Row extends { id: number }> {
  /** Up to `limit` rows (with the caller's filters), ordered by id `order`, only ids `beyond.op` `beyond.id` when given. */
  rows(query: { beyond?: { op: '<' | '>'; id: number }; order: 'asc' | 'desc'; limit: number }): Promise<Row[]>;
}

export interface KeysetRequest {
  limit: number;
  /** The id of the last row of the page before (rows after it in display order). */
  next?: number;
  /** The id of the first row of the page after (the `limit` rows just before it). */
  previous?: number;
  ascending: boolean;
}

export interface KeysetPage<Row> {
  /** In display order: oldest first when ascending, else newest first. */
  rows: Row[];
  cursors: {
    /** Pass back as `next` for the following page; null on the last one. */
    next: number | null;
    /** Pass back as `previous` for the page before; null on the first one. */
    previous: number | null;
    /** A `previous` cursor that lands on the final page; null when there are no rows. */
    last: number | null;
  };
}

export async function keysetPage<Row extends { id: number }>(source: KeysetSource<Row>, request: KeysetRequest): Promise<KeysetPage<Row>> {
  // "after x in display order" is id > x when ascending, id < x when descending.
  const after = request.ascending ? ('>' as const) : ('<' as const);
  const before = request.ascending ? ('<' as const) : ('>' as const);
  const displayOrder = request.ascending ? ('asc' as const) : ('desc' as const);
  const reverseOrder = request.ascending ? ('desc' as const) : ('asc' as const);
  let rows: Row[];
  if (request.previous !== undefined) {
    // Walk backwards from the cursor, then restore display order.
    rows = await source.rows({ beyond: { op: before, id: request.previous }, order: reverseOrder, limit: request.limit });
    rows.reverse();
  } else {
    rows = await source.rows({ beyond: request.next === undefined ? undefined : { op: after, id: request.next }, order: displayOrder, limit: request.limit });
  }
  const exists = async (op: '<' | '>', id: number) => (await source.rows({ beyond: { op, id }, order: 'asc', limit: 1 })).length > 0;
  const first = rows[0];
  const last = rows[rows.length - 1];
  const hasPrevious = first ? await exists(before, first.id) : false;
  const hasNext = last ? await exists(after, last.id) : false;
  // The row at the far end in display order; the page before the id just past it is the final page.
  const [end] = await source.rows({ order: reverseOrder, limit: 1 });
  return {
    rows,
    cursors: {
      next: hasNext ? last!.id : null,
      previous: hasPrevious ? first!.id : null,
      last: end ? (request.ascending ? end.id + 1 : end.id - 1) : null,
    },
  };
}
