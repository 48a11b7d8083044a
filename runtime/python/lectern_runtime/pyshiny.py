"""python-shiny: a Shiny for Python app (App object or Shiny Express file), served by uvicorn.

Shiny's page uses relative URLs (lib/..., websocket/), so it works under any prefix; the ASGI
wrapper still gives it root_path from X-Forwarded-Prefix.
"""

import os
import re
import traceback
from pathlib import Path

from . import entrypoint
from .asgi import serve_asgi
from .context import fail

# rsconnect names an Express app "shiny.express.app:<file escaped as a name>" (Connect's form).
EXPRESS = "shiny.express.app:"


def run(ctx):
    try:
        from shiny import express
    except ImportError:
        fail("shiny is missing from the content's environment; add it to requirements.txt.")
    spec = ctx.entrypoint or "app"
    if spec.startswith(EXPRESS):
        # Shiny's own escaping: every character other than [a-zA-Z0-9] became _<hex>_.
        file = re.sub("_([a-zA-Z0-9]+)_", lambda m: chr(int(m.group(1), 16)), spec[len(EXPRESS):])
    else:
        file = spec if spec.endswith(".py") else spec.replace(".", os.sep) + ".py"
        # An App object is imported; an Express file named directly (older manifests) has none.
        if ":" in spec or not express.is_express_app(file, ctx.app_dir):
            app, label = entrypoint.load(ctx)
            if not callable(app):
                fail(f"{label} is not a Shiny App (it is {type(app).__name__}).")
            serve_asgi(ctx, app, f"Shiny app {label}")
            return
    path = Path(ctx.app_dir) / file
    if not path.is_file():
        fail(f"the Shiny Express app {file} is not in the bundle.")
    try:
        app = express.wrap_express_app(path)  # imports the file once, as `shiny run` does
    except Exception:
        traceback.print_exc()
        fail(f"loading {file} failed; the traceback above comes from the app.")
    serve_asgi(ctx, app, f"Shiny Express app {file}")
