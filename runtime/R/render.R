# Renders an rmd-static bundle into LECTERN_OUTPUT_DIR (Lectern's render jobs), then exits.
#
# The bundle (LECTERN_APP_DIR) is read-only and knitr writes next to the document (figures,
# _files directories, caches), so the bundle is copied to a scratch directory under HOME and
# rendered there. The results, with the bundle's other files (a report may link to a CSV or an image
# of its bundle, which Connect serves beside the report), go to the output directory, where the
# main document must be index.html.
#
#   a single document   rmarkdown::render on LECTERN_PRIMARY_DOC (metadata.primary_rmd), else
#                       index.Rmd, else the only .Rmd; its default (first) output format
#   an R Markdown site  (_site.yml, or bookdown's _bookdown.yml) rmarkdown::render_site; the
#                       site's output directory becomes the output
#
# Usage: Rscript render.R (everything else comes from the environment)

local({
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)[1L]
  here <- dirname(normalizePath(gsub("~+~", " ", sub("^--file=", "", file_arg), fixed = TRUE)))
  source(file.path(here, "lectern.R"), local = globalenv())
})
lectern_script <- "render.R"

mode <- lectern_env("LECTERN_APP_MODE", "rmd-static")
app_dir <- lectern_env("LECTERN_APP_DIR", getwd())
output_dir <- lectern_env("LECTERN_OUTPUT_DIR")
if (!nzchar(output_dir)) lectern_fail("LECTERN_OUTPUT_DIR is not set")
if (!dir.exists(output_dir)) lectern_fail("the output directory ", output_dir, " does not exist")
if (mode != "rmd-static") lectern_fail("render.R renders rmd-static content, not ", mode)
if (!requireNamespace("rmarkdown", quietly = TRUE)) {
  lectern_fail("the R package 'rmarkdown' is needed to render R Markdown but is not installed in ", paste(.libPaths(), collapse = ", "))
}
output_dir <- normalizePath(output_dir)
lectern_check_debian_jquery()

# Files of the bundle that are not content: the manifest, and what rsconnect's own bundling leaves
# out (restore state). Knitr caches (<doc>_cache) are build state too.
not_content <- function(paths) {
  top <- sub("/.*$", "", paths)
  top %in% c("manifest.json", "packrat", "renv", "renv.lock", "rsconnect", ".Rprofile", ".Rhistory") |
    grepl("_cache$", top)
}

# Copies every file under `from` (relative names) into `to`, creating directories as needed.
copy_files <- function(from, to, files) {
  for (file in files) {
    target <- file.path(to, file)
    dir.create(dirname(target), recursive = TRUE, showWarnings = FALSE)
    if (!file.copy(file.path(from, file), target, overwrite = TRUE, copy.mode = FALSE)) {
      lectern_fail("cannot copy ", file, " into the output directory")
    }
  }
}

# knitr's progress bar redraws one line with carriage returns: noise in a job log, which keeps
# knitr's "processing file" and chunk labels on errors anyway.
if (requireNamespace("knitr", quietly = TRUE)) knitr::opts_knit$set(progress = FALSE)

work <- lectern_scratch_dir("render")
lectern_copy_tree(app_dir, work)
setwd(work)
lectern_log(
  "R ", as.character(getRversion()), ", rmarkdown ", as.character(utils::packageVersion("rmarkdown")),
  ", pandoc ", if (rmarkdown::pandoc_available()) as.character(rmarkdown::pandoc_version()) else "not found",
  "; rendering in ", work
)

