"""python-fastapi: an ASGI app (FastAPI, Starlette, Quart, ...) served by uvicorn."""

from . import entrypoint
from .context import fail
from .prefix import ASGIPrefix


def serve_asgi(ctx, app, label, **options):
    try:
        import uvicorn
    except ImportError:
        fail("uvicorn is missing from the content's environment; redeploy so Lectern can add it.")
    ctx.listening(f"{label} (ASGI, uvicorn)")
    uvicorn.run(
        ASGIPrefix(app, ctx.base_path),
        host=ctx.host,
        port=ctx.port,
        # The prefix comes from X-Forwarded-Prefix, applied above; uvicorn's own proxy handling would
        # also rewrite the client address, which the app should see as the real one.
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level="info",
        access_log=False,
        timeout_keep_alive=75,
        **options,
    )


def run(ctx):
    app, label = entrypoint.load(ctx)
    if not callable(app):
        fail(f"{label} is not an ASGI application (it is {type(app).__name__}).")
    serve_asgi(ctx, app, label)
