"""python-bokeh: the app file served by a Bokeh server at "/".

The proxy strips the prefix, so the app is routed at "/" (not /app as `bokeh serve app.py` would,
whose redirect from "/" would lose the prefix). Bokeh's page finds its websocket from the browser's
location (/content/<guid>/ws), but writes root-relative script URLs (/static/js/bokeh.min.js): the
page handler below puts the request's X-Forwarded-Prefix in front of them.
"""

import os

from .context import fail
from .prefix import request_prefix


def run(ctx):
    script = ctx.script_path("app.py")
    try:
        from bokeh.command.util import build_single_handler_application
        from bokeh.embed.server import server_html_page_for_session
        from bokeh.server import urls
        from bokeh.server.server import Server
        from bokeh.server.views.doc_handler import DocHandler
    except ImportError:
        fail("bokeh is missing from the content's environment; add it to requirements.txt.")

    class PrefixedDocHandler(DocHandler):
        async def get(self, *args, **kwargs):
            session = await self.get_session()
            prefix = request_prefix(self.request.headers.get("X-Forwarded-Prefix"), ctx.base_path)
            page = server_html_page_for_session(
                session,
                resources=self.application.resources(prefix + "/"),
                title=session.document.title,
                template=session.document.template,
                template_variables=session.document.template_variables,
            )
            self.set_header("Content-Type", "text/html")
            self.write(page)

    # The server builds each app's routes from this list when it starts.
    urls.per_app_patterns[:] = [(p, PrefixedDocHandler if h is DocHandler else h) for p, h in urls.per_app_patterns]
    application = build_single_handler_application(script)
    # Bokeh runs the script once per session; a syntax error is known now, so fail at start.
    for handler in application.handlers:
        if getattr(handler, "failed", False):
            print(getattr(handler, "error_detail", "") or "", flush=True)
            fail(f"{os.path.basename(script)} cannot be loaded: {handler.error}")
    server = Server(
        {"/": application},
        address=ctx.host,
        port=ctx.port,
        # Browsers send the public origin, which only the proxy knows; it has checked access already.
        allow_websocket_origin=["*"],
        # X-Forwarded-Proto/-For from the proxy become the request's protocol and client address.
        use_xheaders=True,
        num_procs=1,
    )
    server.start()
    ctx.listening(f"{os.path.basename(script)} (Bokeh)")
    server.io_loop.start()