site_files <- c("_site.yml", "_site.yaml", "_bookdown.yml", "_bookdown.yaml")
if (any(file.exists(site_files))) {
  # A site renders every page into its own output directory (_site unless _site.yml says otherwise).
  lectern_log("rendering the R Markdown site in ", work)
  lectern_or_fail("Rendering the site failed", rmarkdown::render_site(work, envir = new.env(parent = globalenv()), quiet = FALSE))
  config <- rmarkdown::site_config(work)
  site_out <- if (!is.null(config$output_dir)) file.path(work, config$output_dir) else work
  if (file.exists(file.path(work, "_bookdown.yml")) && !dir.exists(site_out)) site_out <- file.path(work, "_book")
  if (!dir.exists(site_out)) lectern_fail("rendering the site did not produce its output directory ", site_out)
  site_out <- normalizePath(site_out)
  files <- list.files(site_out, recursive = TRUE, all.files = TRUE)
  copy_files(site_out, output_dir, files)
  if (!file.exists(file.path(output_dir, "index.html"))) {
    lectern_fail("the rendered site has no index.html (name its home page index.Rmd)")
  }
  lectern_log("rendered the site: ", length(files), " files")
  quit(save = "no", status = 0)
}

# rmarkdown's HTML formats load MathJax from mathjax.rstudio.com when a document has math, even a
# self-contained one; Lectern serves MathJax 2 itself (src/serve/static-assets.ts), so math shows on
# a server without internet. Only for formats that take a `mathjax` URL and documents that keep the
# default; the URL is root-relative under the public address's path (a proxy's prefix), as for
# notebooks: LECTERN_SERVER_ADDRESS, not CONNECT_SERVER, which may be the API channel.
local_mathjax <- function(input) {
  format <- tryCatch(rmarkdown::default_output_format(input), error = function(e) NULL)
  if (is.null(format) || !identical(format$options$mathjax, "default")) return(NULL)
  fn <- tryCatch(eval(parse(text = format$name), envir = asNamespace("rmarkdown")), error = function(e) NULL)
  if (!is.function(fn) || !("mathjax" %in% names(formals(fn)))) return(NULL)
  prefix <- sub("/+$", "", sub("^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "", lectern_env("LECTERN_SERVER_ADDRESS", "/")))
  list(mathjax = paste0(prefix, "/__static__/mathjax-2/MathJax.js?config=TeX-AMS-MML_HTMLorMML"))
}

doc <- lectern_primary_doc(work, c("Rmd", "Rmarkdown"), "rmd-static")
lectern_log("rendering ", doc)
# A fresh environment per render, as Connect does: the document sees none of this script's objects.
result <- lectern_or_fail(
  paste("Rendering", doc, "failed"),
  rmarkdown::render(file.path(work, doc), envir = new.env(parent = globalenv()), quiet = FALSE, output_options = local_mathjax(file.path(work, doc)))
)
result <- normalizePath(result)

# Everything of the bundle plus whatever the render made (the document, a _files directory when it
# is not self-contained, files the code wrote), except the build state listed above.
files <- list.files(work, recursive = TRUE, all.files = TRUE)
files <- files[!not_content(files)]
main <- substring(result, nchar(work) + 2L)
if (!startsWith(result, paste0(work, "/"))) {
  # An output_dir in the document's YAML can point elsewhere: copy the result itself.
  copy_files(dirname(result), output_dir, basename(result))
  main <- basename(result)
}
copy_files(work, output_dir, files)

if (grepl("\\.html?$", main, ignore.case = TRUE)) {
  if (main != "index.html") {
    # The main document is served as index.html. It moves there rather than being copied, since
    # a self-contained report can be large; links to it by its own name are rare.
    if (!file.rename(file.path(output_dir, main), file.path(output_dir, "index.html"))) lectern_fail("cannot rename ", main, " to index.html")
    # Its assets directory (<name>_files) is referenced by name from the HTML, so it stays as is.
  }
} else {
  # PDF, Word, ...: served as the file itself; index.html sends browsers there.
  target <- utils::URLencode(main)
  writeLines(c(
    "<!DOCTYPE html>",
    sprintf('<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=%s"><title>%s</title></head>', target, basename(main)),
    sprintf('<body><p><a href="%s">%s</a></p></body></html>', target, basename(main))
  ), file.path(output_dir, "index.html"))
}
lectern_log("rendered ", doc, " to ", main, if (main != "index.html") " (served as index.html)", "; ", length(files), " files in the output")
