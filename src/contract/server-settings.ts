// GET /__api__/server_settings and its parts: what clients learn about the server before they publish.
import { Type, type Static } from 'typebox';

const Authentication = Type.Object(
  {
    name: Type.String(),
    notice: Type.String(),
    warning_delay: Type.Integer(),
    api_key_auth: Type.Boolean(),
    handles_credentials: Type.Boolean(),
    handles_login: Type.Boolean(),
    challenge_response_enabled: Type.Boolean(),
    external_user_data: Type.Boolean(),
    external_user_search: Type.Boolean(),
    external_user_issuer: Type.Boolean(),
    external_group_search: Type.Boolean(),
    external_group_members: Type.Boolean(),
    groups_enabled: Type.Boolean(),
    unique_usernames: Type.Boolean(),
    name_editable_by: Type.String(),
    email_editable_by: Type.String(),
    username_editable_by: Type.String(),
    role_editable_by: Type.String(),
  },
  { additionalProperties: false },
);

/** Server discovery: clients pick their publish flows from `version` (connect-api.md §1.5). */
export const ServerSettings = Type.Object(
  {
    hostname: Type.String(),
    version: Type.String({ description: 'The Connect version this server answers as ([Server] APIVersion).' }),
    build: Type.String(),
    lectern_version: Type.String(),
    about: Type.String(),
    authentication: Authentication,
    license: Type.Object(
      {
        'ha-enabled': Type.Boolean(),
        'allow-apis': Type.Boolean(),
        'current-user-execution': Type.Boolean(),
        'oauth-integrations': Type.Boolean(),
        'enable-launcher': Type.Boolean({ description: 'Whether content runs off-host (Posit Publisher checks it before a deploy with Kubernetes settings).' }),
      },
      { additionalProperties: false },
    ),
    runtimes: Type.Array(Type.String(), { description: 'The runtimes content can use here ("R", "Python", "Quarto"): those with at least one installation.' }),
    git_enabled: Type.Boolean(),
    git_available: Type.Boolean(),
    dashboard_path: Type.String(),
    execution_type: Type.String({ description: '"native" (content runs on this host) or "launcher-kubernetes" (off-host), as Connect says.' }),
    enable_runtime_cache_management: Type.Boolean(),
    default_r_environment_management: Type.Boolean(),
    default_py_environment_management: Type.Boolean(),
    self_registration: Type.Boolean(),
    prohibited_usernames: Type.Array(Type.String()),
    system_display_name: Type.String(),
    viewer_kiosk: Type.Boolean(),
    hide_viewer_documentation: Type.Boolean(),
    // What Posit Publisher reads before it publishes (its internal/clients/connect/server_settings).
    enable_runtime_constraints: Type.Boolean({ description: 'Whether content may set CPU and memory requests and limits (off-host).' }),
    enable_image_management: Type.Boolean({ description: 'Whether execution environments (images) are chosen per content (off-host).' }),
    default_image_selection_enabled: Type.Boolean({ description: 'Whether content may name a default image (off-host).' }),
    default_environment_management_selection: Type.Boolean({ description: 'Whether content may turn environment management on or off.' }),
    oauth_integrations_enabled: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ServerSettings = Static<typeof ServerSettings>;

/** What the sign-in page may know before anyone signs in. */
export const PublicServerSettings = Type.Object(
  {
    system_display_name: Type.String(),
    authentication: Type.Object({ name: Type.String(), handles_login: Type.Boolean() }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type PublicServerSettings = Static<typeof PublicServerSettings>;

export const RUNTIMES = ['python', 'r', 'quarto', 'tensorflow', 'nodejs'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

export const Installation = Type.Object(
  {
    version: Type.String(),
    cluster_name: Type.String({ description: '"Local" for interpreters on this host, else the execution environment\'s cluster.' }),
    image_name: Type.String({ description: '"Local", or the execution environment (image) this installation is in.' }),
  },
  { additionalProperties: false },
);
export type Installation = Static<typeof Installation>;

/** GET /__api__/v1/server_settings/{runtime}; python also says `api_enabled`. */
export const RuntimeInstallations = Type.Object({ installations: Type.Array(Installation), api_enabled: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export type RuntimeInstallations = Static<typeof RuntimeInstallations>;

/** GET /__api__/server_settings/applications (unversioned, as Connect): who content runs as and which access types exist. */
export const ApplicationSettings = Type.Object(
  {
    access_types: Type.Array(Type.String(), { description: 'The access types content may have: "all", "logged_in", "acl".' }),
    run_as: Type.String({ description: 'The user content runs as ([Applications] RunAs).' }),
    run_as_group: Type.String({ description: 'Its group; "" = the user\'s primary group.' }),
    run_as_current_user: Type.Boolean({ description: 'Whether content may run as its visitor (never, here).' }),
  },
  { additionalProperties: false },
);
export type ApplicationSettings = Static<typeof ApplicationSettings>;

/**
 * GET /__api__/server_settings/scheduler[/{app_mode}] (unversioned, as Connect): the scheduler
 * defaults content inherits and the caps (`*_limit` for process counts, `max_*` for resources;
 * 0 = no cap) in Connect's flat shape. Lectern's own `v1/server_settings/scheduler` nests the caps.
 */
export const ConnectSchedulerSettings = Type.Object(
  {
    min_processes: Type.Integer(),
    max_processes: Type.Integer(),
    max_conns_per_process: Type.Integer(),
    load_factor: Type.Number(),
    init_timeout: Type.Integer({ description: 'Seconds.' }),
    idle_timeout: Type.Integer({ description: 'Seconds.' }),
    min_processes_limit: Type.Integer(),
    max_processes_limit: Type.Integer(),
    connection_timeout: Type.Integer({ description: 'Seconds.' }),
    read_timeout: Type.Integer({ description: 'Seconds.' }),
    cpu_request: Type.Number(),
    max_cpu_request: Type.Number(),
    cpu_limit: Type.Number(),
    max_cpu_limit: Type.Number(),
    memory_request: Type.Integer({ description: 'Bytes.' }),
    max_memory_request: Type.Integer(),
    memory_limit: Type.Integer({ description: 'Bytes.' }),
    max_memory_limit: Type.Integer(),
    amd_gpu_limit: Type.Integer(),
    max_amd_gpu_limit: Type.Integer(),
    nvidia_gpu_limit: Type.Integer(),
    max_nvidia_gpu_limit: Type.Integer(),
  },
  { additionalProperties: false },
);
export type ConnectSchedulerSettings = Static<typeof ConnectSchedulerSettings>;

export const SchedulerAppModeParams = Type.Object({ app_mode: Type.String() });

const schedulerFields = {
  min_processes: Type.Number(),
  max_processes: Type.Number(),
  memory_limit: Type.Number({ description: 'Bytes; 0 = none.' }),
  memory_request: Type.Number({ description: 'Bytes; 0 = none.' }),
  cpu_request: Type.Number({ description: 'Cores; 0 = none.' }),
  cpu_limit: Type.Number({ description: 'Cores; 0 = none.' }),
  nvidia_gpu_limit: Type.Number(),
  amd_gpu_limit: Type.Number(),
};

/** Lectern extension: scheduler defaults content inherits when a field is null, and the caps publishers may not exceed. */
export const SchedulerDefaults = Type.Object(
  {
    ...schedulerFields,
    max_conns_per_process: Type.Number(),
    load_factor: Type.Number(),
    idle_timeout: Type.Number({ description: 'Seconds.' }),
    init_timeout: Type.Number({ description: 'Seconds.' }),
    connection_timeout: Type.Number({ description: 'Seconds.' }),
    read_timeout: Type.Number({ description: 'Seconds.' }),
    off_host_execution: Type.Boolean({ description: 'Whether content runs in images (the execution panel applies).' }),
    limits: Type.Object(schedulerFields, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type SchedulerDefaults = Static<typeof SchedulerDefaults>;

/** Lectern extension: every effective setting and where it came from (secrets shown only as "(set)"). */
export const EffectiveSetting = Type.Object(
  {
    section: Type.String(),
    name: Type.String(),
    value: Type.String(),
    source: Type.String({ description: '"default", "FILE:LINE", or "env NAME".' }),
    description: Type.String(),
  },
  { additionalProperties: false },
);
export type EffectiveSetting = Static<typeof EffectiveSetting>;
