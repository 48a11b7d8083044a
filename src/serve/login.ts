import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE } from '../auth/principal.js';
import { invalidLogin } from '../http/errors.js';
import type { RoutePlugin } from '../http/server.js';
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
    const lifetime = app.config.get('Authentication.SessionLifetime');
    const session = await app.users.createSession(user.id, lifetime);
    reply.setCookie(SESSION_COOKIE, session.token, { path: '/', httpOnly: true, sameSite: 'lax', secure: secureCookies, maxAge: Math.floor(lifetime / 1000) });
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

  // The dashboard itself arrives later; dashboard_url must already answer with a page.
  server.get('/connect/*', async (request, reply) => {
    const user = request.principal.kind === 'user' ? request.principal.user : null;
    const body = user
      ? `<h1>Lectern</h1><p>Signed in as <strong>${escapeHtml(user.username)}</strong>. The dashboard is not built yet; content links are of the form <code>/connect/#/apps/&lt;guid&gt;</code>.</p>
<p id="content-link"></p><script>const m=/^#\\/apps\\/([0-9a-f-]{36})/.exec(location.hash);if(m){const a=document.createElement('a');a.href='/content/'+m[1]+'/';a.textContent='Open the content';document.getElementById('content-link').append(a)}</script>
<form method="post" action="/__logout__"><button type="submit">Sign out</button></form>`
      : `<h1>Lectern</h1><p><a href="/__login__?url=${encodeURIComponent(request.url)}">Sign in</a> to continue.</p>`;
    return reply.type('text/html; charset=utf-8').send(htmlPage('Dashboard', body));
  });
  server.get('/connect', async (_request, reply) => reply.redirect('/connect/', 301));
  server.get('/', async (_request, reply) => reply.redirect('/connect/', 302));
};
