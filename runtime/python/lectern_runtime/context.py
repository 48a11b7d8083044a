"""What the server tells a run job, read once from the environment (docs/runtime.md)."""

import json
import os
import sys
from dataclasses import dataclass, field


def fail(message, code=1):
    """Stop with a message the owner sees in the job log and on the 5xx page."""
    print(f"lectern: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


@dataclass
class Context:
    app_mode: str
    app_dir: str
    entrypoint: str
    primary_doc: str
    host: str
    port: int
    # "/content/<guid>" without a trailing slash; requests may carry a different one (vanity path).
    base_path: str
    manifest: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls):
        env = os.environ
        app_dir = env.get("LECTERN_APP_DIR") or os.getcwd()
        manifest = {}
        manifest_path = env.get("LECTERN_MANIFEST") or os.path.join(app_dir, "manifest.json")
        try:
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            pass
        try:
            port = int(env["LECTERN_PORT"])
        except (KeyError, ValueError):
            fail("LECTERN_PORT is not set: this runner is started by Lectern's scheduler.")
        return cls(
            app_mode=env.get("LECTERN_APP_MODE", ""),
            app_dir=app_dir,
            entrypoint=env.get("LECTERN_ENTRYPOINT", ""),
            primary_doc=env.get("LECTERN_PRIMARY_DOC", ""),
            host=env.get("LECTERN_HOST", "127.0.0.1"),
            port=port,
            base_path=env.get("LECTERN_BASE_PATH", "").rstrip("/"),
            manifest=manifest,
        )

    def listening(self, what):
        print(f"lectern: {what} listening on http://{self.host}:{self.port}{self.base_path or ''}/", file=sys.stderr, flush=True)

    def script_path(self, default):
        """The app file of script-style modes (Streamlit, Bokeh, Panel); fails clearly when missing."""
        name = self.entrypoint or default
        # rsconnect writes a module name ("app" or "app:app") for script modes too.
        name = name.split(":", 1)[0]
        if not os.path.splitext(name)[1]:
            name += ".py"
        full = os.path.join(self.app_dir, name)
        if not os.path.isfile(full):
            present = ", ".join(sorted(f for f in os.listdir(self.app_dir) if f.endswith((".py", ".ipynb")))) or "none"
            fail(f"the entrypoint {name} is not in the bundle (Python files present: {present}).")
        return full
