// The shapes of Lectern's API answers that the dashboard reads (Connect's v1 objects).
import type { Tag } from '../../../src/contract/tags.js';
import type { User } from '../../../src/contract/users.js';

export type Role = 'administrator' | 'publisher' | 'viewer';
export type AppRole = 'owner' | 'editor' | 'viewer' | 'none';
export type AccessType = 'all' | 'logged_in' | 'acl';

export interface Session {
  user: User | null;
  csrf_token: string | null;
  setup_required: boolean;
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

// Answers the server declares in src/contract/ (one set of DTOs for server, CLI and dashboard);
// `export type` keeps TypeBox out of the bundle.
export type { Task } from '../../../src/contract/tasks.js';
export type { Bundle } from '../../../src/contract/bundles.js';
export type { Job, LogEntry, Render } from '../../../src/contract/jobs.js';
export type { ApiKey, Group, Page, User } from '../../../src/contract/users.js';
export type { Tag } from '../../../src/contract/tags.js';
export type { ContentPermission as Permission } from '../../../src/contract/permissions.js';
export type { AuditEntry } from '../../../src/contract/audit.js';
export type { EnvironmentPermission as ExecutionEnvironmentPermission, ImageSelection } from '../../../src/contract/execution-environments.js';

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

export type Runtime = 'python' | 'r' | 'quarto' | 'tensorflow';

export interface Installation {
  version: string;
  path: string;
}

/**
 * Connect's execution environment (an image), plus Lectern's `managed_by`: the fields the
 * dashboard reads, looser than the server's answer (src/contract/execution-environments.ts) so that its
 * forms can hold one being written.
 */
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
