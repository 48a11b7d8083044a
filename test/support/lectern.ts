import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createApp, type App, type AppOptions } from '../../src/app.js';
import { Config } from '../../src/config/config.js';
import type { SettingKey } from '../../src/config/settings.js';
import type { RoutePlugin } from '../../src/http/routing.js';
import { buildServer } from '../../src/server.js';
import { ROUTES } from '../../src/routes.js';
import { FirstRun } from '../../src/users/first-run.js';
import { OpenApiCheck } from './openapi-check.js';
import { createDatabase, startPostgres } from './postgres.js';

export type Provider = 'sqlite' | 'postgres';

let replicaCount = 0;

/** Which databases the API suite runs against: both unless LECTERN_TEST_DATABASES narrows it. */
export const PROVIDERS: Provider[] = (process.env.LECTERN_TEST_DATABASES ?? 'sqlite,postgres').split(',').map((s) => s.trim()) as Provider[];

let postgres: Promise<{ url: string; stop(): Promise<void> }> | null = null;

/** One PostgreSQL server per test process, a fresh database per Lectern instance. */
export async function postgresDatabaseUrl(): Promise<string> {
  postgres ??= startPostgres();
  const server = await postgres;
  return createDatabase(server.url, `lectern_${Date.now()}_${Math.floor(Math.random() * 1e6)}`);
}

export async function stopPostgres() {
  if (postgres) await (await postgres).stop();
  postgres = null;
}

export interface TestServer {
  app: App;
  server: FastifyInstance;
  url: string;
  dataDir: string;
  /** The admin's API key (empty on a first-run server until the test sets one). */
  adminKey: string;
  /** On a server started with `firstRun`: the one-time setup token, as `lectern start` prints it. */
  setupToken: string | null;
  /**
   * fetch against the server with the admin key unless headers say otherwise. Every JSON answer
   * (and every 204) is checked against the server's OpenAPI document for its route and status,
   * and a mismatch fails the call (test/support/openapi-check.ts).
   */
  api(pathname: string, init?: RequestInit & { json?: unknown; key?: string | null }): Promise<Response>;
  /** A new user of the given role with an API key. */
  addUser(username: string, role: 'viewer' | 'publisher' | 'administrator'): Promise<{ key: string; guid: string; id: number }>;
  stop(): Promise<void>;
}

export async function startLectern(
  provider: Provider,
  overrides: Partial<Record<SettingKey, string>> = {},
  shared?: { dataDir: string; databaseUrl?: string },
  options: AppOptions & {
    firstRun?: boolean;
    routes?: RoutePlugin[];
    /**
     * An address of this host that content reaches the server at (the Kubernetes test bed's node address,
     * for pods): the server then listens on every address, and this one is its public URL (CONNECT_SERVER).
     */
    publicHost?: string;
  } = {},
): Promise<TestServer> {
  const dataDir = shared?.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'lectern-test-')));
  const databaseUrl = provider === 'postgres' ? (shared?.databaseUrl ?? (await postgresDatabaseUrl())) : '';
  const config = Config.load({
    env: {},
    overrides: {
      'HTTP.Listen': '127.0.0.1:0',
      'Server.DataDir': dataDir,
      'Database.Provider': provider,
      'Postgres.URL': databaseUrl,
      'Logging.Level': 'silent',
      'Tasks.PollInterval': '1s',
      // Only the interpreters a test names: what else this machine has installed stays out of its answers.
      'Python.Discover': 'false',
      'R.Discover': 'false',
      'Quarto.Discover': 'false',
      // Each test server is its own replica, also when a test runs two on one database in one process.
      'Server.ReplicaName': `test-${process.pid}-${++replicaCount}`,
      ...overrides,
    },
  });
  const { firstRun, routes = ROUTES, publicHost, ...appOptions } = options;
  const app = await createApp(config, appOptions);
  const fastify = await buildServer(app, routes);
  await fastify.listen({ host: publicHost ? '0.0.0.0' : '127.0.0.1', port: 0 });
  const port = (fastify.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  app.serverUrl.value = publicHost ? `http://${publicHost}:${port}/` : `${url}/`;
  // A first-run server has no accounts: the test creates the administrator through the setup link.
  let adminKey = '';
  let setupToken: string | null = null;
  if (firstRun) {
    setupToken = await new FirstRun(app.dataDir, app.users, app.audit).issue();
  } else {
    let admin = await app.users.findByUsername('admin');
    admin ??= await app.users.create({ username: 'admin', password: 'admin-password', user_role: 'administrator', email: 'admin@example.org' });
    adminKey = (await app.users.createApiKey(admin.id, 'tests')).key;
  }

  const api: TestServer['api'] = (pathname, init = {}) => {
    const headers = new Headers(init.headers);
    const key = init.key === undefined ? testServer.adminKey : init.key;
    if (key) headers.set('authorization', `Key ${key}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const method = (init.method ?? 'GET').toUpperCase();
    return fetch(url + pathname, { ...init, headers, body, redirect: init.redirect ?? 'manual' }).then((res) => checkAnswer(method, pathname, res));
  };

  let document: Promise<OpenApiCheck> | undefined;
  async function checkAnswer(method: string, pathname: string, res: Response): Promise<Response> {
    const isJson = /^application\/json\b/.test(res.headers.get('content-type') ?? '');
    if (method === 'HEAD' || (!isJson && res.status !== 204)) return res;
    document ??= OpenApiCheck.fetch(url);
    let answer: unknown;
    if (isJson) {
      const text = await res.clone().text();
      try {
        answer = JSON.parse(text);
      } catch {
        throw new Error(`${method} ${pathname} answered ${res.status} with content-type JSON but a body that is not: ${text.slice(0, 300)}`);
      }
    }
    const problem = (await document).problem(method, pathname, res.status, answer);
    if (problem) throw new Error(`OpenAPI document mismatch: ${problem}`);
    return res;
  }

  const testServer: TestServer = {
    app,
    server: fastify,
    url,
    dataDir,
    adminKey,
    setupToken,
    api,
    async addUser(username, role) {
      const user = await app.users.create({ username, password: `${username}-password`, user_role: role });
      const { key } = await app.users.createApiKey(user.id, 'tests');
      return { key, guid: user.guid, id: user.id };
    },
    async stop() {
      await fastify.close();
      await app.close();
      if (!shared) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return testServer;
}

export interface FinishedTask {
  output: string[];
  code: number;
  error: string;
  finished: boolean;
  result: unknown;
}

/**
 * Polls a task to completion the way clients do (wait=1, advancing first), for at most
 * `timeoutMs`; a task still running then fails the test with the output it had written.
 */
export function waitForTask(t: TestServer, taskId: string, key?: string, options: { timeoutMs?: number } = {}): Promise<FinishedTask> {
  return pollTask((pathname) => t.api(pathname, { key }), taskId, options);
}

/** waitForTask for a server reached by a plain `fetch` wrapper (a Lectern in another process). */
export async function pollTask(get: (pathname: string) => Promise<Response>, taskId: string, options: { timeoutMs?: number } = {}): Promise<FinishedTask> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const output: string[] = [];
  let first = 0;
  while (Date.now() < deadline) {
    const res = await get(`/__api__/v1/tasks/${taskId}?first=${first}&wait=1`);
    const body = (await res.json()) as FinishedTask & { last: number };
    output.push(...body.output);
    first = body.last;
    if (body.finished) return { ...body, output };
  }
  throw new Error(`task ${taskId} did not finish within ${timeoutMs / 1000} s; output so far:\n${output.join('\n')}`);
}
