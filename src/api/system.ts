import { requireRole } from '../auth/principal.js';
import { answers } from '../contract/common.js';
import { DeletedRuntimeCache, DeleteRuntimeCache, RuntimeCaches } from '../contract/system.js';
import type { RoutePlugin } from '../http/routing.js';

/** Runtime caches: the restored environments per interpreter version (src/execution/runtime-caches.ts); administrators only. */
export const systemRoutes: RoutePlugin = (server, app) => {
  server.get(
    '/__api__/v1/system/caches/runtime',
    { schema: { summary: 'The runtime caches (restored environments per language, version and image)', response: answers({ 200: RuntimeCaches }) } },
    async (request) => {
      requireRole(request, 'administrator');
      return { caches: await app.runtimeCaches.list() };
    },
  );

  const remove = { summary: 'Delete a runtime cache (a task), or check that it exists (dry_run)', body: DeleteRuntimeCache, response: answers({ 200: DeletedRuntimeCache }) };
  server.delete('/__api__/v1/system/caches/runtime', { schema: remove }, async (request) => {
    const user = requireRole(request, 'administrator');
    const { language, version, image_name: imageName, dry_run: dryRun = false } = request.body;
    const { cache, taskId } = await app.runtimeCaches.delete({ language, version, image_name: imageName }, { dryRun, userId: user.id });
    return { ...cache, task_id: taskId };
  });
};
