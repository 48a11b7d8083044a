// The run plan: what a prepared bundle runs, with which runtime, variables and files, as the
// backend-neutral JobRequest either launcher carries out. Pure: everything it needs is passed
// in (the prepared bundle, the content's own variables, the server's addresses and limits), so
// the same inputs always give the same jobs (test/unit/run-plan.test.ts).
import path from 'node:path';
import type { Manifest } from '../bundles/manifest.js';
import type { Config } from '../config/config.js';
import type { Bundle, Content } from '../db/schema.js';
import type { SelectedRuntime } from '../execution-environments/selection.js';
import type { JobRequest } from '../jobs/jobs.js';
import type { JobMount, JobResources } from '../launcher/launcher.js';
import type { Installation } from '../runtimes/interpreters.js';
import { RUNTIME_DIR } from './runtime-dir.js';
import type { ModeRunner } from './runners.js';

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

/** What the plan takes from the server besides the bundle. */
export interface PlanContext {
  /** The bundle's files: <DataDir>/apps/<content>/<bundle>. */
  appDir: string;
  /** The content's own environment variables (decrypted). */
  variables: Record<string, string>;
  /** Public URL of the server (LECTERN_SERVER_ADDRESS, and CONNECT_SERVER unless isolated). */
  serverUrl: string;
  /** With network isolation: the API channel's URL, CONNECT_SERVER instead of the public one. */
  apiChannelUrl: string | null;
  /** The key content verifies its RStudio-Connect-Credentials header with. */
  credentialsKey: string;
  resources: JobResources;
}

/** The PATH every job starts from; interpreters and tools it needs are put in front. */
export const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';

/** The request for one worker of an interactive bundle, serving under `basePath`. */
export function workerJob(prepared: PreparedBundle, context: PlanContext, basePath: string): JobRequest {
  const runner = prepared.runner;
  if (runner.serve !== 'run' || !runner.tag || !runner.script) throw new Error(`${prepared.manifest.appMode} content has no worker process`);
  return {
    ...jobBase(prepared, context, runner.script),
    kind: 'run',
    tag: runner.tag,
    listen: true,
    env: { ...contentEnv(prepared, context), LECTERN_BASE_PATH: basePath },
  };
}

/** The request for rendering a bundle into `outputDir`. */
export function renderJob(prepared: PreparedBundle, context: PlanContext, outputDir: string): JobRequest {
  const runner = prepared.runner;
  if (runner.serve !== 'render' || !runner.tag || !runner.script) throw new Error(`${prepared.manifest.appMode} content is not rendered`);
  const base = jobBase(prepared, context, runner.script);
  const env: Record<string, string> = { ...contentEnv(prepared, context), LECTERN_OUTPUT_DIR: outputDir };
  if (prepared.manifest.jupyter.hideAllInput) env.LECTERN_HIDE_ALL_INPUT = '1';
  if (prepared.manifest.jupyter.hideTaggedInput) env.LECTERN_HIDE_TAGGED_INPUT = '1';
  return { ...base, kind: 'render', tag: runner.tag, listen: false, env, mounts: [...base.mounts, { path: outputDir, readOnly: false }] };
}

/** Read-only paths a restore of this bundle needs: the interpreter, the runtime, the bundle. */
export function restoreMounts(appDir: string, installation: Installation): JobMount[] {
  return [...installation.prefixes.map((p) => ({ path: p, readOnly: true })), { path: RUNTIME_DIR, readOnly: true }, { path: appDir, readOnly: true }];
}

/** Off-host: the image the job runs in and its service account (content's; else the backend's default). */
export function jobPlacement(prepared: PreparedBundle): { image?: string; serviceAccount?: string } {
  if (!prepared.environment) return {};
  const serviceAccount = prepared.content.service_account_name || undefined;
  return serviceAccount ? { image: prepared.environment.name, serviceAccount } : { image: prepared.environment.name };
}

/**
 * The content's memory, CPU and GPU limits and requests, each falling back to the server's
 * default and held to the server's maximum (also when the maximum was lowered after the value
 * was set). Requests, CPU and GPUs apply off-host only; locally a cgroup or rlimit takes memory.
 */
