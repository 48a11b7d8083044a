// The HTTP server: Fastify with its parsers, the caller's principal, Connect's error JSON for
// everything under /__api__, the fast path and proxies for running content, and the routes it is
// given (src/routes.ts). It sits at the top of the edge: it assembles api/, serve/ and http/.
import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createServer } from 'node:http';
import type { App } from './app.js';
import { resolvePrincipal, signInRefusal } from './auth/principal.js';
import { ErrorCode, LecternError } from './errors.js';
import { errorBody, httpAnswer } from './http/errors.js';
import { registerOpenApi } from './http/openapi.js';
import type { RoutePlugin } from './http/routing.js';
import { serializerCompiler, validationFailure, validatorCompiler } from './http/schema-compilers.js';
import { trustedProxies } from './http/trusted-proxy.js';
import { contentFastPath } from './serve/content-fast-path.js';
import { ContentProxy } from './serve/proxy.js';
import { installWebsocketProxy } from './serve/websocket-proxy.js';
import { OneLineRequestLog } from './logging/request-log.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The HTTP client of content workers (src/serve/proxy.ts). */
    contentProxy: ContentProxy;
  }
}

export async function buildServer(app: App, routes: RoutePlugin[]): Promise<FastifyInstance> {
  // The proxy and the fast path log through Fastify's logger, which exists once Fastify does.
  const proxy = new ContentProxy(app, () => server.log);
  let fastPath: ReturnType<typeof contentFastPath> | undefined;
  const server: FastifyInstance = Fastify({
    // Requests for running content bypass Fastify (src/serve/content-fast-path.ts); the server is
    // set up as Fastify would set up its own.
    serverFactory: (fastifyHandler, options) => {
      fastPath = contentFastPath(app, proxy, { parseCookie: (header) => server.parseCookie(header), log: () => server.log }, fastifyHandler);
      const http = createServer(fastPath.handler);
      // Fastify has filled in its defaults by now (keep-alive 72 s, no request timeout).
      const settings = options as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number; maxRequestsPerSocket: number };
      http.keepAliveTimeout = settings.keepAliveTimeout;
      http.requestTimeout = settings.requestTimeout;
      http.setTimeout(settings.connectionTimeout);
      if (settings.maxRequestsPerSocket > 0) http.maxRequestsPerSocket = settings.maxRequestsPerSocket;
      // Content in its own network namespace reaches the API (only) through this second listener.
      app.apiChannel?.serve(fastifyHandler, settings);
      return http;
    },
    // One logger for the whole server (src/logging/logger.ts); each request is logged once.
    loggerInstance: app.logger as FastifyBaseLogger,
    logController: new OneLineRequestLog(),
    // Bundles are streamed to disk; this limit is for JSON and form bodies only.
    bodyLimit: 10 * 1024 * 1024,
    // X-Forwarded-* count only from the proxies [HTTP] TrustedProxies names (src/http/trusted-proxy.ts).
    trustProxy: trustedProxies(app.config).trusts,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 500 },
    return503OnClosing: true,
    frameworkErrors: answerFrameworkError,
  });

  // Schemas validate requests and document answers (src/http/schema-compilers.ts says how).
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  await registerOpenApi(server);
  await server.register(cookie);
  server.decorate('contentProxy', proxy);
  server.decorate('serverAddress', app.config.get('Server.Address'));
  // While closing, Fastify answers 503 on connections still open; the fast path steps aside for it.
  server.addHook('preClose', async () => {
    fastPath?.close();
  });
  server.addHook('onClose', async () => {
    await proxy.close();
  });
  await server.register(multipart, { limits: { fileSize: app.config.get('Bundles.MaxUploadSize'), files: 1, fields: 10 } });

  const parseJson = (text: string, done: (err: Error | null, body?: unknown) => void) => {
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new LecternError('invalid', ErrorCode.InvalidJson, `The request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  };
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => parseJson(body as string, done));
  server.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // Any other body (bundle uploads arrive as application/x-gzip, application/gzip, octet-stream or
  // with no content type at all) is left unread for the route to stream.
  // Posit Publisher's Go client sends its JSON bodies with no content type at all (net/http sets
  // none): a route that declares a JSON body reads such a body as JSON, up to the body limit.
  server.addContentTypeParser('*', (request, payload, done) => {
    if (request.headers['content-type'] !== undefined || !request.routeOptions.schema?.body) return done(null, undefined);
    // Past the limit the rest is read and dropped (not destroyed: the answer needs the socket).
    const limit = server.initialConfig.bodyLimit ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    payload.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    payload.on('end', () => {
      if (size > limit) return done(new LecternError('too_large', ErrorCode.BadRequest, `The request body is larger than ${limit} bytes.`), undefined);
      parseJson(Buffer.concat(chunks).toString('utf8'), done);
    });
    payload.on('error', (err) => done(err, undefined));
  });

  server.decorateRequest('principal', null as never);
  server.addHook('onRequest', async (request) => {
    request.principal = await resolvePrincipal(request, app.users);
  });

  server.setErrorHandler((error: unknown, request, reply) => {
    if (error instanceof LecternError) {
      const { status, body } = httpAnswer(error);
      return reply.code(status).type('application/json').send(body);
    }
    const err = error as { statusCode?: number; code?: string; message?: string; validation?: unknown; validationContext?: string };
    if (Array.isArray(err.validation)) {
      // Fastify validates before the handler authorises: a route that needs a signed-in caller
      // (its schema does not say `security: []`) refuses an unknown caller first, as Connect does,
      // so an anonymous probe learns nothing of a route's fields.
      const refusal = needsSignIn(request) ? signInRefusal(request.principal) : null;
      if (refusal) {
        const { status, body } = httpAnswer(refusal);
        return reply.code(status).type('application/json').send(body);
      }
      const { status, body } = httpAnswer(validationFailure(err.validation, (err.validationContext ?? 'body') as Parameters<typeof validationFailure>[1]));
      return reply.code(status).type('application/json').send(body);
    }
    if (err.code === 'FST_REQ_FILE_TOO_LARGE' || err.statusCode === 413) {
      return reply.code(413).send(errorBody(ErrorCode.BadRequest, err.message ?? 'Request body too large'));
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      const code = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? ErrorCode.InvalidJson : ErrorCode.BadRequest;
      return reply.code(err.statusCode).send(errorBody(code, err.message ?? 'Bad request'));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(ErrorCode.InternalFailure, 'Internal server error; the server log has details.'));
  });

  server.setNotFoundHandler((request, reply) => answerUnrouted(server, request, reply));

  const typed = server.withTypeProvider<TypeBoxTypeProvider>();
  for (const route of routes) await route(typed, app);
  installWebsocketProxy(server, app);
  return server;
}

const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const isApiPath = (pathname: string) => pathname === '/__api__' || pathname.startsWith('/__api__/');

/**
 * A request no route takes. Under /__api__ it gets Connect's error JSON, because posit-sdk reads
 * `code` and `error` from every JSON error (a body without `code` is a KeyError there): 405 with
 * `Allow` when the path has routes for other methods, else 404. connectapi falls back to legacy
 * routes when a 404 has no `code`, but only from v1 routes Lectern serves (docs/architecture.md).
 * Pages outside /__api__ keep their plain-text 404.
 */
function answerUnrouted(server: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
  const [pathname = '/'] = request.url.split('?');
  if (!isApiPath(pathname)) {
    return reply.code(404).type('text/plain; charset=utf-8').send(`404 page not found: ${request.method} ${pathname}\n`);
  }
  // No API route has a wildcard; one that matches is the vanity route (`/*`, src/api/vanities.ts),
  // which takes every path and method.
  const routed = (method: string) => {
    const match = server.findRoute({ method, url: pathname });
    return match !== null && !('*' in (match.params as object));
  };
  const allowed = API_METHODS.filter(routed);
  if (allowed.length > 0) {
    const body = errorBody(ErrorCode.BadRequest, `${request.method} is not allowed on ${pathname}; it answers ${allowed.join(', ')}.`, { method: request.method, path: pathname, allowed });
    return reply.code(405).header('allow', allowed.join(', ')).type('application/json').send(body);
  }
  const body = errorBody(ErrorCode.ObjectDoesNotExist, `There is no API endpoint ${request.method} ${pathname}.`, { method: request.method, path: pathname });
  return reply.code(404).type('application/json').send(body);
}

/** Errors Fastify raises before routing (a malformed URL, an over-long parameter): Connect's JSON too. */
function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  return reply.code(status).type('application/json').send(errorBody(ErrorCode.BadRequest, error.message));
}

/** Whether the route asks for a signed-in caller: every route but those whose schema says `security: []`. */
function needsSignIn(request: FastifyRequest): boolean {
  const security = (request.routeOptions.schema as { security?: unknown[] } | undefined)?.security;
  return !(Array.isArray(security) && security.length === 0);
}
