import { parseVersion } from '../runtimes/interpreters.js';

// What an execution environment is, and the one validation every source goes through: the
// Environments API body, ClusterDefinition files and the declarative environments file.

export const RUNTIMES = ['python', 'r', 'quarto', 'tensorflow'] as const;
export type Runtime = (typeof RUNTIMES)[number];
export const MATCHING = ['any', 'exact', 'none'] as const;
export type Matching = (typeof MATCHING)[number];
/** The only cluster Lectern launches into. */
export const KUBERNETES = 'Kubernetes';

export interface InstallationDef {
  version: string;
  /** Absolute path of the interpreter (or quarto binary) inside the image. */
  path: string;
}

export type Installations = Record<Runtime, InstallationDef[]>;

export interface VolumeMount {
  source: { volume_type: 'nfs'; nfs_host: string; nfs_export_path: string } | { volume_type: 'pvc'; pvc_name: string };
  target: { path: string; read_only: boolean };
}

export interface EnvironmentDefinition {
  title: string;
  description: string;
  cluster_name: string;
  /** The container image. */
  name: string;
  matching: Matching;
  supervisor: string | null;
  installations: Installations;
  volume_mounts: VolumeMount[];
}

export type FieldPath = (string | number)[];

/** A definition that cannot be used; `path` locates the offending value (for file:line reports). */
export class DefinitionError extends Error {
  constructor(
    readonly path: FieldPath,
    message: string,
  ) {
    super(message);
  }
}

export function emptyInstallations(): Installations {
  return { python: [], r: [], quarto: [], tensorflow: [] };
}

// distribution/reference grammar, simplified: [host[:port]/]path[:tag][@digest].
const IMAGE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const VERSION = /^\d+(?:\.\d+){0,3}(?:[-+.][0-9A-Za-z.-]+)?$/;

/** Fields an API client may send back from a GET without meaning to change them. */
const READ_ONLY = new Set(['id', 'guid', 'created_time', 'updated_time', 'managed_by', 'environment_type']);

export interface ParseOptions {
  /** API POST: Connect requires title, name and cluster_name. Files default title to the image. */
  requireTitle: boolean;
  requireCluster: boolean;
  /** Accept (and ignore) read-only fields of an Environment object. */
  allowReadOnly: boolean;
}

/** Validates one environment object into a definition, or throws DefinitionError. */
export function parseDefinition(raw: unknown, options: ParseOptions, at: FieldPath = []): EnvironmentDefinition {
  const obj = object(raw, at, 'an environment');
  for (const key of Object.keys(obj)) {
    if (KNOWN.has(key)) continue;
    if (options.allowReadOnly && READ_ONLY.has(key)) continue;
    throw new DefinitionError([...at, key], `unknown field "${key}" (expected ${[...KNOWN].join(', ')})`);
  }
  const name = requiredString(obj, 'name', at, 'the container image, e.g. ghcr.io/acme/content:r4.4-py3.12');
  if (!IMAGE.test(name)) throw new DefinitionError([...at, 'name'], `"${name}" is not a container image reference (registry/repository:tag)`);
  const title = obj.title === undefined || obj.title === null ? (options.requireTitle ? missing(at, 'title') : name) : string(obj.title, [...at, 'title']);
  if (title.trim() === '') throw new DefinitionError([...at, 'title'], 'title must not be empty');
  const cluster = obj.cluster_name === undefined || obj.cluster_name === null ? (options.requireCluster ? missing(at, 'cluster_name') : KUBERNETES) : string(obj.cluster_name, [...at, 'cluster_name']);
  if (cluster !== KUBERNETES) throw new DefinitionError([...at, 'cluster_name'], `cluster_name must be "${KUBERNETES}", got "${cluster}"`);
  if (obj.environment_type !== undefined && obj.environment_type !== null && obj.environment_type !== KUBERNETES) {
    throw new DefinitionError([...at, 'environment_type'], `environment_type must be "${KUBERNETES}"`);
  }
  const matching = obj.matching === undefined || obj.matching === null ? 'any' : string(obj.matching, [...at, 'matching']);
  if (!MATCHING.includes(matching as Matching)) throw new DefinitionError([...at, 'matching'], `matching must be one of any, exact, none; got "${matching}"`);
  const supervisor = obj.supervisor === undefined || obj.supervisor === null || obj.supervisor === '' ? null : absolutePath(obj.supervisor, [...at, 'supervisor']);
  const description = obj.description === undefined || obj.description === null ? '' : string(obj.description, [...at, 'description']);

  const installations = emptyInstallations();
  for (const runtime of RUNTIMES) {
    if (obj[runtime] === undefined || obj[runtime] === null) continue;
    const section = object(obj[runtime], [...at, runtime], `{installations: [...]}`);
    for (const key of Object.keys(section)) if (key !== 'installations') throw new DefinitionError([...at, runtime, key], `unknown field "${key}" (expected installations)`);
    const list = section.installations ?? [];
    if (!Array.isArray(list)) throw new DefinitionError([...at, runtime, 'installations'], 'installations must be a list of {version, path}');
    const seen = new Set<string>();
    list.forEach((item, i) => {
      const where: FieldPath = [...at, runtime, 'installations', i];
      const inst = object(item, where, '{version, path}');
      for (const key of Object.keys(inst)) if (key !== 'version' && key !== 'path') throw new DefinitionError([...where, key], `unknown field "${key}" (expected version, path)`);
      const version = String(requiredScalar(inst, 'version', where));
      if (!VERSION.test(version) || !parseVersion(version)) throw new DefinitionError([...where, 'version'], `"${version}" is not a version number such as 3.12.4`);
      if (seen.has(version)) throw new DefinitionError([...where, 'version'], `${runtime} ${version} is listed twice`);
      seen.add(version);
      installations[runtime].push({ version, path: absolutePath(inst.path, [...where, 'path']) });
    });
  }

  const mountsRaw = obj.volume_mounts ?? [];
  if (!Array.isArray(mountsRaw)) throw new DefinitionError([...at, 'volume_mounts'], 'volume_mounts must be a list');
  const volume_mounts = mountsRaw.map((m, i) => volumeMount(m, [...at, 'volume_mounts', i]));

  return { title, description, cluster_name: cluster, name, matching: matching as Matching, supervisor, installations, volume_mounts };
}

