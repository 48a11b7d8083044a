import type { Manifest } from '../bundles/manifest.js';
import { APP_MODES, APP_MODE_TABLE, appModeKind, lecternRuns, type AppMode } from '../content/app-modes.js';
import type { JobTag } from '../launcher/launcher.js';

/** Which environment a mode runs in and how Lectern serves it. */
export interface ModeRunner {
  /** The environments the bundle needs restored. */
  needs: { python: boolean; r: boolean; quarto: boolean };
  /** run: a worker process per visit pool; render: rendered once, then served as files. */
  serve: 'run' | 'render' | 'static';
  /** The runtime/ script that serves or renders it. */
  script?: 'python/lectern_run.py' | 'python/lectern_render.py' | 'R/run.R' | 'R/render.R';
  tag?: JobTag;
}

/** Connect's job tag for each mode Lectern's Python runner serves (which module serves it: src/content/app-modes.ts). */
const PY_RUN: Partial<Record<AppMode, JobTag>> = {
  'python-api': 'run_python_api',
  'python-fastapi': 'run_fastapi_app',
  'python-dash': 'run_dash_app',
  'python-streamlit': 'run_streamlit',
  'python-bokeh': 'run_bokeh_app',
  'python-panel': 'run_panel_app',
  'python-gradio': 'run_gradio_app',
  'python-shiny': 'run_pyshiny_app',
  'jupyter-voila': 'run_voila_app',
};

/** Modes clients send that Lectern does not run (src/content/app-modes.ts); deploying them fails with code 109. */
export const UNSUPPORTED_MODES: ReadonlySet<string> = new Set(APP_MODES.filter((m) => m !== 'unknown' && !APP_MODE_TABLE[m].runs));

/** Whether content of this mode is served by worker processes (the scheduler's business). */
export function servedByWorkers(mode: string | null): boolean {
  return mode !== null && lecternRuns(mode) && appModeKind(mode) === 'interactive';
}

export function runnerFor(manifest: Manifest): ModeRunner | undefined {
  const mode = manifest.appMode;
  const quartoUsesR = (manifest.quarto?.engines ?? []).includes('knitr');
  const quartoUsesPython = (manifest.quarto?.engines ?? []).includes('jupyter') || manifest.python !== undefined;
  if (mode === 'static') return { needs: { python: false, r: false, quarto: false }, serve: 'static' };
  const pyTag = PY_RUN[mode];
  if (pyTag) return { needs: { python: true, r: false, quarto: false }, serve: 'run', script: 'python/lectern_run.py', tag: pyTag };
  switch (mode) {
    case 'jupyter-static':
      return { needs: { python: true, r: false, quarto: false }, serve: 'render', script: 'python/lectern_render.py', tag: 'build_jupyter' };
    case 'quarto-static':
      // The render script is Python; it uses the bundle's environment when the document has one.
      return { needs: { python: quartoUsesPython, r: quartoUsesR, quarto: true }, serve: 'render', script: 'python/lectern_render.py', tag: 'build_report' };
    case 'quarto-shiny':
      return quartoUsesR
        ? { needs: { python: false, r: true, quarto: true }, serve: 'run', script: 'R/run.R', tag: 'run_app' }
        : { needs: { python: true, r: false, quarto: true }, serve: 'run', script: 'python/lectern_run.py', tag: 'run_app' };
    case 'shiny':
    case 'rmd-shiny':
      return { needs: { python: false, r: true, quarto: false }, serve: 'run', script: 'R/run.R', tag: 'run_app' };
    case 'api':
      return { needs: { python: false, r: true, quarto: false }, serve: 'run', script: 'R/run.R', tag: 'run_api' };
    case 'rmd-static':
      return { needs: { python: false, r: true, quarto: false }, serve: 'render', script: 'R/render.R', tag: 'build_report' };
    default:
      return undefined;
  }
}
