import { sql, type Kysely } from 'kysely';
import type { Content, Database, User } from '../db/schema.js';
import { TableCache } from '../db/table-cache.js';
import type { TableChanges } from '../db/table-changes.js';
import { conflict, ErrorCode, forbidden, invalidParameter, LecternError, notFound } from '../errors.js';
import { roleAtLeast } from '../users/users.js';
import { GUID_PATTERN, newGuid, nowIso } from '../util/ids.js';
import { ContentAccess } from './access.js';
import { parseContentChanges, validateContentName, type ContentChanges } from './fields.js';

export const INCLUDES = ['tags', 'owner', 'vanity_url', 'bookmarked', 'schedule', 'schedules', 'state'] as const;

function requireUnlocked(content: Content) {
  if (content.locked !== 1) return;
  throw new LecternError('forbidden', ErrorCode.PermissionDenied, `Content ${content.guid} is locked: unlock it (PATCH with "locked": false) before deploying to it or changing it.`, {
    locked: true,
    locked_message: content.locked_message,
  });
}

/** What content runs as: on create, compared with a new item's values. */
const IDENTITY_DEFAULTS = { run_as: null, run_as_current_user: 0, service_account_name: null } as const;

/**
 * The Unix user or service account content runs as is the administrators' choice, on create as on
 * update: anyone else may send the value it already has (clients echo fields back), never another.
 */
function requireAdminForIdentity(actor: User, row: Record<string, unknown>, current: Pick<Content, keyof typeof IDENTITY_DEFAULTS> = IDENTITY_DEFAULTS) {
  if (actor.user_role === 'administrator') return;
  const norm = (v: unknown) => (v === '' || v === undefined ? null : v === true ? 1 : v === false ? 0 : v);
  for (const field of Object.keys(IDENTITY_DEFAULTS) as Array<keyof typeof IDENTITY_DEFAULTS>) {
    if (field in row && norm(row[field]) !== norm(current[field])) throw forbidden(`Only administrators can set ${field}.`);
  }
}

/** Server caps on what a publisher may ask for ([Scheduler] Max… settings; 0 = no cap, except GPUs). */
export interface ContentLimits {
  maxProcesses: number;
  minProcesses: number;
  memoryBytes: number;
  memoryRequestBytes?: number;
  cpuRequest?: number;
  cpuLimit?: number;
  /** 0 = GPUs cannot be requested. */
  nvidiaGpuLimit?: number;
  amdGpuLimit?: number;
}

