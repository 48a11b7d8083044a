// Variants, Connect's legacy handle on a rendered item's renderings: posit-sdk's `content.render()`
// lists `applications/{guid}/variants`, takes the default and posts `variants/{id}/render`. Lectern
// renders each item one way, so a rendered item has exactly one variant, its default, whose id is
// the item's id; other content has none (posit-sdk checks the app mode before it asks).
import { Type } from 'typebox';
import { requireUser } from '../auth/principal.js';
import { ApplicationParams } from '../contract/applications.js';
import { answers } from '../contract/common.js';
import { LegacyTask } from '../contract/tasks.js';
import { Variant, VariantParams } from '../contract/variants.js';
import { appModeKind } from '../content/app-modes.js';
import type { Content } from '../db/schema.js';
import { notFound } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { apiTime } from '../util/ids.js';
import { legacyTaskJson } from './applications.js';

export const variantRoutes: RoutePlugin = (server, app) => {
  const db = app.store.db;

  async function variantJson(content: Content): Promise<Variant> {
    const rendering = content.render_id === null ? undefined : await db.selectFrom('renders').selectAll().where('id', '=', content.render_id).executeTakeFirst();
    const finished = rendering?.finished_time ?? null;
    return {
      id: content.id,
      app_id: content.id,
      key: content.guid.slice(0, 8),
      bundle_id: content.bundle_id,
      is_default: true,
      name: 'default',
      email_collaborators: false,
      email_viewers: false,
      created_time: apiTime(content.created_time),
      rendering_id: rendering?.id ?? null,
      render_time: apiTime(finished),
      // Connect's unit for it is not documented; Lectern does not guess.
      render_duration: null,
      visibility: 'public',
      owner_id: content.owner_id,
    };
  }

  /** The rendered item a variant id names, as `get` finds it for the caller (its refusals stand). */
  async function variantContent(id: string, get: (id: string) => Promise<Content>): Promise<Content> {
    if (!/^\d+$/.test(id)) throw notFound(`Variant ${id} does not exist.`);
    const content = await get(id);
    if (appModeKind(content.app_mode) !== 'rendered') throw notFound(`Variant ${id} does not exist.`);
    return content;
  }

  const list = { summary: "A content item's variants (v0): one, its default, for rendered content", params: ApplicationParams, response: answers({ 200: Type.Array(Variant) }) };
  server.get('/__api__/applications/:id/variants', { schema: list }, async (request) => {
    const content = await app.content.getVisible(request.params.id, requireUser(request));
    return appModeKind(content.app_mode) === 'rendered' ? [await variantJson(content)] : [];
  });

  server.get('/__api__/variants/:id', { schema: { summary: 'A variant (v0)', params: VariantParams, response: answers({ 200: Variant }) } }, async (request) => {
    const user = requireUser(request);
    return variantJson(await variantContent(request.params.id, (id) => app.content.getVisible(id, user)));
  });

  const render = { summary: "Render a variant's content again (v0); answers the task", params: VariantParams, response: answers({ 200: LegacyTask }) };
  server.post('/__api__/variants/:id/render', { schema: render }, async (request) => {
    const user = requireUser(request);
    const content = await variantContent(request.params.id, (id) => app.content.getChangeable(id, user));
    const task = await app.deployRequests.render(user, content, content.guid.slice(0, 8));
    return legacyTaskJson(task, [], 0);
  });
};
