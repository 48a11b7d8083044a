// Every app mode the clients know (connect-api.md §3.4), declared once: the server, the
// dashboard (dashboard/src/ui/app-modes.ts imports this file), the Python runtime (through
// runtime/python/app_modes.json, generated from this table by scripts/generate-app-modes.ts and
// checked against it by test/unit/app-modes.test.ts) and the tests read it. No imports: the
// dashboard's bundler and the generator load it as it is.

export type AppModeKind = 'static' | 'rendered' | 'interactive' | 'unknown';
/** How the dashboard's content list groups modes. */
export type ContentGroup = 'app' | 'api' | 'document' | 'site';

/** What Lectern's Python runtime needs to know of a mode it serves or renders. */
export interface PythonRuntimeSpec {
  /** The module under runtime/python/lectern_runtime/ that serves it; absent for modes rendered by lectern_render.py. */
  runner?: string;
  /**
   * Packages the runner imports itself: a bundle that lists one keeps its own pin, the others are
   * added unpinned to the same install so they resolve together.
   */
  packages: string[];
  /** The object an entrypoint without ":name" refers to, tried in order (Connect's defaults). */
  objects?: string[];
  /** The entrypoint when the manifest names none. */
  entrypoint?: string;
}

export interface AppModeSpec {
  /** The integer of v0 records. Ordinal 19 is unassigned in the clients. */
  ordinal: number;
  /**
   * static: files served as they are; rendered: a document rendered on the server, then served;
   * interactive: a process serving each visit (posit-sdk `is_interactive`); unknown: not deployable.
   */
  kind: AppModeKind;
  /**
   * Whether Lectern runs it. Connect's `tensorflow-saved-model` and `nodejs` are modes clients
   * send (so manifests naming them parse, and the v0 ordinals stay right), but Lectern has no
   * runner for them: their deploys fail with code 109, saying what is supported.
   */
  runs: boolean;
  /** What people call it (the dashboard). */
  label: string;
  /** The dashboard's content-list group; absent for modes no deployed content can have. */
  group?: ContentGroup;
  /** Served or rendered by Lectern's Python runtime (runtime/python). */
  python?: PythonRuntimeSpec;
}

const WSGI_OBJECTS = ['app', 'application', 'create_app', 'make_app'];

export const APP_MODE_TABLE = {
  unknown: { ordinal: 0, kind: 'unknown', runs: false, label: 'Not deployed' },
  shiny: { ordinal: 1, kind: 'interactive', runs: true, label: 'Shiny', group: 'app' },
  'rmd-shiny': { ordinal: 2, kind: 'interactive', runs: true, label: 'R Markdown (Shiny)', group: 'app' },
  'rmd-static': { ordinal: 3, kind: 'rendered', runs: true, label: 'R Markdown', group: 'document' },
  static: { ordinal: 4, kind: 'static', runs: true, label: 'Static site', group: 'site' },
  api: { ordinal: 5, kind: 'interactive', runs: true, label: 'Plumber API', group: 'api' },
  'tensorflow-saved-model': { ordinal: 6, kind: 'interactive', runs: false, label: 'TensorFlow model' },
  'jupyter-static': { ordinal: 7, kind: 'rendered', runs: true, label: 'Jupyter notebook', group: 'document', python: { packages: ['nbconvert', 'nbclient', 'ipykernel'] } },
  'python-api': { ordinal: 8, kind: 'interactive', runs: true, label: 'Flask API', group: 'api', python: { runner: 'wsgi', packages: ['waitress'], objects: WSGI_OBJECTS, entrypoint: 'app' } },
  'python-dash': { ordinal: 9, kind: 'interactive', runs: true, label: 'Dash', group: 'app', python: { runner: 'dash', packages: ['waitress'], objects: ['app', 'application'], entrypoint: 'app' } },
  'python-streamlit': { ordinal: 10, kind: 'interactive', runs: true, label: 'Streamlit', group: 'app', python: { runner: 'streamlit', packages: [], entrypoint: 'app.py' } },
  'python-bokeh': { ordinal: 11, kind: 'interactive', runs: true, label: 'Bokeh', group: 'app', python: { runner: 'bokeh', packages: [], entrypoint: 'app.py' } },
  'python-fastapi': {
    ordinal: 12,
    kind: 'interactive',
    runs: true,
    label: 'FastAPI',
    group: 'api',
    python: { runner: 'asgi', packages: ['uvicorn'], objects: ['app', 'application', 'create_app'], entrypoint: 'app' },
  },
  'quarto-shiny': {
    ordinal: 13,
    kind: 'interactive',
    runs: true,
    label: 'Quarto (Shiny)',
    group: 'app',
    python: { runner: 'quarto_shiny', packages: ['nbclient', 'nbformat', 'ipykernel', 'pyyaml', 'shiny', 'uvicorn'] },
  },
  'quarto-static': { ordinal: 14, kind: 'rendered', runs: true, label: 'Quarto document', group: 'document', python: { packages: ['nbclient', 'nbformat', 'ipykernel', 'pyyaml'] } },
  'python-shiny': { ordinal: 15, kind: 'interactive', runs: true, label: 'Shiny for Python', group: 'app', python: { runner: 'pyshiny', packages: ['uvicorn'], objects: ['app'], entrypoint: 'app' } },
  // The notebook runs in an ipykernel of the bundle's environment.
  'jupyter-voila': { ordinal: 16, kind: 'interactive', runs: true, label: 'Voilà', group: 'app', python: { runner: 'voila', packages: ['voila', 'ipykernel'] } },
  'python-gradio': {
    ordinal: 17,
    kind: 'interactive',
    runs: true,
    label: 'Gradio',
    group: 'app',
    python: { runner: 'gradio', packages: ['uvicorn'], objects: ['demo', 'app', 'interface'], entrypoint: 'app' },
  },
  'python-panel': { ordinal: 18, kind: 'interactive', runs: true, label: 'Panel', group: 'app', python: { runner: 'panel', packages: [], entrypoint: 'app.py' } },
  nodejs: { ordinal: 20, kind: 'interactive', runs: false, label: 'Node.js' },
} as const satisfies Record<string, AppModeSpec>;

