"""What each Python app mode needs beyond the bundle's own requirements.

Shared by the restore (which installs the runner packages a bundle lacks) and the runners.
Plain data, no imports beyond the standard library: the restore runs it with the bare interpreter.
"""

# Packages Lectern's runner for a mode imports itself. A bundle that already lists one keeps its
# own pin; the others are added unpinned to the same install so they resolve together.
RUNNER_PACKAGES = {
    "python-api": ["waitress"],
    "python-dash": ["waitress"],
    "python-fastapi": ["uvicorn"],
    "python-gradio": ["uvicorn"],
    "python-shiny": ["uvicorn"],
    "python-streamlit": [],
    "python-bokeh": [],
    "python-panel": [],
    "jupyter-voila": ["voila", "ipykernel"],  # the notebook runs in an ipykernel of this environment
    "jupyter-static": ["nbconvert", "nbclient", "ipykernel"],
    "quarto-static": ["nbclient", "nbformat", "ipykernel", "pyyaml"],
    "quarto-shiny": ["nbclient", "nbformat", "ipykernel", "pyyaml", "shiny", "uvicorn"],
}

# The object an entrypoint without ":name" refers to, tried in order (Connect's defaults).
DEFAULT_OBJECTS = {
    "python-api": ["app", "application", "create_app", "make_app"],
    "python-dash": ["app", "application"],
    "python-fastapi": ["app", "application", "create_app"],
    "python-gradio": ["demo", "app", "interface"],
    "python-shiny": ["app"],
}

DEFAULT_ENTRYPOINTS = {
    "python-api": "app",
    "python-dash": "app",
    "python-fastapi": "app",
    "python-gradio": "app",
    "python-shiny": "app",
    "python-streamlit": "app.py",
    "python-bokeh": "app.py",
    "python-panel": "app.py",
}


def canonical_name(requirement_name):
    """PEP 503 normalisation, so "Flask_Cors" and "flask-cors" count as the same package."""
    import re

    return re.sub(r"[-_.]+", "-", requirement_name).lower()
