import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleFileError, MAX_PACKAGE_FILE_BYTES, readBundleFile } from '../bundles/bundle-files.js';
import type { Manifest } from '../bundles/manifest.js';
import type { Config } from '../config/config.js';
import type { Bundle, Content } from '../db/schema.js';
import type { JobRequest, Jobs } from '../jobs/jobs.js';
import { selectEnvironment, type CandidateEnvironment, type SelectedRuntime, type Selection } from '../execution-environments/selection.js';
import type { JobMount, JobResources, LogLine } from '../launcher/launcher.js';
import { type Installation, type Interpreters, InterpreterError, type RuntimeKind, type VersionMatching } from '../runtimes/interpreters.js';
import type { DataDir } from '../storage/data-dir.js';
import { sha256Hex } from '../util/ids.js';
import { EnvironmentCache } from './restored-environments.js';
import { RUNTIME_DIR } from './runtime-dir.js';
import { runnerFor, type ModeRunner } from './runners.js';

/** A failure to show the publisher as the task's error (the deploy fails, the live version stays). */
export class ExecutionError extends Error {
  constructor(message: string, readonly code = 0) {
    super(message);
  }
}

/** A worker's environment (Python venv or R library) is not on this server, so it must be built first. */
export class EnvironmentMissing extends ExecutionError {}

/** What a bundle needs to run: interpreters, restored environments, and the runner. */
export interface PreparedBundle {
  content: Content;
  bundle: Bundle;
  manifest: Manifest;
  runner: ModeRunner;
  python?: { installation: Installation; executable: string; envDir?: string };
  r?: { installation: Installation; library?: string };
  quarto?: Installation;
  /** Off-host: the execution environment (image) every job of this bundle runs in. */
  environment?: { guid: string; name: string; installations: Partial<Record<SelectedRuntime, { version: string; path: string }>> };
}

/** Off-host: the environments image selection chooses from, as the content's owner may use them. */
export interface EnvironmentCatalogue {
  candidates(content: Content): Promise<{ publisher: string; environments: CandidateEnvironment[] }>;
}

export interface ExecutionDeps {
  config: Config;
  dataDir: DataDir;
  jobs: Jobs;
  interpreters: Interpreters;
  manifest(bundle: Bundle): Manifest;
  contentVariables(contentId: number): Promise<Record<string, string>>;
  /** Public URL of the server, for CONNECT_SERVER. */
  serverUrl(): string;
  /**
   * When content runs in its own network namespace: the API channel's URL (src/http/api-channel.ts),
   * CONNECT_SERVER instead of the public URL, which may lead back into the namespace. Else null.
   */
  apiChannelUrl: string | null;
  /** The key content verifies its RStudio-Connect-Credentials header with (LECTERN_CREDENTIALS_KEY). */
  credentialsKey(contentGuid: string): string;
  /** Set in off-host mode ([Launcher] Enabled and Kubernetes): jobs run in selected images. */
  environments?: EnvironmentCatalogue;
  /** The uv binary found at start-up (src/runtimes/uv.ts); null = restores use pip. */
  uv: string | null;
}

const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Turns (content, bundle) into the jobs that restore, render and run it. The same JobRequests go
 * to either launcher backend; nothing here knows how a process is started.
 */
export class ContentExecution {
  private readonly pythonEnvs: EnvironmentCache;
  private readonly rLibraries: EnvironmentCache;

  constructor(private readonly deps: ExecutionDeps) {
    this.pythonEnvs = new EnvironmentCache(path.join(deps.dataDir.root, 'envs', 'python'));
    this.rLibraries = new EnvironmentCache(path.join(deps.dataDir.root, 'envs', 'r'));
  }

  /** Off-host mode: jobs run in execution environments (images) chosen per content. */
  get offHost(): boolean {
    return this.deps.environments !== undefined;
  }

  async sweep() {
    await mkdir(path.join(this.deps.dataDir.root, 'envs', 'cache'), { recursive: true });
    await this.pythonEnvs.sweep();
    await this.rLibraries.sweep();
  }

