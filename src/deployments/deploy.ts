import { mkdir, rm } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Bundles } from '../bundles/bundles.js';
import type { Database } from '../db/schema.js';
import { ExecutionError, type ContentExecution, type PreparedBundle } from '../execution/content-execution.js';
import { UNSUPPORTED_MODES } from '../execution/runners.js';
import type { RestoredPackages } from '../execution/restored-packages.js';
import type { Jobs } from '../jobs/jobs.js';
import { WorkerUnavailable } from '../scheduler/pool.js';
import type { Scheduler as ContentScheduler } from '../scheduler/scheduler.js';
import type { DataDir } from '../storage/data-dir.js';
import { nowIso } from '../util/ids.js';
import { TaskFailure, type TaskContext, type TaskQueue } from '../tasks/queue.js';
import { ErrorCode } from '../errors.js';
import type { GitDeployments } from './git-deployments.js';

export interface DeployDeps {
  db: Kysely<Database>;
  bundles: Bundles;
  audit: AuditLog;
  execution: ContentExecution;
  scheduler: ContentScheduler;
  jobs: Jobs;
  dataDir: DataDir;
  /** Records what each restore installed (v1/packages, the lockfile). */
  packages: RestoredPackages;
  /** Off-host execution: activation records the content's image. */
  offHost: boolean;
  /** Makes the bundle of a deploy of git-backed content that names none (src/deployments/git-deployments.ts). */
  git: GitDeployments;
}

/**
 * deploy = restore the bundle's environment, render it or start its first worker, then activate.
 * Activation is the last step, so a failed deploy never touches the live version; for apps the
 * new bundle's first worker is ready before it goes live and old workers drain afterwards.
 */
export function registerDeployTasks(queue: TaskQueue, deps: DeployDeps) {
  const { db, bundles } = deps;

  async function prepare(ctx: TaskContext, select = false, bundleId = ctx.task.bundle_id) {
    const { task } = ctx;
    const content = task.content_id === null ? undefined : await db.selectFrom('content').selectAll().where('id', '=', task.content_id).executeTakeFirst();
    if (!content) throw new TaskFailure('The content item was deleted before its deployment ran.');
    // A task queued before the content was locked must not change it afterwards (as in Connect).
    if (content.locked === 1) throw new TaskFailure(lockedFailure(content.guid));
    const bundle = bundleId === null ? undefined : await db.selectFrom('bundles').selectAll().where('id', '=', bundleId).executeTakeFirst();
    if (!bundle || bundle.content_id !== content.id) throw new TaskFailure(`Bundle ${bundleId} no longer exists.`);
    if (!(await bundles.exists(bundle))) throw new TaskFailure(`The files of bundle ${bundle.id} are missing from the data directory.`);
    const manifest = bundles.manifest(bundle);
    await ctx.log(`Building ${manifest.appMode} content ${content.guid} from bundle ${bundle.id}`);
    if (content.app_mode !== 'unknown' && content.app_mode !== manifest.appMode) {
      await ctx.log(`Content type changes from ${content.app_mode} to ${manifest.appMode}.`);
    }
    if (UNSUPPORTED_MODES.has(manifest.appMode)) {
      throw new TaskFailure(
        `Lectern does not run ${manifest.appMode} content. Supported: Python and R apps and APIs, Jupyter, R Markdown and Quarto documents, and static sites.`,
        { type: 'unsupported-app-mode', data: `app mode ${manifest.appMode} is not supported` },
        ErrorCode.ProhibitedAppMode,
      );
    }
    try {
      const prepared = await deps.execution.prepare(content, bundle, { build: true, select, taskId: task.id, log: (line) => ctx.log(line) });
      if (prepared.runner.serve === 'static') await ctx.log('Static content: no environment to restore.');
      // Before activation, so the live bundle's packages are known the moment it goes live.
      await deps.packages.record(prepared);
      return prepared;
    } catch (err) {
      if (err instanceof ExecutionError) throw new TaskFailure(err.message, null, err.code || 1);
      throw err;
    }
  }

  queue.handle('build', async (ctx) => {
    // Whoever asked (POST …/build, or a visit that found the environment missing), a waiting pool may start workers now.
    let prepared: PreparedBundle;
    try {
      prepared = await prepare(ctx);
    } catch (err) {
      if (ctx.task.content_id !== null) deps.scheduler.environmentBuilt(ctx.task.content_id, (err as Error).message);
      throw err;
    }
    deps.scheduler.environmentBuilt(prepared.content.id);
    await ctx.log('Build completed successfully.');
    return null;
  });

  queue.handle('deploy', async (ctx) => {
    // Git-backed content deployed without a bundle named: the bundle is its branch, fetched now.
    let bundleId = ctx.task.bundle_id;
    if (bundleId === null && ctx.params.git === true) {
      const fetched = await deps.git.deployBundle(ctx);
      if (!fetched) return null;
      bundleId = fetched.id;
    }
    const prepared = await prepare(ctx, true, bundleId);
    const { content, bundle, manifest } = prepared;
    if (ctx.params.activate === false) {
      await ctx.log(`Bundle ${bundle.id} is ready as a draft; the live version is unchanged.`);
      if (prepared.runner.serve === 'static') await ctx.log(`Preview it at /content/${content.guid}/_bundle${bundle.id}/`);
      return null;
    }
    let renderId: number | null = content.render_id;
    if (prepared.runner.serve === 'render') {
      renderId = await renderBundle(deps, prepared, ctx, null);
    } else if (prepared.runner.serve === 'run') {
      await ctx.log('Starting a worker process of the new bundle');
      try {
        // The worker runs what this task prepared: the bundle is not prepared a second time.
        await deps.scheduler.warm(prepared);
      } catch (err) {
        if (err instanceof WorkerUnavailable && err.logTail.length) {
          await ctx.log("The app's last output:");
          for (const line of err.logTail) await ctx.log(`  ${line}`);
        }
        throw new TaskFailure(`The new bundle's app did not start: ${(err as Error).message}`);
      }
      await ctx.log('The worker is accepting connections.');
    }
    await ctx.log(`Activating bundle ${bundle.id}`);
    const activated = await db
      .updateTable('content')
      .set({
        bundle_id: bundle.id,
        app_mode: manifest.appMode,
        content_category: manifest.contentCategory ?? '',
        parameterized: manifest.hasParameters ? 1 : 0,
        py_version: prepared.python?.installation.version ?? bundle.py_version,
        r_version: prepared.r?.installation.version ?? bundle.r_version,
        quarto_version: prepared.quarto?.version ?? bundle.quarto_version,
        render_id: renderId,
        // Off-host: the image the live bundle runs in; later runs and renders keep it.
        ...(deps.offHost ? { image_name: prepared.environment?.name ?? null, cluster_name: prepared.environment ? 'Kubernetes' : null, environment_guid: prepared.environment?.guid ?? null } : {}),
        last_deployed_time: nowIso(),
        updated_time: nowIso(),
      })
      .where('id', '=', content.id)
      // Locked while this task ran: the live version stays.
      .where('locked', '=', 0)
      .executeTakeFirst();
    if (activated.numUpdatedRows === 0n) throw new TaskFailure(lockedFailure(content.guid));
    await deps.scheduler.refresh(content.id);
    await deps.audit.record(null, 'deploy_application', `Activated bundle ${bundle.id} of content ${content.guid} (${content.name})`);
    await ctx.log('Deployment completed successfully.');
    return null;
  });

  queue.handle('render', async (ctx) => {
    const prepared = await prepare(ctx);
    if (prepared.runner.serve !== 'render') throw new TaskFailure(`${prepared.manifest.appMode} content is not rendered.`);
    const renderId = await renderBundle(deps, prepared, ctx, ctx.task.user_id);
    // Serve the new render only if the bundle is still the live one.
    await db.updateTable('content').set({ render_id: renderId, updated_time: nowIso() }).where('id', '=', prepared.content.id).where('bundle_id', '=', prepared.bundle.id).execute();
    await ctx.log('Render completed successfully.');
    return null;
  });
}

