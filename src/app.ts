import { ApiChannel } from './http/api-channel.js';
import { ContentCredentials } from './auth/content-credentials.js';
import path from 'node:path';
import { AuditLog } from './audit/audit-log.js';
import { OAuthIntegrations } from './oauth/integrations.js';
import { Bootstrap, bootstrapKey } from './users/bootstrap.js';
import { Bundles } from './bundles/bundles.js';
import type { Config } from './config/config.js';
import { ContentService } from './content/content.js';
import { ContentVariables } from './content/environment-variables.js';
import { ContentPermissions } from './content/permissions.js';
import { ContentViews } from './content/content-views.js';
import { Tags } from './content/tags.js';
import { Vanities } from './content/vanities.js';
import { ContentManagement } from './deployments/content-management.js';
import { DeployRequests } from './deployments/deploy-requests.js';
import { GitDeployments } from './deployments/git-deployments.js';
import { ContentRepositories } from './deployments/git-repositories.js';
import { Git, type GitCredential } from './git/git.js';
import type { Store } from './db/database.js';
import { openDatabase } from './db/open-database.js';
import { registerDeployTasks } from './deployments/deploy.js';
import { SecretBox } from './secrets/secret-box.js';
import { DataDir } from './storage/data-dir.js';
import { LocalTaskEvents, PostgresTaskEvents, type TaskEvents } from './tasks/events.js';
import { TaskQueue } from './tasks/queue.js';
import { UserAdministration } from './users/administration.js';
import { Groups } from './users/groups.js';
import { ProcessKeys } from './users/process-keys.js';
import { Users } from './users/users.js';
import { ContentExecution } from './execution/content-execution.js';
import { ImageSelectionReport } from './execution/image-selection-report.js';
import { Jobs } from './jobs/jobs.js';
import type { Launcher } from './launcher/launcher.js';
import { KubernetesStartError, startKubernetesLauncher } from './launcher/kubernetes/start.js';
import { LocalLauncher } from './launcher/local/local-launcher.js';
import { resolveRunAs } from './launcher/local/run-as-user.js';
import { prepareWritableDir, Sandbox } from './launcher/local/sandbox.js';
import { RestoredPackages } from './execution/restored-packages.js';
import { ContentSearch } from './content/search.js';
import { RuntimeCaches } from './execution/runtime-caches.js';
import { RUNTIME_DIR } from './execution/runtime-dir.js';
import { usualPlaces } from './runtimes/discovery.js';
import { Interpreters } from './runtimes/interpreters.js';
import { Scheduler } from './scheduler/scheduler.js';
import { EnvironmentAdministration } from './execution-environments/administration.js';
import { ExecutionEnvironments } from './execution-environments/environments.js';
import { ExecutionEnvironmentFileSync } from './execution-environments/file-sync.js';
import { bootstrapExecutionEnvironments } from './execution-environments/bootstrap.js';
import { Replicas } from './jobs/replicas.js';
import { UsageRecorder } from './instrumentation/usage-recorder.js';
import { UsageReports } from './instrumentation/usage-reports.js';
import { StartupError } from './startup-error.js';
import { sweepInterruptedUploads } from './storage/interrupted-uploads.js';
import { createLogger, type Logger } from './logging/logger.js';
import { findUv, UV_HINT } from './runtimes/uv.js';
import { LECTERN_VERSION } from './version.js';

// package.json's version (src/version.ts); the API and the CLI have long imported it from here.
export { LECTERN_VERSION };

