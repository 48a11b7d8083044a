"""python-api: a WSGI app (Flask, Django, Falcon, ...) served by waitress with a thread pool."""

import os

from . import entrypoint
from .context import fail
from .prefix import WSGIPrefix


def serve_wsgi(ctx, app, label):
    try:
        import waitress
    except ImportError:
        fail("waitress is missing from the content's environment; redeploy so Lectern can add it.")
    # Threads bound concurrency per worker; the scheduler adds workers beyond max_conns_per_process.
    threads = int(os.environ.get("LECTERN_WSGI_THREADS", "16"))
    ctx.listening(f"{label} (WSGI, waitress, {threads} threads)")
    waitress.serve(
        WSGIPrefix(app, ctx.base_path),
        host=ctx.host,
        port=ctx.port,
        threads=threads,
        ident="",
        # The proxy in front already buffers slow clients; don't cap bodies below Lectern's own limits.
        max_request_body_size=1 << 40,
        channel_timeout=3600,
        _quiet=True,
    )


def run(ctx):
    app, label = entrypoint.load(ctx)
    if not callable(app):
        fail(f"{label} is not a WSGI application (it is {type(app).__name__}).")
    serve_wsgi(ctx, app, label)