function lockedFailure(guid: string): string {
  return `Content ${guid} was locked before this task could change it; unlock it and deploy again.`;
}

/** Renders into a new output directory; the render row is the history. Returns its id. */
async function renderBundle(deps: DeployDeps, prepared: PreparedBundle, ctx: TaskContext, requestedBy: number | null): Promise<number> {
  const { content, bundle } = prepared;
  const row = await deps.db
    .insertInto('renders')
    .values({
      content_id: content.id,
      bundle_id: bundle.id,
      task_id: ctx.task.id,
      job_key: null,
      state: 'running',
      error: null,
      requested_by: requestedBy,
      created_time: nowIso(),
      finished_time: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const outputDir = deps.dataDir.renderDir(content.id, row.id);
  await mkdir(outputDir, { recursive: true });
  await ctx.log(`Rendering ${prepared.manifest.appMode} bundle ${bundle.id}`);
  try {
    // Rendered code may call back into Lectern as the content's owner: the job's CONNECT_API_KEY, which ends with it.
    const request = await deps.execution.renderRequest(prepared, outputDir);
    const result = await deps.jobs.runToCompletion(request, (line) => ctx.log(line.data), { taskId: ctx.task.id });
    await deps.db.updateTable('renders').set({ job_key: result.key }).where('id', '=', row.id).execute();
    if (result.state !== 'succeeded') {
      throw new TaskFailure(`Rendering failed (${result.reason ?? `exit code ${result.exitCode}`}). The output above shows why.`);
    }
    await deps.db.updateTable('renders').set({ state: 'succeeded', finished_time: nowIso() }).where('id', '=', row.id).execute();
    return row.id;
  } catch (err) {
    await deps.db
      .updateTable('renders')
      .set({ state: 'failed', error: (err as Error).message, finished_time: nowIso() })
      .where('id', '=', row.id)
      .execute();
    await rm(outputDir, { recursive: true, force: true });
    throw err;
  }
}