/** Every service of one Lectern replica, wired once; HTTP routes and the CLI take what they need. */
export interface App {
  config: Config;
  /** The one logger of this replica; the HTTP server logs through it too. */
  logger: Logger;
  store: Store;
  dataDir: DataDir;
  secrets: SecretBox;
  /** Signs the identity header content receives and issues visitor keys (src/auth/content-credentials.ts). */
  credentials: ContentCredentials;
  users: Users;
  /** The first administrator for a signed JWT, when [Bootstrap] Enabled (src/users/bootstrap.ts). */
  bootstrap: Bootstrap;
  /** Account changes people make through the server, audited (the CLI uses `users` directly). */
  userAdministration: UserAdministration;
  groups: Groups;
  content: ContentService;
  contentPermissions: ContentPermissions;
  contentVariables: ContentVariables;
  tags: Tags;
  vanities: Vanities;
  /** Server-side content search (v1/search/content). */
  search: ContentSearch;
  /** Content records as the API answers them (v1, legacy and tag routes alike). */
  contentViews: ContentViews;
  /** Creating, changing and deleting content through the API. */
  contentManagement: ContentManagement;
  /** Queues deploys, builds and renders (the v1 and legacy routes and `lectern build`). */
  deployRequests: DeployRequests;
  /** Git-backed content: which items are deployed from which repository (src/deployments/git-repositories.ts). */
  repositories: ContentRepositories;
  /** [Git] Enabled and the git command found: the repository routes answer. */
  gitAvailable: boolean;
  /** The git command (null when off or missing); the repository helper routes ask it whose credentials a host gets. */
  git: Git | null;
  bundles: Bundles;
  queue: TaskQueue;
  audit: AuditLog;
  /** OAuth integrations and the content associated with each (secrets sealed with `secrets`). */
  oauthIntegrations: OAuthIntegrations;
  interpreters: Interpreters;
  jobs: Jobs;
  execution: ContentExecution;
  /** What restores installed: v1/packages, content packages and the lockfile. */
  packages: RestoredPackages;
  /** The restored environments per interpreter version (v1/system/caches/runtime). */
  runtimeCaches: RuntimeCaches;
  scheduler: Scheduler;
  environments: ExecutionEnvironments;
  environmentAdministration: EnvironmentAdministration;
  imageSelection: ImageSelectionReport;
  /** Follows [ExecutionEnvironments] ConfigFilePath when it is set (server processes only). */
  environmentFile: ExecutionEnvironmentFileSync | null;
  /** Records content visits, hits and Shiny sessions as the proxy serves them (written in batches). */
  usage: UsageRecorder;
  /** Reads them for v1/instrumentation. */
  usageReports: UsageReports;
  /** Public base URL for CONNECT_SERVER; set once the server listens. */
  serverUrl: { value: string };
  /** With network isolation: the listener content reaches the Connect API on (src/http/api-channel.ts); buildServer connects it. */
  apiChannel: ApiChannel | null;
  close(): Promise<void>;
}

export interface AppOptions {
  runTasks?: boolean;
  /** Default: a logger at [Logging] Level on standard error (src/logging/logger.ts). */
  logger?: Logger;
  /**
   * The backend that runs content, instead of the one the settings choose (the local sandbox, or
   * Kubernetes off-host): any implementation of the Launcher contract. Called once content is to
   * run; `app.close()` closes what it returns. Tests of everything above the launcher pass a
   * double from test/support/ here; the backends themselves are tested on their own.
   */
  launcher?: (config: Config) => Promise<Launcher>;
  /**
   * false (maintenance commands): refuse a data directory or PostgreSQL database without a Lectern
   * database instead of creating one, so a mistyped directory is not taken for a new server.
   */
  createDatabase?: boolean;
}