export class ContentService {
  readonly access: ContentAccess;
  /** Content rows by guid: every request to /content/{guid}/ starts here. */
  private readonly byGuid: TableCache<Content>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly limits: () => ContentLimits = () => ({ maxProcesses: 0, minProcesses: 0, memoryBytes: 0 }),
    changes?: TableChanges,
  ) {
    this.access = new ContentAccess(db, changes);
    this.byGuid = new TableCache(changes, ['content']);
  }

  async find(idOrGuid: string): Promise<Content | undefined> {
    if (GUID_PATTERN.test(idOrGuid)) {
      const guid = idOrGuid.toLowerCase();
      return this.byGuid.get(guid, () => this.db.selectFrom('content').selectAll().where('guid', '=', guid).executeTakeFirst());
    }
    if (/^\d+$/.test(idOrGuid)) return this.db.selectFrom('content').selectAll().where('id', '=', Number(idOrGuid)).executeTakeFirst();
    return undefined;
  }

  async get(idOrGuid: string): Promise<Content> {
    const content = await this.find(idOrGuid);
    if (!content) throw notFound(`Content ${idOrGuid} does not exist.`);
    return content;
  }

  /** A content item the caller may at least see listed (any role, or admin). */
  async getVisible(idOrGuid: string, user: User): Promise<Content> {
    const content = await this.get(idOrGuid);
    if (user.user_role !== 'administrator' && (await this.access.role(user, content)) === 'none' && content.access_type === 'acl') {
      // Same answer as a missing item: do not reveal what exists.
      throw notFound(`Content ${idOrGuid} does not exist.`);
    }
    return content;
  }

  async getEditable(idOrGuid: string, user: User): Promise<Content> {
    const content = await this.getVisible(idOrGuid, user);
    await this.access.requireEdit(user, content);
    return content;
  }

  /**
   * A content item whose bundles, environment or settings the caller may change: editable and not
   * locked. Locked content (as in Connect) takes no new bundle, deploy, build, render, variables
   * or settings until it is unlocked; its ACL, tags and deletion stay with its editors.
   */
  async getChangeable(idOrGuid: string, user: User): Promise<Content> {
    const content = await this.getEditable(idOrGuid, user);
    requireUnlocked(content);
    return content;
  }

  async create(owner: User, body: unknown): Promise<Content> {
    if (!roleAtLeast(owner, 'publisher')) throw forbidden('Only publishers and administrators can create content.');
    const changes = parseContentChanges(body);
    // As in Connect, a name is optional (posit-sdk's `content.create()` sends `{}`): an item
    // created without one is named by its GUID, which is unique and a valid name.
    const guid = newGuid();
    const name = changes.row.name === undefined ? guid : validateContentName(changes.row.name);
    this.checkProcessLimits(changes);
    requireAdminForIdentity(owner, changes.row as Record<string, unknown>);
    if (changes.ownerGuid !== undefined && changes.ownerGuid !== owner.guid) throw forbidden('owner_guid can only be set by an update from an administrator.');
    await this.requireUniqueName(owner.id, name);
    const now = nowIso();
    return this.db
      .insertInto('content')
      .values({
        guid,
        title: null,
        description: '',
        access_type: 'acl',
        locked: 0,
        locked_message: '',
        app_mode: 'unknown',
        content_category: '',
        parameterized: 0,
        bundle_id: null,
        run_as_current_user: 0,
        ...(changes.row as object),
        name,
        owner_id: owner.id,
        created_time: now,
        updated_time: now,
        last_deployed_time: null,
      } as never)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(content: Content, actor: User, body: unknown): Promise<Content> {
    const changes = parseContentChanges(body);
    // Locked content changes only its lock (and message), unless this request unlocks it.
    if (content.locked === 1 && changes.row.locked !== 0 && Object.keys(changes.row).some((k) => k !== 'locked' && k !== 'locked_message')) requireUnlocked(content);
    if (content.locked === 1 && changes.row.locked !== 0 && changes.ownerGuid !== undefined) requireUnlocked(content);
    this.checkProcessLimits(changes, content);
    const row = { ...changes.row } as Record<string, unknown>;
    let ownerId = content.owner_id;
    if (changes.ownerGuid !== undefined) {
      const owner = await this.db.selectFrom('users').selectAll().where('guid', '=', changes.ownerGuid).executeTakeFirst();
      if (!owner) throw invalidParameter(`owner_guid ${changes.ownerGuid} is not a user.`);
      if (owner.id !== content.owner_id) {
        if (actor.user_role !== 'administrator') throw forbidden('Only administrators can change the owner of content.');
        if (!roleAtLeast(owner, 'publisher')) throw invalidParameter(`${owner.username} cannot own content: the user is a viewer.`);
        row.owner_id = owner.id;
        ownerId = owner.id;
      }
    }
    requireAdminForIdentity(actor, row, content);
    const name = (row.name as string | undefined) ?? content.name;
    if (name.toLowerCase() !== content.name.toLowerCase() || ownerId !== content.owner_id) await this.requireUniqueName(ownerId, name, content.id);
    if (Object.keys(row).length === 0) return content;
    return this.db
      .updateTable('content')
      .set({ ...(row as object), updated_time: nowIso() })
      .where('id', '=', content.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async delete(content: Content): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('tasks').where('content_id', '=', content.id).where('state', '!=', 'running').execute();
      await trx.deleteFrom('content').where('id', '=', content.id).execute();
    });
  }

  /** Content visible to the caller in listings: admins see all; others what they own or were granted, plus all/logged_in items they can open. */
  async list(user: User, filter: { name?: string; ownerGuid?: string }): Promise<Content[]> {
    let query = this.db.selectFrom('content').selectAll('content');
    if (filter.name !== undefined) query = query.where(sql<string>`lower(content.name)`, '=', filter.name.toLowerCase());
    if (filter.ownerGuid !== undefined) {
      query = query.where('content.owner_id', 'in', this.db.selectFrom('users').select('id').where('guid', '=', filter.ownerGuid));
    }
    if (user.user_role !== 'administrator') {
      const principals = await this.access.principalGuids(user);
      query = query.where((eb) =>
        eb.or([
          eb('content.owner_id', '=', user.id),
          eb('content.access_type', 'in', ['all', 'logged_in']),
          eb.exists(
            eb
              .selectFrom('content_permissions')
              .select('content_permissions.id')
              .whereRef('content_permissions.content_id', '=', 'content.id')
              .where('content_permissions.principal_guid', 'in', principals),
          ),
        ]),
      );
    }
    return query.orderBy('content.id').execute();
  }

  private async requireUniqueName(ownerId: number, name: string, exceptId?: number) {
    let query = this.db.selectFrom('content').select('id').where('owner_id', '=', ownerId).where(sql<string>`lower(name)`, '=', name.toLowerCase());
    if (exceptId !== undefined) query = query.where('id', '!=', exceptId);
    if (await query.executeTakeFirst()) throw conflict(`You already have content named "${name}". Choose another name.`, ErrorCode.DuplicateName);
  }

  private checkProcessLimits(changes: ContentChanges, current?: Content) {
    const min = (changes.row.min_processes ?? current?.min_processes) as number | null | undefined;
    const max = (changes.row.max_processes ?? current?.max_processes) as number | null | undefined;
    if (min != null && max != null && min > max) throw invalidParameter(`min_processes (${min}) cannot be greater than max_processes (${max}).`);
    if (changes.row.max_processes === 0) throw invalidParameter('max_processes must be at least 1.');
    // A value over a server cap is refused rather than quietly lowered, so the publisher knows.
    const caps = this.limits();
    const over = (field: string, value: unknown, cap: number | undefined, setting: string, zeroMeansNone = false) => {
      if (typeof value !== 'number' || cap === undefined || value <= cap || (cap === 0 && !zeroMeansNone)) return;
      const none = cap === 0 ? ': this server gives content none' : '';
      throw new LecternError('invalid', ErrorCode.InvalidParameter, `${field} (${value}) is above this server's limit of ${cap} ([Scheduler] ${setting})${none}.`, {
        field,
        limit: `Scheduler.${setting}`,
        maximum: cap,
      });
    };
    over('max_processes', changes.row.max_processes, caps.maxProcesses, 'MaxProcessesLimit');
    over('min_processes', changes.row.min_processes, caps.minProcesses, 'MinProcessesLimit');
    over('memory_limit', changes.row.memory_limit, caps.memoryBytes, 'MaxMemoryLimit');
    over('memory_request', changes.row.memory_request, caps.memoryRequestBytes, 'MaxMemoryRequest');
    over('cpu_request', changes.row.cpu_request, caps.cpuRequest, 'MaxCPURequest');
    over('cpu_limit', changes.row.cpu_limit, caps.cpuLimit, 'MaxCPULimit');
    over('nvidia_gpu_limit', changes.row.nvidia_gpu_limit, caps.nvidiaGpuLimit, 'MaxNvidiaGPULimit', true);
    over('amd_gpu_limit', changes.row.amd_gpu_limit, caps.amdGpuLimit, 'MaxAMDGPULimit', true);
    // A request above its own limit could never be scheduled.
    for (const [request, limit] of [
      ['memory_request', 'memory_limit'],
      ['cpu_request', 'cpu_limit'],
    ] as const) {
      const r = (changes.row[request] !== undefined ? changes.row[request] : current?.[request]) as number | null | undefined;
      const l = (changes.row[limit] !== undefined ? changes.row[limit] : current?.[limit]) as number | null | undefined;
      if (r != null && l != null && l > 0 && r > l) throw invalidParameter(`${request} (${r}) cannot be greater than ${limit} (${l}).`);
    }
  }
}
