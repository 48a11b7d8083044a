import { normalizeAppMode, type AppMode } from '../content/app-modes.js';
import { bundleRelativePath } from './bundle-files.js';

/** A manifest.json that cannot be used; `reason` is a sentence fit to show to the publisher. */
export class ManifestError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ManifestError';
  }
}

export interface PythonPackageManager {
  name: string;
  version?: string;
  packageFile?: string;
  allowUv?: boolean;
}

/** The parts of manifest.json (connect-api.md §3.2–3.5) Lectern uses; everything else stays in `raw`. */
export interface Manifest {
  version: number;
  locale?: string;
  platform?: string;
  appMode: AppMode;
  entrypoint?: string;
  primaryRmd?: string;
  primaryHtml?: string;
  contentCategory: string;
  hasParameters: boolean;
  python?: { version?: string; packageManager?: PythonPackageManager };
  quarto?: { version?: string; engines: string[] };
  /** From the top-level `platform`, which is the R version. */
  r?: { version?: string };
  jupyter: { hideAllInput: boolean; hideTaggedInput: boolean };
  environment: {
    image?: string;
    environmentManagement: { python?: boolean; r?: boolean };
    pythonRequires?: string;
    rRequires?: string;
  };
  packages: Record<string, unknown> | null;
  /** Keys of the `files` map, without R's `./` prefix; may be empty or incomplete. */
  files: string[];
  raw: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'object':
      return 'an object';
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return `${value}`;
    case 'string':
      return `the string ${JSON.stringify(value)}`;
    default:
      return typeof value;
  }
}

function fail(reason: string): never {
  throw new ManifestError(`manifest.json: ${reason}`);
}

// Readers for optional fields: undefined and null both mean "not given"; any other wrong type is an error.
function object(value: unknown, field: string): Obj | undefined {
  if (value === undefined || value === null) return undefined;
  return isObj(value) ? value : fail(`${field} must be an object, not ${describe(value)}`);
}

function string(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : fail(`${field} must be a string, not ${describe(value)}`);
}

function bool(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'boolean' ? value : fail(`${field} must be true or false, not ${describe(value)}`);
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return fail(`${field} must be a list of strings, not ${describe(value)}`);
  return value.map((item, i) => string(item, `${field}[${i}]`) ?? fail(`${field}[${i}] must be a string, not null`));
}

const stripDotSlash = (p: string) => p.replace(/^(?:\.\/)+/, '');

/** The package file as a path inside the bundle ('' and null: none named). */
function packageFile(value: unknown): string | undefined {
  const name = string(value, 'python.package_manager.package_file');
  if (name === undefined || name === '') return name;
  const relative = bundleRelativePath(name);
  if ('problem' in relative) fail(`python.package_manager.package_file ${JSON.stringify(name)} ${relative.problem}`);
  return relative.path;
}

/** Parses and validates manifest.json, tolerating nulls and missing optional keys as both clients write them. */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new ManifestError(`manifest.json is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObj(raw)) throw new ManifestError(`manifest.json must contain a JSON object, not ${describe(raw)}`);

  const version = raw.version ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version)) fail(`version must be an integer, not ${describe(version)}`);

  const metadata = object(raw.metadata, 'metadata') ?? fail('metadata is missing');
  const modeName = string(metadata.appmode, 'metadata.appmode');
  if (modeName === undefined || modeName === '') fail('metadata.appmode is missing');
  const appMode = normalizeAppMode(modeName);
  if (appMode === undefined) fail(`metadata.appmode '${modeName}' is not a known app mode`);
  if (appMode === 'unknown') fail("metadata.appmode 'unknown' cannot be deployed");

  const python = object(raw.python, 'python');
  const packageManager = object(python?.package_manager, 'python.package_manager');
  const quarto = object(raw.quarto, 'quarto');
  const jupyter = object(raw.jupyter, 'jupyter');
  const environment = object(raw.environment, 'environment');
  const management = object(environment?.environment_management, 'environment.environment_management');
  const platform = string(raw.platform, 'platform');
  const files = object(raw.files, 'files');

  return {
    version,
    locale: string(raw.locale, 'locale'),
    platform,
    appMode,
    entrypoint: string(metadata.entrypoint, 'metadata.entrypoint'),
    primaryRmd: string(metadata.primary_rmd, 'metadata.primary_rmd'),
    primaryHtml: string(metadata.primary_html, 'metadata.primary_html'),
    contentCategory: string(metadata.content_category, 'metadata.content_category') ?? '',
    hasParameters: bool(metadata.has_parameters, 'metadata.has_parameters') ?? false,
    python: python && {
      version: string(python.version, 'python.version'),
      packageManager: packageManager && {
        name: string(packageManager.name, 'python.package_manager.name') ?? 'pip',
        version: string(packageManager.version, 'python.package_manager.version'),
        packageFile: packageFile(packageManager.package_file),
        allowUv: bool(packageManager.allow_uv, 'python.package_manager.allow_uv'),
      },
    },
    quarto: quarto && { version: string(quarto.version, 'quarto.version'), engines: stringList(quarto.engines, 'quarto.engines') },
    r: platform === undefined ? undefined : { version: platform },
    jupyter: {
      hideAllInput: bool(jupyter?.hide_all_input, 'jupyter.hide_all_input') ?? false,
      hideTaggedInput: bool(jupyter?.hide_tagged_input, 'jupyter.hide_tagged_input') ?? false,
    },
    environment: {
      image: string(environment?.image, 'environment.image'),
      environmentManagement: {
        python: bool(management?.python, 'environment.environment_management.python'),
        r: bool(management?.r, 'environment.environment_management.r'),
      },
      pythonRequires: string(object(environment?.python, 'environment.python')?.requires, 'environment.python.requires'),
      rRequires: string(object(environment?.r, 'environment.r')?.requires, 'environment.r.requires'),
    },
    packages: object(raw.packages, 'packages') ?? null,
    files: files
      ? [
          ...new Set(
            Object.keys(files)
              .map(stripDotSlash)
              .filter((f) => f !== ''),
          ),
        ]
      : [],
    raw,
  };
}

const isHtml = (f: string) => /\.html?$/i.test(f);

/**
 * The document served at the root of `static` content: primary_html, else an HTML entrypoint,
 * else index.html/index.htm, else the only HTML file; null when none of these applies.
 */
export function primaryDocument(manifest: Pick<Manifest, 'primaryHtml' | 'entrypoint'>, fileList: readonly string[]): string | null {
  if (manifest.primaryHtml) return stripDotSlash(manifest.primaryHtml);
  if (manifest.entrypoint && isHtml(manifest.entrypoint)) return stripDotSlash(manifest.entrypoint);
  const files = fileList.map(stripDotSlash);
  for (const index of ['index.html', 'index.htm']) if (files.includes(index)) return index;
  const html = files.filter(isHtml);
  return html.length === 1 ? html[0]! : null;
}
