"""What each Python app mode needs beyond the bundle's own requirements.

Shared by the restore (which installs the runner packages a bundle lacks) and the runners.
Plain data, no imports beyond the standard library: the restore runs it with the bare interpreter.
Shared by lectern_run.py too (which module serves a mode).
"""

import json
import os

# The app-mode table is declared once, in src/content/app-modes.ts; app_modes.json beside this
# file is generated from it (scripts/generate-app-modes.ts) and checked against it by the tests.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "app_modes.json"), encoding="utf-8") as _file:
    _MODES = json.load(_file)["modes"]

# Packages Lectern's runner for a mode imports itself. A bundle that already lists one keeps its
# own pin; the others are added unpinned to the same install so they resolve together.
RUNNER_PACKAGES = {mode: spec["packages"] for mode, spec in _MODES.items()}

# The object an entrypoint without ":name" refers to, tried in order (Connect's defaults).
DEFAULT_OBJECTS = {mode: spec["objects"] for mode, spec in _MODES.items() if "objects" in spec}

DEFAULT_ENTRYPOINTS = {mode: spec["entrypoint"] for mode, spec in _MODES.items() if "entrypoint" in spec}

# The module under lectern_runtime/ that serves each mode lectern_run.py runs.
RUNNERS = {mode: spec["runner"] for mode, spec in _MODES.items() if "runner" in spec}


def canonical_name(requirement_name):
    """PEP 503 normalisation, so "Flask_Cors" and "flask-cors" count as the same package."""
    import re

    return re.sub(r"[-_.]+", "-", requirement_name).lower()
