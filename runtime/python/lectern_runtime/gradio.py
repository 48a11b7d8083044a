"""python-gradio: the app's Blocks/Interface mounted in a FastAPI app, served by uvicorn.

Gradio builds absolute URLs (its config's "root", file and redirect URLs) from X-Forwarded-Host plus
its root_path, so root_path is the /content/<guid> prefix known at start; pages reached through a
vanity path then load from /content/<guid>/, which serves the same worker.
"""

import os

from . import entrypoint
from .asgi import serve_asgi
from .context import fail


def run(ctx):
    # Read by Gradio when the app module creates its Blocks, so set before the import. The server
    # settings also cover an app that calls demo.launch() at import time (outside a __main__
    # guard): Gradio then serves it itself, on this port and under this root path.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_SSR_MODE", "False")  # server-side rendering needs a Node server
    os.environ["GRADIO_SERVER_NAME"] = ctx.host
    os.environ["GRADIO_SERVER_PORT"] = str(ctx.port)
    os.environ["GRADIO_ROOT_PATH"] = ctx.base_path
    # Its default, .gradio/ in the working directory, is in the read-only bundle.
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", os.path.join(os.path.expanduser("~"), ".gradio", "cached_examples"))
    try:
        import gradio
        from fastapi import FastAPI
    except ImportError:
        fail("gradio is missing from the content's environment; add it to requirements.txt.")
    demo, label = entrypoint.load(ctx)
    if not isinstance(demo, gradio.Blocks):
        fail(f"{label} is not a Gradio Blocks or Interface (it is {type(demo).__name__}).")
    app = gradio.mount_gradio_app(FastAPI(), demo, path="/", root_path=ctx.base_path)
    serve_asgi(ctx, under_base_path(app, ctx.base_path), f"Gradio app {label}")


def under_base_path(app, base_path):
    """Routes a request that came through a vanity path as if it came through base_path.

    Gradio's app sets its own root_path and routes on the path below it, so the path must start
    with that root_path, not with the request's X-Forwarded-Prefix (applied by serve_asgi).
    """

    async def routed(scope, receive, send):
        root = scope.get("root_path", "")
        if scope["type"] in ("http", "websocket") and base_path and root != base_path and scope["path"].startswith(root):
            rest = scope["path"][len(root):]
            scope = dict(scope, root_path=base_path, path=base_path + rest)
            if scope.get("raw_path") is not None:
                scope["raw_path"] = base_path.encode("latin-1") + scope["raw_path"][len(root.encode("latin-1")):]
        await app(scope, receive, send)

    return routed