  /**
   * Resolves interpreters and restores environments. With `build: false` (starting a worker) a
   * missing environment is EnvironmentMissing instead of a restore.
   */
  async prepare(
    content: Content,
    bundle: Bundle,
    options: {
      build: boolean;
      /**
       * Off-host: choose the image afresh (a deploy). Otherwise the live bundle keeps the image
       * recorded on the content, so later environment edits never move running content unasked.
       */
      select?: boolean;
      /** Off-host: the image a worker generation was started in. */
      image?: string | null;
      taskId?: string;
      log?: (line: string) => Promise<void>;
    },
  ): Promise<PreparedBundle> {
    const log = options.log ?? (async () => undefined);
    const manifest = this.deps.manifest(bundle);
    const runner = runnerFor(manifest);
    if (!runner) throw new ExecutionError(`Lectern cannot run ${manifest.appMode} content.`, 109);
    const prepared: PreparedBundle = { content, bundle, manifest, runner };
    if (this.deps.environments && runner.serve !== 'static') {
      const pinned = options.image ?? (!options.select && bundle.id === content.bundle_id ? content.image_name : null);
      const selection = await this.selectImage(content, bundle, pinned ?? undefined);
      if (!selection.ok) throw new ExecutionError(selection.error);
      const { environment, installations } = selection;
      prepared.environment = { guid: environment.guid, name: environment.name, installations };
      await log(`Execution environment: ${environment.name} (${pinned ? 'the image this content was deployed in' : selection.reason}).`);
    }
    const management = manifest.environment.environmentManagement;
    const usesPythonScript = runner.script?.startsWith('python/') ?? false;

    if (runner.needs.python || usesPythonScript) {
      const installation = await this.pick('python', manifest.python?.version, runner.needs.python, prepared);
      prepared.python = { installation, executable: installation.executable };
      const managed = runner.needs.python && management.python !== false && content.py_environment_management !== 0;
      if (runner.needs.python && !managed) await log('Environment management is off: using the interpreter\'s own packages.');
      if (managed) {
        const envDir = await this.pythonEnvironment(prepared, installation, options, log);
        prepared.python.envDir = envDir;
        prepared.python.executable = path.join(envDir, 'bin', 'python');
      }
    }
    if (runner.needs.r) {
      const installation = await this.pick('r', manifest.r?.version, true, prepared);
      prepared.r = { installation };
      const managed = management.r !== false && content.r_environment_management !== 0;
      if (managed && manifest.packages && Object.keys(manifest.packages).length > 0) {
        prepared.r.library = await this.rLibrary(prepared, installation, options, log);
      }
    }
    if (runner.needs.quarto) prepared.quarto = await this.pick('quarto', manifest.quarto?.version, true, prepared);
    return prepared;
  }

  /**
   * Off-host image selection for a bundle (also the explain endpoint's answer). `pinned` names the
   * image to use (the one recorded on the content); it must still exist and fit the bundle.
   */
  async selectImage(content: Content, bundle: Bundle, pinned?: string): Promise<Selection> {
    if (!this.deps.environments) throw new Error('image selection is only used in off-host mode');
    const manifest = this.deps.manifest(bundle);
    const runner = runnerFor(manifest);
    const wants: Partial<Record<SelectedRuntime, string | undefined>> = {};
    if (runner?.needs.python || runner?.script?.startsWith('python/')) wants.python = runner.needs.python ? manifest.python?.version : undefined;
    if (runner?.needs.r) wants.r = manifest.r?.version;
    if (runner?.needs.quarto) wants.quarto = manifest.quarto?.version;
    const { publisher, environments } = await this.deps.environments.candidates(content);
    return selectEnvironment({
      deployedImage: pinned,
      manifestImage: manifest.environment.image,
      defaultImageName: content.default_image_name,
      wants,
      matching: { python: this.matching('python'), r: this.matching('r'), quarto: this.matching('quarto') },
      // A pinned image was allowed when the content was deployed; a later restriction does not stop it.
      environments: pinned ? environments.map((e) => ({ ...e, usable: true })) : environments,
      publisher,
    });
  }

  private matching(kind: RuntimeKind): VersionMatching {
    return (kind === 'python' ? this.deps.config.get('Python.VersionMatching') : kind === 'r' ? this.deps.config.get('R.VersionMatching') : 'nearest') as VersionMatching;
  }

