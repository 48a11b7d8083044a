import { Type } from 'typebox';
import { LECTERN_VERSION } from '../app.js';
import { requireRole } from '../auth/principal.js';
import { answers } from '../contract/common.js';
import { EffectiveSetting, PublicServerSettings, RUNTIMES, RuntimeInstallations, SchedulerDefaults, ServerSettings } from '../contract/server-settings.js';
import type { RoutePlugin } from '../http/routing.js';
import { availableInstallations } from '../execution-environments/available-installations.js';

/** Server discovery: clients pick their publish flows from `version` (connect-api.md §1.5). */
export const serverSettingsRoutes: RoutePlugin = (server, app) => {
  server.get('/__api__/server_settings', { schema: { summary: 'Server discovery', security: [], response: answers({ 200: ServerSettings }) } }, async (request) => {
    const base = request.headers.host ?? 'localhost';
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
      license: { 'ha-enabled': app.store.dialect === 'postgres', 'allow-apis': true, 'current-user-execution': false, 'oauth-integrations': false },
      runtimes: [],
      git_enabled: app.gitAvailable,
      git_available: app.gitAvailable,
      dashboard_path: '/connect',
      // Connect's word for where content runs: on this host, or off-host as Kubernetes Jobs.
      execution_type: app.config.offHostExecution() ? 'kubernetes' : 'native',
      enable_runtime_cache_management: false,
      default_r_environment_management: true,
      default_py_environment_management: true,
      self_registration: false,
      prohibited_usernames: ['connect', 'apps', 'users', 'groups', 'setpassword', 'user-completion', 'admin-only'],
      system_display_name: 'Lectern',
      viewer_kiosk: false,
      hide_viewer_documentation: false,
    };
  });

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
      memory_limit: c.get('Scheduler.MemoryLimit'),
      off_host_execution: app.execution.offHost,
      memory_request: c.get('Scheduler.MemoryRequest'),
      cpu_request: c.get('Scheduler.CPURequest'),
      cpu_limit: c.get('Scheduler.CPULimit'),
      nvidia_gpu_limit: c.get('Scheduler.NvidiaGPULimit'),
      amd_gpu_limit: c.get('Scheduler.AMDGPULimit'),
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
