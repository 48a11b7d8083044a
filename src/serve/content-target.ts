import type { App } from '../app.js';
import { GUID_PATTERN } from '../util/ids.js';
import { findVanity } from './vanity-lookup.js';

/**
 * Where a content request goes, read from the URL the client sent. Every entry to content — the
 * fast path, Fastify's /content and vanity routes, websocket upgrades, static and rendered files
 * — resolves the URL here, and then asks src/serve/content-admission.ts whether and how it is
 * served, so all of them agree on the prefix, on what the worker is asked for and on which paths
 * are refused. The rules (docs/architecture.md, "One content entry path"):
 * - runs of slashes are one slash (`//content//{guid}//x` is `/content/{guid}/x`);
 * - `.` segments, also spelled `%2e`, are dropped (as browsers drop them before sending);
 * - a `..` segment below the content's root is refused, however it is spelled: `%2e%2e`,
 *   `..%2f`, or between backslashes (raw or `%5c`), since a worker or a framework that treats
 *   `\` as a separator (as WHATWG URL parsing does) would read it as climbing; so are NUL and
 *   malformed escapes. Lectern never resolves `..` into another path, so
 *   `/content/{a}/x/../../{b}/` can reach neither content;
 * - otherwise the path below the prefix is passed on encoded as received: `%2F` stays `%2F`
 *   for the worker (it is part of one segment), and is a "/" only in a file path.
 */
export interface ContentTarget {
  guid: string;
  /** The public path the content was reached at (/content/{guid} or a vanity path), no trailing slash, one leading slash. */
  prefix: string;
  /** What the worker is asked for: the normalised path below the prefix with the query; "" when the URL names the bare prefix. */
  path: string;
  /** The decoded path below the content's root without its leading "/", for files ("" at the root). */
  rest: string;
  /** The normalised public path, prefix included, without the query: what redirects build on. */
  pathname: string;
  /** The query with its "?", or "". */
  query: string;
  /** Why the path is refused before anything is touched, if it is: ".." segments, bad escapes. */
  refused?: string;
}

/** /content/{guid} at the start of a normalised path. */
const DIRECT = /^\/content\/([0-9A-Fa-f-]{36})(?=\/|$)/;

/** A segment that means "this directory": `.` or its escape. */
const isDot = (segment: string) => segment === '.' || segment.toLowerCase() === '%2e';

/**
 * The URL's path with runs of slashes made one and `.` segments dropped, and its query. `..`
 * segments stay (and are refused below the prefix): collapsed away they could name other content.
 * Duplicate leading slashes matter most: "//x" is a network-path reference, which a worker or a
 * redirect would read as the host "x" (rsconnect-python 1.29 verifies a deploy at `//content/…`).
 */
export function normaliseUrl(url: string): { pathname: string; query: string } {
  const mark = url.indexOf('?');
  const rawPath = mark < 0 ? url : url.slice(0, mark);
  const query = mark < 0 ? '' : url.slice(mark);
  const segments = rawPath.split('/').filter((s) => s !== '');
  const last = segments.at(-1);
  const kept = segments.filter((s) => !isDot(s));
  const directory = rawPath.endsWith('/') || (last !== undefined && isDot(last));
  const pathname = kept.length === 0 ? '/' : `/${kept.join('/')}${directory ? '/' : ''}`;
  return { pathname, query };
}

/** A /content/{guid}/… URL, with no lookup: the fast path's test. */
export function directContentTarget(rawUrl: string): ContentTarget | undefined {
  const { pathname, query } = normaliseUrl(rawUrl);
  const match = DIRECT.exec(pathname);
  if (!match || !GUID_PATTERN.test(match[1]!)) return undefined;
  return target(match[1]!.toLowerCase(), match[0], pathname.slice(match[0].length), query);
}

/** A /content/{guid}/… URL or a vanity path; undefined when the URL names no content. */
export async function resolveContentTarget(app: App, rawUrl: string): Promise<ContentTarget | undefined> {
  const direct = directContentTarget(rawUrl);
  if (direct) return direct;
  const { pathname, query } = normaliseUrl(rawUrl);
  if (pathname === '/content' || pathname.startsWith('/content/')) return undefined;
  const vanity = await findVanity(app, pathname.slice(1));
  if (!vanity) return undefined;
  // The stored path ends with "/"; the prefix is the client's own spelling of it.
  const length = Math.min(vanity.path.length - 1, pathname.length);
  return target(vanity.guid, pathname.slice(0, length), pathname.slice(length), query);
}

function target(guid: string, prefix: string, below: string, query: string): ContentTarget {
  // `below` is "" (the bare prefix) or "/…".
  const path = below === '' ? '' : below + query;
  const pathname = prefix + below;
  const rawSegments = below.slice(1).split('/');
  const decoded: string[] = [];
  for (const segment of rawSegments) {
    let text: string;
    try {
      text = decodeURIComponent(segment);
    } catch {
      return { guid, prefix, path, rest: below.slice(1), pathname, query, refused: 'The request path has a malformed percent-encoding.' };
    }
    if (text.includes('\0')) return { guid, prefix, path, rest: below.slice(1), pathname, query, refused: 'The request path must not contain NUL characters.' };
    if (text.split(/[/\\]/).includes('..')) return { guid, prefix, path, rest: below.slice(1), pathname, query, refused: 'The request path must not contain ".." segments.' };
    decoded.push(text);
  }
  return { guid, prefix, path, rest: decoded.join('/'), pathname, query };
}
