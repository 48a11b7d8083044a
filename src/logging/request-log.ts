import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/** The fields of a request's one log line, for Fastify's requests and the content fast path's alike. */
export function requestFields(request: { method?: string; url?: string; remoteAddress?: string }, statusCode: number, responseTimeMs: number) {
  return { method: request.method, url: request.url, statusCode, responseTime: Math.round(responseTimeMs * 10) / 10, remoteAddress: request.remoteAddress };
}

/**
 * One line per request, once it is answered, with what an operator looks for; Fastify's own
 * controller writes two ("incoming request", "request completed"). Content requests are the hot
 * path (every asset and API call of every app) and are logged at debug; the content fast path
 * logs the ones Fastify never sees the same way (src/serve/content-fast-path.ts).
 */
export class OneLineRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const fields = requestFields({ method: request.method, url: request.url, remoteAddress: request.ip }, reply.statusCode, reply.elapsedTime);
    if (error) {
      request.log.error({ ...fields, err: error }, 'request failed');
      return;
    }
    const route = request.routeOptions.url;
    const content = route !== undefined && (route.startsWith('/content/') || route === '/*') && reply.statusCode !== 404;
    request.log[content ? 'debug' : 'info'](fields, 'request');
  }
}
