import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Config, ConfigError } from '../config/config.js';
import { InterpreterError, SECTION } from '../runtimes/interpreters.js';
import { createApp, LECTERN_VERSION, type App } from '../app.js';
import { migrate } from '../db/database.js';
import { openDatabase } from '../db/open-database.js';
import { KubernetesStartError } from '../launcher/kubernetes/start.js';
import { oneLine, StartupError } from '../startup-error.js';
import { buildServer } from '../server.js';
import { ROUTES } from '../routes.js';
import { FirstRun } from '../users/first-run.js';
import { ROLES, type Role } from '../users/users.js';
import { LecternError } from '../errors.js';
import { parse } from './args.js';
import { unreachableFromContent } from './server-reach.js';
import { dnsProblem } from '../launcher/local/network-namespace.js';

const USAGE = `Usage: lectern <command> [options]

Commands:
  start [--config FILE]                       serve on [HTTP] Listen (default :3939)
  user add --username U --password P --role administrator|publisher|viewer [--email E] [--config FILE]
  key create --username U [--name NAME] [--config FILE]   prints only the new API key
  content build --guid G [--bundle-id N] [--no-wait] [--config FILE]
                                              rebuild the environment of a content item's live bundle (or
                                              bundle N) ahead of its first visit; a running server does the
                                              build, this command follows its output
  migrate [--config FILE]                     bring the database schema up to date
  config [--config FILE]                      every effective setting and where it came from
  version                                     print Lectern's version

Settings come from the --config file (gcfg; default $LECTERN_CONFIG, else /etc/lectern/lectern.gcfg if it
exists) and LECTERN_<SECTION>_<KEY> environment variables; every command reads the same ones. Commands other than
start and migrate refuse a data directory without a Lectern database rather than create one.`;

/** Where `lectern start` (and every other command) looks for its configuration, like Connect's /etc/rstudio-connect/rstudio-connect.gcfg. */
export const DEFAULT_CONFIG_FILE = '/etc/lectern/lectern.gcfg';

function fail(message: string): never {
  process.stderr.write(`lectern: ${message}\n`);
  process.exit(2);
}

/** A problem the operator can fix: one line, exit status 1. */
function cannot(message: string): never {
  process.stderr.write(`lectern: ${message}\n`);
  process.exit(1);
}

