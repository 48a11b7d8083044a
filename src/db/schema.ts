import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

// Column conventions, identical on SQLite and PostgreSQL:
// - times are RFC 3339 UTC strings with milliseconds ("2026-11-22T07:37:07.123Z"), so they sort as text;
// - booleans are integers 0/1; JSON documents are text;
// - lease and deadline instants that are compared in SQL are epoch milliseconds (bigint).

export interface UsersTable {
  id: Generated<number>;
  guid: string;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  user_role: 'administrator' | 'publisher' | 'viewer';
  password_hash: string | null;
  locked: number;
  confirmed: number;
  created_time: string;
  updated_time: string;
  active_time: string | null;
}

export interface ApiKeysTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  /** sha256 of the whole key; keys are 256-bit random so a fast hash is safe and lookups stay O(1). */
  key_hash: string;
  /** First characters, shown in listings so a user can tell keys apart. */
  key_hint: string;
  created_time: string;
  last_used_time: string | null;
  /** Epoch ms; null = until revoked. */
  expires_at: number | null;
  /**
   * null = a key its user made; 'visitor' = obtained by content for its visitor; 'content' = a
   * content process's CONNECT_API_KEY, acting as the content's owner. Neither may manage keys.
   */
  scope: KeyScope | null;
  /** The content process (jobs.key) a 'content' key belongs to; it is deleted when the job row closes. */
  job_key: string | null;
}

export type KeyScope = 'visitor' | 'content';

export interface SessionsTable {
  /** sha256 of the cookie value. */
  id: string;
  user_id: number;
  csrf_token: string;
  created_time: string;
  expires_at: number;
}

/** Recent failed sign-ins of one throttle key ("user:<name>@<address>" or "address:<address>"). */
export interface SignInFailuresTable {
  key: string;
  failures: number;
  /** Epoch ms. */
  last_failure: number;
}

export interface GroupsTable {
  id: Generated<number>;
  guid: string;
  name: string;
  owner_guid: string | null;
  created_time: string;
}

export interface GroupMembersTable {
  group_id: number;
  user_id: number;
}

export interface ContentTable {
  id: Generated<number>;
  guid: string;
  name: string;
  title: string | null;
  description: string;
  owner_id: number;
  access_type: 'all' | 'logged_in' | 'acl';
  locked: number;
  locked_message: string;
  app_mode: string;
  content_category: string;
  parameterized: number;
  /** Active bundle; null until the first successful deploy. */
  bundle_id: number | null;
  /** Scheduler and resource settings; null = server default. */
  connection_timeout: number | null;
  read_timeout: number | null;
  init_timeout: number | null;
  idle_timeout: number | null;
  max_processes: number | null;
  min_processes: number | null;
  max_conns_per_process: number | null;
  load_factor: number | null;
  memory_request: number | null;
  memory_limit: number | null;
  cpu_request: number | null;
  cpu_limit: number | null;
  amd_gpu_limit: number | null;
  nvidia_gpu_limit: number | null;
  service_account_name: string | null;
  default_image_name: string | null;
  default_r_environment_management: number | null;
  default_py_environment_management: number | null;
  run_as: string | null;
  run_as_current_user: number;
  r_version: string | null;
  py_version: string | null;
  quarto_version: string | null;
  r_environment_management: number | null;
  py_environment_management: number | null;
  image_name: string | null;
  cluster_name: string | null;
  created_time: string;
  updated_time: string;
  last_deployed_time: string | null;
  /** Rendered content: the render being served. */
  render_id: number | null;
  /** Bumped on every environment-variable change; running workers of an older version restart. */
  env_version: Generated<number>;
  /** Off-host: the execution environment the live bundle was selected into. */
  environment_guid: string | null;
}

export interface ContentPermissionsTable {
  id: Generated<number>;
  content_id: number;
  principal_type: 'user' | 'group';
  principal_guid: string;
  role: 'viewer' | 'owner';
}

export interface ContentEnvironmentTable {
  content_id: number;
  name: string;
  /** AES-256-GCM, base64 of iv|tag|ciphertext. */
  value_encrypted: string;
}

