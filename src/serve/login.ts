import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE } from '../auth/principal.js';
import type { User } from '../db/schema.js';
import { badRequest, ErrorCode, invalidLogin } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';
import { FirstRun } from '../users/first-run.js';
import { userJson } from '../users/users.js';
import { escapeHtml, htmlPage } from './content-access.js';

/** Only same-site relative paths are followed after sign-in (no open redirects). */
function safeReturn(url: unknown): string {
  return typeof url === 'string' && url.startsWith('/') && !url.startsWith('//') && !url.includes('\\') ? url : '/connect/';
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

export const loginRoutes: RoutePlugin = (server, app) => {
  const secureCookies = app.config.get('Server.Address').startsWith('https:');
  const firstRun = new FirstRun(app.dataDir, app.users, app.audit);

  async function startSession(reply: FastifyReply, user: User) {
    const lifetime = app.config.get('Authentication.SessionLifetime');
    const session = await app.users.createSession(user.id, lifetime);
    reply.setCookie(SESSION_COOKIE, session.token, { path: '/', httpOnly: true, sameSite: 'lax', secure: secureCookies, maxAge: Math.floor(lifetime / 1000) });
    return session;
  }

  server.get('/__login__', async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    return reply.type('text/html; charset=utf-8').send(loginForm(safeReturn(q.url)));
  });

  // JSON (dashboard, scripts) answers with the user and the CSRF token; a form post redirects.
  server.post('/__login__', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const isForm = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const user = username && password ? await app.users.verifyPassword(username, password) : null;
    if (!user) {
      await app.audit.record(null, 'login_failed', `Failed sign-in for "${username}" from ${request.ip}`);
      if (isForm) return reply.code(401).type('text/html; charset=utf-8').send(loginForm(safeReturn(body.url), 'Incorrect username or password.'));
      throw invalidLogin('Incorrect username or password.');
    }
    const session = await startSession(reply, user);
    await app.audit.record(user, 'login', `Signed in from ${request.ip}`);
    if (isForm) return reply.redirect(safeReturn(body.url), 303);
    return reply.header(CSRF_HEADER, session.csrf).send({ user: userJson(user), csrf_token: session.csrf });
  });

  const logout = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = request.cookies[SESSION_COOKIE];
    if (token) await app.users.deleteSession(token);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/__login__', 303);
  };
  server.get('/__logout__', logout);
  server.post('/__logout__', logout);

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
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.CannotParseRequestBody);
    const user = await firstRun.createAdministrator(body.token, body);
    const session = await startSession(reply, user);
    return reply.header(CSRF_HEADER, session.csrf).send({ user: userJson(user), csrf_token: session.csrf });
  });

  server.get('/', async (_request, reply) => reply.redirect('/connect/', 302));
};
