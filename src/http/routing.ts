// What every route module is and the URL helpers routes share. Route modules (src/api/, src/serve/)
// import this, never the server that registers them (src/server.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../app.js';

export type RoutePlugin = (server: FastifyInstance, app: App) => void | Promise<void>;

/** Public URL helpers shared by every route that renders content_url/dashboard_url. */
export function publicBase(app: App, request: FastifyRequest): string {
  const configured = app.config.get('Server.Address');
  if (configured) return configured.endsWith('/') ? configured : configured + '/';
  const proto = request.protocol;
  const host = request.headers.host ?? `localhost:${app.config.listenAddress().port}`;
  return `${proto}://${host}/`;
}

export function contentUrls(app: App, request: FastifyRequest) {
  const base = publicBase(app, request);
  return {
    contentUrl: (guid: string) => `${base}content/${guid}/`,
    dashboardUrl: (guid: string) => `${base}connect/#/apps/${guid}`,
  };
}
