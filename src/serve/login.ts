import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER, requireSameOrigin, SESSION_COOKIE } from '../auth/principal.js';
import { SignInThrottle } from '../auth/sign-in-throttle.js';
import type { User } from '../db/schema.js';
import { badRequest, ErrorCode, invalidLogin, LecternError } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import { FirstRun } from '../users/first-run.js';
import { userJson } from '../users/users.js';
import { escapeHtml, htmlPage } from './content-access.js';

const DEFAULT_RETURN = '/connect/';

/**
 * Only a path on this server is followed after sign-in (no open redirects). Parsed the way a
 * browser parses it — which drops tabs and newlines and reads `\` as `/`, so `/\t/evil.example`
 * and `/\evil` mean `//evil…` — and refused unless it stays on this origin; anything else (any
 * control character included) gets the dashboard. Never throws.
 */
export function safeReturn(url: unknown): string {
  if (typeof url !== 'string' || !url.startsWith('/') || url.length > 2048) return DEFAULT_RETURN;
  if (/[\u0000-\u001f\u007f\\]/.test(url)) return DEFAULT_RETURN;
  const base = 'http://lectern.invalid';
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    return DEFAULT_RETURN;
  }
  if (parsed.origin !== base || url.startsWith('//')) return DEFAULT_RETURN;
  return parsed.pathname + parsed.search + parsed.hash;
}

/** User-supplied text as it goes into an audit description: quoted, escaped, bounded. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

function loginForm(returnTo: string, error?: string) {
  return htmlPage(
    'Sign in',
    `<h1>Sign in to Lectern</h1>${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/__login__">
<input type="hidden" name="url" value="${escapeHtml(returnTo)}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>`,
  );
}

const logoutForm = htmlPage(
  'Sign out',
  `<h1>Sign out of Lectern</h1>
<form method="post" action="/__logout__"><button type="submit">Sign out</button></form>`,
);

export const loginRoutes: RoutePlugin = (server, app) => {
  const serverAddress = app.config.get('Server.Address');
  const firstRun = new FirstRun(app.dataDir, app.users, app.audit);
  const throttle = new SignInThrottle(app.store.db, () => ({
    attempts: app.config.get('Authentication.SignInAttempts'),
    delayMs: app.config.get('Authentication.SignInDelay'),
    maxDelayMs: app.config.get('Authentication.SignInMaxDelay'),
  }));

  /** Secure whenever the client used TLS: directly, or as a trusted proxy says (X-Forwarded-Proto). */
  const cookieOptions = (request: FastifyRequest) => ({
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: request.protocol === 'https' || serverAddress.startsWith('https:'),
  });

  async function startSession(request: FastifyRequest, reply: FastifyReply, user: User) {
    const lifetime = app.config.get('Authentication.SessionLifetime');
    const session = await app.users.createSession(user.id, lifetime);
    reply.setCookie(SESSION_COOKIE, session.token, { ...cookieOptions(request), maxAge: Math.floor(lifetime / 1000) });
    return session;
  }

  server.get('/__login__', async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    return reply.type('text/html; charset=utf-8').send(loginForm(safeReturn(q.url)));
  });

  // JSON (dashboard, scripts) answers with the user and the CSRF token; a form post redirects.
  server.post('/__login__', async (request, reply) => {
    requireSameOrigin(request, serverAddress);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const isForm = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const refuse = (status: number, message: string) =>
      isForm ? reply.code(status).type('text/html; charset=utf-8').send(loginForm(safeReturn(body.url), message)) : Promise.reject(invalidLogin(message));

    const wait = await throttle.begin(username, request.ip);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      reply.header('retry-after', String(seconds));
      await app.audit.record(null, 'login_throttled', `Sign-in for ${quoted(username)} from ${request.ip} refused: too many failed attempts`);
      const message = `Too many failed sign-in attempts. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
      if (isForm) return refuse(429, message);
      throw new LecternError('rate_limited', ErrorCode.InvalidLogin, message, { retry_after: seconds });
    }
    // A missing user costs a password hash too (verifyPassword), so timing does not tell who exists.
    const user = await app.users.verifyPassword(username, password);
    if (!user) {
      await app.audit.record(null, 'login_failed', `Failed sign-in for ${quoted(username)} from ${request.ip}`);
      return refuse(401, 'Incorrect username or password.');
    }
    await throttle.succeeded(username, request.ip);
    const session = await startSession(request, reply, user);
    await app.audit.record(user, 'login', `Signed in from ${request.ip}`);
    if (isForm) return reply.redirect(safeReturn(body.url), 303);
    return reply.header(CSRF_HEADER, session.csrf).send({ user: userJson(user), csrf_token: session.csrf });
  });

  // Sign-out changes state, so it is a same-origin POST; GET only shows a button that posts.
  server.post('/__logout__', async (request, reply) => {
    requireSameOrigin(request, serverAddress);
    const token = request.cookies[SESSION_COOKIE];
    if (token) await app.users.deleteSession(token);
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    return reply.redirect('/__login__', 303);
  });
  server.get('/__logout__', async (_request, reply) => reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(logoutForm));

  // The dashboard asks who is signed in (and for the CSRF token its writes need) after a reload.
  server.get('/__session__', async (request, reply) => {
    const p = request.principal;
    reply.header('cache-control', 'no-store');
    if (p.kind === 'invalid') throw invalidLogin(p.reason);
    const user = p.kind === 'user' ? p.user : null;
    return { user: user ? userJson(user) : null, csrf_token: p.kind === 'user' ? (p.csrf ?? null) : null, setup_required: user ? false : await firstRun.required() };
  });

  // First run: the holder of the setup link creates the first administrator and is signed in.
  server.post('/__setup__', async (request, reply) => {
    requireSameOrigin(request, serverAddress);
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.CannotParseRequestBody);
    const user = await firstRun.createAdministrator(body.token, body);
    const session = await startSession(request, reply, user);
    return reply.header(CSRF_HEADER, session.csrf).send({ user: userJson(user), csrf_token: session.csrf });
  });

  server.get('/', async (_request, reply) => reply.redirect('/connect/', 302));
};
