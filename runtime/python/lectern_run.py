"""Run job: serve one Python app mode on LECTERN_HOST:LECTERN_PORT until stopped.

Each mode's runner lives in lectern_runtime/<runner>.py and exposes run(ctx). See docs/runtime.md.
"""

import importlib
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lectern_modes import RUNNERS  # noqa: E402
from lectern_runtime.context import Context, fail  # noqa: E402


def _stop(signum, _frame):
    sys.exit(128 + signum)


def main():
    # In a container the runner is PID 1, and the kernel drops signals that PID 1 has no handler for:
    # without this a stopped pod's SIGTERM is ignored until the grace period's SIGKILL (30 s later).
    # Servers that handle SIGTERM themselves (uvicorn, tornado) replace this handler.
    signal.signal(signal.SIGTERM, _stop)
    ctx = Context.from_env()
    runner = RUNNERS.get(ctx.app_mode)
    if runner is None:
        fail(f"Lectern's Python runner does not serve {ctx.app_mode!r} content.")
    # The app's own modules come first on the path, as when its author ran it.
    sys.path.insert(0, ctx.app_dir)
    os.chdir(ctx.app_dir)
    importlib.import_module(f"lectern_runtime.{runner}").run(ctx)


if __name__ == "__main__":
    main()
