// The shapes of Lectern's API answers that the dashboard reads (Connect's v1 objects).

export type Role = 'administrator' | 'publisher' | 'viewer';
export type AppRole = 'owner' | 'editor' | 'viewer' | 'none';
export type AccessType = 'all' | 'logged_in' | 'acl';

export interface User {
  guid: string;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  user_role: Role;
  locked: boolean;
  created_time: string;
  active_time: string | null;
}

export interface Session {
  user: User | null;
  csrf_token: string | null;
  setup_required: boolean;
}

export interface Tag {
  id: string;
  name: string;
  parent_id: string | null;
}

export type ContentState = 'running' | 'stopped' | 'published' | 'failed' | 'deploying' | 'not_deployed';

export interface ContentItem {
  guid: string;
  id: string;
  name: string;
  title: string | null;
  description: string;
  access_type: AccessType;
  app_mode: string;
  content_category: string;
  created_time: string;
  last_deployed_time: string | null;
  bundle_id: string | null;
  owner_guid: string;
  owner?: { guid: string; username: string; first_name: string; last_name: string } | null;
  tags?: Tag[];
  vanity_url?: string | null;
  content_url: string;
  dashboard_url: string;
  app_role: AppRole;
  state?: ContentState;
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
  nvidia_gpu_limit: number | null;
  amd_gpu_limit: number | null;
  service_account_name: string | null;
  default_image_name: string | null;
  image_name: string | null;
  r_version: string | null;
  py_version: string | null;
  quarto_version: string | null;
}

export interface Permission {
  id: string;
  content_guid: string;
  principal_guid: string;
  principal_type: 'user' | 'group';
  role: 'viewer' | 'owner';
}

export interface Group {
  guid: string;
  name: string;
  owner_guid: string | null;
}

export interface Page<T> {
  results: T[];
  current_page: number;
  total: number;
}

export interface Bundle {
  id: string;
  content_guid: string;
  created_time: string;
  active: boolean;
  size: number | null;
  r_version: string | null;
  py_version: string | null;
  quarto_version: string | null;
}

export interface Task {
  id: string;
  output: string[];
  finished: boolean;
  code: number;
  error: string;
  last: number;
}

export interface Job {
  id: string;
  key: string;
  tag: string;
  status: number;
  start_time: string | null;
  end_time: string | null;
  exit_code: number | null;
  error: string | null;
  bundle_id: string | null;
  hostname: string | null;
}

export interface LogEntry {
  source: string;
  timestamp: string | null;
  data: string;
}

export interface Render {
  id: string;
  bundle_id: string;
  task_id: string;
  job_key: string | null;
  state: string;
  error: string | null;
  active: boolean;
  created_time: string;
  finished_time: string | null;
}

export interface ApiKey {
  id: string;
  name: string;
  key_hint: string;
  created_time: string;
  last_used_time: string | null;
}

export interface Process {
  content_guid: string;
  content_name: string | null;
  content_title: string | null;
  job_key: string;
  kind: string;
  tag: string;
  pid: number | null;
  hostname: string;
  address: string | null;
  /** The replica that started it; null for a pod whose replica annotation is missing. */
  replica: string | null;
  start_time: string;
  cpu_seconds: number | null;
  memory_bytes: number | null;
  /** Off-host only: cores in use now (metrics.k8s.io), and the pod it runs in. */
  cpu_cores?: number | null;
  pod?: Pod | null;
}

/** A content process's Kubernetes pod; byte and core figures are parsed quantities. */
export interface Pod {
  name: string;
  node: string | null;
  phase: string;
  image: string | null;
  cpu_request: number | null;
  cpu_limit: number | null;
  memory_request: number | null;
  memory_limit: number | null;
  scheduled_seconds: number | null;
  initialized_seconds: number | null;
  ready_seconds: number | null;
}

export interface AuditEntry {
  id: string;
  time: string;
  user_guid: string | null;
  user_description: string;
  action: string;
  event_description: string;
}

export type Runtime = 'python' | 'r' | 'quarto' | 'tensorflow';

export interface Installation {
  version: string;
  path: string;
}

/** Connect's execution environment (an image), plus Lectern's `managed_by`. */
export interface ExecutionEnvironment {
  guid: string;
  id: string;
  title: string;
  description: string;
  cluster_name: string;
  name: string;
  environment_type: string;
  matching: 'any' | 'exact' | 'none';
  supervisor: string | null;
  python?: { installations: Installation[] };
  r?: { installations: Installation[] };
  quarto?: { installations: Installation[] };
  tensorflow?: { installations: Installation[] };
  volume_mounts?: unknown[];
  managed_by: string | null;
  created_time?: string;
  updated_time?: string;
}

export interface ExecutionEnvironmentPermission {
  id: string;
  guid: string;
  environment_guid: string;
  user_guid: string | null;
  group_guid: string | null;
}

/** Lectern's explain endpoint: which image a bundle runs in and why the others lost. */
export interface ImageSelection {
  off_host_execution: boolean;
  bundle_id: string;
  note?: string;
  requested?: { image: string | null; default_image_name: string | null; python: string | null; r: string | null; quarto: string | null };
  source: 'manifest' | 'default_image_name' | 'deployed' | 'automatic' | null;
  chosen: { guid: string; name: string; title: string; reason: string; installations: Partial<Record<Runtime, Installation>> } | null;
  error: string | null;
  rejected: Array<{ guid: string; name: string; reason: string }>;
  current_image_name?: string | null;
}