/** --config, else LECTERN_CONFIG, else the default file when there is one (none: defaults and variables). */
export function configFile(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (option) return option;
  if (env.LECTERN_CONFIG) return env.LECTERN_CONFIG;
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

function loadConfig(file: string | undefined): Config {
  return Config.load({ file: configFile(file) });
}

async function withApp<T>(file: string | undefined, fn: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp(loadConfig(file), { runTasks: false, createDatabase: false });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

async function start(argv: string[]) {
  const opts = parse(argv, { config: { type: 'string' } });
  const config = loadConfig(opts.config);
  const listen = config.listenAddress();
  const app = await createApp(config);
  const server = await buildServer(app, ROUTES);
  try {
    await server.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    await server.close().catch(() => undefined);
    await app.close().catch(() => undefined);
    throw listenProblem(err, listen);
  }
  const port = (server.server.address() as { port: number }).port;
  const shownHost = listen.host === '0.0.0.0' || listen.host === '::' ? 'localhost' : listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = config.get('Server.Address') || `http://${shownHost}:${port}/`;
  process.stdout.write(`Lectern ${LECTERN_VERSION} is running at ${url}\n`);
  if (!config.get('Server.Address')) app.serverUrl.value = `http://${listen.host === '0.0.0.0' || listen.host === '::' || !listen.host ? '127.0.0.1' : shownHost}:${port}/`;
  process.stdout.write(`Configuration: ${config.file ?? `no file (${DEFAULT_CONFIG_FILE} does not exist): defaults and LECTERN_* variables`}\n`);
  process.stdout.write(`Data directory: ${app.dataDir.root} (database: ${app.store.dialect}); replica: ${config.replicaName()}\n`);
  if (app.apiChannel) {
    process.stdout.write(`Content reaches the Connect API at CONNECT_SERVER=${app.apiChannel.url} (only /__api__/, forwarded into its network namespace)\n`);
    // Without [Server] Address content is told no other URL of this server than the API channel.
    const address = config.get('Server.Address');
    const unreachable = address ? await unreachableFromContent(address) : null;
    if (unreachable) process.stdout.write(`${unreachable}\n`);
    const dns = dnsProblem(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
    if (dns) process.stdout.write(`${dns}\n`);
  }
  const found = (['python', 'r', 'quarto'] as const).map((k) => {
    const missing = app.interpreters.missing(k);
    const versions =
      app.interpreters
        .of(k)
        .map((i) => i.version)
        .join(', ') || 'none';
    return `${SECTION[k]}: ${versions}${missing.length ? ` (not found yet: ${missing.join(', ')}; looked for again when a bundle asks for it)` : ''}`;
  });
  if (app.execution.offHost) {
    const images = (await app.environments.all()).map((e) => e.name);
    process.stdout.write(
      `Content runs off-host (Kubernetes) in ${images.length} execution environment(s)${images.length ? `: ${images.join(', ')}` : ' — define them with /__api__/v1/environments, [Launcher] ClusterDefinition or [ExecutionEnvironments] ConfigFilePath'}\n`,
    );
  } else {
    process.stdout.write(`Content runs with ${found.join('; ')}\n`);
  }
  const setupToken = await new FirstRun(app.dataDir, app.users, app.audit).issue();
  if (setupToken) {
    process.stdout.write(`\nFirst start: no accounts yet. Create the administrator at this one-time link:\n  ${url}connect/#/setup/${setupToken}\n`);
    process.stdout.write(`  (or on this machine: npx lectern user add --username U --password P --role administrator)\n`);
    process.stdout.write(`  Then create an API key for publishing clients in the dashboard, or: npx lectern key create --username U\n\n`);
  } else {
    process.stdout.write(`Sign in at ${url}connect/ (add accounts in the dashboard or with "lectern user add").\n`);
  }
  const shutdown = async (signal: string) => {
    process.stdout.write(`Received ${signal}; shutting down.\n`);
    await server.close();
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

async function userAdd(argv: string[]) {
  const opts = parse(argv, {
    config: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    role: { type: 'string' },
    email: { type: 'string' },
    'first-name': { type: 'string' },
    'last-name': { type: 'string' },
  });
  if (!opts.username) fail('user add needs --username');
  const role = (opts.role ?? 'viewer') as Role;
  if (!ROLES.includes(role)) fail(`--role must be one of ${ROLES.join(', ')}`);
  await withApp(opts.config, async (app) => {
    const user = await app.users.create({ username: opts.username!, password: opts.password, user_role: role, email: opts.email, first_name: opts['first-name'], last_name: opts['last-name'] });
    await app.audit.record(null, 'add_user', `Created user ${user.username} (${role}) from the command line`);
    process.stdout.write(`Created ${role} ${user.username} (${user.guid})\n`);
  });
}

async function keyCreate(argv: string[]) {
  const opts = parse(argv, { config: { type: 'string' }, username: { type: 'string' }, name: { type: 'string' } });
  if (!opts.username) fail('key create needs --username');
  await withApp(opts.config, async (app) => {
    const user = await app.users.findByUsername(opts.username!);
    if (!user) fail(`no user named "${opts.username}"`);
    const { key } = await app.users.createApiKey(user.id, opts.name ?? 'command line');
    await app.audit.record(user, 'add_api_key', `Created API key "${opts.name ?? 'command line'}" from the command line`);
    process.stdout.write(`${key}\n`);
  });
}

async function contentBuild(argv: string[]) {
  const opts = parse(argv, { config: { type: 'string' }, guid: { type: 'string' }, 'bundle-id': { type: 'string' }, 'no-wait': { type: 'boolean' } });
  if (!opts.guid) fail('content build needs --guid');
  await withApp(opts.config, async (app) => {
    const content = await app.content.find(opts.guid!);
    if (!content) fail(`no content with guid ${opts.guid}`);
    const owner = await app.users.findById(content.owner_id);
    if (!owner) fail(`the owner of content ${content.guid} no longer exists`);
    // Queued like POST …/build (as the owner, who may build it), so whichever replica is free runs it.
    const task = await app.deployRequests.enqueue(owner, content, opts['bundle-id'] ? { bundle_id: opts['bundle-id'] } : {}, 'build');
    process.stdout.write(`Queued build task ${task.id} of content ${content.guid}; a running Lectern server runs it.\n`);
    if (opts['no-wait']) return;
    let first = 0;
    for (;;) {
      const current = await app.queue.waitFor(task.id, first, 5000);
      const lines = await app.queue.output(task.id, first);
      for (const line of lines) process.stdout.write(`${line}\n`);
      first += lines.length;
      if (current.state === 'finished' && first >= current.output_lines) {
        if (current.code !== 0) fail(`the build failed: ${current.error}`);
        return;
      }
    }
  });
}

async function migrateCommand(argv: string[]) {
  const opts = parse(argv, { config: { type: 'string' } });
  // May create the database, like start.
  const store = await openDatabase(loadConfig(opts.config), { create: true, migrate: false });
  try {
    const applied = await migrate(store);
    process.stdout.write(applied.length ? `Applied migrations: ${applied.join(', ')}\n` : 'The database is up to date.\n');
  } finally {
    await store.close();
  }
}

function configCommand(argv: string[]) {
  const opts = parse(argv, { config: { type: 'string' } });
  const config = loadConfig(opts.config);
  for (const warning of config.warnings) process.stderr.write(`lectern: warning: ${warning}\n`);
  process.stdout.write(`; configuration file: ${config.file ?? `none (${DEFAULT_CONFIG_FILE} does not exist)`}\n`);
  let section = '';
  for (const s of config.describe()) {
    if (s.section !== section) {
      process.stdout.write(`${section ? '\n' : ''}[${s.section}]\n`);
      section = s.section;
    }
    process.stdout.write(`${s.name} = ${s.value}`.padEnd(48) + `; ${s.source}\n`);
  }
}

export async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  try {
    if (command === 'start') return await start(argv.slice(1));
    if (command === 'user' && sub === 'add') return await userAdd(rest);
    if (command === 'key' && sub === 'create') return await keyCreate(rest);
    if (command === 'content' && sub === 'build') return await contentBuild(rest);
    if (command === 'migrate') return await migrateCommand(argv.slice(1));
    if (command === 'config') return configCommand(argv.slice(1));
    if (command === 'version' || command === '--version') return void process.stdout.write(`${LECTERN_VERSION}\n`);
    if (command === undefined || command === 'help' || command === '--help') return void process.stdout.write(`${USAGE}\n`);
    fail(`unknown command "${argv.join(' ')}"\n\n${USAGE}`);
  } catch (err) {
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) fail(err.message);
    cannot(describeFailure(err));
  }
}

/** Every failure as one line that says what is wrong and what to do; a stack trace only when asked for. */
function describeFailure(err: unknown): string {
  if (err instanceof StartupError) return err.message;
  if (err instanceof ConfigError) {
    const fix = err.message.startsWith('cannot read configuration file')
      ? `correct the file given by --config or LECTERN_CONFIG (default ${DEFAULT_CONFIG_FILE}), or make it readable`
      : 'correct the setting (lectern config lists them, docs/configuration.md explains them)';
    return new StartupError(`configuration error: ${err.message}`, fix).message;
  }
  if (err instanceof InterpreterError) return new StartupError(`cannot start: ${err.message}`, 'install the interpreter or correct its [Python]/[R]/[Quarto] Executable setting').message;
  if (err instanceof KubernetesStartError) return oneLine(err.message);
  if (err instanceof LecternError) return oneLine(err.message);
  const message = err instanceof Error ? err.message : String(err);
  const debug = /^(debug|trace)$/i.test(process.env.LECTERN_LOGGING_LEVEL ?? '');
  if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return `unexpected error: ${oneLine(message)}. This is a bug in Lectern: please report it${debug ? '' : ' (LECTERN_LOGGING_LEVEL=debug shows where it happened)'}.`;
}

function listenProblem(err: unknown, listen: { host: string; port: number }): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  const fix = 'set [HTTP] Listen (LECTERN_HTTP_LISTEN) to a free port, e.g. ":3940"';
  if (code === 'EADDRINUSE') return new StartupError(`cannot listen on ${where}: the port is in use (another Lectern, or another server)`, `stop that server, or ${fix}`);
  if (code === 'EACCES') return new StartupError(`cannot listen on ${where}: ports below 1024 need root or CAP_NET_BIND_SERVICE`, `${fix}, or grant the capability`);
  if (code === 'EADDRNOTAVAIL') return new StartupError(`cannot listen on ${where}: ${listen.host} is not an address of this machine`, 'set [HTTP] Listen to one of its addresses, or ":3939" for all');
  return err instanceof Error ? err : new Error(String(err));
}
