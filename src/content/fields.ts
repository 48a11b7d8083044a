import { badRequest, ErrorCode, invalidParameter } from '../errors.js';
import type { ContentUpdate } from '../db/schema.js';

// The content fields a client may set, with their validation. Read-only fields that clients
// commonly echo back (posit-sdk, connectapi send whole objects) are accepted and ignored;
// anything else is rejected so typos do not silently do nothing.

type FieldKind = 'string' | 'nullableString' | 'bool' | 'nullableBool' | 'nonNegativeInt' | 'nonNegativeNumber' | 'fraction';

const SETTABLE: Record<string, FieldKind> = {
  name: 'string',
  title: 'nullableString',
  description: 'string',
  access_type: 'string',
  locked: 'bool',
  locked_message: 'string',
  content_category: 'string',
  connection_timeout: 'nonNegativeInt',
  read_timeout: 'nonNegativeInt',
  init_timeout: 'nonNegativeInt',
  idle_timeout: 'nonNegativeInt',
  max_processes: 'nonNegativeInt',
  min_processes: 'nonNegativeInt',
  max_conns_per_process: 'nonNegativeInt',
  load_factor: 'fraction',
  memory_request: 'nonNegativeInt',
  memory_limit: 'nonNegativeInt',
  cpu_request: 'nonNegativeNumber',
  cpu_limit: 'nonNegativeNumber',
  amd_gpu_limit: 'nonNegativeInt',
  nvidia_gpu_limit: 'nonNegativeInt',
  service_account_name: 'nullableString',
  default_image_name: 'nullableString',
  default_r_environment_management: 'nullableBool',
  default_py_environment_management: 'nullableBool',
  run_as: 'nullableString',
  run_as_current_user: 'bool',
};

const READ_ONLY = new Set([
  'guid',
  'id',
  'created_time',
  'last_deployed_time',
  'bundle_id',
  'app_mode',
  'content_url',
  'dashboard_url',
  'app_role',
  'owner',
  'tags',
  'vanity_url',
  'parameterized',
  'cluster_name',
  'image_name',
  'r_version',
  'py_version',
  'quarto_version',
  'node_version',
  'r_environment_management',
  'py_environment_management',
  'environment_guid',
  'environment_id',
  'default_environment_guid',
  'extension',
  'bookmarked',
  'schedules',
  'metrics_collection_enabled',
  'notify_on_share',
  'otel_enabled',
  'public_content_status',
  'updated_time',
]);

export const ACCESS_TYPES = ['all', 'logged_in', 'acl'] as const;
const NAME = /^[A-Za-z0-9._-]{3,64}$/;
const SERVICE_ACCOUNT = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

export function validateContentName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw badRequest(`The content name ${JSON.stringify(name)} is invalid: use 3 to 64 letters, digits, ".", "_" or "-".`, ErrorCode.InvalidApplicationName);
  }
  return name;
}

export interface ContentChanges {
  row: ContentUpdate;
  ownerGuid?: string;
}

/** Validates a create/update body into column values. `owner_guid` is returned separately. */
export function parseContentChanges(body: unknown): ContentChanges {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object.', ErrorCode.InvalidJson);
  const row: Record<string, unknown> = {};
  let ownerGuid: string | undefined;
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (key === 'owner_guid') {
      if (typeof value !== 'string') throw invalidParameter('owner_guid must be a string.');
      ownerGuid = value;
      continue;
    }
    if (key === 'name') {
      // Posit Publisher's Go client always sends "name" and leaves it "" (Go's zero value) when it
      // names nothing, on create and on every update: as in Connect, "" means not given.
      if (value === '') continue;
      row.name = validateContentName(value);
      continue;
    }
    const kind = SETTABLE[key];
    if (!kind) {
      if (READ_ONLY.has(key)) continue;
      throw invalidParameter(`Unknown field "${key}" in content request.`);
    }
    row[key] = coerce(key, kind, value);
  }
  if (typeof row.service_account_name === 'string') {
    // "" clears it, like null; anything else must be a Kubernetes ServiceAccount name.
    if (row.service_account_name === '') row.service_account_name = null;
    else if (!SERVICE_ACCOUNT.test(row.service_account_name as string) || (row.service_account_name as string).length > 253) {
      throw invalidParameter(`service_account_name ${JSON.stringify(row.service_account_name)} is not a Kubernetes service account name (lower-case letters, digits, "-" and ".").`);
    }
  }
  if (row.default_image_name === '') row.default_image_name = null;
  if ('access_type' in row && !ACCESS_TYPES.includes(row.access_type as never)) {
    throw invalidParameter(`access_type must be one of all, logged_in, acl; got ${JSON.stringify(row.access_type)}.`);
  }
  return { row: row as ContentUpdate, ownerGuid };
}

function coerce(key: string, kind: FieldKind, value: unknown): unknown {
  const fail = (expected: string): never => {
    throw invalidParameter(`Field "${key}" must be ${expected}; got ${JSON.stringify(value)}.`);
  };
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? value : fail('a string');
    case 'nullableString':
      return value === null || typeof value === 'string' ? value : fail('a string or null');
    case 'bool':
      return typeof value === 'boolean' ? (value ? 1 : 0) : fail('true or false');
    case 'nullableBool':
      return value === null ? null : typeof value === 'boolean' ? (value ? 1 : 0) : fail('true, false or null');
    case 'nonNegativeInt':
      return value === null ? null : Number.isInteger(value) && (value as number) >= 0 ? value : fail('a non-negative whole number or null');
    case 'nonNegativeNumber':
      return value === null ? null : typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fail('a non-negative number or null');
    case 'fraction':
      return value === null ? null : typeof value === 'number' && value >= 0 && value <= 1 ? value : fail('a number from 0 to 1, or null');
  }
}
