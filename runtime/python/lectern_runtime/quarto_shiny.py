"""quarto-shiny (Python): render the document with Quarto, then serve the Shiny app it generates.

`quarto render` of a `server: shiny` document writes <name>.html plus a Shiny for Python app
(<name>-app.py; app.py before Quarto 1.4) whose App serves that page and runs the server code. The
bundle is read-only, so this happens in a copy under HOME, once per worker start; the app is then
served like python-shiny content (relative URLs, websocket/ under any prefix).
"""

import importlib.util
import os
import sys
import traceback

import lectern_render

from .asgi import serve_asgi
from .context import fail


def run(ctx):
    quarto = os.environ.get("LECTERN_QUARTO")
    if not quarto:
        fail("Quarto is not available on this server (Quarto.Executable is not set), so this document cannot be served.")
    doc = lectern_render.source_document(ctx.app_dir, [ctx.entrypoint, ctx.primary_doc], (".qmd", ".ipynb"))
    scratch = lectern_render.copy_bundle(ctx.app_dir, os.path.join(os.path.expanduser("~"), "lectern-quarto-shiny"))
    lectern_render.run_tool([quarto, "render", doc], scratch, f"quarto render of {doc}")
    base = os.path.join(scratch, os.path.splitext(doc)[0])
    app_file = next((f for f in (base + "-app.py", os.path.join(os.path.dirname(base), "app.py")) if os.path.isfile(f)), None)
    if app_file is None:
        fail(f"quarto render of {doc} produced no Shiny app; the document needs `server: shiny` in its front matter.")
    # The generated app imports the document's own modules relative to itself, as `shiny run` would.
    sys.path.insert(0, os.path.dirname(app_file))
    os.chdir(os.path.dirname(app_file))
    try:
        spec = importlib.util.spec_from_file_location("quarto_shiny_app", app_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        app = module.app
    except Exception:
        traceback.print_exc()
        fail(f"loading the Shiny app Quarto generated from {doc} failed; the traceback above comes from it.")
    serve_asgi(ctx, app, f"Quarto Shiny document {doc}")
