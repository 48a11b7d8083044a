import '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { KeyScope, User } from '../db/schema.js';
import { authRequired, forbidden, invalidLogin, type LecternError } from '../errors.js';
import { roleAtLeast, type Role, type Users } from '../users/users.js';

export const SESSION_COOKIE = 'lectern-session';
export const CSRF_HEADER = 'x-csrf-token';

/** Who is calling: resolved once per request from an API key or a session cookie. */
export type Principal = { kind: 'anonymous' } | { kind: 'invalid'; reason: string } | { kind: 'user'; user: User; via: 'key' | 'session'; csrf?: string; scope?: KeyScope };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyInstance {
    /** [Server] Address, the other origin same-origin checks accept. */
    serverAddress: string;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What identifies a caller: a Fastify request, or a raw one with its cookies parsed. */
export interface Credentials {
  headers: IncomingHttpHeaders;
  cookies?: Record<string, string | undefined>;
}

export async function resolvePrincipal(request: Credentials, users: Users): Promise<Principal> {
  const header = request.headers.authorization;
  if (header) {
    const match = /^\s*Key\s+(\S+)\s*$/i.exec(header);
    if (match) {
      const found = await users.userForApiKey(match[1]!);
      if (!found) return { kind: 'invalid', reason: 'Invalid login.' };
      await users.touch(found.user);
      if (!found.scope) return { kind: 'user', user: found.user, via: 'key' };
      return { kind: 'user', user: capForScope(found.user, found.scope), via: 'key', scope: found.scope };
    }
    // Other schemes (Bearer from OAuth clients, SPCS Snowflake tokens) are not issued by Lectern.
    if (!/^\s*Snowflake\s/i.test(header)) return { kind: 'invalid', reason: 'Invalid login: unsupported Authorization scheme; use "Key <api key>".' };
  }
  const token = request.cookies?.[SESSION_COOKIE];
  if (token) {
    const session = await users.session(token);
    if (session) {
      await users.touch(session.user);
      return { kind: 'user', user: session.user, via: 'session', csrf: session.csrf };
    }
  }
  return { kind: 'anonymous' };
}

/**
 * Refuses a request a browser sent on behalf of another site: `Sec-Fetch-Site` (when the browser
 * sends it) must be `same-origin` or `none` (typed or bookmarked), else `Origin` (when present)
 * must be this server's, as the client reached it (request.protocol and host follow
 * [HTTP] TrustedProxies) or as [Server] Address names it. Clients that are not browsers send
 * neither header and are not affected. Applied to every cookie-authenticated state change and to
 * sign-in, sign-out and setup, which have no session to check yet.
 */
export function requireSameOrigin(request: FastifyRequest, serverAddress: string): void {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== '') {
    if (site === 'same-origin' || site === 'none') return;
    throw crossSite(`Sec-Fetch-Site: ${site}`);
  }
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const own = [`${request.protocol}://${request.host}`.toLowerCase()];
  if (serverAddress) {
    try {
      own.push(new URL(serverAddress).origin.toLowerCase());
    } catch {
      // An unparsable address matches nothing; the request's own origin still does.
    }
  }
  if (!own.includes(origin.toLowerCase())) throw crossSite(`Origin: ${JSON.stringify(origin).slice(1, -1).slice(0, 200)}`);
}

function crossSite(seen: string) {
  return forbidden(`Cross-site request refused (${seen}): sign-in, sign-out and changes made with a session cookie must come from this server's own pages.`);
}

/** Why a caller who is not signed in is refused (a bad key or session, or none), or null for a signed-in user. */
export function signInRefusal(p: Principal): LecternError | null {
  if (p.kind === 'invalid') return invalidLogin(p.reason);
  if (p.kind === 'anonymous') return authRequired();
  return null;
}

/** Throws unless a signed-in user is calling; enforces same origin and CSRF on cookie-authenticated writes. */
export function requireUser(request: FastifyRequest): User {
  const p = request.principal;
  const refusal = signInRefusal(p);
  if (refusal) throw refusal;
  if (p.kind !== 'user') throw authRequired();
  if (p.via === 'session' && !SAFE_METHODS.has(request.method)) {
    requireSameOrigin(request, request.server.serverAddress);
    if (request.headers[CSRF_HEADER] !== p.csrf) throw forbidden('Missing or invalid X-CSRF-Token header for a request made with a session cookie.');
  }
  return p.user;
}

/**
 * A visitor key acts as its visitor, but no higher than a viewer: content that any signed-in
 * visitor opens (a publisher's app visited by an administrator) must not be able to administer
 * the server or change content in the visitor's name. It reads what the visitor may read. Every
 * permission check follows from the role, as for a viewer account (ContentAccess caps content
 * roles by it).
 */
function capForScope(user: User, scope: KeyScope): User {
  if (scope !== 'visitor' || user.user_role === 'viewer') return user;
  return Object.freeze({ ...user, user_role: 'viewer' as const });
}

/**
 * requireUser, for what only the user's own credentials may do (managing API keys): a key given to
 * content (a visitor key it obtained, or its own process's CONNECT_API_KEY) cannot mint a key that
 * would outlive it.
 */
export function requireOwnCredentials(request: FastifyRequest): User {
  const user = requireUser(request);
  const scope = request.principal.kind === 'user' ? request.principal.scope : undefined;
  if (scope === 'visitor') throw forbidden('A visitor API key (obtained by content for its visitor) cannot manage API keys.');
  if (scope === 'content') throw forbidden("A content process's API key (CONNECT_API_KEY) cannot manage API keys.");
  return user;
}

export function requireRole(request: FastifyRequest, role: Role): User {
  const user = requireUser(request);
  if (!roleAtLeast(user, role)) throw forbidden(`This operation requires the ${role} role.`);
  return user;
}

/** The signed-in user, or null for anonymous callers; an invalid key is still an error. */
export function optionalUser(request: FastifyRequest): User | null {
  const p = request.principal;
  if (p.kind === 'invalid') throw invalidLogin(p.reason);
  return p.kind === 'user' ? p.user : null;
}

export function noContent(reply: FastifyReply) {
  return reply.code(204).send();
}
