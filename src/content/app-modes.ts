// Every app mode the clients know (connect-api.md §3.4), with the integer ordinals of v0 records.
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
export const APP_MODES = Object.keys(ORDINALS) as readonly AppMode[];

export const isAppMode = (s: unknown): s is AppMode => typeof s === 'string' && Object.hasOwn(ORDINALS, s);

export function normalizeAppMode(s: string): string {
  return s === 'nodejs-api' ? 'nodejs' : s;
}

export const appModeOrdinal = (mode: string): number => (isAppMode(mode) ? ORDINALS[mode] : 0);

export function appModeFromOrdinal(n: number): AppMode | undefined {
  return APP_MODES.find((m) => ORDINALS[m] === n);
}

const RENDERED = new Set<AppMode>(['rmd-static', 'jupyter-static', 'quarto-static']);

export function appModeKind(mode: string): 'static' | 'rendered' | 'interactive' | 'unknown' {
  if (mode === 'static') return 'static';
  if (!isAppMode(mode) || mode === 'unknown') return 'unknown';
  return RENDERED.has(mode) ? 'rendered' : 'interactive';
}
