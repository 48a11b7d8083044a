"""python-streamlit: `streamlit run` on the app file, in this process.

No --server.baseUrlPath: the proxy strips the prefix, so Streamlit's routes stay at "/". Its page
uses relative asset URLs, and the browser derives the /_stcore/stream websocket and API URLs from
its own location (/content/<guid>/), so every prefix, vanity paths included, works unchanged.
"""

import os

from .context import fail


def run(ctx):
    script = ctx.script_path("app.py")
    try:
        from streamlit.web import cli
    except ImportError:
        fail("streamlit is missing from the content's environment; add it to requirements.txt.")
    ctx.listening(f"{os.path.basename(script)} (Streamlit)")
    # Command-line options win over the bundle's .streamlit/config.toml, which otherwise applies.
    cli.main(
        [
            "run", script,
            "--server.address", ctx.host,
            "--server.port", str(ctx.port),
            # No browser, no e-mail prompt, no usage statistics sent from the server.
            "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
            # The bundle is read-only and never changes under a running worker.
            "--server.fileWatcherType", "none",
            "--server.runOnSave", "false",
        ],
        prog_name="streamlit",
    )