  private async pick(kind: 'python' | 'r' | 'quarto', requested: string | undefined, strict: boolean, prepared?: PreparedBundle): Promise<Installation> {
    if (prepared?.environment) {
      const chosen = prepared.environment.installations[kind];
      if (!chosen) throw new ExecutionError(`The execution environment ${prepared.environment.name} has no ${kind} installation.`);
      return imageInstallation(kind, chosen);
    }
    try {
      return await this.deps.interpreters.find(kind, strict ? requested : undefined, this.matching(kind));
    } catch (err) {
      if (err instanceof InterpreterError) throw new ExecutionError(err.message);
      throw err;
    }
  }

  private async pythonEnvironment(
    prepared: PreparedBundle,
    installation: Installation,
    options: { build: boolean; taskId?: string },
    log: (line: string) => Promise<void>,
  ): Promise<string> {
    const { manifest, bundle } = prepared;
    const appDir = this.deps.dataDir.appDir(bundle.content_id, bundle.id);
    const packageFile = manifest.python?.packageManager?.packageFile ?? (manifest.files.includes('requirements.txt') ? 'requirements.txt' : '');
    let requirements = '';
    try {
      if (packageFile) requirements = await readBundleFile(appDir, packageFile, MAX_PACKAGE_FILE_BYTES);
    } catch (err) {
      if (err instanceof BundleFileError) throw new ExecutionError(`The bundle names ${packageFile} as its package file, but ${err.message}.`);
      throw err;
    }
    const manager = this.packageManager(manifest);
    const index = this.deps.config.get('Python.PackageIndex');
    const extra = this.deps.config.get('Python.ExtraIndex');
    const key = sha256Hex(
      // The image is part of the key (absent locally, so local keys are unchanged): a new image rebuilds.
      // The owner is part of the key: a restore runs the bundle's build-time code (and the
      // installer reads configuration from the bundle), so an environment is only ever reused by
      // the owner whose code built it.
      JSON.stringify({
        v: 1,
        owner: prepared.content.owner_id,
        python: installation.version,
        exe: installation.executable,
        image: prepared.environment?.name,
        mode: manifest.appMode,
        manager: manager.name,
        index,
        extra,
        requirements: normalizeRequirements(requirements),
      }),
    ).slice(0, 24);
    if (!options.build) {
      if (await this.pythonEnvs.isReady(key)) return this.pythonEnvs.dir(key);
      throw new EnvironmentMissing('The Python environment of this bundle is missing from this server.');
    }
    const { dir, reused } = await this.pythonEnvs.ensure(key, async (workDir, entry) => {
      await log(`Restoring the Python ${installation.version} environment with ${manager.name}${packageFile ? ` from ${packageFile}` : ''}`);
      const cacheDir = this.packageCacheDir(prepared.content);
      await mkdir(cacheDir, { recursive: true });
      const env: Record<string, string> = {
        ...installerEnvironment(),
        PATH: SYSTEM_PATH,
        LECTERN_APP_MODE: manifest.appMode,
        LECTERN_APP_DIR: appDir,
        LECTERN_ENV_DIR: path.join(workDir, entry),
        LECTERN_PACKAGE_FILE: packageFile,
        LECTERN_PACKAGE_MANAGER: manager.name,
        UV_CACHE_DIR: path.join(cacheDir, 'uv'),
        PIP_CACHE_DIR: path.join(cacheDir, 'pip'),
        PYTHONDONTWRITEBYTECODE: '1',
      };
      if (manager.uv) env.LECTERN_UV = manager.uv;
      if (index) env.LECTERN_INDEX_URL = index;
      if (extra.length) env.LECTERN_EXTRA_INDEX_URLS = extra.join(' ');
      const mounts: JobMount[] = [
        ...this.baseMounts(prepared, installation),
        { path: workDir, readOnly: false },
        { path: cacheDir, readOnly: false },
      ];
      if (manager.uv) mounts.push({ path: path.dirname(manager.uv), readOnly: true });
      await this.runBuild(prepared, 'python_restore', [installation.executable, path.join(RUNTIME_DIR, 'python', 'lectern_restore.py')], env, mounts, options, log);
    });
    await log(reused ? `Reusing the cached Python environment ${key}.` : `Python environment ${key} is ready.`);
    return dir;
  }

  /**
   * The download cache of the content owner's restores (uv's and pip's). Build-time code runs
   * with it writable, so each owner has their own: nothing one owner's bundle writes there reaches
   * another owner's restores, and the sandbox exposes no other owner's directory. Keyed by the
   * owner's id, which is never reused (users are locked, not deleted): share a configured
   * PackageCacheDir only between servers on one database.
   */
  private packageCacheDir(content: Content): string {
    const root = this.deps.config.get('Python.PackageCacheDir') || path.join(this.deps.dataDir.root, 'envs', 'cache');
    return path.join(root, `owner-${content.owner_id}`);
  }

