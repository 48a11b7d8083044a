import { requireUser } from '../auth/principal.js';
import { answers } from '../contract/common.js';
import { Task, TaskParams, TaskQuery } from '../contract/tasks.js';
import { forbidden } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';
import { taskJson } from '../tasks/queue.js';

const MAX_WAIT_SECONDS = 60;

export const taskRoutes: RoutePlugin = (server, app) => {
  // Long-polls: answers as soon as there is output past `first` or the task finishes, else after `wait` s.
  const schema = { summary: 'A task and its output', params: TaskParams, querystring: TaskQuery, response: answers({ 200: Task }) };
  server.get('/__api__/v1/tasks/:id', { schema }, async (request) => {
    const user = requireUser(request);
    const { first = 0, wait = 0 } = request.query;
    const { id } = request.params;
    const existing = await app.queue.get(id);
    if (existing.user_id !== user.id && user.user_role !== 'administrator') throw forbidden('You can only read your own tasks.');
    // Longer waits are clamped rather than refused: clients pick their own values.
    const task = await app.queue.waitFor(id, first, Math.min(wait, MAX_WAIT_SECONDS) * 1000);
    return taskJson(task, await app.queue.output(id, first), first);
  });
};
