import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Bundles } from '../bundles/bundles.js';
import type { Database } from '../db/schema.js';
import { appModeKind } from '../content/app-modes.js';
import { nowIso } from '../util/ids.js';
import { TaskFailure, type TaskContext, type TaskQueue } from '../tasks/queue.js';

/**
 * Deploy = (build the bundle's environment) + activate it. Activation only happens after every
 * earlier step succeeded, so a failed deploy never touches the live version.
 */
export function registerDeployTasks(queue: TaskQueue, deps: { db: Kysely<Database>; bundles: Bundles; audit: AuditLog }) {
  const { db, bundles } = deps;

  async function prepare(ctx: TaskContext) {
    const { task } = ctx;
    const content = task.content_id === null ? undefined : await db.selectFrom('content').selectAll().where('id', '=', task.content_id).executeTakeFirst();
    if (!content) throw new TaskFailure('The content item was deleted before its deployment ran.');
    const bundle = task.bundle_id === null ? undefined : await db.selectFrom('bundles').selectAll().where('id', '=', task.bundle_id).executeTakeFirst();
    if (!bundle || bundle.content_id !== content.id) throw new TaskFailure(`Bundle ${task.bundle_id} no longer exists.`);
    if (!(await bundles.exists(bundle))) throw new TaskFailure(`The files of bundle ${bundle.id} are missing from the data directory.`);
    const manifest = bundles.manifest(bundle);
    await ctx.log(`Building ${manifest.appMode} content ${content.guid} from bundle ${bundle.id}`);
    if (content.app_mode !== 'unknown' && content.app_mode !== manifest.appMode) {
      await ctx.log(`Content type changes from ${content.app_mode} to ${manifest.appMode}.`);
    }
    const kind = appModeKind(manifest.appMode);
    if (kind !== 'static') {
      throw new TaskFailure(
        `Lectern cannot run ${manifest.appMode} content yet: this server serves static content only (app mode "static"). ` +
          'Deploy pre-rendered HTML (e.g. "rsconnect deploy html"), or upgrade to a Lectern release with local execution.',
        { type: 'unsupported-app-mode', data: `app mode ${manifest.appMode} is not supported` },
      );
    }
    await ctx.log('Static content: no environment to restore.');
    return { content, bundle, manifest };
  }

  queue.handle('build', async (ctx) => {
    await prepare(ctx);
    await ctx.log('Build completed successfully.');
    return null;
  });

  queue.handle('deploy', async (ctx) => {
    const { content, bundle, manifest } = await prepare(ctx);
    if (ctx.params.activate === false) {
      await ctx.log(`Bundle ${bundle.id} is ready as a draft; the live version is unchanged.`);
      await ctx.log(`Preview it at /content/${content.guid}/_bundle${bundle.id}/`);
      return null;
    }
    await ctx.log(`Activating bundle ${bundle.id}`);
    await db
      .updateTable('content')
      .set({
        bundle_id: bundle.id,
        app_mode: manifest.appMode,
        content_category: manifest.contentCategory ?? '',
        parameterized: manifest.hasParameters ? 1 : 0,
        py_version: bundle.py_version,
        r_version: bundle.r_version,
        quarto_version: bundle.quarto_version,
        last_deployed_time: nowIso(),
        updated_time: nowIso(),
      })
      .where('id', '=', content.id)
      .execute();
    await deps.audit.record(null, 'deploy_application', `Activated bundle ${bundle.id} of content ${content.guid} (${content.name})`);
    await ctx.log('Deployment completed successfully.');
    return null;
  });
}
