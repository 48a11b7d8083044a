"""python-panel: the app file (.py, .ipynb or .md) served by Panel's Bokeh server at "/".

The proxy strips the prefix, so the app is routed at "/" (not /app as `panel serve app.py` would,
whose redirect from "/" would lose the prefix). Served there, Panel writes relative resource URLs
(static/js/bokeh.min.js) and the page finds its websocket from the browser's location, so every
prefix, vanity paths included, works unchanged.
"""

import os

from .context import fail


def run(ctx):
    script = ctx.script_path("app.py")
    try:
        from panel.io.server import get_server
    except ImportError:
        fail("panel is missing from the content's environment; add it to requirements.txt.")
    server = get_server(
        {"/": script},
        address=ctx.host,
        port=ctx.port,
        # Browsers send the public origin, which only the proxy knows; it has checked access already.
        websocket_origin="*",
        show=False,
        start=False,
        # X-Forwarded-Proto/-For from the proxy become the request's protocol and client address.
        use_xheaders=True,
        num_procs=1,
    )
    server.start()
    ctx.listening(f"{os.path.basename(script)} (Panel)")
    server.io_loop.start()