  private packageManager(manifest: Manifest): { name: 'uv' | 'pip'; uv?: string } {
    const wanted = this.deps.config.get('Python.PackageManager');
    const allowUv = manifest.python?.packageManager?.allowUv !== false;
    const uv = this.deps.uv;
    if (wanted === 'uv' && allowUv && uv) return { name: 'uv', uv };
    return { name: 'pip' };
  }

  private async rLibrary(
    prepared: PreparedBundle,
    installation: Installation,
    options: { build: boolean; taskId?: string },
    log: (line: string) => Promise<void>,
  ): Promise<string> {
    const { manifest, bundle } = prepared;
    const repos = this.deps.config.get('R.Repository');
    // The owner is part of the key, as for Python: R's start-up reads a .Rprofile in the bundle's directory.
    const key = sha256Hex(JSON.stringify({ v: 1, owner: prepared.content.owner_id, r: installation.version, image: prepared.environment?.name, packages: manifest.packages, repos })).slice(0, 24);
    if (!options.build) {
      if (await this.rLibraries.isReady(key)) return this.rLibraries.dir(key);
      throw new EnvironmentMissing('The R library of this bundle is missing from this server.');
    }
    const { dir, reused } = await this.rLibraries.ensure(key, async (workDir, entry) => {
      await log(`Restoring R ${installation.version} packages`);
      const library = path.join(workDir, entry);
      await mkdir(library, { recursive: true });
      const appDir = this.deps.dataDir.appDir(bundle.content_id, bundle.id);
      const env: Record<string, string> = {
        ...installerEnvironment(),
        PATH: SYSTEM_PATH,
        LECTERN_APP_MODE: manifest.appMode,
        LECTERN_APP_DIR: appDir,
        LECTERN_MANIFEST: path.join(appDir, 'manifest.json'),
        LECTERN_R_LIBRARY: library,
        LECTERN_R_REPOS: repos.join(' '),
        LANG: 'C.UTF-8',
      };
      // file:// repositories (an administrator's local mirror) must be visible inside the sandbox.
      const localRepos = repos.filter((r) => r.startsWith('file://')).map((r) => ({ path: fileURLToPath(r), readOnly: true }));
      const mounts: JobMount[] = [...this.baseMounts(prepared, installation), { path: workDir, readOnly: false }, ...localRepos];
      await this.runBuild(prepared, 'packrat_restore', [installation.executable, path.join(RUNTIME_DIR, 'R', 'restore.R')], env, mounts, options, log);
    });
    await log(reused ? `Reusing the cached R library ${key}.` : `R library ${key} is ready.`);
    return dir;
  }

  private async runBuild(
    prepared: PreparedBundle,
    tag: 'python_restore' | 'packrat_restore',
    command: string[],
    env: Record<string, string>,
    mounts: JobMount[],
    options: { taskId?: string },
    log: (line: string) => Promise<void>,
  ) {
    const { content, bundle } = prepared;
    const result = await this.deps.jobs.runToCompletion(
      {
        kind: 'build',
        tag,
        contentId: content.id,
        contentGuid: content.guid,
        bundleId: bundle.id,
        command,
        cwd: this.deps.dataDir.appDir(bundle.content_id, bundle.id),
        env,
        mounts,
        resources: this.resources(content),
        listen: false,
        ...this.placement(prepared),
      },
      (line: LogLine) => log(line.data),
      { taskId: options.taskId },
    );
    if (result.state !== 'succeeded') {
      throw new ExecutionError(`Restoring the environment failed (${result.reason ?? `exit code ${result.exitCode}`}). The output above has the installer's message.`);
    }
  }

  /** The request for one worker of an interactive bundle. */
  async runRequest(prepared: PreparedBundle, basePath: string): Promise<JobRequest> {
    const runner = prepared.runner;
    if (runner.serve !== 'run' || !runner.tag || !runner.script) throw new Error(`${prepared.manifest.appMode} content has no worker process`);
    return {
      ...(await this.jobBase(prepared, runner.script)),
      kind: 'run',
      tag: runner.tag,
      listen: true,
      env: { ...(await this.contentEnv(prepared, runner.script)), LECTERN_BASE_PATH: basePath },
    };
  }

