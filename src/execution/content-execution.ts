import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BundleFileError, MAX_PACKAGE_FILE_BYTES, readBundleFile } from '../bundles/bundle-files.js';
import type { Manifest } from '../bundles/manifest.js';
import type { Config } from '../config/config.js';
import type { Bundle, Content } from '../db/schema.js';
import type { JobRequest, Jobs } from '../jobs/jobs.js';
import { selectEnvironment, type CandidateEnvironment, type SelectedRuntime, type Selection } from '../execution-environments/selection.js';
import type { LogLine } from '../launcher/launcher.js';
import { type Installation, type Interpreters, InterpreterError, type RuntimeKind, type VersionMatching } from '../runtimes/interpreters.js';
import type { DataDir } from '../storage/data-dir.js';
import { EnvironmentCache } from './restored-environments.js';
import { pythonEnvironmentKey, pythonRestoreJob, rLibraryKey, rRestoreJob, type PythonRestore } from './restore-plan.js';
import { jobResources, renderJob, workerJob, type PlanContext, type PreparedBundle } from './run-plan.js';
import { runnerFor } from './runners.js';

export type { PreparedBundle } from './run-plan.js';

/** A failure to show the publisher as the task's error (the deploy fails, the live version stays). */
export class ExecutionError extends Error {
  constructor(
    message: string,
    readonly code = 0,
  ) {
    super(message);
  }
}

/** A worker's environment (Python venv or R library) is not on this server, so it must be built first. */
export class EnvironmentMissing extends ExecutionError {}

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

/**
 * Carries a bundle's run plan out: chooses its image (off-host) and interpreters, restores its
 * environments through `build` jobs (once per cache key), and hands out the worker and render
 * jobs the run plan (run-plan.ts) describes. The same JobRequests go to either launcher backend;
 * nothing here knows how a process is started.
 */
export class ContentExecution {
  private readonly pythonEnvs: EnvironmentCache;
  private readonly rLibraries: EnvironmentCache;

  constructor(private readonly deps: ExecutionDeps) {
    this.pythonEnvs = new EnvironmentCache(path.join(deps.dataDir.root, 'envs', 'python'));
    this.rLibraries = new EnvironmentCache(path.join(deps.dataDir.root, 'envs', 'r'));
  }

