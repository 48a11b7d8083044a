// Human names for Connect's app modes, grouped the way the content list filters them.

export interface ContentType {
  id: string;
  label: string;
  modes: string[];
}

export const CONTENT_TYPES: ContentType[] = [
  { id: 'app', label: 'Application', modes: ['shiny', 'python-shiny', 'python-dash', 'python-streamlit', 'python-bokeh', 'python-panel', 'python-gradio', 'jupyter-voila', 'rmd-shiny', 'quarto-shiny'] },
  { id: 'api', label: 'API', modes: ['api', 'python-api', 'python-fastapi'] },
  { id: 'document', label: 'Document', modes: ['rmd-static', 'jupyter-static', 'quarto-static'] },
  { id: 'site', label: 'Static site', modes: ['static'] },
];

const MODE_LABELS: Record<string, string> = {
  shiny: 'Shiny', 'python-shiny': 'Shiny for Python', 'python-dash': 'Dash', 'python-streamlit': 'Streamlit', 'python-bokeh': 'Bokeh',
  'python-panel': 'Panel', 'python-gradio': 'Gradio', 'jupyter-voila': 'Voilà', 'rmd-shiny': 'R Markdown (Shiny)', 'quarto-shiny': 'Quarto (Shiny)',
  api: 'Plumber API', 'python-api': 'Flask API', 'python-fastapi': 'FastAPI', 'rmd-static': 'R Markdown', 'jupyter-static': 'Jupyter notebook',
  'quarto-static': 'Quarto document', static: 'Static site', unknown: 'Not deployed',
};

export function modeLabel(appMode: string): string {
  return MODE_LABELS[appMode] ?? appMode;
}

export function contentTypeOf(appMode: string): ContentType | undefined {
  return CONTENT_TYPES.find((t) => t.modes.includes(appMode));
}

export const RENDERED_MODES = ['rmd-static', 'jupyter-static', 'quarto-static'];
export const RUNNING_MODES = CONTENT_TYPES.filter((t) => t.id === 'app' || t.id === 'api').flatMap((t) => t.modes);
