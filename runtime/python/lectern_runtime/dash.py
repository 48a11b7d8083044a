"""python-dash: Dash builds its asset and callback URLs from requests_pathname_prefix at construction."""

import os

from . import entrypoint
from .context import fail
from .wsgi import serve_wsgi


def run(ctx):
    # Dash reads these when the app object is created (during import), so set them first. The
    # routes stay at "/" because the proxy strips the prefix before the request reaches the worker.
    prefix = (ctx.base_path or "") + "/"
    os.environ.setdefault("DASH_REQUESTS_PATHNAME_PREFIX", prefix)
    os.environ.setdefault("DASH_ROUTES_PATHNAME_PREFIX", "/")
    app, label = entrypoint.load(ctx)
    server = getattr(app, "server", app)
    if not callable(server):
        fail(f"{label} is neither a Dash app nor a WSGI server (it is {type(app).__name__}).")
    serve_wsgi(ctx, server, label)