  /** The request for rendering a bundle into `outputDir`. */
  async renderRequest(prepared: PreparedBundle, outputDir: string, extraEnv: Record<string, string>): Promise<JobRequest> {
    const runner = prepared.runner;
    if (runner.serve !== 'render' || !runner.tag || !runner.script) throw new Error(`${prepared.manifest.appMode} content is not rendered`);
    const base = await this.jobBase(prepared, runner.script);
    const env: Record<string, string> = { ...(await this.contentEnv(prepared, runner.script)), ...extraEnv, LECTERN_OUTPUT_DIR: outputDir };
    if (prepared.manifest.jupyter.hideAllInput) env.LECTERN_HIDE_ALL_INPUT = '1';
    if (prepared.manifest.jupyter.hideTaggedInput) env.LECTERN_HIDE_TAGGED_INPUT = '1';
    return { ...base, kind: 'render', tag: runner.tag, listen: false, env, mounts: [...base.mounts, { path: outputDir, readOnly: false }] };
  }

  /** Read-only paths every job of this bundle needs: the interpreter, the runtime, the bundle. */
  private baseMounts(prepared: PreparedBundle, installation: Installation): JobMount[] {
    const { bundle } = prepared;
    return [
      ...installation.prefixes.map((p) => ({ path: p, readOnly: true })),
      { path: RUNTIME_DIR, readOnly: true },
      { path: this.deps.dataDir.appDir(bundle.content_id, bundle.id), readOnly: true },
    ];
  }

  private async jobBase(prepared: PreparedBundle, script: string) {
    const { content, bundle } = prepared;
    const isPython = script.startsWith('python/');
    const interpreter = isPython ? prepared.python!.executable : prepared.r!.installation.executable;
    const mounts: JobMount[] = [];
    for (const inst of [prepared.python?.installation, prepared.r?.installation, prepared.quarto]) if (inst) mounts.push(...inst.prefixes.map((p) => ({ path: p, readOnly: true })));
    mounts.push({ path: RUNTIME_DIR, readOnly: true }, { path: this.deps.dataDir.appDir(bundle.content_id, bundle.id), readOnly: true });
    if (prepared.python?.envDir) mounts.push({ path: prepared.python.envDir, readOnly: true });
    if (prepared.r?.library) mounts.push({ path: prepared.r.library, readOnly: true });
    return {
      contentId: content.id,
      contentGuid: content.guid,
      bundleId: bundle.id,
      command: [interpreter, path.join(RUNTIME_DIR, script)],
      cwd: this.deps.dataDir.appDir(bundle.content_id, bundle.id),
      mounts: dedupeMounts(mounts),
      resources: this.resources(content),
      ...this.placement(prepared),
    };
  }

  /** Off-host: the image the job runs in and its service account (content's; else the backend's default). */
  private placement(prepared: PreparedBundle): { image?: string; serviceAccount?: string } {
    if (!prepared.environment) return {};
    const serviceAccount = prepared.content.service_account_name || undefined;
    return serviceAccount ? { image: prepared.environment.name, serviceAccount } : { image: prepared.environment.name };
  }

