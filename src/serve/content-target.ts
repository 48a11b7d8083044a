import type { App } from '../app.js';
import { GUID_PATTERN } from '../util/ids.js';
import { findVanity } from './vanity-lookup.js';

/**
 * Where a content request goes, read from the URL the client sent. Every entry to content — the
 * fast path, Fastify's /content and vanity routes, websocket upgrades, static files — resolves
 * the URL here, so all of them agree on the prefix, on what the worker is asked for and on which
 * paths are refused.
 */
export interface ContentTarget {
  guid: string;
  /** The public path the content was reached at (/content/{guid} or a vanity path), no trailing slash, one leading slash. */
  prefix: string;
  /** What the worker is asked for: the raw path below the prefix with the query; "" when the URL names the bare prefix. */
  path: string;
  /** The decoded path below the content's root without its leading "/", for files ("" at the root). */
  rest: string;
  /** Why the path is refused before anything is touched, if it is: ".." segments, bad escapes. */
  refused?: string;
}

/** /content/{guid} at the start of a path whose duplicate leading slashes are already gone. */
const DIRECT = /^\/content\/+([0-9A-Fa-f-]{36})(?=[/?]|$)/;

/**
 * The URL with duplicate leading slashes collapsed: `//content/{guid}/` (rsconnect-python 1.29
 * verifies a deploy that way) is `/content/{guid}/`. Left alone, "//x" is a network-path
 * reference, which a worker or a redirect would read as the host "x".
 */
export function canonicalUrl(url: string): string {
  return url.startsWith('//') ? url.replace(/^\/+/, '/') : url;
}

/** A /content/{guid}/… URL, with no lookup: the fast path's test. */
export function directContentTarget(rawUrl: string): ContentTarget | undefined {
  const url = canonicalUrl(rawUrl);
  const match = DIRECT.exec(url);
  if (!match || !GUID_PATTERN.test(match[1]!)) return undefined;
  return target(match[1]!.toLowerCase(), `/content/${match[1]}`, url.slice(match[0].length));
}

/** A /content/{guid}/… URL or a vanity path; undefined when the URL names no content. */
export async function resolveContentTarget(app: App, rawUrl: string): Promise<ContentTarget | undefined> {
  const direct = directContentTarget(rawUrl);
  if (direct) return direct;
  const url = canonicalUrl(rawUrl);
  const pathname = url.split('?', 1)[0]!;
  if (pathname.startsWith('/content/')) return undefined;
  const vanity = await findVanity(app, pathname.slice(1));
  if (!vanity) return undefined;
  // The stored path ends with "/"; the prefix is the client's own spelling of it.
  const length = Math.min(vanity.path.length - 1, pathname.length);
  return target(vanity.guid, pathname.slice(0, length), url.slice(length));
}

function target(guid: string, prefix: string, below: string): ContentTarget {
  // `below` is "", "/…" or "?…" (the bare prefix with a query).
  const path = below.startsWith('/') ? below : '';
  const rawRest = path.split('?', 1)[0]!.replace(/^\/+/, '');
  let rest: string;
  try {
    rest = decodeURIComponent(rawRest);
  } catch {
    return { guid, prefix, path, rest: rawRest, refused: 'The request path has a malformed percent-encoding.' };
  }
  if (rest.split('/').includes('..') || rest.includes('\0')) {
    return { guid, prefix, path, rest, refused: 'The request path must not contain ".." segments.' };
  }
  return { guid, prefix, path, rest };
}
