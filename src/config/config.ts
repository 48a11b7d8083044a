import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import { parseGcfg } from './gcfg.js';
import { closest } from './closest.js';
import { SETTINGS, envVarName, splitKey, type SettingDef, type SettingKey, type SettingValue } from './settings.js';

export type SettingSource = { kind: 'default' } | { kind: 'file'; file: string; line: number } | { kind: 'env'; name: string };

export class ConfigError extends Error {}

interface Resolved {
  value: unknown;
  raw: string | readonly string[];
  source: SettingSource;
}

/** The effective settings: defaults, then the gcfg file, then LECTERN_SECTION_KEY variables. */
export class Config {
  /** The gcfg file the settings came from, if any (hidden from content processes). */
  private constructor(
    private readonly values: Map<SettingKey, Resolved>,
    readonly file?: string,
    /** LECTERN_* variables that set nothing (a typo, most likely), with the closest setting. */
    readonly warnings: readonly string[] = [],
  ) {}

  static load(options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<Record<SettingKey, string>> } = {}): Config {
    const env = options.env ?? process.env;
    const values = new Map<SettingKey, Resolved>();
    const keys = Object.keys(SETTINGS) as SettingKey[];
    for (const key of keys) {
      const def: SettingDef = SETTINGS[key];
      values.set(key, { value: parseSetting(key, def.default, 'default value'), raw: def.default, source: { kind: 'default' } });
    }
    if (options.file) {
      let text: string;
      try {
        text = readFileSync(options.file, 'utf8');
      } catch (err) {
        throw new ConfigError(`cannot read configuration file ${options.file}: ${(err as Error).message}`);
      }
      const listsSeen = new Set<SettingKey>();
      for (const entry of parseGcfgOrThrow(text, options.file)) {
        const where = `${options.file}:${entry.line}`;
        const key = keys.find((k) => {
          const { section, name } = splitKey(k);
          return section.toLowerCase() === entry.section.toLowerCase() && name.toLowerCase() === entry.key.toLowerCase();
        });
        if (!key) {
          const near = closest(`${entry.section}.${entry.key}`, keys);
          throw new ConfigError(`${where}: unknown setting [${entry.section}] ${entry.key}${near ? ` (did you mean [${splitKey(near).section}] ${splitKey(near).name}?)` : ''}`);
        }
        const def: SettingDef = SETTINGS[key];
        const source: SettingSource = { kind: 'file', file: options.file, line: entry.line };
        if (def.type === 'list') {
          const previous = listsSeen.has(key) ? [...(values.get(key)!.raw as readonly string[])] : [];
          listsSeen.add(key);
          const raw = [...previous, entry.value];
          values.set(key, { value: raw, raw, source });
        } else {
          values.set(key, { value: parseSetting(key, entry.value, `${where}: [${splitKey(key).section}] ${splitKey(key).name}`), raw: entry.value, source });
        }
      }
    }
    for (const key of keys) {
      const name = envVarName(key);
      const raw = options.overrides?.[key] ?? env[name];
      if (raw === undefined) continue;
      const def: SettingDef = SETTINGS[key];
      const value =
        def.type === 'list'
          ? raw
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : parseSetting(key, raw, `environment variable ${name}`);
      values.set(key, { value, raw, source: { kind: 'env', name } });
    }
    return new Config(values, options.file ? path.resolve(options.file) : undefined, unknownVariables(env));
  }

  get<K extends SettingKey>(key: K): SettingValue<K> {
    return this.values.get(key)!.value as SettingValue<K>;
  }

  source(key: SettingKey): SettingSource {
    return this.values.get(key)!.source;
  }

  /** Every setting with its effective value, for `lectern config` and the admin settings view. */
  describe(): Array<{ key: SettingKey; section: string; name: string; value: string; source: string; description: string }> {
    return (Object.keys(SETTINGS) as SettingKey[]).map((key) => {
      const def: SettingDef = SETTINGS[key];
      const resolved = this.values.get(key)!;
      const shown: string = typeof resolved.raw !== 'string' ? resolved.raw.join(', ') : resolved.raw;
      const source = resolved.source;
      return {
        key,
        ...splitKey(key),
        value: def.secret && shown !== '' ? '(set)' : shown,
        source: source.kind === 'default' ? 'default' : source.kind === 'file' ? `${source.file}:${source.line}` : `env ${source.name}`,
        description: def.description,
      };
    });
  }

  // Derived values that several modules need; computed here so they agree.

  dataDir(): string {
    const configured = this.get('Server.DataDir');
    if (configured) return path.resolve(configured);
    return process.getuid?.() === 0 ? '/var/lib/lectern' : path.join(homedir(), '.local', 'share', 'lectern');
  }

  /**
   * Stable across restarts, so a restarted server finds (and closes or adopts) the jobs its previous
   * run left behind. Two servers on one host need their own names (start-up refuses a live one's).
   */
  replicaName(): string {
    return this.get('Server.ReplicaName') || hostname();
  }

  /**
   * Off-host execution: every build, render and app process runs as a Kubernetes Job in an image
   * chosen per content. The one place that decides it.
   */
  offHostExecution(): boolean {
    return this.get('Launcher.Enabled') && this.get('Launcher.Kubernetes');
  }

  listenAddress(): { host: string; port: number } {
    return parseListen(this.get('HTTP.Listen'));
  }
}

