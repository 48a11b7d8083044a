# Serves one interactive R bundle until the process is stopped (Lectern's run jobs):
#   shiny         app.R, or server.R (+ ui.R or www/index.html), with shiny::runApp
#   rmd-shiny     an R Markdown document with runtime: shiny (or shiny_prerendered), rmarkdown::run
#   api           a Plumber API, plumber.R or entrypoint.R, with plumber's own server
#   quarto-shiny  a Quarto document with server: shiny and the knitr engine: quarto render, then
#                 rmarkdown::run on the rendered document, which is what `quarto serve` does
#
# The contract (docs/runtime.md): listen on LECTERN_HOST:LECTERN_PORT; the bundle is in
# LECTERN_APP_DIR, read-only, and is the working directory; the proxy strips /content/<guid> and
# sends X-Forwarded-Prefix. Shiny's pages use relative URLs (assets and the websocket resolve
# against the page's own URL), so Shiny works under any prefix without being told it. R_LIBS has
# put the content's restored library in front of the site libraries before this script started.
#
# Usage: Rscript run.R (everything else comes from the environment)

local({
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)[1L]
  here <- dirname(normalizePath(gsub("~+~", " ", sub("^--file=", "", file_arg), fixed = TRUE)))
  source(file.path(here, "lectern.R"), local = globalenv())
})
lectern_script <- "run.R"

mode <- lectern_env("LECTERN_APP_MODE")
app_dir <- lectern_env("LECTERN_APP_DIR", getwd())
host <- lectern_env("LECTERN_HOST", "127.0.0.1")
port <- suppressWarnings(as.integer(lectern_env("LECTERN_PORT")))
if (is.na(port)) lectern_fail("LECTERN_PORT is not set to a port number")
if (!dir.exists(app_dir)) lectern_fail("the bundle directory ", app_dir, " does not exist")
setwd(app_dir)

# A missing framework package is the most common start-up failure (a bundle restored without it, or
# environment management off on a server without it): say which package and where R looked.
require_package <- function(package, why) {
  if (!requireNamespace(package, quietly = TRUE)) {
    lectern_fail(
      "the R package '", package, "' is needed to run ", why, " but is not installed in ",
      paste(.libPaths(), collapse = ", "), ". List it in the bundle's packages (rsconnect does when the content uses it)."
    )
  }
}

lectern_log(
  "R ", as.character(getRversion()), " serving ", mode, " content from ", app_dir, " on ", host, ":", port,
  "; libraries: ", paste(.libPaths(), collapse = ", ")
)

# Shiny settings that hold for every Shiny-based mode. Connect runs apps the same way: no browser,
# no reloading on file changes (the bundle does not change), the port and host it was given.
shiny_options <- function() {
  options(shiny.autoreload = FALSE, shiny.port = port, shiny.host = host, shiny.launch.browser = FALSE)
}

run_shiny <- function() {
  require_package("shiny", "Shiny applications")
  shiny_options()
  entry <- sub("^(\\./)+", "", lectern_env("LECTERN_ENTRYPOINT"))
  if (nzchar(entry) && grepl("\\.R$", entry, ignore.case = TRUE) && !tolower(entry) %in% c("app.r", "server.r", "ui.r")) {
    # A single-file app under another name (rsconnect renames these to app.R, other clients may not).
    if (!file.exists(entry)) lectern_fail("the entrypoint ", entry, " is not in the bundle")
    app <- lectern_or_fail(paste("Loading", entry, "failed"), shiny::shinyAppFile(entry))
  } else {
    has <- function(name) any(tolower(list.files(".")) == name)
    if (!has("app.r") && !has("server.r")) {
      lectern_fail("a Shiny application needs app.R, or server.R with ui.R, in the bundle; ", app_dir, " has neither")
    }
    # shinyAppDir sources app.R (or global.R, ui.R, server.R) here, so errors in the app's own code
    # stop start-up with R's message instead of failing every visit later.
    app <- lectern_or_fail("Loading the Shiny application failed", shiny::shinyAppDir("."))
  }
  lectern_or_fail("Shiny stopped", shiny::runApp(app, port = port, host = host, launch.browser = FALSE))
}

