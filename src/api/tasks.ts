import { requireUser } from '../auth/principal.js';
import { forbidden } from '../errors.js';
import { intParam } from '../http/query.js';
import type { RoutePlugin } from '../http/routing.js';
import { taskJson } from '../tasks/queue.js';

const MAX_WAIT_SECONDS = 60;

export const taskRoutes: RoutePlugin = (server, app) => {
  // Long-polls: answers as soon as there is output past `first` or the task finishes, else after `wait` s.
  server.get('/__api__/v1/tasks/:id', async (request) => {
    const user = requireUser(request);
    const q = request.query as Record<string, string | undefined>;
    const first = intParam(q, 'first', 0, 0, Number.MAX_SAFE_INTEGER);
    // Longer waits are clamped rather than refused: clients pick their own values.
    const wait = Math.min(intParam(q, 'wait', 0, 0, Number.MAX_SAFE_INTEGER), MAX_WAIT_SECONDS);
    const { id } = request.params as { id: string };
    const existing = await app.queue.get(id);
    if (existing.user_id !== user.id && user.user_role !== 'administrator') throw forbidden('You can only read your own tasks.');
    const task = await app.queue.waitFor(id, first, wait * 1000);
    return taskJson(task, await app.queue.output(id, first), first);
  });
};
