// Content items as the legacy v0 API shows them (`/__api__/applications`): the v1 item with
// integer ids, an ordinal app_mode and the owner's details inline.
//
// build_status (an integer in Connect's v0 record): 0 = nothing deployed yet (no active bundle),
// 2 = an active bundle was deployed successfully. Lectern never exposes the intermediate
// "building" value (1): a running deploy is visible through its task instead.
import type { Kysely } from 'kysely';
import type { Application } from '../contract/applications.js';
import type { Content, Database, User } from '../db/schema.js';
import { appModeOrdinal } from './app-modes.js';
import type { ContentLinks, ContentViews } from './content-views.js';

const BUILD_STATUS_NONE = 0;
const BUILD_STATUS_COMPLETE = 2;

export class ApplicationViews {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly views: ContentViews,
  ) {}

  async render(user: User, items: Content[], links: ContentLinks): Promise<Application[]> {
    const v1 = await this.views.render(user, items, new Set(), links);
    const ownerIds = [...new Set(items.map((c) => c.owner_id))];
    const owners = ownerIds.length ? await this.db.selectFrom('users').select(['id', 'username', 'first_name', 'last_name', 'email', 'locked']).where('id', 'in', ownerIds).execute() : [];
    const ownerById = new Map(owners.map((o) => [o.id, o]));
    return items.map((c, i) => {
      const { content_url, dashboard_url: _dashboard, ...fields } = v1[i]!;
      const owner = ownerById.get(c.owner_id);
      return {
        ...fields,
        id: c.id,
        url: content_url,
        app_mode: appModeOrdinal(c.app_mode),
        vanity_url: false,
        has_parameters: c.parameterized === 1,
        build_status: c.bundle_id === null ? BUILD_STATUS_NONE : BUILD_STATUS_COMPLETE,
        bundle_id: c.bundle_id,
        owner_id: c.owner_id,
        owner_username: owner?.username ?? null,
        owner_first_name: owner?.first_name ?? null,
        owner_last_name: owner?.last_name ?? null,
        owner_email: owner?.email ?? null,
        owner_locked: owner ? owner.locked === 1 : false,
        is_scheduled: false,
        git: null,
        users: [],
        groups: [],
        vanities: [],
      };
    });
  }

  async renderOne(user: User, content: Content, links: ContentLinks): Promise<Application> {
    return (await this.render(user, [content], links))[0]!;
  }
}
