// Creating, changing and deleting content items, with what each change sets off: a change of
// default image rebuilds the live bundle in the new image, locking stops the item's processes,
// runtime settings reach running pools at once, and deleting removes processes and files too.
// The v1 and legacy v0 routes both go through here.
import { rm } from 'node:fs/promises';
import type { AuditLog } from '../audit/audit-log.js';
import type { Bundles } from '../bundles/bundles.js';
import type { ContentService } from '../content/content.js';
import type { Content, User } from '../db/schema.js';
import type { ExecutionEnvironments } from '../execution-environments/environments.js';
import type { ContentExecution } from '../execution/content-execution.js';
import { runnerFor } from '../execution/runners.js';
import { ErrorCode, LecternError } from '../errors.js';
import type { Launcher } from '../launcher/launcher.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { DataDir } from '../storage/data-dir.js';
import type { TaskQueue } from '../tasks/queue.js';

export interface ContentManagementServices {
  content: ContentService;
  audit: AuditLog;
  bundles: Bundles;
  queue: TaskQueue;
  scheduler: Scheduler;
  launcher: Launcher;
  dataDir: DataDir;
  environments: ExecutionEnvironments;
  execution: Pick<ContentExecution, 'offHost' | 'selectImage'>;
}

/** Fields a client sent; src/content/fields.ts checks each. */
type Fields = Record<string, unknown>;

export class ContentManagement {
  constructor(private readonly services: ContentManagementServices) {}

  async create(user: User, fields: Fields): Promise<Content> {
    const { content: contents, audit, execution, environments } = this.services;
    const image = fields.default_image_name;
    if (execution.offHost && typeof image === 'string' && image !== '' && !(await environments.findByName(image))) {
      throw new LecternError('invalid', ErrorCode.InvalidParameter, `default_image_name: ${image} is not an execution environment of this server.`, { field: 'default_image_name' });
    }
    const content = await contents.create(user, fields);
    await audit.record(user, 'add_application', `Created content ${content.guid} (${content.name})`);
    return content;
  }

  /**
   * Applies `fields` to content `user` may edit. `fieldsOnly` (the legacy v0 route, as it always
   * has) changes the fields without checking the image or touching running processes.
   */
  async update(user: User, idOrGuid: string, fields: Fields, options: { fieldsOnly?: boolean } = {}): Promise<Content> {
    const { content: contents, audit, scheduler, queue } = this.services;
    const content = await contents.getEditable(idOrGuid, user);
    const rebuildIn = options.fieldsOnly ? null : await this.checkDefaultImage(content, fields);
    const updated = await contents.update(content, user, fields);
    // Locking stops the item's processes (nothing serves it while locked); runtime settings
    // (min_processes, timeouts, …) apply to running pools at once.
    if (!options.fieldsOnly) {
      if (updated.locked === 1) await scheduler.remove(updated.id);
      else await scheduler.refresh(updated.id);
    }
    let rebuilt = '';
    if (rebuildIn && updated.bundle_id !== null) {
      const task = await queue.enqueue('deploy', { contentId: updated.id, bundleId: updated.bundle_id, userId: user.id, params: { activate: true } });
      rebuilt = `; rebuilding bundle ${updated.bundle_id} in ${rebuildIn} (task ${task.id})`;
    }
    await audit.record(user, 'update_application', `Updated content ${content.guid}: ${Object.keys(fields).join(', ')}${rebuilt}`);
    return updated;
  }

  async delete(user: User, guid: string): Promise<void> {
    const { content: contents, audit, scheduler, launcher, dataDir } = this.services;
    const content = await contents.getEditable(guid, user);
    await contents.delete(content);
    // Its processes go first: they hold files open and would otherwise serve deleted content.
    await scheduler.remove(content.id);
    // Builds, renders and other replicas' workers too (in a cluster, their Jobs and pods).
    for (const job of await launcher.list({ contentGuid: content.guid })) await launcher.stop(job.key).catch(() => undefined);
    for (const dir of dataDir.contentDirs(content.id)) await rm(dir, { recursive: true, force: true });
    await audit.record(user, 'remove_application', `Deleted content ${content.guid} (${content.name})`);
  }

  /**
   * Off-host: a new default_image_name must name an execution environment, and for deployed
   * content it must be able to run the live bundle. Returns the image to rebuild the live bundle
   * in when the change moves it to another image (the environment cache is keyed by image).
   */
  private async checkDefaultImage(content: Content, fields: Fields): Promise<string | null> {
    const { execution, environments, bundles } = this.services;
    if (!execution.offHost || !('default_image_name' in fields)) return null;
    const raw = fields.default_image_name;
    const next = raw === '' ? null : raw;
    if ((next !== null && typeof next !== 'string') || next === content.default_image_name) return null;
    if (next !== null && !(await environments.findByName(next))) {
      throw new LecternError('invalid', ErrorCode.InvalidParameter, `default_image_name: ${next} is not an execution environment of this server.`, { field: 'default_image_name' });
    }
    if (content.bundle_id === null) return null;
    const bundle = await bundles.get(content, content.bundle_id);
    if (runnerFor(bundles.manifest(bundle))?.serve === 'static') return null;
    const selection = await execution.selectImage({ ...content, default_image_name: next }, bundle);
    if (!selection.ok) throw new LecternError('invalid', ErrorCode.InvalidParameter, `default_image_name: ${selection.error}`, { field: 'default_image_name', rejected: selection.rejected });
    return selection.environment.name === content.image_name ? null : selection.environment.name;
  }
}
