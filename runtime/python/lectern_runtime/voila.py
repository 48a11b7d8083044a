"""jupyter-voila: Voilà serving the entrypoint notebook, or every notebook of the bundle when the
entrypoint is empty (rsconnect --multi-notebook).

Voilà has separate prefixes for its routes and for the URLs it writes: server_url "/" because the
proxy strips the prefix, base_url /content/<guid>/ for pages, static files and the kernel
websocket (api/kernels/<id>/channels). A vanity-path page then loads those from
/content/<guid>/, which serves the same worker.
"""

import os

from .context import fail


def run(ctx):
    notebook = ctx.entrypoint
    if notebook and not os.path.isfile(os.path.join(ctx.app_dir, notebook)):
        present = ", ".join(sorted(f for f in os.listdir(ctx.app_dir) if f.endswith(".ipynb"))) or "none"
        fail(f"the entrypoint {notebook} is not in the bundle (notebooks present: {present}).")
    try:
        from voila.app import Voila
    except ImportError:
        fail("voila is missing from the content's environment; redeploy so Lectern can add it.")
    ctx.listening(f"{notebook or 'the notebooks'} (Voila)")
    Voila.launch_instance(
        argv=([notebook] if notebook else [])
        + [
            f"--Voila.ip={ctx.host}",
            f"--Voila.port={ctx.port}",
            "--Voila.port_retries=0",  # another port would be one the scheduler does not know
            "--Voila.open_browser=False",
            "--Voila.server_url=/",
            f"--Voila.base_url={ctx.base_path}/",
            f"--Voila.root_dir={ctx.app_dir}",
        ]
    )
