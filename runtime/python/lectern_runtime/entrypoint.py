"""Loads "module:object" entrypoints the way Connect does."""

import importlib
import inspect
import os
import traceback

from lectern_modes import DEFAULT_ENTRYPOINTS, DEFAULT_OBJECTS

from .context import fail


def load(ctx, mode=None):
    """Imports the entrypoint's module from the bundle and returns (object, "module:name")."""
    mode = mode or ctx.app_mode
    spec = ctx.entrypoint or DEFAULT_ENTRYPOINTS.get(mode, "app")
    module_name, _, object_name = spec.partition(":")
    if module_name.endswith(".py"):
        module_name = module_name[:-3]
    module_file = os.path.join(ctx.app_dir, *module_name.split(".")) + ".py"
    package_init = os.path.join(ctx.app_dir, *module_name.split("."), "__init__.py")
    if not os.path.isfile(module_file) and not os.path.isfile(package_init):
        present = ", ".join(sorted(f for f in os.listdir(ctx.app_dir) if f.endswith(".py"))) or "none"
        fail(f"the entrypoint module {module_name!r} ({module_name.replace('.', '/')}.py) is not in the bundle (Python files present: {present}).")
    try:
        module = importlib.import_module(module_name)
    except Exception:  # the app's own error, shown as Python prints it
        traceback.print_exc()
        fail(f"importing {module_name} failed; the traceback above comes from the app.")
    candidates = [object_name] if object_name else DEFAULT_OBJECTS.get(mode, ["app"])
    for name in candidates:
        target = getattr(module, name, None)
        if target is None:
            continue
        # Application factories (create_app()) are called, as Flask's CLI does.
        if inspect.isfunction(target) and name in ("create_app", "make_app"):
            try:
                target = target()
            except Exception:
                traceback.print_exc()
                fail(f"{module_name}:{name}() failed; the traceback above comes from the app.")
        return target, f"{module_name}:{name}"
    fail(f"{module_name} has no {' or '.join(candidates)}; set the entrypoint as module:object (for example app:app).")

