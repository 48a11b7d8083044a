// What restoring a bundle's environment runs: the cache key of a Python environment or R library,
// and the build job that restores it. Pure like the run plan (run-plan.ts): ContentExecution
// decides when a restore is needed and carries it out through the environment cache.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobRequest } from '../jobs/jobs.js';
import type { JobMount, JobResources } from '../launcher/launcher.js';
import type { Installation } from '../runtimes/interpreters.js';
import { sha256Hex } from '../util/ids.js';
import { jobPlacement, restoreMounts, SYSTEM_PATH, type PreparedBundle } from './run-plan.js';
import { RUNTIME_DIR } from './runtime-dir.js';

/** What a Python restore installs, and with what. */
export interface PythonRestore {
  installation: Installation;
  /** The bundle's package file (requirements.txt, or the manifest's), '' for none. */
  packageFile: string;
  /** Its text. */
  requirements: string;
  manager: { name: 'uv' | 'pip'; uv?: string };
  index: string;
  extra: string[];
}

/** Where a restore job writes and reads, and what it may use. */
export interface RestoreContext {
  appDir: string;
  resources: JobResources;
  /** The server's own environment, of which proxy, CA and PIP_/UV_ settings pass through. */
  hostEnv: NodeJS.ProcessEnv;
}

/**
 * The Python environment's key in the cache. The image is part of it (absent locally, so local
 * keys are unchanged): a new image rebuilds. The owner is part of it: a restore runs the bundle's
 * build-time code (and the installer reads configuration from the bundle), so an environment is
 * only ever reused by the owner whose code built it.
 */
export function pythonEnvironmentKey(prepared: PreparedBundle, restore: PythonRestore): string {
  return sha256Hex(
    JSON.stringify({
      v: 1,
      owner: prepared.content.owner_id,
      python: restore.installation.version,
      exe: restore.installation.executable,
      image: prepared.environment?.name,
      mode: prepared.manifest.appMode,
      manager: restore.manager.name,
      index: restore.index,
      extra: restore.extra,
      requirements: normalizeRequirements(restore.requirements),
    }),
  ).slice(0, 24);
}

/** The build job that restores the Python environment into `envDir`, with downloads cached in `cacheDir`. */
export function pythonRestoreJob(prepared: PreparedBundle, restore: PythonRestore, context: RestoreContext & { envDir: string; workDir: string; cacheDir: string }): JobRequest {
  const { manager } = restore;
  const env: Record<string, string> = {
    ...installerEnvironment(context.hostEnv),
    PATH: SYSTEM_PATH,
    LECTERN_APP_MODE: prepared.manifest.appMode,
    LECTERN_APP_DIR: context.appDir,
    LECTERN_ENV_DIR: context.envDir,
    LECTERN_PACKAGE_FILE: restore.packageFile,
    LECTERN_PACKAGE_MANAGER: manager.name,
    UV_CACHE_DIR: path.join(context.cacheDir, 'uv'),
    PIP_CACHE_DIR: path.join(context.cacheDir, 'pip'),
    PYTHONDONTWRITEBYTECODE: '1',
  };
  if (manager.uv) env.LECTERN_UV = manager.uv;
  if (restore.index) env.LECTERN_INDEX_URL = restore.index;
  if (restore.extra.length) env.LECTERN_EXTRA_INDEX_URLS = restore.extra.join(' ');
  const mounts: JobMount[] = [...restoreMounts(context.appDir, restore.installation), { path: context.workDir, readOnly: false }, { path: context.cacheDir, readOnly: false }];
  if (manager.uv) mounts.push({ path: path.dirname(manager.uv), readOnly: true });
  return buildJob(prepared, 'python_restore', [restore.installation.executable, path.join(RUNTIME_DIR, 'python', 'lectern_restore.py')], env, mounts, context);
}

/** The R library's key; the owner is part of it, as for Python: R's start-up reads a .Rprofile in the bundle's directory. */
export function rLibraryKey(prepared: PreparedBundle, installation: Installation, repos: string[]): string {
  return sha256Hex(JSON.stringify({ v: 1, owner: prepared.content.owner_id, r: installation.version, image: prepared.environment?.name, packages: prepared.manifest.packages, repos })).slice(0, 24);
}

/** The build job that installs the manifest's R packages into `library`. */
export function rRestoreJob(prepared: PreparedBundle, installation: Installation, repos: string[], context: RestoreContext & { library: string; workDir: string }): JobRequest {
  const env: Record<string, string> = {
    ...installerEnvironment(context.hostEnv),
    PATH: SYSTEM_PATH,
    LECTERN_APP_MODE: prepared.manifest.appMode,
    LECTERN_APP_DIR: context.appDir,
    LECTERN_MANIFEST: path.join(context.appDir, 'manifest.json'),
    LECTERN_R_LIBRARY: context.library,
    LECTERN_R_REPOS: repos.join(' '),
    LANG: 'C.UTF-8',
  };
  // file:// repositories (an administrator's local mirror) must be visible inside the sandbox.
  const localRepos = repos.filter((r) => r.startsWith('file://')).map((r) => ({ path: fileURLToPath(r), readOnly: true }));
  const mounts: JobMount[] = [...restoreMounts(context.appDir, installation), { path: context.workDir, readOnly: false }, ...localRepos];
  return buildJob(prepared, 'packrat_restore', [installation.executable, path.join(RUNTIME_DIR, 'R', 'restore.R')], env, mounts, context);
}

function buildJob(prepared: PreparedBundle, tag: 'python_restore' | 'packrat_restore', command: string[], env: Record<string, string>, mounts: JobMount[], context: RestoreContext): JobRequest {
  const { content, bundle } = prepared;
  return {
    kind: 'build',
    tag,
    contentId: content.id,
    contentGuid: content.guid,
    bundleId: bundle.id,
    command,
    cwd: context.appDir,
    env,
    mounts,
    resources: context.resources,
    listen: false,
    ...jobPlacement(prepared),
  };
}

/**
 * Restores reach package indexes the way the server does: its proxy and CA settings and any
 * PIP_ / UV_ configuration pass through. uv uses the system trust store (like pip with the
 * distribution's certificates), so a company CA in /etc/ssl works for both.
 */
export function installerEnvironment(hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const pass = /^(https?_proxy|no_proxy|all_proxy|ssl_cert_file|ssl_cert_dir|requests_ca_bundle|curl_ca_bundle|pip_.+|uv_.+)$/i;
  const env: Record<string, string> = { UV_NATIVE_TLS: '1' };
  for (const [name, value] of Object.entries(hostEnv)) if (value !== undefined && pass.test(name)) env[name] = value;
  return env;
}

/** Requirements without comments and blank lines: reformatting a file does not rebuild its environment. */
export function normalizeRequirements(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .join('\n');
}