export interface TagsTable {
  id: Generated<number>;
  name: string;
  parent_id: number | null;
  created_time: string;
  updated_time: string;
}

export interface ContentTagsTable {
  content_id: number;
  tag_id: number;
}

export interface VanitiesTable {
  content_id: number;
  path: string;
  created_time: string;
}

export interface BundlesTable {
  id: Generated<number>;
  content_id: number;
  created_by: number | null;
  created_time: string;
  size: number;
  /** JSON: {source, source_repo, …} as uploaded, plus archive_md5 / archive_sha1. */
  metadata: string;
  /** JSON of the parsed manifest once the bundle has been extracted. */
  manifest: string | null;
  app_mode: string | null;
  py_version: string | null;
  r_version: string | null;
  quarto_version: string | null;
}

export interface TasksTable {
  id: string;
  kind: string;
  content_id: number | null;
  bundle_id: number | null;
  user_id: number | null;
  /** JSON parameters of the kind, e.g. {activate: false}. */
  params: string;
  state: 'queued' | 'running' | 'finished';
  claimed_by: string | null;
  lease_expires_at: number | null;
  attempts: number;
  output_lines: number;
  code: number;
  error: string;
  result: string | null;
  created_time: string;
  started_time: string | null;
  finished_time: string | null;
}

/** One live (or lately live) Lectern server process; see src/jobs/replicas.ts. */
export interface ReplicasTable {
  name: string;
  instance: string;
  hostname: string;
  pid: number;
  started_time: string;
  heartbeat_at: number;
}

export interface TaskOutputTable {
  task_id: string;
  line_no: number;
  line: string;
  time: string;
}

/** One process Lectern started: a build, a render or an app/API worker. Connect's Job. */
export interface JobsTable {
  id: Generated<number>;
  key: string;
  content_id: number;
  bundle_id: number | null;
  task_id: string | null;
  kind: 'build' | 'render' | 'run';
  tag: string;
  launcher: string;
  hostname: string;
  /** The replica that started it (and owns its process). */
  replica: string;
  remote_id: string | null;
  pid: number | null;
  run_as: string | null;
  /** 0 active, 1 finished (Connect's codes). */
  status: number;
  exit_code: number | null;
  error: string | null;
  log_path: string;
  queued_time: string;
  start_time: string;
  end_time: string | null;
  /** Off-host: the container image the job ran in; null for local processes. */
  image: string | null;
}

/** The restored environment a bundle uses for one language (src/execution/restored-packages.ts). */
export interface BundleEnvironmentsTable {
  id: Generated<number>;
  bundle_id: number;
  content_id: number;
  language: 'python' | 'r';
  language_version: string;
  /** Off-host: the image it was restored in; null for the server's own interpreters. */
  image_name: string | null;
  environment_key: string;
  recorded_time: string;
}

/** A package installed in a bundle's restored environment. */
export interface BundlePackagesTable {
  id: Generated<number>;
  bundle_environment_id: number;
  name: string;
  version: string;
  hash: string | null;
}

export interface RendersTable {
  id: Generated<number>;
  content_id: number;
  bundle_id: number;
  task_id: string | null;
  job_key: string | null;
  state: 'running' | 'succeeded' | 'failed';
  error: string | null;
  requested_by: number | null;
  created_time: string;
  finished_time: string | null;
}

/** An administrator-defined container image content may run in (Connect's Environment). */
export interface EnvironmentsTable {
  id: Generated<number>;
  guid: string;
  title: string;
  description: string;
  cluster_name: string;
  environment_type: string;
  /** The container image reference. */
  name: string;
  matching: 'any' | 'exact' | 'none';
  supervisor: string | null;
  /** JSON {python, r, quarto, tensorflow: [{version, path}]}. */
  installations: string;
  /** JSON array of Connect's VolumeMount objects. */
  volume_mounts: string;
  origin: 'api' | 'cluster-definition' | 'file';
  /** The declarative file that owns this record; null = owned by the API. */
  managed_by: string | null;
  created_time: string;
  updated_time: string;
}

