import { requireUser } from '../auth/principal.js';
import { forbidden, invalidParameter } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';
import { taskJson } from '../tasks/queue.js';

const MAX_WAIT_SECONDS = 60;

function intParam(value: unknown, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw invalidParameter(`${name} must be a non-negative whole number; got ${JSON.stringify(value)}.`);
  return n;
}

export const taskRoutes: RoutePlugin = (server, app) => {
  // Long-polls: answers as soon as there is output past `first` or the task finishes, else after `wait` s.
  server.get('/__api__/v1/tasks/:id', async (request) => {
    const user = requireUser(request);
    const q = request.query as Record<string, string | undefined>;
    const first = intParam(q.first, 'first', 0);
    const wait = Math.min(intParam(q.wait, 'wait', 0), MAX_WAIT_SECONDS);
    const { id } = request.params as { id: string };
    const existing = await app.queue.get(id);
    if (existing.user_id !== user.id && user.user_role !== 'administrator') throw forbidden('You can only read your own tasks.');
    const task = await app.queue.waitFor(id, first, wait * 1000);
    return taskJson(task, await app.queue.output(id, first), first);
  });
};
