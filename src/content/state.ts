import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { appModeKind } from './app-modes.js';

/** What the content list shows for an item at a glance (a Lectern extension: `include=state`). */
export type ContentState = 'not_deployed' | 'deploying' | 'failed' | 'running' | 'stopped' | 'published';

const PUBLISHING_TASKS = ['deploy', 'build'];

/**
 * States of many items in two queries: the newest deploy/build task of each (queued or running =
 * deploying; failed = its last publish failed, even though an earlier bundle may still be live),
 * then, for apps and APIs, whether any worker process is active; documents and sites are published.
 */
export async function contentStates(db: Kysely<Database>, items: Array<{ id: number; bundle_id: number | null; app_mode: string }>): Promise<Map<number, ContentState>> {
  const out = new Map<number, ContentState>();
  if (items.length === 0) return out;
  const ids = items.map((c) => c.id);
  const latest = await db
    .selectFrom('tasks as t')
    .select(['t.content_id', 't.state', 't.code'])
    .where('t.content_id', 'in', ids)
    .where('t.kind', 'in', PUBLISHING_TASKS)
    .where('t.created_time', '=', (eb) =>
      eb
        .selectFrom('tasks as t2')
        .select((e) => e.fn.max('t2.created_time').as('m'))
        .whereRef('t2.content_id', '=', 't.content_id')
        .where('t2.kind', 'in', PUBLISHING_TASKS),
    )
    .execute();
  const lastTask = new Map(latest.map((t) => [t.content_id!, t]));
  const running = new Set(
    (await db.selectFrom('jobs').select('content_id').distinct().where('content_id', 'in', ids).where('kind', '=', 'run').where('status', '=', 0).execute()).map((r) => r.content_id),
  );
  for (const item of items) {
    const task = lastTask.get(item.id);
    if (task && task.state !== 'finished') out.set(item.id, 'deploying');
    else if (task && task.code !== 0) out.set(item.id, 'failed');
    else if (item.bundle_id === null) out.set(item.id, 'not_deployed');
    // Documents and static sites are files served as they are: there is no process to be stopped.
    else if (appModeKind(item.app_mode) !== 'interactive') out.set(item.id, 'published');
    else out.set(item.id, running.has(item.id) ? 'running' : 'stopped');
  }
  return out;
}
