import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * One line per request, once it is answered, with what an operator looks for; Fastify's own
 * controller writes two ("incoming request", "request completed").
 */
export class OneLineRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const fields = { method: request.method, url: request.url, statusCode: reply.statusCode, responseTime: Math.round(reply.elapsedTime * 10) / 10, remoteAddress: request.ip };
    if (error) request.log.error({ ...fields, err: error }, 'request failed');
    else request.log.info(fields, 'request');
  }
}
