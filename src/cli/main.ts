import { readFile } from 'node:fs/promises';
import { Config, ConfigError } from '../config/config.js';
import { InterpreterError } from '../runtimes/interpreters.js';
import { createApp, LECTERN_VERSION, type App } from '../app.js';
import { migrate, openStore } from '../db/database.js';
import { buildServer } from '../http/server.js';
import { ROUTES } from '../http/routes.js';
import { FirstRun } from '../users/first-run.js';
import { ROLES, type Role } from '../users/users.js';
import { ApiError } from '../http/errors.js';
import { enqueueDeploy } from '../api/bundles.js';
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

Settings come from the --config file (gcfg) and LECTERN_<SECTION>_<KEY> environment variables.`;

function fail(message: string): never {
  process.stderr.write(`lectern: ${message}\n`);
  process.exit(2);
}

function loadConfig(file: string | undefined): Config {
  return Config.load({ file: file ?? process.env.LECTERN_CONFIG });
}

async function withApp<T>(file: string | undefined, fn: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp(loadConfig(file), { runTasks: false });
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
  const app = await createApp(config, { log: (msg, err) => process.stderr.write(err === undefined ? `${msg}\n` : `${msg}: ${err instanceof Error ? err.stack : String(err)}\n`) });
  const server = await buildServer(app, ROUTES);
  await server.listen({ host: listen.host, port: listen.port });
  const shownHost = listen.host === '0.0.0.0' || listen.host === '::' ? 'localhost' : listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = config.get('Server.Address') || `http://${shownHost}:${listen.port}/`;
  process.stdout.write(`Lectern ${LECTERN_VERSION} is running at ${url}\n`);
  if (!config.get('Server.Address')) app.serverUrl.value = `http://${listen.host === '0.0.0.0' || listen.host === '::' || !listen.host ? '127.0.0.1' : shownHost}:${(server.server.address() as { port: number }).port}/`;
  process.stdout.write(`Data directory: ${app.dataDir.root} (database: ${app.store.dialect})\n`);
  if (!app.execution.offHost && config.get('Applications.Sandbox') && config.get('Applications.NetworkIsolation')) {
    const unreachable = await unreachableFromContent(app.serverUrl.value);
    if (unreachable) process.stdout.write(`${unreachable}\n`);
    const dns = dnsProblem(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
    if (dns) process.stdout.write(`${dns}\n`);
  }
  const found = (['python', 'r', 'quarto'] as const).map((k) => `${k === 'r' ? 'R' : k[0]!.toUpperCase() + k.slice(1)}: ${app.interpreters.of(k).map((i) => i.version).join(', ') || 'none'}`);
  if (app.execution.offHost) {
    const images = (await app.environments.all()).map((e) => e.name);
    process.stdout.write(`Content runs off-host (Kubernetes) in ${images.length} execution environment(s)${images.length ? `: ${images.join(', ')}` : ' — define them with /__api__/v1/environments, [Launcher] ClusterDefinition or [ExecutionEnvironments] ConfigFilePath'}\n`);
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
    const task = await enqueueDeploy(app, owner, content, opts['bundle-id'] ? { bundle_id: opts['bundle-id'] } : {}, 'build');
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
  const store = openStore(loadConfig(opts.config));
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
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`);
    if (err instanceof InterpreterError) fail(`cannot start: ${err.message}`);
    if (err instanceof ApiError) fail(err.message);
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(err.message);
    throw err;
  }
}
