// What each job tag (Connect's names) means to a person reading the logs or the processes table.

const TAG_LABELS: Record<string, string> = {
  build_python: 'Python environment restore',
  build_r: 'R environment restore',
  build_jupyter: 'Notebook render',
  build_report: 'Report render',
  run_app: 'Application process',
  run_api: 'API process',
  run_dash_app: 'Dash process',
  run_streamlit: 'Streamlit process',
  run_bokeh_app: 'Bokeh process',
  run_fastapi_app: 'FastAPI process',
  run_python_api: 'Flask process',
  run_voila_app: 'Voilà process',
  run_gradio_app: 'Gradio process',
  run_panel_app: 'Panel process',
  run_pyshiny_app: 'Shiny process',
};

export function jobLabel(tag: string): string {
  return TAG_LABELS[tag] ?? tag.replace(/_/g, ' ');
}
