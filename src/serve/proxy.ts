import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { App } from '../app.js';
import { SESSION_COOKIE } from '../auth/principal.js';
import type { Content, User } from '../db/schema.js';
import { WorkerUnavailable } from '../scheduler/pool.js';
import { escapeHtml, htmlPage } from './content-access.js';

/** Headers only Lectern may set: a client's copies are dropped before the request reaches content. */
const TRUSTED_HEADERS = ['rstudio-connect-credentials', 'x-rsc-request', 'x-forwarded-prefix'];
/** Connection-level headers that must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization'];

/** The headers a worker receives: the client's, minus spoofable ones, plus who is asking and from where. */
export function contentRequestHeaders(
  incoming: IncomingHttpHeaders,
  options: { user: User | null; groups: string[]; prefix: string; originalUrl: string; proto: string; host: string; keepUpgrade?: boolean },
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (TRUSTED_HEADERS.includes(lower)) continue;
    if (HOP_BY_HOP.includes(lower) && !(options.keepUpgrade && (lower === 'upgrade' || lower === 'connection'))) continue;
    if (lower === 'cookie') {
      // Lectern's session cookie would let content act as its visitor: it stays with Lectern.
      const kept = String(value)
        .split(';')
        .filter((c) => c.trim().split('=')[0] !== SESSION_COOKIE)
        .join(';')
        .trim();
      if (kept) out.cookie = kept;
      continue;
    }
    // Authorization goes through, as in Connect: APIs see the caller's key.
    out[lower] = value;
  }
  if (options.user) out['rstudio-connect-credentials'] = JSON.stringify({ user: options.user.username, groups: options.groups });
  out['x-rsc-request'] = options.originalUrl;
  out['x-forwarded-prefix'] = options.prefix;
  out['x-forwarded-proto'] = options.proto;
  out['x-forwarded-host'] = options.host;
  return out;
}

export async function userGroups(app: App, user: User | null): Promise<string[]> {
  if (!user) return [];
  const rows = await app.store.db
    .selectFrom('group_members')
    .innerJoin('groups', 'groups.id', 'group_members.group_id')
    .select('groups.name')
    .where('group_members.user_id', '=', user.id)
    .execute();
  return rows.map((r) => r.name);
}

/** Proxies one HTTP request to a worker of `content`; `prefix` is the public path it was reached at. */
export async function proxyToContent(app: App, request: FastifyRequest, reply: FastifyReply, content: Content, prefix: string, user: User | null) {
  let lease;
  try {
    lease = await app.scheduler.acquire(content);
  } catch (err) {
    if (err instanceof WorkerUnavailable) return workerUnavailablePage(app, reply, content, user, err);
    throw err;
  }
  reply.raw.once('close', () => lease.release());
  const rest = request.url.slice(prefix.length) || '/';
  const host = request.headers['x-forwarded-host']?.toString() ?? request.headers.host ?? '';
  const headers = contentRequestHeaders(request.headers, {
    user,
    groups: await userGroups(app, user),
    prefix,
    originalUrl: `${request.protocol}://${host}${request.url}`,
    proto: request.protocol,
    host,
  });
  return reply.from(`http://${lease.address.host}:${lease.address.port}${rest}`, {
    rewriteRequestHeaders: () => headers as IncomingHttpHeaders,
    onError: (r, { error }) => {
      lease.release();
      const e = error as { message?: string };
      r.code(502).type('text/html; charset=utf-8').send(htmlPage('Content error', `<h1>The content did not answer</h1><p>${escapeHtml(e.message ?? 'The worker closed the connection.')}</p>`));
    },
  });
}

/** A 5xx page: clients treat only 5xx as failure. Owners and editors also see why and the last log lines. */
export async function workerUnavailablePage(app: App, reply: FastifyReply, content: Content, user: User | null, err: WorkerUnavailable) {
  const canEdit = user ? await app.content.access.canEdit(user, content) : false;
  const details = canEdit
    ? `<p>${escapeHtml(err.message)}</p>${err.logTail.length ? `<h2>Last log lines</h2><pre>${escapeHtml(err.logTail.join('\n'))}</pre>` : ''}`
    : '<p>The content could not be started. Its owner can see why in its logs.</p>';
  return reply
    .code(err.status)
    .header('retry-after', '5')
    .type('text/html; charset=utf-8')
    .send(htmlPage('Content unavailable', `<h1>This content is not available right now</h1>${details}`));
}
