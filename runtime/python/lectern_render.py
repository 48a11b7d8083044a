"""Render job: jupyter-static (nbconvert) and quarto-static (Quarto) into LECTERN_OUTPUT_DIR.

Contract (docs/runtime.md): the bundle (LECTERN_APP_DIR) is read-only, so it is copied to a
scratch directory under HOME and rendered there; the main document ends up as index.html in
LECTERN_OUTPUT_DIR, next to the files it refers to. On failure the tool's own output is already in
the job log (it writes straight to it) and the last line says what failed.

Standard library only: an R-only Quarto document runs this with a bare interpreter.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from urllib.parse import urlsplit

NOTEBOOK = (".ipynb",)
QUARTO_SOURCES = (".qmd", ".ipynb", ".md", ".rmd")
QUARTO_PROJECT = ("_quarto.yml", "_quarto.yaml")
# Deployment metadata, never part of what visitors see.
NOT_PUBLISHED = ("manifest.json", ".ipynb_checkpoints", "__pycache__", ".quarto")
# The browser libraries Lectern serves (src/serve/static-assets.ts), so a rendered notebook needs no
# CDN. The MathJax configuration is the one nbconvert's templates ask of cdnjs.
MATHJAX = "__static__/mathjax-2/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
REQUIRE_JS = "__static__/requirejs-2/require.js"


def fail(message):
    print(f"lectern: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def log(message):
    print(f"lectern: {message}", file=sys.stderr, flush=True)


def source_document(app_dir, names, extensions):
    """The first of `names` that is a renderable document, else the bundle's only candidate."""
    found = sorted(f for f in os.listdir(app_dir) if f.lower().endswith(extensions))
    for name in names:
        if name and name.lower().endswith(extensions):
            if not os.path.isfile(os.path.join(app_dir, name)):
                fail(f"the document {name} is not in the bundle (present: {', '.join(found) or 'none'}).")
            return name
    if len(found) == 1:
        return found[0]
    fail(f"the manifest names no document to render and the bundle has {len(found)} ({', '.join(found) or 'none'}).")


def copy_bundle(app_dir, scratch):
    """A writable copy of the bundle (its files may be read-only, and copies keep their modes)."""
    if os.path.exists(scratch):
        shutil.rmtree(scratch)
    shutil.copytree(app_dir, scratch, copy_function=shutil.copyfile)
    for root, dirs, _ in os.walk(scratch):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    os.chmod(scratch, 0o755)
    return scratch


def run_tool(command, cwd, what):
    """Runs a renderer with its output going straight to the job log; fails clearly if it fails."""
    log("$ " + " ".join(command))
    code = subprocess.run(command, cwd=cwd).returncode
    if code != 0:
        fail(f"{what} failed (exit code {code}); the output above is the renderer's own.")


def publish(rendered_dir, main_html, output_dir, skip=()):
    """Copies the rendered tree to the output directory, with main_html as index.html."""
    ignore = shutil.ignore_patterns(*NOT_PUBLISHED, *skip)
    shutil.copytree(rendered_dir, output_dir, ignore=ignore, dirs_exist_ok=True, copy_function=shutil.copyfile)
    produced = os.path.join(output_dir, main_html)
    if not os.path.isfile(produced):
        fail(f"the renderer finished but wrote no {main_html}.")
    if main_html != "index.html":
        os.replace(produced, os.path.join(output_dir, "index.html"))


def server_path(env, asset):
    """A root-relative URL of a Lectern asset: the same from every page (a vanity path, a draft) and
    behind a proxy that serves Lectern under a path prefix, which the public address carries
    (LECTERN_SERVER_ADDRESS; CONNECT_SERVER may be the API channel, src/http/api-channel.ts)."""
    prefix = urlsplit(env.get("LECTERN_SERVER_ADDRESS", "/")).path.rstrip("/")
    return f"{prefix}/{asset}"