# rmd-shiny and quarto-shiny: rmarkdown renders the document and writes next to it (knitr figures,
# the _files directory, a prerendered document's .html and data), so it runs on a writable copy.
rmarkdown_run <- function(doc_dir, doc) {
  require_package("rmarkdown", "R Markdown and Quarto documents with Shiny")
  require_package("shiny", "documents with runtime: shiny")
  lectern_check_debian_jquery()
  shiny_options()
  lectern_or_fail(
    paste("Running", doc, "failed"),
    rmarkdown::run(
      file = file.path(doc_dir, doc),
      dir = doc_dir,
      auto_reload = FALSE,
      shiny_args = list(host = host, port = port, launch.browser = FALSE),
      render_args = list(envir = new.env(parent = globalenv()), quiet = TRUE)
    )
  )
}

run_rmd_shiny <- function() {
  doc <- lectern_primary_doc(app_dir, c("Rmd", "Rmarkdown"), "rmd-shiny")
  work <- lectern_scratch_dir("rmd-shiny")
  lectern_copy_tree(app_dir, work)
  setwd(work)
  lectern_log("running ", doc, " with rmarkdown ", as.character(utils::packageVersion("rmarkdown")), " in ", work)
  rmarkdown_run(work, doc)
}

run_quarto_shiny <- function() {
  doc <- lectern_primary_doc(app_dir, c("qmd", "Rmd"), "quarto-shiny")
  work <- lectern_scratch_dir("quarto-shiny")
  lectern_copy_tree(app_dir, work)
  setwd(work)
  html <- sub("\\.[^.]+$", ".html", doc)
  quarto <- lectern_env("LECTERN_QUARTO", Sys.which("quarto"))
  if (nzchar(quarto)) {
    # quarto serve renders, then asks R to rmarkdown::run the rendered document with
    # RMARKDOWN_RUN_PRERENDER=0; doing the two steps here keeps the server in this process, where
    # it gets the port and host, and avoids quarto serve's file watcher.
    lectern_log("rendering ", doc, " with ", quarto)
    status <- system2(quarto, c("render", shQuote(doc)))
    if (!identical(status, 0L)) lectern_fail("quarto render ", doc, " failed (exit status ", status, "); its output is above")
  } else if (!file.exists(html)) {
    lectern_fail("quarto-shiny content must be rendered with Quarto, and this server has no Quarto (set [Quarto] Executable)")
  } else {
    lectern_log("no Quarto on this server: serving the bundle's own rendering, ", html)
  }
  if (!file.exists(html)) lectern_fail("rendering ", doc, " did not produce ", html)
  # rmarkdown reads the rendered .html and its server chunks instead of rendering again.
  Sys.setenv(RMARKDOWN_RUN_PRERENDER = "0")
  rmarkdown_run(work, doc)
}

run_plumber <- function() {
  require_package("plumber", "Plumber APIs")
  entry <- sub("^(\\./)+", "", lectern_env("LECTERN_ENTRYPOINT"))
  if (nzchar(entry) && grepl("\\.R$", entry, ignore.case = TRUE)) {
    if (!file.exists(entry)) lectern_fail("the entrypoint ", entry, " is not in the bundle")
    router <- lectern_or_fail(paste("Loading", entry, "failed"), plumber::plumb(file = entry))
  } else {
    files <- tolower(list.files("."))
    if (!any(files %in% c("plumber.r", "entrypoint.r"))) {
      lectern_fail("a Plumber API needs plumber.R (or entrypoint.R returning a router) in the bundle; ", app_dir, " has neither")
    }
    # plumb(dir=) prefers entrypoint.R, which must return a router, over plumber.R, like Connect.
    router <- lectern_or_fail("Loading the Plumber API failed", plumber::plumb(dir = "."))
  }
  # The OpenAPI document's server URL: plumber derives it from the Referer of the docs page (it was
  # written for Connect), which carries the public prefix. Leaving plumber.apiURL unset keeps that.
  # The docs page loads openapi.json relative to its own location, so /__docs__/ works under the
  # prefix too.
  lectern_log("Plumber ", as.character(utils::packageVersion("plumber")), " API at http://", host, ":", port, "/ (docs under /__docs__/)")
  lectern_or_fail("Plumber stopped", router$run(host = host, port = port, swaggerCallback = NULL, quiet = FALSE))
}

switch(mode,
  "shiny" = run_shiny(),
  "rmd-shiny" = run_rmd_shiny(),
  "quarto-shiny" = run_quarto_shiny(),
  "api" = run_plumber(),
  lectern_fail("run.R cannot serve app mode '", mode, "' (it serves shiny, rmd-shiny, quarto-shiny and api)")
)

# The servers above run until the process is signalled; returning means they stopped on their own.
lectern_fail("the server stopped")
