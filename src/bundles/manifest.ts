import { isAppMode, normalizeAppMode, type AppMode } from '../content/app-modes.js';

export class ManifestError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

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
  python?: { version?: string; packageManager?: { name: string; version?: string; packageFile?: string; allowUv?: boolean } };
  quarto?: { version?: string; engines: string[] };
  r?: { version?: string };
  jupyter: { hideAllInput: boolean; hideTaggedInput: boolean };
  environment: { image?: string; environmentManagement: { python?: boolean; r?: boolean }; pythonRequires?: string; rRequires?: string };
  packages: Record<string, unknown> | null;
  files: string[];
  raw: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parses manifest.json; nulls and missing optional keys are tolerated, wrong types are not. */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`manifest.json is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObj(raw)) throw new ManifestError('manifest.json must contain a JSON object');
  const object = (value: unknown, field: string): Obj | undefined => {
    if (value === undefined || value === null) return undefined;
    if (!isObj(value)) throw new ManifestError(`manifest.json: ${field} must be an object`);
    return value;
  };
  const string = (value: unknown, field: string): string | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw new ManifestError(`manifest.json: ${field} must be a string, not ${JSON.stringify(value)}`);
    return value;
  };
  const bool = (value: unknown, field: string): boolean | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw new ManifestError(`manifest.json: ${field} must be true or false`);
    return value;
  };

  const metadata = object(raw.metadata, 'metadata');
  if (!metadata) throw new ManifestError('manifest.json: metadata is missing');
  const modeText = string(metadata.appmode, 'metadata.appmode');
  if (!modeText) throw new ManifestError('manifest.json: metadata.appmode is missing');
  const mode = normalizeAppMode(modeText);
  if (!isAppMode(mode) || mode === 'unknown') throw new ManifestError(`manifest.json: metadata.appmode '${modeText}' is not a known app mode`);

  const version = raw.version === undefined || raw.version === null ? 1 : raw.version;
  if (typeof version !== 'number') throw new ManifestError('manifest.json: version must be a number');

  const python = object(raw.python, 'python');
  const pm = object(python?.package_manager, 'python.package_manager');
  const quarto = object(raw.quarto, 'quarto');
  const engines = quarto?.engines ?? [];
  if (!Array.isArray(engines) || engines.some((e) => typeof e !== 'string')) throw new ManifestError('manifest.json: quarto.engines must be a list of strings');
  const jupyter = object(raw.jupyter, 'jupyter');
  const environment = object(raw.environment, 'environment');
  const management = object(environment?.environment_management, 'environment.environment_management');
  const envPython = object(environment?.python, 'environment.python');
  const envR = object(environment?.r, 'environment.r');
  const packages = raw.packages === undefined || raw.packages === null ? null : object(raw.packages, 'packages')!;
  const files = object(raw.files, 'files');
  const platform = string(raw.platform, 'platform');

  return {
    version,
    locale: string(raw.locale, 'locale'),
    platform,
    appMode: mode,
    entrypoint: string(metadata.entrypoint, 'metadata.entrypoint'),
    primaryRmd: string(metadata.primary_rmd, 'metadata.primary_rmd'),
    primaryHtml: string(metadata.primary_html, 'metadata.primary_html'),
    contentCategory: string(metadata.content_category, 'metadata.content_category') ?? '',
    hasParameters: bool(metadata.has_parameters, 'metadata.has_parameters') ?? false,
    python: python
      ? {
          version: string(python.version, 'python.version'),
          packageManager: pm
            ? {
                name: string(pm.name, 'python.package_manager.name') ?? 'pip',
                version: string(pm.version, 'python.package_manager.version'),
                packageFile: string(pm.package_file, 'python.package_manager.package_file'),
                allowUv: bool(pm.allow_uv, 'python.package_manager.allow_uv'),
              }
            : undefined,
        }
      : undefined,
    quarto: quarto ? { version: string(quarto.version, 'quarto.version'), engines: engines as string[] } : undefined,
    r: platform || packages ? { version: platform } : undefined,
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
      pythonRequires: string(envPython?.requires, 'environment.python.requires'),
      rRequires: string(envR?.requires, 'environment.r.requires'),
    },
    packages,
    files: files ? Object.keys(files).map((f) => f.replace(/^(\.\/)+/, '')).filter(Boolean) : [],
    raw,
  };
}

/** The HTML document served at the root of static content. */
export function primaryDocument(manifest: Pick<Manifest, 'primaryHtml' | 'entrypoint'>, fileList: string[]): string | null {
  if (manifest.primaryHtml) return manifest.primaryHtml.replace(/^\.\//, '');
  if (manifest.entrypoint && /\.html?$/i.test(manifest.entrypoint)) return manifest.entrypoint.replace(/^\.\//, '');
  for (const index of ['index.html', 'index.htm']) if (fileList.includes(index)) return index;
  const html = fileList.filter((f) => /\.html?$/i.test(f) && !f.includes('/'));
  return html.length === 1 ? html[0]! : null;
}
