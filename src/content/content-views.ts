// Content items as the API shows them (Connect's ContentItem), with the extras a client asks
// for (`?include=tags,owner,…`), looked up in one batch per list.
import type { Kysely } from 'kysely';
import type { Content as ContentItem } from '../contract/content.js';
import type { Content, Database, User } from '../db/schema.js';
import { badRequest, ErrorCode } from '../errors.js';
import { apiTime } from '../util/ids.js';
import type { AppRole, ContentAccess } from './access.js';
import { INCLUDES } from './content.js';
import { contentStates } from './state.js';

export type Include = (typeof INCLUDES)[number];

/** `?include=` as a set; an unknown name is Connect's code 161. */
export function parseIncludes(raw: string | undefined): Set<Include> {
  const out = new Set<Include>();
  if (raw === undefined || raw === '') return out;
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!INCLUDES.includes(part as Include)) {
      throw badRequest(`Invalid include "${part}": use any of tags, owner, vanity_url, bookmarked, schedule, state.`, ErrorCode.InvalidInclude);
    }
    out.add(part as Include);
  }
  return out;
}

/** Where this request's public addresses point ([Server] Address, or the request's own host). */
export interface ContentLinks extends ContentUrls {
  /** The public base URL, with a trailing slash. */
  base: string;
}

type ContentExtras = Pick<ContentItem, 'owner_guid' | 'owner' | 'tags' | 'vanity_url' | 'bookmarked' | 'state'>;

export class ContentViews {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly access: ContentAccess,
  ) {}

  /** `items` as `user` may see them, with the requested includes. */
  async render(user: User | null, items: Content[], includes: Set<Include>, links: ContentLinks): Promise<ContentItem[]> {
    const ids = items.map((c) => c.id);
    const ownerIds = [...new Set(items.map((c) => c.owner_id))];
    const owners = ownerIds.length ? await this.db.selectFrom('users').select(['id', 'guid', 'username', 'first_name', 'last_name']).where('id', 'in', ownerIds).execute() : [];
    const ownerById = new Map(owners.map((o) => [o.id, o]));
    const tagsById = includes.has('tags') ? await this.tags(ids) : new Map<number, NonNullable<ContentItem['tags']>>();
    const vanityById = new Map<number, string>();
    if (includes.has('vanity_url') && ids.length) {
      const rows = await this.db.selectFrom('vanities').select(['content_id', 'path']).where('content_id', 'in', ids).execute();
      for (const r of rows) vanityById.set(r.content_id, r.path);
    }
    const states = includes.has('state') ? await contentStates(this.db, items) : null;
    const roles = await this.access.roles(user, items);
    return items.map((c) => {
      const owner = ownerById.get(c.owner_id);
      const extra: ContentExtras = { owner_guid: owner?.guid ?? null };
      if (includes.has('owner')) extra.owner = owner ? { guid: owner.guid, username: owner.username, first_name: owner.first_name, last_name: owner.last_name } : null;
      // As Connect does (posit-sdk's `get()` relies on it): `tags` and `vanity_url` appear only
      // when the item has tags or a vanity path, never as `[]` or null; `owner` always.
      const tags = tagsById.get(c.id);
      if (tags?.length) extra.tags = tags;
      const vanity = vanityById.get(c.id);
      if (vanity !== undefined) extra.vanity_url = `${links.base}${vanity.replace(/^\//, '')}`;
      if (includes.has('bookmarked')) extra.bookmarked = false;
      if (states) extra.state = states.get(c.id);
      return contentJson(c, roles.get(c.id) ?? 'none', links, extra);
    });
  }

  private async tags(ids: number[]) {
    const tagsById = new Map<number, NonNullable<ContentItem['tags']>>();
    if (ids.length === 0) return tagsById;
    const rows = await this.db
      .selectFrom('content_tags')
      .innerJoin('tags', 'tags.id', 'content_tags.tag_id')
      .select(['content_tags.content_id', 'tags.id', 'tags.name', 'tags.parent_id', 'tags.created_time', 'tags.updated_time'])
      .where('content_tags.content_id', 'in', ids)
      .execute();
    for (const r of rows) {
      const list = tagsById.get(r.content_id) ?? [];
      list.push({ id: String(r.id), name: r.name, parent_id: r.parent_id === null ? null : String(r.parent_id), created_time: apiTime(r.created_time), updated_time: apiTime(r.updated_time) });
      tagsById.set(r.content_id, list);
    }
    return tagsById;
  }
}

export interface ContentUrls {
  contentUrl(guid: string): string;
  dashboardUrl(guid: string): string;
}

/** The v1 ContentItem; environment details are hidden from callers who only view. */
function contentJson(content: Content, role: AppRole, urls: ContentUrls, extra: ContentExtras): ContentItem {
  const { owner_guid, ...includes } = extra;
  const canSeeSettings = role === 'owner' || role === 'editor';
  const bool = (v: number | null) => (v === null ? null : v === 1);
  const secret = <T>(v: T) => (canSeeSettings ? v : null);
  return {
    guid: content.guid,
    name: content.name,
    title: content.title,
    description: content.description,
    access_type: content.access_type,
    locked: content.locked === 1,
    locked_message: content.locked_message,
    connection_timeout: content.connection_timeout,
    read_timeout: content.read_timeout,
    init_timeout: content.init_timeout,
    idle_timeout: content.idle_timeout,
    max_processes: content.max_processes,
    min_processes: content.min_processes,
    max_conns_per_process: content.max_conns_per_process,
    load_factor: content.load_factor,
    memory_request: content.memory_request,
    memory_limit: content.memory_limit,
    cpu_request: content.cpu_request,
    cpu_limit: content.cpu_limit,
    amd_gpu_limit: content.amd_gpu_limit,
    nvidia_gpu_limit: content.nvidia_gpu_limit,
    service_account_name: secret(content.service_account_name),
    default_image_name: content.default_image_name,
    default_environment_guid: null,
    default_r_environment_management: bool(content.default_r_environment_management),
    default_py_environment_management: bool(content.default_py_environment_management),
    created_time: apiTime(content.created_time),
    last_deployed_time: apiTime(content.last_deployed_time),
    bundle_id: content.bundle_id === null ? null : String(content.bundle_id),
    app_mode: content.app_mode,
    content_category: content.content_category,
    parameterized: content.parameterized === 1,
    cluster_name: secret(content.cluster_name),
    image_name: secret(content.image_name),
    environment_guid: secret(content.environment_guid),
    r_version: secret(content.r_version),
    py_version: secret(content.py_version),
    quarto_version: secret(content.quarto_version),
    r_environment_management: secret(bool(content.r_environment_management)),
    py_environment_management: secret(bool(content.py_environment_management)),
    run_as: secret(content.run_as),
    run_as_current_user: content.run_as_current_user === 1,
    // Here, not at the end with the other extras: clients see the fields in Connect's order.
    owner_guid,
    content_url: urls.contentUrl(content.guid),
    dashboard_url: urls.dashboardUrl(content.guid),
    app_role: role,
    id: String(content.id),
    ...includes,
  };
}
