"""python-api: a WSGI app (Flask, Django, Falcon, ...) served by waitress with a thread pool."""

import os

from . import entrypoint
from .context import fail
from .prefix import WSGIPrefix


def serve_wsgi(ctx, app, label):
    try:
        import waitress
    except ImportError:
        # Only when Lectern does not manage the environment (environment_management: false) and the
        # interpreter lacks waitress: the standard library still serves the app, one thread a request.
        return serve_stdlib(ctx, WSGIPrefix(app, ctx.base_path), label)
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


def serve_stdlib(ctx, app, label):
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    print("lectern: waitress is not installed in this environment; serving with the standard library's wsgiref", flush=True)
    server = make_server(ctx.host, ctx.port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    ctx.listening(f"{label} (WSGI, wsgiref)")
    server.serve_forever()
