import type { App } from '../app.js';
import type { Principal } from '../auth/principal.js';
import { appModeKind } from '../content/app-modes.js';
import type { Content, User } from '../db/schema.js';
import type { ContentTarget } from './content-target.js';

/**
 * What a content request gets, decided once for every entry to content (the fast path, Fastify's
 * /content and vanity routes, websocket upgrades): each of them resolves the URL
 * (src/serve/content-target.ts), asks `admitContentRequest`, and only then speaks its own
 * transport. So they refuse the same paths, check access in the same order, and answer alike:
 * an entry that cannot serve an outcome itself (the fast path serves only `worker`) hands the
 * request to one that can.
 */
export type ContentAdmission =
  /** 400: the path climbs out of the content or is malformed; nothing was looked up. */
  | { outcome: 'refused'; message: string }
  /** 404: no content at this address. */
  | { outcome: 'no-content' }
  /** 401 (code 30): the caller sent credentials that are not valid. */
  | { outcome: 'bad-credentials'; reason: string }
  /** The caller may not view (or, for drafts and earlier renderings, change) the content: 401 anonymous, 403 signed in. */
  | { outcome: 'denied'; signedIn: boolean }
  /** 301: the bare prefix, to the prefix with a slash, so relative links in the content resolve. */
  | { outcome: 'redirect'; location: string }
  /** 403 with the lock message: locked content runs nothing and serves nothing (as Connect does). */
  | { outcome: 'locked'; message: string }
  /** An editor's preview of bundle `bundleId`: files `below` it (undefined: the bare /_bundle{id}). */
  | { outcome: 'draft'; content: Content; bundleId: number; below: string | undefined }
  /** An earlier rendering of a document, for its editors. */
  | { outcome: 'rendering'; content: Content; renderId: number; below: string | undefined }
  /** 404: no active bundle yet. */
  | { outcome: 'not-deployed' }
  /** Proxied to a worker process of the content. */
  | { outcome: 'worker'; content: Content; user: User | null }
  /** Served from files: the active bundle (static) or its current rendering (rendered). */
  | { outcome: 'files'; content: Content; kind: 'static' | 'rendered' };

/** The one outcome that reaches a worker: what ContentProxy and the websocket proxy are handed. */
export type WorkerAdmission = Extract<ContentAdmission, { outcome: 'worker' }>;

/**
 * Decides what `principal` gets at `target`. The order is what keeps every answer from telling
 * more than it should: a refused path before any lookup, access before anything about the
 * content (its type, lock, drafts, deployment) is revealed.
 */
export async function admitContentRequest(app: Pick<App, 'content'>, target: ContentTarget, principal: Principal): Promise<ContentAdmission> {
  if (target.refused) return { outcome: 'refused', message: target.refused };
  const content = await app.content.find(target.guid);
  if (!content) return { outcome: 'no-content' };
  if (principal.kind === 'invalid') return { outcome: 'bad-credentials', reason: principal.reason };
  const user = principal.kind === 'user' ? principal.user : null;
  if (!(await app.content.access.canView(user, content))) return { outcome: 'denied', signedIn: user !== null };
  if (target.path === '') return { outcome: 'redirect', location: `${target.prefix}/${target.query}` };
  if (content.locked === 1) return { outcome: 'locked', message: content.locked_message || 'This content has been locked by its owner or an administrator.' };

  // Drafts (/_bundle{id}/) and earlier renderings (/_rendering{id}/) are for the people who can change the content.
  const draft = /^_bundle(\d+)(?:\/(.*))?$/.exec(target.rest);
  const rendering = draft ? null : /^_rendering(\d+)(?:\/(.*))?$/.exec(target.rest);
  if (draft || rendering) {
    if (!user || !(await app.content.access.canEdit(user, content))) return { outcome: 'denied', signedIn: user !== null };
    if (draft) return { outcome: 'draft', content, bundleId: Number(draft[1]), below: draft[2] };
    return { outcome: 'rendering', content, renderId: Number(rendering![1]), below: rendering![2] };
  }
  if (content.bundle_id === null) return { outcome: 'not-deployed' };
  switch (appModeKind(content.app_mode)) {
    case 'interactive':
      return { outcome: 'worker', content, user };
    case 'rendered':
      return { outcome: 'files', content, kind: 'rendered' };
    default:
      return { outcome: 'files', content, kind: 'static' };
  }
}