const KNOWN = new Set(['name', 'title', 'description', 'cluster_name', 'matching', 'supervisor', 'volume_mounts', ...RUNTIMES]);

function volumeMount(raw: unknown, at: FieldPath): VolumeMount {
  const m = object(raw, at, '{source, target}');
  const source = object(m.source, [...at, 'source'], '{volume_type, …}');
  const target = object(m.target, [...at, 'target'], '{path, read_only}');
  const readOnly = target.read_only === undefined ? true : target.read_only;
  if (typeof readOnly !== 'boolean') throw new DefinitionError([...at, 'target', 'read_only'], 'read_only must be true or false');
  const t = { path: absolutePath(target.path, [...at, 'target', 'path']), read_only: readOnly };
  if (source.volume_type === 'nfs') {
    return {
      source: {
        volume_type: 'nfs',
        nfs_host: requiredString(source, 'nfs_host', [...at, 'source'], 'the NFS server'),
        nfs_export_path: absolutePath(source.nfs_export_path, [...at, 'source', 'nfs_export_path']),
      },
      target: t,
    };
  }
  if (source.volume_type === 'pvc') return { source: { volume_type: 'pvc', pvc_name: requiredString(source, 'pvc_name', [...at, 'source'], 'the PersistentVolumeClaim') }, target: t };
  throw new DefinitionError([...at, 'source', 'volume_type'], `volume_type must be "nfs" or "pvc"; got ${JSON.stringify(source.volume_type)}`);
}

function object(value: unknown, at: FieldPath, expected: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new DefinitionError(at, `expected ${expected}, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function string(value: unknown, at: FieldPath): string {
  if (typeof value !== 'string') throw new DefinitionError(at, `expected a string, got ${describe(value)}`);
  return value;
}

function requiredString(obj: Record<string, unknown>, key: string, at: FieldPath, what: string): string {
  const value = obj[key];
  if (value === undefined || value === null || value === '') throw new DefinitionError([...at, key], `"${key}" is required: ${what}`);
  return string(value, [...at, key]);
}

/** YAML reads `version: 4.4` as a number; accept it as written. */
function requiredScalar(obj: Record<string, unknown>, key: string, at: FieldPath): string | number {
  const value = obj[key];
  if (value === undefined || value === null || value === '') throw new DefinitionError([...at, key], `"${key}" is required`);
  if (typeof value !== 'string' && typeof value !== 'number') throw new DefinitionError([...at, key], `expected a string, got ${describe(value)}`);
  return value;
}

function absolutePath(value: unknown, at: FieldPath): string {
  const text = string(value ?? '', at);
  if (!text.startsWith('/') || text.includes('\0') || /(^|\/)\.\.(\/|$)/.test(text)) throw new DefinitionError(at, `expected an absolute path inside the image, got ${JSON.stringify(text)}`);
  return text;
}

function missing(at: FieldPath, key: string): never {
  throw new DefinitionError([...at, key], `"${key}" is required`);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : JSON.stringify(value);
}

/** "python.installations[0].version" for API error messages. */
export function formatPath(path: FieldPath): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '');
}