  /** What content sees: its own variables, then Lectern's, which it cannot override. */
  private async contentEnv(prepared: PreparedBundle, script: string): Promise<Record<string, string>> {
    const { content, bundle, manifest } = prepared;
    const appDir = this.deps.dataDir.appDir(bundle.content_id, bundle.id);
    const own = await this.deps.contentVariables(content.id);
    const binDirs = [prepared.python?.envDir ? path.join(prepared.python.envDir, 'bin') : undefined, prepared.quarto ? path.dirname(prepared.quarto.executable) : undefined];
    const env: Record<string, string> = {
      LANG: 'C.UTF-8',
      ...own,
      PATH: [...binDirs.filter(Boolean), SYSTEM_PATH].join(':'),
      // Connect gives content its public address; isolated content may not reach that (it can lead
      // back into its own namespace) and gets the API channel. Pages still link to the public one.
      CONNECT_SERVER: this.deps.apiChannelUrl ?? this.deps.serverUrl(),
      LECTERN_SERVER_ADDRESS: this.deps.serverUrl(),
      CONNECT_CONTENT_GUID: content.guid,
      LECTERN_CREDENTIALS_KEY: this.deps.credentialsKey(content.guid),
      RSTUDIO_PRODUCT: 'CONNECT',
      R_CONFIG_ACTIVE: own.R_CONFIG_ACTIVE ?? 'rsconnect',
      LECTERN_APP_MODE: manifest.appMode,
      LECTERN_APP_DIR: appDir,
      LECTERN_MANIFEST: path.join(appDir, 'manifest.json'),
      LECTERN_ENTRYPOINT: manifest.entrypoint ?? '',
      LECTERN_PRIMARY_DOC: manifest.primaryRmd ?? manifest.primaryHtml ?? '',
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    };
    if (prepared.python) env.QUARTO_PYTHON = prepared.python.executable;
    if (prepared.quarto) env.LECTERN_QUARTO = prepared.quarto.executable;
    if (prepared.r) {
      env.R_LIBS = prepared.r.library ?? '';
      env.QUARTO_R = path.dirname(prepared.r.installation.executable);
    }
    void script;
    return env;
  }

  private resources(content: Content): JobResources {
    const c = this.deps.config;
    // Content values over a cap lowered since they were set are held to the cap.
    const capped = (value: number | null, fallback: number, cap: number) => {
      const v = value ?? fallback;
      return cap > 0 && v > cap ? cap : v;
    };
    const memory = capped(content.memory_limit, c.get('Scheduler.MemoryLimit'), c.get('Scheduler.MaxMemoryLimit'));
    const local: JobResources = { memoryLimitBytes: memory > 0 ? memory : undefined, maxProcesses: c.get('Applications.ProcessLimit') };
    if (!this.deps.environments) return local;
    const positive = (n: number) => (n > 0 ? n : undefined);
    return {
      ...local,
      memoryRequestBytes: positive(capped(content.memory_request, c.get('Scheduler.MemoryRequest'), c.get('Scheduler.MaxMemoryRequest'))),
      cpuRequest: positive(capped(content.cpu_request, c.get('Scheduler.CPURequest'), c.get('Scheduler.MaxCPURequest'))),
      cpuLimit: positive(capped(content.cpu_limit, c.get('Scheduler.CPULimit'), c.get('Scheduler.MaxCPULimit'))),
      // A GPU maximum of 0 means GPUs cannot be had, so the cap applies even at 0.
      nvidiaGpuLimit: positive(Math.min(content.nvidia_gpu_limit ?? c.get('Scheduler.NvidiaGPULimit'), c.get('Scheduler.MaxNvidiaGPULimit'))),
      amdGpuLimit: positive(Math.min(content.amd_gpu_limit ?? c.get('Scheduler.AMDGPULimit'), c.get('Scheduler.MaxAMDGPULimit'))),
    };
  }
}

/**
 * Restores reach package indexes the way the server does: its proxy and CA settings and any
 * PIP_ / UV_ configuration pass through. uv uses the system trust store (like pip with the
 * distribution's certificates), so a company CA in /etc/ssl works for both.
 */
function installerEnvironment(): Record<string, string> {
  const pass = /^(https?_proxy|no_proxy|all_proxy|ssl_cert_file|ssl_cert_dir|requests_ca_bundle|curl_ca_bundle|pip_.+|uv_.+)$/i;
  const env: Record<string, string> = { UV_NATIVE_TLS: '1' };
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && pass.test(name)) env[name] = value;
  return env;
}

/** An interpreter inside an image, as registered; jobs run R scripts with the Rscript beside R. */
function imageInstallation(kind: RuntimeKind, registered: { version: string; path: string }): Installation {
  const executable = kind === 'r' && path.posix.basename(registered.path) === 'R' ? path.posix.join(path.posix.dirname(registered.path), 'Rscript') : registered.path;
  // Nothing to expose from the server: the interpreter lives in the image.
  return { kind, version: registered.version, executable, configured: registered.path, prefixes: [] };
}

function normalizeRequirements(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .join('\n');
}

function dedupeMounts(mounts: JobMount[]): JobMount[] {
  const seen = new Map<string, JobMount>();
  for (const m of mounts) {
    const prior = seen.get(m.path);
    if (!prior || (prior.readOnly && !m.readOnly)) seen.set(m.path, m);
  }
  return [...seen.values()];
}
