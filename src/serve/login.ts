import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER, requireSameOrigin, SESSION_COOKIE } from '../auth/principal.js';
import { PasswordSignIn } from '../auth/sign-in.js';
import { answers } from '../contract/common.js';
import { HTML_PAGE, ReturnQuery, Session, SetupBody, SignedIn, SignInBody } from '../contract/session.js';
import type { User } from '../db/schema.js';
import { ErrorCode, invalidLogin, LecternError } from '../errors.js';
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
  const signIn = new PasswordSignIn({ db: app.store.db, users: app.users, audit: app.audit, config: app.config });

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

  const redirect = { description: 'Redirect.' };

  server.get('/__login__', { schema: { summary: 'The sign-in page', security: [], querystring: ReturnQuery, response: { 200: HTML_PAGE } } }, async (request, reply) =>
    reply.type('text/html; charset=utf-8').send(loginForm(safeReturn(request.query.url))),
  );

  // JSON (dashboard, scripts) answers with the user and the CSRF token; a form post redirects.
  const post = {
    summary: 'Sign in: JSON answers the user and CSRF token, a form post redirects (303) or shows the form again',
    security: [],
    body: SignInBody,
    response: answers({ 200: SignedIn, 303: redirect }),
  };
  server.post('/__login__', { schema: post }, async (request, reply) => {
    requireSameOrigin(request, serverAddress);
    const { username = '', password = '', url } = request.body;
    const isForm = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const result = await signIn.attempt(username, password, request.ip);
    if (!result.ok) {
      const status = result.reason === 'throttled' ? 429 : 401;
      if (result.reason === 'throttled') reply.header('retry-after', String(result.retryAfterSeconds));
      if (isForm)
        return reply
          .code(status)
          .type('text/html; charset=utf-8')
          .send(loginForm(safeReturn(url), result.message));
      if (result.reason === 'throttled') throw new LecternError('rate_limited', ErrorCode.InvalidLogin, result.message, { retry_after: result.retryAfterSeconds });
      throw invalidLogin(result.message);
    }
    const session = await startSession(request, reply, result.user);
    if (isForm) return reply.redirect(safeReturn(url), 303);
    return reply.header(CSRF_HEADER, session.csrf).send({ user: userJson(result.user), csrf_token: session.csrf });
  });

  // Sign-out changes state, so it is a same-origin POST; GET only shows a button that posts.
  server.post('/__logout__', { schema: { summary: 'Sign out (303 to the sign-in page)', security: [], response: { 303: redirect } } }, async (request, reply) => {
    requireSameOrigin(request, serverAddress);
    const token = request.cookies[SESSION_COOKIE];
    if (token) await app.users.deleteSession(token);
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
    return reply.redirect('/__login__', 303);
  });
  server.get('/__logout__', { schema: { summary: 'The sign-out page', security: [], response: { 200: HTML_PAGE } } }, async (_request, reply) =>
    reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(logoutForm),
  );

  // The dashboard asks who is signed in (and for the CSRF token its writes need) after a reload.
  server.get('/__session__', { schema: { summary: 'Who is signed in', security: [], response: answers({ 200: Session }) } }, async (request, reply) => {
    const p = request.principal;
    reply.header('cache-control', 'no-store');
    if (p.kind === 'invalid') throw invalidLogin(p.reason);
    const user = p.kind === 'user' ? p.user : null;
    return { user: user ? userJson(user) : null, csrf_token: p.kind === 'user' ? (p.csrf ?? null) : null, setup_required: user ? false : await firstRun.required() };
  });

  // First run: the holder of the setup link creates the first administrator and is signed in.
  const setup = { summary: 'First run: create the first administrator and sign in', security: [], body: SetupBody, response: answers({ 200: SignedIn }) };
  server.post('/__setup__', { schema: setup }, async (request, reply) => {
    requireSameOrigin(request, serverAddress);
    const user = await firstRun.createAdministrator(request.body.token, request.body);
    const session = await startSession(request, reply, user);
    return reply.header(CSRF_HEADER, session.csrf).send({ user: userJson(user), csrf_token: session.csrf });
  });

  server.get('/', { schema: { summary: 'Redirects to the dashboard', security: [], response: { 302: redirect } } }, async (_request, reply) => reply.redirect('/connect/', 302));
};
