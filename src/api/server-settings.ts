import { Type } from 'typebox';
import { LECTERN_VERSION } from '../app.js';
import { requireRole, requireUser } from '../auth/principal.js';
import { appModeSpec } from '../content/app-modes.js';
import { answers } from '../contract/common.js';
import {
  ApplicationSettings,
  ConnectSchedulerSettings,
  EffectiveSetting,
  PublicServerSettings,
  RUNTIMES,
  RuntimeInstallations,
  SchedulerAppModeParams,
  SchedulerDefaults,
  ServerSettings,
} from '../contract/server-settings.js';
import { ErrorCode, LecternError, invalidParameter } from '../errors.js';
import type { Config } from '../config/config.js';
import type { RoutePlugin } from '../http/routing.js';
import { availableInstallations, installedRuntimes } from '../execution-environments/available-installations.js';

/** Server discovery: clients pick their publish flows from `version` (connect-api.md §1.5). */
export const serverSettingsRoutes: RoutePlugin = (server, app) => {
  server.get('/__api__/server_settings', { schema: { summary: 'Server discovery', security: [], response: answers({ 200: ServerSettings }) } }, async (request) => {
    const base = request.headers.host ?? 'localhost';
    const offHost = app.execution.offHost;
    return {
      hostname: base.replace(/:\d+$/, ''),
      version: app.config.get('Server.APIVersion'),
      build: `lectern-${LECTERN_VERSION}`,
      lectern_version: LECTERN_VERSION,
      about: `Lectern ${LECTERN_VERSION}`,
      authentication: {
        name: 'password',
        notice: '',
        warning_delay: 0,
        api_key_auth: true,
        handles_credentials: true,
        handles_login: true,
        challenge_response_enabled: false,
        external_user_data: false,
        external_user_search: false,
        external_user_issuer: false,
        external_group_search: false,
        external_group_members: false,
        groups_enabled: true,
        unique_usernames: true,
        name_editable_by: 'admin',
        email_editable_by: 'admin',
        username_editable_by: 'admin',
        role_editable_by: 'admin',
      },
      license: {
        'ha-enabled': app.store.dialect === 'postgres',
        'allow-apis': true,
        'current-user-execution': false,
        'oauth-integrations': false,
        'enable-launcher': offHost,
      },
      runtimes: await installedRuntimes({ offHost, environments: app.environments, interpreters: app.interpreters }),
      git_enabled: app.gitAvailable,
      git_available: app.gitAvailable,
      dashboard_path: '/connect',
      // Connect's word for where content runs: on this host, or off-host as Kubernetes Jobs.
      execution_type: offHost ? 'launcher-kubernetes' : 'native',
      enable_runtime_cache_management: false,
      default_r_environment_management: true,
      default_py_environment_management: true,
      self_registration: false,
      prohibited_usernames: ['connect', 'apps', 'users', 'groups', 'setpassword', 'user-completion', 'admin-only'],
      system_display_name: 'Lectern',
      viewer_kiosk: false,
      hide_viewer_documentation: false,
      enable_runtime_constraints: offHost,
      enable_image_management: offHost,
      default_image_selection_enabled: offHost,
      default_environment_management_selection: true,
      oauth_integrations_enabled: false,
    };
  });

  // Posit Publisher reads these two before every publish (connect-api.md §1.3; docs/api.md).
  server.get('/__api__/server_settings/applications', { schema: { summary: 'Who content runs as, and its access types', response: answers({ 200: ApplicationSettings }) } }, async (request) => {
    requireUser(request);
    return { access_types: ['all', 'logged_in', 'acl'], run_as: app.config.get('Applications.RunAs'), run_as_group: '', run_as_current_user: false };
  });

  const schedulerSchema = { summary: "Scheduler defaults and caps, in Connect's shape", response: answers({ 200: ConnectSchedulerSettings }) };
  server.get('/__api__/server_settings/scheduler', { schema: schedulerSchema }, async (request) => {
    requireUser(request);
    return connectScheduler(app.config);
  });
  // The same for one app mode (Lectern has no per-mode scheduler sections, so the answer is the
  // same for every mode that runs processes). Static content has none: Connect refuses it too.
  server.get(
    '/__api__/server_settings/scheduler/:app_mode',
    { schema: { ...schedulerSchema, summary: 'Scheduler defaults and caps for one app mode', params: SchedulerAppModeParams } },
    async (request) => {
      requireUser(request);
      const { app_mode } = request.params;
      const spec = appModeSpec(app_mode);
      if (!spec || spec.kind === 'unknown') throw new LecternError('invalid', ErrorCode.InvalidAppMode, `Unknown app mode "${app_mode}".`);
      if (spec.kind === 'static') throw invalidParameter('Static content runs no processes: it has no scheduler settings.');
      return connectScheduler(app.config);
    },
  );

  server.get('/__api__/v1/server_settings/public', { schema: { summary: 'What the sign-in page shows', security: [], response: answers({ 200: PublicServerSettings }) } }, async () => ({
    system_display_name: 'Lectern',
    authentication: { name: 'password', handles_login: true },
  }));

  // Locally: the interpreters probed at start-up; off-host: the caller's execution environments'.
  for (const runtime of RUNTIMES) {
    const schema = { summary: `Installed ${runtime} versions`, response: answers({ 200: RuntimeInstallations }) };
    server.get(`/__api__/v1/server_settings/${runtime}`, { schema }, async (request) => {
      const user = requireRole(request, 'publisher');
      const installations = await availableInstallations({ offHost: app.execution.offHost, environments: app.environments, interpreters: app.interpreters }, runtime, user);
      return runtime === 'python' ? { installations, api_enabled: true } : { installations };
    });
  }

  // Lectern extension: the scheduler defaults content inherits when a field is null, and the caps
  // publishers may not exceed (the dashboard's runtime and execution panels show them beside each
  // field). `off_host_execution` tells the dashboard whether content runs in images, so it offers
  // the execution panel only where its settings take effect.
  server.get('/__api__/v1/server_settings/scheduler', { schema: { summary: 'Scheduler defaults and caps (Lectern)', response: answers({ 200: SchedulerDefaults }) } }, async (request) => {
    requireRole(request, 'publisher');
    const c = app.config;
    return {
      ...schedulerDefaults(c),
      off_host_execution: app.execution.offHost,
      limits: {
        min_processes: c.get('Scheduler.MinProcessesLimit'),
        max_processes: c.get('Scheduler.MaxProcessesLimit'),
        memory_limit: c.get('Scheduler.MaxMemoryLimit'),
        memory_request: c.get('Scheduler.MaxMemoryRequest'),
        cpu_request: c.get('Scheduler.MaxCPURequest'),
        cpu_limit: c.get('Scheduler.MaxCPULimit'),
        nvidia_gpu_limit: c.get('Scheduler.MaxNvidiaGPULimit'),
        amd_gpu_limit: c.get('Scheduler.MaxAMDGPULimit'),
      },
    };
  });

  // Lectern extension: every effective setting and where it came from (secrets shown only as set).
  server.get('/__api__/v1/server_settings/effective', { schema: { summary: 'Every effective setting (Lectern)', response: answers({ 200: Type.Array(EffectiveSetting) }) } }, async (request) => {
    requireRole(request, 'administrator');
    return app.config.describe().map(({ section, name, value, source, description }) => ({ section, name, value, source, description }));
  });

  server.get('/__ping__', { schema: { summary: 'Liveness', security: [], response: { 200: Type.Object({}, { additionalProperties: false }) } } }, async () => ({}));
};