export function jobResources(content: Content, config: Config, offHost: boolean): JobResources {
  const capped = (value: number | null, fallback: number, cap: number) => {
    const v = value ?? fallback;
    return cap > 0 && v > cap ? cap : v;
  };
  const memory = capped(content.memory_limit, config.get('Scheduler.MemoryLimit'), config.get('Scheduler.MaxMemoryLimit'));
  const local: JobResources = { memoryLimitBytes: memory > 0 ? memory : undefined, maxProcesses: config.get('Applications.ProcessLimit') };
  if (!offHost) return local;
  const positive = (n: number) => (n > 0 ? n : undefined);
  return {
    ...local,
    memoryRequestBytes: positive(capped(content.memory_request, config.get('Scheduler.MemoryRequest'), config.get('Scheduler.MaxMemoryRequest'))),
    cpuRequest: positive(capped(content.cpu_request, config.get('Scheduler.CPURequest'), config.get('Scheduler.MaxCPURequest'))),
    cpuLimit: positive(capped(content.cpu_limit, config.get('Scheduler.CPULimit'), config.get('Scheduler.MaxCPULimit'))),
    // A GPU maximum of 0 means GPUs cannot be had, so the cap applies even at 0.
    nvidiaGpuLimit: positive(Math.min(content.nvidia_gpu_limit ?? config.get('Scheduler.NvidiaGPULimit'), config.get('Scheduler.MaxNvidiaGPULimit'))),
    amdGpuLimit: positive(Math.min(content.amd_gpu_limit ?? config.get('Scheduler.AMDGPULimit'), config.get('Scheduler.MaxAMDGPULimit'))),
  };
}

function jobBase(prepared: PreparedBundle, context: PlanContext, script: string) {
  const { content, bundle } = prepared;
  const interpreter = script.startsWith('python/') ? prepared.python!.executable : prepared.r!.installation.executable;
  const mounts: JobMount[] = [];
  for (const inst of [prepared.python?.installation, prepared.r?.installation, prepared.quarto]) if (inst) mounts.push(...inst.prefixes.map((p) => ({ path: p, readOnly: true })));
  mounts.push({ path: RUNTIME_DIR, readOnly: true }, { path: context.appDir, readOnly: true });
  if (prepared.python?.envDir) mounts.push({ path: prepared.python.envDir, readOnly: true });
  if (prepared.r?.library) mounts.push({ path: prepared.r.library, readOnly: true });
  return {
    contentId: content.id,
    contentGuid: content.guid,
    bundleId: bundle.id,
    command: [interpreter, path.join(RUNTIME_DIR, script)],
    cwd: context.appDir,
    mounts: dedupeMounts(mounts),
    resources: context.resources,
    ...jobPlacement(prepared),
    // Workers and renders call the Connect API as the content's owner (CONNECT_API_KEY, issued by
    // Jobs.start for the process's life); restores get no key.
    actsAs: content.owner_id,
  };
}

/**
 * What content sees: its own variables, then Lectern's, which it cannot override (docs/runtime.md,
 * "What content sees"). CONNECT_API_KEY and CONNECT_CONTENT_JOB_KEY are added by Jobs.start, which
 * owns the process's life; a CONNECT_API_KEY among the content's own variables is replaced there.
 */
function contentEnv(prepared: PreparedBundle, context: PlanContext): Record<string, string> {
  const { content, manifest } = prepared;
  const own = context.variables;
  const binDirs = [prepared.python?.envDir ? path.join(prepared.python.envDir, 'bin') : undefined, prepared.quarto ? path.dirname(prepared.quarto.executable) : undefined];
  const env: Record<string, string> = {
    LANG: 'C.UTF-8',
    ...own,
    PATH: [...binDirs.filter(Boolean), SYSTEM_PATH].join(':'),
    // Connect gives content its public address; isolated content may not reach that (it can lead
    // back into its own namespace) and gets the API channel. Pages still link to the public one.
    CONNECT_SERVER: context.apiChannelUrl ?? context.serverUrl,
    LECTERN_SERVER_ADDRESS: context.serverUrl,
    CONNECT_CONTENT_GUID: content.guid,
    LECTERN_CREDENTIALS_KEY: context.credentialsKey,
    RSTUDIO_PRODUCT: 'CONNECT',
    R_CONFIG_ACTIVE: own.R_CONFIG_ACTIVE ?? 'rsconnect',
    LECTERN_APP_MODE: manifest.appMode,
    LECTERN_APP_DIR: context.appDir,
    LECTERN_MANIFEST: path.join(context.appDir, 'manifest.json'),
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
  return env;
}

/** One mount per path; writable wins over read-only. */
export function dedupeMounts(mounts: JobMount[]): JobMount[] {
  const seen = new Map<string, JobMount>();
  for (const m of mounts) {
    const prior = seen.get(m.path);
    if (!prior || (prior.readOnly && !m.readOnly)) seen.set(m.path, m);
  }
  return [...seen.values()];
}
