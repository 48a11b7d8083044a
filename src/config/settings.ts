// The single table of every Lectern setting. Parsing, validation, `lectern config` output and
// docs/configuration.md are all derived from it: add a setting here and nowhere else.

export type SettingType = 'string' | 'int' | 'float' | 'bool' | 'duration' | 'bytes' | 'enum' | 'list';

export interface SettingDef {
  readonly type: SettingType;
  /** Written as it would be in the file; parsed like any other source. */
  readonly default: string | readonly string[];
  readonly description: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  /** Shown as "(set)" instead of its value by `lectern config`. */
  readonly secret?: boolean;
}

export const SETTINGS = {
  'HTTP.Listen': {
    type: 'string',
    default: ':3939',
    description: 'Address and port to listen on: ":3939", "127.0.0.1:3939" or "[::1]:3939".',
  },
  'Server.DataDir': {
    type: 'string',
    default: '',
    description:
      'Where bundles, extracted content, environments, job logs and (SQLite mode) the database live. ' +
      'Empty = /var/lib/lectern when running as root, else ~/.local/share/lectern.',
  },
  'Server.Address': {
    type: 'string',
    default: '',
    description:
      'Public URL of this server (e.g. "https://lectern.example.org/"), used to build content_url and ' +
      'dashboard_url. Empty = derived from each request\'s Host header.',
  },
  'Server.APIVersion': {
    type: 'string',
    default: '2025.12.0',
    description:
      'Posit Connect API level reported as server_settings.version. Clients choose their publish flows ' +
      '(draft deploys, multipart uploads) from it, so it must be a three-part version.',
  },
  'Server.SecretKey': {
    type: 'string',
    default: '',
    secret: true,
    description:
      'Base64 key (32 bytes) that encrypts content environment variables at rest. Empty = a key generated ' +
      'once into <DataDir>/secret.key (shared storage keeps it identical across replicas).',
  },
  'Server.ReplicaName': {
    type: 'string',
    default: '',
    description: 'Name of this replica in task leases and logs. Empty = hostname and process id.',
  },
  'Database.Provider': {
    type: 'enum',
    default: 'sqlite',
    choices: ['sqlite', 'postgres'],
    description: 'sqlite (embedded, one server) or postgres (required for several replicas).',
  },
  'Postgres.URL': {
    type: 'string',
    default: '',
    secret: true,
    description: 'PostgreSQL connection URL, e.g. postgres://lectern:secret@db.example.org/lectern.',
  },
  'Authentication.SessionLifetime': {
    type: 'duration',
    default: '336h',
    description: 'How long a browser sign-in lasts.',
  },
  'Bundles.MaxUploadSize': {
    type: 'bytes',
    default: '2GiB',
    description: 'Largest bundle archive accepted (compressed size).',
  },
  'Bundles.MaxExtractedSize': {
    type: 'bytes',
    default: '8GiB',
    description: 'Largest total size of a bundle\'s files once extracted; guards against gzip bombs.',
  },
  'Bundles.MaxFiles': {
    type: 'int',
    default: '100000',
    min: 1,
    description: 'Most files one bundle may contain.',
  },
  'Tasks.LeaseTimeout': {
    type: 'duration',
    default: '30s',
    description: 'A running task whose replica has not renewed its lease for this long is taken over by another.',
  },
  'Tasks.PollInterval': {
    type: 'duration',
    default: '2s',
    description: 'How often an idle replica checks for queued tasks and expired leases (new tasks wake it at once).',
  },
  'Tasks.MaxAttempts': {
    type: 'int',
    default: '3',
    min: 1,
    description: 'Times a task is started before a replica failure fails it for good.',
  },
  'Tasks.Concurrency': {
    type: 'int',
    default: '2',
    min: 1,
    description: 'Tasks one replica runs at the same time.',
  },
  'Logging.Level': {
    type: 'enum',
    default: 'info',
    choices: ['debug', 'info', 'warn', 'error', 'silent'],
    description: 'Server log level (logs go to standard error as JSON lines).',
  },
} as const satisfies Record<string, SettingDef>;

export type SettingKey = keyof typeof SETTINGS;

type ValueFor<T extends SettingType> = T extends 'int' | 'float' | 'duration' | 'bytes'
  ? number
  : T extends 'bool'
    ? boolean
    : T extends 'list'
      ? string[]
      : string;

export type SettingValue<K extends SettingKey> = ValueFor<(typeof SETTINGS)[K]['type']>;

export function splitKey(key: SettingKey): { section: string; name: string } {
  const dot = key.indexOf('.');
  return { section: key.slice(0, dot), name: key.slice(dot + 1) };
}

export function envVarName(key: SettingKey): string {
  const { section, name } = splitKey(key);
  return `LECTERN_${section.toUpperCase()}_${name.toUpperCase()}`;
}
