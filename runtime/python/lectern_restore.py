"""Build job: create the content's Python environment and install its requirements.

Contract (docs/runtime.md): LECTERN_ENV_DIR (to create, with this interpreter), LECTERN_PACKAGE_FILE,
LECTERN_PACKAGE_MANAGER (uv|pip), LECTERN_UV, LECTERN_INDEX_URL, LECTERN_EXTRA_INDEX_URLS,
LECTERN_APP_MODE, LECTERN_APP_DIR. Exits non-zero with the installer's own message last on stderr.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lectern_modes import RUNNER_PACKAGES, canonical_name  # noqa: E402


def log(message):
    print(message, file=sys.stderr, flush=True)


def requirement_names(path):
    """Names of the distributions a requirements file asks for (options, URLs and includes skipped)."""
    names = set()
    if not path:
        return names
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
            if match:
                names.add(canonical_name(match.group(1)))
            elif "#egg=" in raw:
                names.add(canonical_name(raw.split("#egg=", 1)[1].split("&")[0].strip()))
    return names


def run(command, env):
    log("$ " + " ".join(command))
    started = time.monotonic()
    result = subprocess.run(command, env=env)
    if result.returncode != 0:
        log(f"{os.path.basename(command[0])} failed with exit code {result.returncode}")
        sys.exit(result.returncode)
    return time.monotonic() - started


def main():
    env_dir = os.environ["LECTERN_ENV_DIR"]
    app_dir = os.environ.get("LECTERN_APP_DIR", os.getcwd())
    mode = os.environ.get("LECTERN_APP_MODE", "")
    manager = os.environ.get("LECTERN_PACKAGE_MANAGER", "pip")
    uv = os.environ.get("LECTERN_UV", "")
    package_file = os.environ.get("LECTERN_PACKAGE_FILE", "")
    requirements = os.path.join(app_dir, package_file) if package_file else ""

    wanted = requirement_names(requirements)
    extras = [p for p in RUNNER_PACKAGES.get(mode, []) if canonical_name(p) not in wanted]

    index_args = []
    if os.environ.get("LECTERN_INDEX_URL"):
        index_args += ["--index-url", os.environ["LECTERN_INDEX_URL"]]
    for extra in os.environ.get("LECTERN_EXTRA_INDEX_URLS", "").split():
        index_args += ["--extra-index-url", extra]

    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env.pop("PYTHONPATH", None)
    python = os.path.join(env_dir, "bin", "python")

    if manager == "uv" and uv:
        # --relocatable: the environment is built beside its final place and renamed into it.
        run([uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, env_dir], env)
        install = [uv, "pip", "install", "--python", python, *index_args]
        # uv reads no pip.conf; an index configured there applies to uv too.
        if not index_args:
            install += pip_conf_indexes(env)
    else:
        run([sys.executable, "-m", "venv", env_dir], env)
        install = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *index_args]

    args = []
    if requirements:
        args += ["-r", requirements]
    args += extras
    if not args:
        log("Nothing to install: the bundle has no requirements and its mode needs no runner packages.")
        return
    if extras:
        log("Adding what Lectern's runner for %s needs: %s" % (mode, ", ".join(extras)))
    seconds = run(install + args, env)
    log(f"Installed in {seconds:.1f}s with {manager}.")


def pip_conf_indexes(env):
    """[global] index-url / extra-index-url from pip's configuration, as uv arguments."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], env=env, capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    args = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        value = value.strip().strip("'\"")
        if key.endswith(".index-url") and value:
            args += ["--index-url", value]
        elif key.endswith(".extra-index-url"):
            for url in value.split():
                args += ["--extra-index-url", url]
    return args


if __name__ == "__main__":
    main()