/**
 * Every known reason not to start (database, data directory, sandbox, Kubernetes, interpreters,
 * a replica name in use) is raised as a StartupError; anything opened before it is closed again.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const store = await openDatabase(config, { create: options.createDatabase ?? true });
  const opened: Array<() => Promise<void>> = [() => store.close()];
  try {
    return await wire(config, options, store, opened);
  } catch (err) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw err;
  }
}

async function wire(config: Config, options: AppOptions, store: Store, opened: Array<() => Promise<void>>): Promise<App> {
  const dataDir = new DataDir(config.dataDir());
  const db = store.db;
  const logger = options.logger ?? createLogger(config.get('Logging.Level'));
  const log = (msg: string, err?: unknown) => (err === undefined ? logger.info(msg) : logger.error({ err }, msg));
  for (const warning of config.warnings) logger.warn(warning);
  let events: TaskEvents;
  if (store.postgresUrl) {
    const pgEvents = new PostgresTaskEvents(store.postgresUrl);
    opened.push(() => pgEvents.close());
    await pgEvents.start();
    // Rows cached by one replica are dropped when any replica changes them.
    pgEvents.bridge(store.changes);
    events = pgEvents;
  } else {
    events = new LocalTaskEvents();
  }
  const audit = new AuditLog(db);
  const bundles = new Bundles(db, dataDir, {
    maxUploadBytes: config.get('Bundles.MaxUploadSize'),
    maxExtractedBytes: config.get('Bundles.MaxExtractedSize'),
    maxFiles: config.get('Bundles.MaxFiles'),
    maxExpansionRatio: config.get('Bundles.MaxExpansionRatio'),
  });
  const queue = new TaskQueue(db, store.dialect, events, {
    replica: config.replicaName(),
    leaseMs: config.get('Tasks.LeaseTimeout'),
    pollMs: config.get('Tasks.PollInterval'),
    maxAttempts: config.get('Tasks.MaxAttempts'),
    concurrency: config.get('Tasks.Concurrency'),
    log,
  });
  const secrets = SecretBox.fromConfig(config.get('Server.SecretKey'), dataDir.secretKeyFile());
  const credentials = new ContentCredentials(secrets);
  const contentService = new ContentService(
    db,
    () => ({
      maxProcesses: config.get('Scheduler.MaxProcessesLimit'),
      minProcesses: config.get('Scheduler.MinProcessesLimit'),
      memoryBytes: config.get('Scheduler.MaxMemoryLimit'),
      memoryRequestBytes: config.get('Scheduler.MaxMemoryRequest'),
      cpuRequest: config.get('Scheduler.MaxCPURequest'),
      cpuLimit: config.get('Scheduler.MaxCPULimit'),
      nvidiaGpuLimit: config.get('Scheduler.MaxNvidiaGPULimit'),
      amdGpuLimit: config.get('Scheduler.MaxAMDGPULimit'),
    }),
    store.changes,
  );
  const users = new Users(db, store.changes);
  const bootstrap = new Bootstrap(
    bootstrapKey({ enabled: config.get('Bootstrap.Enabled'), secretKey: config.get('Bootstrap.SecretKey'), secretKeyFile: config.get('Bootstrap.SecretKeyFile') }),
    users,
    audit,
  );
  const environments = new ExecutionEnvironments(db, (user) => contentService.access.principalGuids(user));
  // Workers read variables only at start; `scheduler` exists by the time a variable changes.
  const contentVariables: ContentVariables = new ContentVariables(db, secrets, audit, (contentId): Promise<void> => scheduler.refresh(contentId));
  const offHost = config.offHostExecution();
  const runsContent = options.runTasks !== false;
  // Claimed first: a second server under a live replica's name must not touch that replica's jobs.
  const replicas = new Replicas(db, config.replicaName(), {
    expiryMs: config.get('Tasks.LeaseTimeout'),
    // A replica gone for good (or stopped, handing its workers over): its processes that still run
    // become this replica's, its workers serve from here, the rest of its rows are closed.
    onGone: async (names, liveSince) => {
      const { adopted, closed } = await jobs.takeOver(names, liveSince);
      if (adopted.length) log(`adopted ${adopted.length} process(es) of replica(s) that stopped: ${names.join(', ')}`);
      if (closed.length) log(`closed ${closed.length} job row(s) left running by replica(s) that stopped: ${names.join(', ')}`);
      for (const row of adopted) if (row.kind === 'run') void scheduler.adopt(row, launcher.wait(row.key));
    },
    log,
  });
  if (runsContent) {
    await replicas.join();
    opened.push(() => replicas.leave());
  }

  // Maintenance commands (user add, key create, …) run no content: they skip the probes.
  const interpreters = runsContent
    ? await Interpreters.probe(
        { python: config.get('Python.Executable'), r: config.get('R.Executable'), quarto: config.get('Quarto.Executable') },
        {
          python: config.get('Python.Discover') ? usualPlaces('python') : undefined,
          r: config.get('R.Discover') ? usualPlaces('r') : undefined,
          quarto: config.get('Quarto.Discover') ? usualPlaces('quarto') : undefined,
        },
      )
    : new Interpreters([], [], []);
  // A server runs content either locally (sandboxed processes), off-host (Kubernetes Jobs), or on
  // the launcher it was given; only the first needs the sandbox and the API channel.
  const runsOffHost = runsContent && offHost;
  const runsLocally = runsContent && !offHost && !options.launcher;
  const sandbox = await startupStep(() =>
    Sandbox.create({
      enabled: runsLocally && config.get('Applications.Sandbox'),
      runAs: config.get('Applications.RunAs'),
      processLimit: config.get('Applications.ProcessLimit'),
      networkIsolation: config.get('Applications.NetworkIsolation'),
      hidePaths: [config.file, store.dialect === 'sqlite' ? path.join(dataDir.root, 'db') : undefined].filter((p): p is string => !!p),
      probe: runsLocally,
    }),
  );
  // Isolated content cannot reach Lectern's port: its namespace gets the API channel's port instead.
  const apiChannel = runsLocally && sandbox.isolatesNetwork ? await ApiChannel.open() : null;
  if (apiChannel) opened.push(() => apiChannel.close());
  let launcher: Launcher;
  if (runsContent && options.launcher) {
    launcher = await options.launcher(config);
    opened.push(() => launcher.close());
  } else if (runsOffHost) {
    // Pods run as the RunAs user's ids, like local processes, so files on shared storage agree.
    const identity = await resolveRunAs(config.get('Applications.RunAs'), { create: true });
    launcher = await startupStep(() =>
      startKubernetesLauncher({
        config,
        version: LECTERN_VERSION,
        replica: config.replicaName(),
        runtimeDir: RUNTIME_DIR,
        runAs: { uid: identity.uid, gid: identity.gid },
        prepareWritableDir: (dir) => prepareWritableDir(dir, identity),
        log: (msg) => log(msg),
      }),
    );
    opened.push(() => launcher.close());
  } else {
    launcher = new LocalLauncher(sandbox, { hostPorts: apiChannel ? [apiChannel.port] : [] });
  }
  const uv = runsContent && !offHost ? await findUv(config.get('Python.UvExecutable'), interpreters.of('python')) : config.get('Python.UvExecutable') || null;
  if (runsContent && !offHost && !uv && config.get('Python.PackageManager') === 'uv' && interpreters.of('python').length) {
    logger.warn(
      `uv was not found (not on PATH nor next to ${interpreters
        .of('python')
        .map((p) => p.executable)
        .join(', ')}): Python packages are installed with pip, which is much slower. To use uv: ${UV_HINT}.`,
    );
  }
  const jobs = new Jobs(db, launcher, dataDir, config.replicaName(), sandbox.runAsUser(), new ProcessKeys(db, users));
  const serverUrl = { value: config.get('Server.Address') || `http://127.0.0.1:${config.listenAddress().port}/` };
  const execution = new ContentExecution({
    config,
    dataDir,
    jobs,
    interpreters,
    manifest: (bundle) => bundles.manifest(bundle),
    contentVariables: (contentId) => contentVariables.values(contentId),
    serverUrl: () => serverUrl.value,
    apiChannelUrl: apiChannel?.url ?? null,
    credentialsKey: (guid) => credentials.contentKey(guid),
    uv,
    environments: offHost
      ? {
          async candidates(content) {
            const owner = await users.findById(content.owner_id);
            if (!owner) throw new Error(`the owner of content ${content.guid} no longer exists`);
            return { publisher: `the content's owner ${owner.username}`, environments: await environments.candidates(owner) };
          },
        }
      : undefined,
  });
  const scheduler = new Scheduler({
    config,
    execution,
    jobs,
    loadContent: (id) => db.selectFrom('content').selectAll().where('id', '=', id).executeTakeFirst(),
    loadLiveContent: (ids) =>
      db
        .selectFrom('content')
        .selectAll()
        .where((eb) => eb.or([eb('bundle_id', 'is not', null), ...(ids.length ? [eb('id', 'in', ids)] : [])]))
        .execute(),
    loadBundle: (id) => db.selectFrom('bundles').selectAll().where('id', '=', id).executeTakeFirst(),
    builds: {
      start: async (content, bundle) => (await queue.enqueue('build', { contentId: content.id, bundleId: bundle.id, userId: content.owner_id, params: { activate: true } })).id,
      outcome: async (taskId) => {
        const task = await queue.get(taskId);
        return { finished: task.state === 'finished', error: task.error || undefined };
      },
    },
    // Maintenance commands run no content: their scheduler follows nothing.
    changes: runsContent ? store.changes : undefined,
    events: runsContent ? events : undefined,
    log: (msg) => log(msg),
  });
  const packages = new RestoredPackages(db);
  const runtimeCaches = new RuntimeCaches(db, queue, execution.restoredEnvironments);
  runtimeCaches.register(queue);
  if (runsContent) {
    for (const row of await jobs.reconcile()) if (row.kind === 'run') void scheduler.adopt(row, launcher.wait(row.key));
    await replicas.start();
    await execution.sweep();
    await runtimeCaches.removeRetired();
    const leftovers = await sweepInterruptedUploads(dataDir);
    if (leftovers.length) log(`removed ${leftovers.length} leftover(s) of interrupted uploads`);
  }
  const git = await openGit(config, logger);
  const repositories = new ContentRepositories(db, audit, config.get('Git.PollingFrequency'));
  const gitDeployments = new GitDeployments({ db, git, repositories, bundles, users, queue, pollingFrequencyMs: config.get('Git.PollingFrequency'), log });
  gitDeployments.registerTasks();
  gitDeployments.registerHelperTasks();
  registerDeployTasks(queue, { db, bundles, audit, execution, scheduler, jobs, dataDir, packages, offHost, git: gitDeployments });
  let environmentFile: ExecutionEnvironmentFileSync | null = null;
  if (runsContent) {
    await bootstrapExecutionEnvironments(config.get('Launcher.ClusterDefinition'), environments, audit, log);
    const file = config.get('ExecutionEnvironments.ConfigFilePath');
    if (file) {
      environmentFile = new ExecutionEnvironmentFileSync(path.resolve(file), environments, audit, log, config.get('ExecutionEnvironments.CheckInterval'));
      await environmentFile.start();
    }
  }
  // Maintenance commands serve no content and record nothing.
  const usage = new UsageRecorder(db, {
    enabled: runsContent && config.get('Metrics.Instrumentation'),
    retentionMs: runsContent ? config.get('Metrics.InstrumentationRetention') : 0,
    replica: config.replicaName(),
    log,
  });
  if (runsContent) {
    await usage.start();
    opened.push(() => usage.close());
    queue.start();
    if (git) gitDeployments.start();
    await scheduler.keepWarm();
  }
  return {
    config,
    logger,
    store,
    dataDir,
    secrets,
    credentials,
    users,
    bootstrap,
    userAdministration: new UserAdministration(users, audit),
    groups: new Groups(db, users, audit),
    content: contentService,
    contentPermissions: new ContentPermissions(db, audit),
    contentVariables,
    tags: new Tags(db, contentService, audit),
    vanities: new Vanities(db, contentService, audit),
    search: new ContentSearch(db, contentService),
    contentViews: new ContentViews(db, contentService.access),
    contentManagement: new ContentManagement({ content: contentService, audit, bundles, queue, scheduler, launcher: jobs.launcher, dataDir, environments, execution }),
    deployRequests: new DeployRequests({ bundles, queue, audit, repositories }),
    repositories,
    gitAvailable: git !== null,
    git,
    bundles,
    queue,
    audit,
    oauthIntegrations: new OAuthIntegrations(db, secrets, audit),
    interpreters,
    jobs,
    execution,
    packages,
    runtimeCaches,
    scheduler,
    environments,
    environmentAdministration: new EnvironmentAdministration(db, environments, audit),
    imageSelection: new ImageSelectionReport(bundles, execution),
    environmentFile,
    usage,
    usageReports: new UsageReports(db),
    serverUrl,
    apiChannel,
    async close() {
      environmentFile?.close();
      // Every step runs even when an earlier one fails, so no connection (and no local process) outlives close().
      // Off-host workers are handed over, not stopped: the next replica (this one restarted, or
      // another) adopts them from their job rows, so an upgrade restarts no app. Local ones stop.
      const steps = [
        () => gitDeployments.stop(),
        () => queue.stop(),
        () => replicas.leave(),
        () => scheduler.close({ handOver: launcher.outlivesServer }),
        () => launcher.close(),
        async () => apiChannel?.close(),
        // What the last requests and sessions recorded is written before the database closes.
        () => usage.close(),
        () => events.close(),
        () => store.close(),
      ];
      const failures: unknown[] = [];
      for (const step of steps) await step().catch((err: unknown) => failures.push(err));
      if (failures.length) throw failures[0];
    },
  };
}

/**
 * The git command for git-backed content, or null when [Git] Enabled is off or git cannot be run
 * (logged: Lectern still starts, as content deployed from bundles needs no git).
 */
