// Every app mode the clients know (connect-api.md §3.4), with the integer ordinals of v0 records.
// Ordinal 19 is unassigned in the clients.
const ORDINALS = {
  unknown: 0,
  shiny: 1,
  'rmd-shiny': 2,
  'rmd-static': 3,
  static: 4,
  api: 5,
  'tensorflow-saved-model': 6,
  'jupyter-static': 7,
  'python-api': 8,
  'python-dash': 9,
  'python-streamlit': 10,
  'python-bokeh': 11,
  'python-fastapi': 12,
  'quarto-shiny': 13,
  'quarto-static': 14,
  'python-shiny': 15,
  'jupyter-voila': 16,
  'python-gradio': 17,
  'python-panel': 18,
  nodejs: 20,
} as const;

export type AppMode = keyof typeof ORDINALS;
export type AppModeKind = 'static' | 'rendered' | 'interactive' | 'unknown';

export const APP_MODES: readonly AppMode[] = Object.freeze(Object.keys(ORDINALS) as AppMode[]);

const ALIASES: Readonly<Record<string, AppMode>> = { 'nodejs-api': 'nodejs' };

export function isAppMode(s: unknown): s is AppMode {
  return typeof s === 'string' && Object.hasOwn(ORDINALS, s);
}

/** The app mode named by `s`, accepting client aliases; undefined when it is not one. */
export function normalizeAppMode(s: string): AppMode | undefined {
  const mode = Object.hasOwn(ALIASES, s) ? ALIASES[s] : s;
  return isAppMode(mode) ? mode : undefined;
}

/** The v0 integer for a mode; stored values that are not a known mode map to 0 (unknown). */
export function appModeOrdinal(mode: string): number {
  const known = normalizeAppMode(mode);
  return known ? ORDINALS[known] : 0;
}

export function appModeFromOrdinal(n: number): AppMode | undefined {
  return APP_MODES.find((m) => ORDINALS[m] === n);
}

const RENDERED: ReadonlySet<AppMode> = new Set(['rmd-static', 'jupyter-static', 'quarto-static']);

/**
 * static: files served as they are; rendered: a document rendered on the server, then served;
 * interactive: a process serving each visit (posit-sdk `is_interactive`); unknown: not deployable.
 */
export function appModeKind(mode: string): AppModeKind {
  const known = normalizeAppMode(mode);
  if (known === undefined || known === 'unknown') return 'unknown';
  if (known === 'static') return 'static';
  return RENDERED.has(known) ? 'rendered' : 'interactive';
}