/** What content inherits when a field is null (times in seconds; 0 = none). */
function schedulerDefaults(c: Config) {
  const seconds = (ms: number) => Math.round(ms / 1000);
  return {
    min_processes: c.get('Scheduler.MinProcesses'),
    max_processes: c.get('Scheduler.MaxProcesses'),
    max_conns_per_process: c.get('Scheduler.MaxConnsPerProcess'),
    load_factor: c.get('Scheduler.LoadFactor'),
    idle_timeout: seconds(c.get('Scheduler.IdleTimeout')),
    init_timeout: seconds(c.get('Scheduler.InitTimeout')),
    connection_timeout: seconds(c.get('Scheduler.ConnectionTimeout')),
    read_timeout: seconds(c.get('Scheduler.ReadTimeout')),
    memory_request: c.get('Scheduler.MemoryRequest'),
    memory_limit: c.get('Scheduler.MemoryLimit'),
    cpu_request: c.get('Scheduler.CPURequest'),
    cpu_limit: c.get('Scheduler.CPULimit'),
    nvidia_gpu_limit: c.get('Scheduler.NvidiaGPULimit'),
    amd_gpu_limit: c.get('Scheduler.AMDGPULimit'),
  };
}

/** The scheduler settings in Connect's flat shape: the defaults, each cap beside its field (0 = no cap). */
function connectScheduler(c: Config) {
  return {
    ...schedulerDefaults(c),
    min_processes_limit: c.get('Scheduler.MinProcessesLimit'),
    max_processes_limit: c.get('Scheduler.MaxProcessesLimit'),
    max_cpu_request: c.get('Scheduler.MaxCPURequest'),
    max_cpu_limit: c.get('Scheduler.MaxCPULimit'),
    max_memory_request: c.get('Scheduler.MaxMemoryRequest'),
    max_memory_limit: c.get('Scheduler.MaxMemoryLimit'),
    max_amd_gpu_limit: c.get('Scheduler.MaxAMDGPULimit'),
    max_nvidia_gpu_limit: c.get('Scheduler.MaxNvidiaGPULimit'),
  };
}
