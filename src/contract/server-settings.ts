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
      { 'ha-enabled': Type.Boolean(), 'allow-apis': Type.Boolean(), 'current-user-execution': Type.Boolean(), 'oauth-integrations': Type.Boolean() },
      { additionalProperties: false },
    ),
    runtimes: Type.Array(Type.String()),
    git_enabled: Type.Boolean(),
    git_available: Type.Boolean(),
    dashboard_path: Type.String(),
    execution_type: Type.String(),
    enable_runtime_cache_management: Type.Boolean(),
    default_r_environment_management: Type.Boolean(),
    default_py_environment_management: Type.Boolean(),
    self_registration: Type.Boolean(),
    prohibited_usernames: Type.Array(Type.String()),
    system_display_name: Type.String(),
    viewer_kiosk: Type.Boolean(),
    hide_viewer_documentation: Type.Boolean(),
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