def render_notebook(app_dir, scratch, output_dir, env):
    notebook = source_document(app_dir, [env.get("LECTERN_ENTRYPOINT", ""), env.get("LECTERN_PRIMARY_DOC", "")], NOTEBOOK)
    if importlib.util.find_spec("nbconvert") is None:
        fail("nbconvert is missing from the content's environment; redeploy so Lectern can add it.")
    copy_bundle(app_dir, scratch)
    command = [
        sys.executable, "-m", "nbconvert", "--execute", "--to", "html",
        # Every notebook runs on the content environment's own interpreter, whatever kernel it names.
        "--ExecutePreprocessor.kernel_name=python3",
        # Markdown images (![](plot.png)) inline, so the page stands on its own.
        "--HTMLExporter.embed_images=True",
        f"--HTMLExporter.mathjax_url={server_path(env, MATHJAX)}",
        f"--HTMLExporter.require_js_url={server_path(env, REQUIRE_JS)}",
    ]
    if env.get("LECTERN_HIDE_ALL_INPUT") == "1":
        command.append("--no-input")
    if env.get("LECTERN_HIDE_TAGGED_INPUT") == "1":
        command += ["--TagRemovePreprocessor.enabled=True", "--TagRemovePreprocessor.remove_input_tags=hide_input"]
    # nbconvert runs the notebook in its own directory, as Jupyter does, and writes <name>.html there.
    directory, name = os.path.split(notebook)
    run_tool(command + [name], os.path.join(scratch, directory), f"executing {notebook} with nbconvert")
    html = os.path.splitext(notebook)[0] + ".html"
    # The notebook itself stays out: with hidden input, its source is what the owner chose not to show.
    publish(scratch, html, output_dir, skip=(os.path.basename(notebook),))


def render_quarto(app_dir, scratch, output_dir, env):
    quarto = env.get("LECTERN_QUARTO")
    if not quarto:
        fail("Quarto is not available on this server (Quarto.Executable is not set), so this document cannot be rendered.")
    names = [env.get("LECTERN_ENTRYPOINT", ""), env.get("LECTERN_PRIMARY_DOC", "")]
    if any(os.path.isfile(os.path.join(app_dir, p)) for p in QUARTO_PROJECT):
        # A project (website, book, ...) renders as a whole into its own output directory.
        copy_bundle(app_dir, scratch)
        site = scratch + "-site"
        shutil.rmtree(site, ignore_errors=True)
        run_tool([quarto, "render", "--output-dir", site], scratch, "quarto render of the project")
        doc = next((n for n in names if n and n.lower().endswith(QUARTO_SOURCES)), "index.qmd")
        main = "index.html" if os.path.isfile(os.path.join(site, "index.html")) else os.path.splitext(doc)[0] + ".html"
        publish(site, main, output_dir)
        return
    doc = source_document(app_dir, names, QUARTO_SOURCES)
    copy_bundle(app_dir, scratch)
    # Output lands next to the document: <name>.html and <name>_files/ with its supporting files.
    run_tool([quarto, "render", doc], scratch, f"quarto render of {doc}")
    publish(scratch, os.path.splitext(doc)[0] + ".html", output_dir, skip=(os.path.basename(doc),))


def main():
    env = os.environ
    mode = env.get("LECTERN_APP_MODE", "")
    app_dir = env.get("LECTERN_APP_DIR") or os.getcwd()
    output_dir = env.get("LECTERN_OUTPUT_DIR")
    if not output_dir:
        fail("LECTERN_OUTPUT_DIR is not set: this runner is started by Lectern's scheduler.")
    scratch = os.path.join(os.path.expanduser("~"), "lectern-render")
    if mode == "jupyter-static":
        render_notebook(app_dir, scratch, output_dir, env)
    elif mode == "quarto-static":
        render_quarto(app_dir, scratch, output_dir, env)
    else:
        fail(f"Lectern's Python render runner does not render {mode!r} content.")
    log(f"rendered into {output_dir}")


if __name__ == "__main__":
    main()
