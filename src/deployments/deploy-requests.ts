// Queuing publishing work: deploys, builds and renders are tasks any replica may run
// (src/deployments/deploy.ts runs them). The v1 routes, the legacy v0 routes and `lectern build` all
// queue through here, so the bundle chosen, the task's parameters and the audit entry are the same.
import { appModeKind } from '../content/app-modes.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Bundles } from '../bundles/bundles.js';
import type { Bundle, Content, Task, User } from '../db/schema.js';
import { ErrorCode, LecternError } from '../errors.js';
import type { TaskQueue } from '../tasks/queue.js';
import type { ContentRepositories } from './git-repositories.js';

/** What a deploy or build asks for: a bundle (default: the newest; for a build, the active one) and whether to activate it. */
export interface DeployRequest {
  bundle_id?: string | number | null;
  activate?: boolean;
}

export class DeployRequests {
  constructor(private readonly services: { bundles: Bundles; queue: TaskQueue; audit: AuditLog; repositories: ContentRepositories }) {}

  /** Queues a deploy (or build) of one of `content`'s bundles, as `user`. */
  async enqueue(user: User, content: Content, request: DeployRequest, kind: 'deploy' | 'build'): Promise<Task> {
    const { bundles, queue, audit } = this.services;
    let bundle: Bundle | undefined;
    const named = request.bundle_id;
    const noBundleNamed = named === undefined || named === null || named === '';
    if (noBundleNamed && kind === 'deploy' && (await this.services.repositories.find(content.id))) {
      // Git-backed content (as in Connect): the task fetches the linked branch and deploys what it finds.
      const task = await queue.enqueue('deploy', { contentId: content.id, bundleId: null, userId: user.id, params: { activate: request.activate !== false, git: true } });
      await audit.record(user, 'deploy_application', `Queued a deploy of content ${content.guid} from its git repository (task ${task.id})`);
      return task;
    }
    if (noBundleNamed) {
      bundle = kind === 'build' && content.bundle_id !== null ? await bundles.get(content, content.bundle_id) : await bundles.newest(content);
      if (!bundle) throw new LecternError('invalid', ErrorCode.BundleMissing, `Content ${content.guid} has no bundle to ${kind}: upload one first.`);
    } else {
      bundle = await bundles.get(content, named);
    }
    const task = await queue.enqueue(kind, { contentId: content.id, bundleId: bundle.id, userId: user.id, params: { activate: request.activate !== false } });
    await audit.record(user, kind === 'deploy' ? 'deploy_application' : 'build_application', `Queued ${kind} of bundle ${bundle.id} for content ${content.guid} (task ${task.id})`);
    return task;
  }

  /** Queues a render of rendered content's live bundle. */
  async render(user: User, content: Content, variantKey: unknown): Promise<Task> {
    if (content.bundle_id === null) throw new LecternError('invalid', ErrorCode.BundleMissing, `Content ${content.guid} has not been deployed yet.`);
    if (appModeKind(content.app_mode) !== 'rendered') {
      throw new LecternError('invalid', ErrorCode.BadRequest, `Only rendered content (R Markdown, Jupyter, Quarto documents) can be rendered; this is ${content.app_mode} content.`);
    }
    const task = await this.services.queue.enqueue('render', { contentId: content.id, bundleId: content.bundle_id, userId: user.id, params: { variant_key: variantKey ?? null } });
    await this.services.audit.record(user, 'render_application', `Queued a render of content ${content.guid} (task ${task.id})`);
    return task;
  }
}