  /** The caches of restored environments, for the runtime caches (src/execution/runtime-caches.ts). */
  get restoredEnvironments(): { python: EnvironmentCache; r: EnvironmentCache } {
    return { python: this.pythonEnvs, r: this.rLibraries };
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
      if (runner.needs.python && !managed) await log("Environment management is off: using the interpreter's own packages.");
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

  private async pythonEnvironment(prepared: PreparedBundle, installation: Installation, options: { build: boolean; taskId?: string }, log: (line: string) => Promise<void>): Promise<string> {
    const { manifest } = prepared;
    const appDir = this.appDir(prepared);
    const packageFile = manifest.python?.packageManager?.packageFile ?? (manifest.files.includes('requirements.txt') ? 'requirements.txt' : '');
    let requirements = '';
    try {
      if (packageFile) requirements = await readBundleFile(appDir, packageFile, MAX_PACKAGE_FILE_BYTES);
    } catch (err) {
      if (err instanceof BundleFileError) throw new ExecutionError(`The bundle names ${packageFile} as its package file, but ${err.message}.`);
      throw err;
    }
    const restore: PythonRestore = {
      installation,
      packageFile,
      requirements,
      manager: this.packageManager(manifest),
      index: this.deps.config.get('Python.PackageIndex'),
      extra: this.deps.config.get('Python.ExtraIndex'),
    };
    const key = pythonEnvironmentKey(prepared, restore);
    if (!options.build) {
      if (await this.pythonEnvs.isReady(key)) return this.pythonEnvs.dir(key);
      throw new EnvironmentMissing('The Python environment of this bundle is missing from this server.');
    }
    const { dir, reused } = await this.pythonEnvs.ensure(key, { version: installation.version, image: prepared.environment?.name ?? null }, async (workDir, entry) => {
      await log(`Restoring the Python ${installation.version} environment with ${restore.manager.name}${packageFile ? ` from ${packageFile}` : ''}`);
      const cacheDir = this.packageCacheDir(prepared.content);
      await mkdir(cacheDir, { recursive: true });
      const job = pythonRestoreJob(prepared, restore, { ...this.restoreContext(prepared), envDir: path.join(workDir, entry), workDir, cacheDir });
      await this.runRestore(job, options, log);
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

  private async rLibrary(prepared: PreparedBundle, installation: Installation, options: { build: boolean; taskId?: string }, log: (line: string) => Promise<void>): Promise<string> {
    const repos = this.deps.config.get('R.Repository');
    const key = rLibraryKey(prepared, installation, repos);
    if (!options.build) {
      if (await this.rLibraries.isReady(key)) return this.rLibraries.dir(key);
      throw new EnvironmentMissing('The R library of this bundle is missing from this server.');
    }
    const { dir, reused } = await this.rLibraries.ensure(key, { version: installation.version, image: prepared.environment?.name ?? null }, async (workDir, entry) => {
      await log(`Restoring R ${installation.version} packages`);
      const library = path.join(workDir, entry);
      await mkdir(library, { recursive: true });
      const job = rRestoreJob(prepared, installation, repos, { ...this.restoreContext(prepared), library, workDir });
      await this.runRestore(job, options, log);
    });
    await log(reused ? `Reusing the cached R library ${key}.` : `R library ${key} is ready.`);
    return dir;
  }

  /** Runs a restore job to its end, its output going to the task's log. */
  private async runRestore(job: JobRequest, options: { taskId?: string }, log: (line: string) => Promise<void>) {
    const result = await this.deps.jobs.runToCompletion(job, (line: LogLine) => log(line.data), { taskId: options.taskId });
    if (result.state !== 'succeeded') {
      throw new ExecutionError(`Restoring the environment failed (${result.reason ?? `exit code ${result.exitCode}`}). The output above has the installer's message.`);
    }
  }

  /** The request for one worker of an interactive bundle. */
  async runRequest(prepared: PreparedBundle, basePath: string): Promise<JobRequest> {
    return workerJob(prepared, await this.planContext(prepared), basePath);
  }

  /** The request for rendering a bundle into `outputDir`. */
  async renderRequest(prepared: PreparedBundle, outputDir: string): Promise<JobRequest> {
    return renderJob(prepared, await this.planContext(prepared), outputDir);
  }

  private appDir(prepared: PreparedBundle): string {
    return this.deps.dataDir.appDir(prepared.bundle.content_id, prepared.bundle.id);
  }

  private restoreContext(prepared: PreparedBundle) {
    return { appDir: this.appDir(prepared), resources: jobResources(prepared.content, this.deps.config, this.offHost), hostEnv: process.env };
  }

  /** What the run plan takes from this server: the content's variables, addresses and limits. */
  private async planContext(prepared: PreparedBundle): Promise<PlanContext> {
    const { content } = prepared;
    return {
      appDir: this.appDir(prepared),
      variables: await this.deps.contentVariables(content.id),
      serverUrl: this.deps.serverUrl(),
      apiChannelUrl: this.deps.apiChannelUrl,
      credentialsKey: this.deps.credentialsKey(content.guid),
      resources: jobResources(content, this.deps.config, this.offHost),
    };
  }
}

/** An interpreter inside an image, as registered; jobs run R scripts with the Rscript beside R. */
function imageInstallation(kind: RuntimeKind, registered: { version: string; path: string }): Installation {
  const executable = kind === 'r' && path.posix.basename(registered.path) === 'R' ? path.posix.join(path.posix.dirname(registered.path), 'Rscript') : registered.path;
  // Nothing to expose from the server: the interpreter lives in the image.
  return { kind, version: registered.version, executable, configured: registered.path, prefixes: [] };
}