async function openGit(config: Config, logger: Logger): Promise<Git | null> {
  if (!config.get('Git.Enabled')) return null;
  const executable = config.get('Git.Executable') || 'git';
  const version = await Git.version(executable);
  if (!version) {
    logger.warn(`git was not found (${executable}): git-backed content is off. Install git, or set [Git] Executable.`);
    return null;
  }
  const hosts = config.get('GitCredential.Host');
  const usernames = config.get('GitCredential.Username');
  const passwords = config.get('GitCredential.Password');
  const protocols = config.get('GitCredential.Protocol');
  const credentials: GitCredential[] = hosts.map((host, i) => ({ host, username: usernames[i] ?? '', password: passwords[i] ?? '', protocol: protocols[i] || 'https' }));
  return new Git(executable, { timeoutMs: config.get('Git.FetchTimeout'), maxFetchBytes: config.get('Git.MaxFetchSize'), maxArchiveBytes: config.get('Bundles.MaxUploadSize') }, credentials);
}

/** A start-up check whose own error already names the cause and the fix (one line). */
async function startupStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof KubernetesStartError) throw new StartupError(err.message, null);
    if (err instanceof Error && /^(The content sandbox does not work|Cannot run content): /.test(err.message)) throw new StartupError(err.message, null);
    throw err;
  }
}