export type AppMode = keyof typeof APP_MODE_TABLE;

export const APP_MODES: readonly AppMode[] = Object.freeze(Object.keys(APP_MODE_TABLE) as AppMode[]);

/** Other names clients send for a mode. */
const ALIASES: Readonly<Record<string, AppMode>> = { 'nodejs-api': 'nodejs' };

export function isAppMode(s: unknown): s is AppMode {
  return typeof s === 'string' && Object.hasOwn(APP_MODE_TABLE, s);
}

/** The app mode named by `s`, accepting client aliases; undefined when it is not one. */
export function normalizeAppMode(s: string): AppMode | undefined {
  const mode = Object.hasOwn(ALIASES, s) ? ALIASES[s] : s;
  return isAppMode(mode) ? mode : undefined;
}

/** The declaration of `mode` (aliases accepted); undefined for a name that is no mode. */
export function appModeSpec(mode: string): AppModeSpec | undefined {
  const known = normalizeAppMode(mode);
  return known === undefined ? undefined : APP_MODE_TABLE[known];
}

/** The v0 integer for a mode; stored values that are not a known mode map to 0 (unknown). */
export function appModeOrdinal(mode: string): number {
  return appModeSpec(mode)?.ordinal ?? 0;
}

export function appModeFromOrdinal(n: number): AppMode | undefined {
  return APP_MODES.find((m) => APP_MODE_TABLE[m].ordinal === n);
}

export function appModeKind(mode: string): AppModeKind {
  return appModeSpec(mode)?.kind ?? 'unknown';
}

/** Whether Lectern runs content of this mode (see AppModeSpec.runs). */
export function lecternRuns(mode: string): boolean {
  return appModeSpec(mode)?.runs ?? false;
}

/** Modes of one kind, in table order. */
export function appModesOfKind(kind: AppModeKind): AppMode[] {
  return APP_MODES.filter((m) => APP_MODE_TABLE[m].kind === kind);
}

/**
 * The table's part the Python runtime reads, as runtime/python/app_modes.json holds it (written by
 * scripts/generate-app-modes.ts; test/unit/app-modes.test.ts fails when the file is stale).
 */
export function pythonRuntimeModes(): { comment: string; modes: Record<string, PythonRuntimeSpec> } {
  const modes: Record<string, PythonRuntimeSpec> = {};
  for (const mode of APP_MODES) {
    const spec: AppModeSpec = APP_MODE_TABLE[mode];
    if (spec.python) modes[mode] = spec.python;
  }
  return { comment: 'Generated from src/content/app-modes.ts by scripts/generate-app-modes.ts: edit the table there, then run `node --import tsx scripts/generate-app-modes.ts`.', modes };
}