/** Restricts an environment to the listed users and groups; none = usable by everyone. */
export interface EnvironmentPermissionsTable {
  id: Generated<number>;
  guid: string;
  environment_id: number;
  principal_type: 'user' | 'group';
  principal_guid: string;
  created_time: string;
}

export interface AuditLogsTable {
  id: Generated<number>;
  time: string;
  user_id: number | null;
  user_guid: string | null;
  user_description: string;
  action: string;
  event_description: string;
}

/** A git-backed content item's source (migration 0007): deployed from this repository, branch and directory. */
export interface ContentRepositoriesTable {
  content_id: number;
  repository: string;
  branch: string;
  /** "." for the repository's root, else a relative path without "." or ".." segments. */
  directory: string;
  polling: number;
  last_error: string | null;
  last_known_commit: string | null;
  last_fetched_time: string | null;
  /** Epoch ms when the next poll is due (claimed with a compare-and-set). */
  next_poll_at: number;
  created_time: string;
  updated_time: string;
}

/** An OAuth integration (Connect's OAuthIntegration); secret fields are sealed, never answered. */
export interface OAuthIntegrationsTable {
  id: Generated<number>;
  guid: string;
  name: string | null;
  description: string | null;
  template: string;
  auth_type: string;
  /** JSON object of the non-secret configuration values. */
  config: string;
  /** AES-256-GCM of a JSON object of the secret values; "" when there are none. */
  secrets_sealed: string;
  created_time: string;
  updated_time: string;
}

/** Content that may use an integration (Connect's association). */
export interface OAuthAssociationsTable {
  content_id: number;
  integration_id: number;
  created_time: string;
}

/** One request the content proxy served (src/instrumentation/); `visit` marks Connect's visits. */
export interface ContentHitsTable {
  id: Generated<number>;
  time: string;
  content_id: number;
  content_guid: string;
  user_guid: string | null;
  bundle_id: number | null;
  rendering_id: number | null;
  path: string;
  query: string | null;
  root: number;
  visit: number;
  data_version: number;
  user_agent: string | null;
  sec_fetch_dest: string | null;
  sec_fetch_site: string | null;
}

/** One websocket session of a Shiny app; `ended` is null while it lasts. */
export interface ShinySessionsTable {
  id: Generated<number>;
  session_key: string;
  replica: string;
  content_id: number;
  content_guid: string;
  user_guid: string | null;
  started: string;
  ended: string | null;
  data_version: number;
}

export interface Database {
  users: UsersTable;
  api_keys: ApiKeysTable;
  sessions: SessionsTable;
  sign_in_failures: SignInFailuresTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  content: ContentTable;
  content_permissions: ContentPermissionsTable;
  content_environment: ContentEnvironmentTable;
  tags: TagsTable;
  content_tags: ContentTagsTable;
  vanities: VanitiesTable;
  bundles: BundlesTable;
  tasks: TasksTable;
  task_output: TaskOutputTable;
  audit_logs: AuditLogsTable;
  jobs: JobsTable;
  replicas: ReplicasTable;
  renders: RendersTable;
  environments: EnvironmentsTable;
  environment_permissions: EnvironmentPermissionsTable;
  oauth_integrations: OAuthIntegrationsTable;
  oauth_associations: OAuthAssociationsTable;
  content_repositories: ContentRepositoriesTable;
  content_hits: ContentHitsTable;
  shiny_sessions: ShinySessionsTable;
  bundle_environments: BundleEnvironmentsTable;
  bundle_packages: BundlePackagesTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type Content = Selectable<ContentTable>;
export type ContentUpdate = Updateable<ContentTable>;
export type Bundle = Selectable<BundlesTable>;
export type Task = Selectable<TasksTable>;
export type ContentRepository = Selectable<ContentRepositoriesTable>;
export type Group = Selectable<GroupsTable>;
export type Tag = Selectable<TagsTable>;
export type JobRow = Selectable<JobsTable>;
export type RenderRow = Selectable<RendersTable>;
export type EnvironmentRow = Selectable<EnvironmentsTable>;
export type EnvironmentPermissionRow = Selectable<EnvironmentPermissionsTable>;
export type OAuthIntegrationRow = Selectable<OAuthIntegrationsTable>;