/** LECTERN_* variables the server reads that are not settings. */
const OTHER_VARIABLES = new Set(['LECTERN_CONFIG', 'LECTERN_DASHBOARD_DIR', 'LECTERN_RUNTIME_DIR']);

function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const names = (Object.keys(SETTINGS) as SettingKey[]).map(envVarName);
  const known = new Set([...names, ...OTHER_VARIABLES]);
  return Object.keys(env)
    .filter((name) => name.startsWith('LECTERN_') && !known.has(name))
    .sort()
    .map((name) => {
      const near = closest(name, names);
      return `the environment variable ${name} matches no setting and is ignored${near ? ` (did you mean ${near}?)` : ''}`;
    });
}

function parseGcfgOrThrow(text: string, file: string) {
  try {
    return parseGcfg(text, file);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  if (!match) throw new ConfigError(`[HTTP] Listen: "${listen}" is not of the form "host:port" or ":port"`);
  const port = Number(match[3]);
  if (port > 65535) throw new ConfigError(`[HTTP] Listen: port ${port} is out of range`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

function parseSetting(key: SettingKey, raw: string | readonly string[], where: string): unknown {
  const def: SettingDef = SETTINGS[key];
  if (def.type === 'list') return Array.isArray(raw) ? [...raw] : [raw];
  const text = String(raw).trim();
  const fail = (expected: string): never => {
    throw new ConfigError(`${where}: ${JSON.stringify(text)} is not ${expected}`);
  };
  const checkMin = (n: number) => {
    if (def.min !== undefined && n < def.min) throw new ConfigError(`${where}: must be at least ${def.min}, got ${n}`);
    return n;
  };
  switch (def.type) {
    case 'string':
      return text;
    case 'int':
      if (!/^-?\d+$/.test(text)) fail('a whole number');
      return checkMin(Number(text));
    case 'float':
      if (text === '' || Number.isNaN(Number(text))) fail('a number');
      return checkMin(Number(text));
    case 'bool':
      if (/^(true|yes|on|1)$/i.test(text)) return true;
      if (/^(false|no|off|0)$/i.test(text)) return false;
      return fail('true or false');
    case 'enum':
      if (!def.choices!.includes(text)) fail(`one of ${def.choices!.join(', ')}`);
      return text;
    case 'duration':
      return parseDuration(text) ?? fail('a duration such as "500ms", "30s", "5m" or "1h30m"');
    case 'bytes':
      return parseBytes(text) ?? fail('a size such as "512MiB", "2GB" or a number of bytes');
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations ("1h30m", "45s", "250ms"); a bare number means seconds. Returns milliseconds. */
export function parseDuration(text: string): number | null {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const parts = text.match(/(\d+(?:\.\d+)?)(ms|s|m|h)/g);
  if (!parts || parts.join('') !== text) return null;
  return parts.reduce((sum, part) => {
    const [, n, unit] = /(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(part)!;
    return sum + Number(n) * DURATION_UNITS[unit!]!;
  }, 0);
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 1024,
  kib: 1024,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

export function parseBytes(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
  if (!match) return null;
  const unit = BYTE_UNITS[match[2]!.toLowerCase()];
  return unit === undefined ? null : Math.floor(Number(match[1]) * unit);
}
