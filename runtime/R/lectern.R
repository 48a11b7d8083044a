# Helpers shared by run.R, render.R and restore.R. Base R only: these scripts must work before any
# package of the content's own library is known to load (restore.R even runs before it exists).
#
# Each script sources this file from its own directory, so the runtime/ tree can be copied anywhere
# (a Kubernetes init container copies it into the pod) without a fixed path.

# The name the messages of this process start with (run.R, render.R, restore.R).
lectern_script <- "lectern"

# An environment variable, or `default` when it is unset or empty: the server passes "" for
# "not given" (e.g. R_LIBS, LECTERN_ENTRYPOINT), so empty and unset must mean the same.
lectern_env <- function(name, default = "") {
  value <- Sys.getenv(name, unset = "")
  if (nzchar(value)) value else default
}

# A progress line for the job log. stdout is a pipe, not a terminal, so it is flushed at once:
# the log should show where start-up is even when the process then hangs or is killed.
lectern_log <- function(...) {
  cat("[", lectern_script, "] ", ..., "\n", sep = "")
  flush(stdout())
}

# Stops with a message on stderr and exit status 1. The scheduler shows the owner the last lines of
# the log, so the message must say what is wrong in words the owner can act on.
lectern_fail <- function(...) {
  flush(stdout())
  cat("[", lectern_script, "] error: ", ..., "\n", sep = "", file = stderr())
  quit(save = "no", status = 1, runLast = FALSE)
}

# Runs `expr`; an R error ends the process through lectern_fail with R's own message, prefixed by
# `what` ("Sourcing app.R failed"). Without this Rscript would print "Execution halted" only after
# a traceback-less "Error in ..." line, which reads worse in the job log.
lectern_or_fail <- function(what, expr) {
  tryCatch(expr, error = function(e) {
    call <- conditionCall(e)
    where <- if (is.null(call)) "" else paste0(" (in ", paste(deparse(call, nlines = 1L), collapse = ""), ")")
    lectern_fail(what, ": ", conditionMessage(e), where)
  })
}

# A directory under HOME the job may write to: the bundle directory is read-only, so rendering and
# R Markdown documents (which write next to their source) work on a copy there.
lectern_scratch_dir <- function(name) {
  home <- lectern_env("HOME", tempdir())
  dir <- file.path(home, name)
  unlink(dir, recursive = TRUE, force = TRUE)
  if (!dir.create(dir, recursive = TRUE, showWarnings = FALSE)) lectern_fail("cannot create the scratch directory ", dir)
  normalizePath(dir)
}

# Copies the contents of `from` into the existing directory `to`. Modes are not copied: the bundle's
# files may be read-only, and the renderer must be able to write into the copied directories.
lectern_copy_tree <- function(from, to) {
  entries <- list.files(from, all.files = TRUE, no.. = TRUE, full.names = TRUE)
  if (length(entries) == 0L) return(invisible(TRUE))
  ok <- file.copy(entries, to, recursive = TRUE, copy.mode = FALSE, copy.date = TRUE)
  if (!all(ok)) lectern_fail("cannot copy ", paste(basename(entries[!ok]), collapse = ", "), " from ", from, " to ", to)
  invisible(TRUE)
}

# The document a render or rmd-shiny run works on: LECTERN_PRIMARY_DOC (metadata.primary_rmd) when
# the bundle has it, else index.<ext>, else the only file with one of `extensions` at the top level.
# Returns the file name relative to `dir`, or fails naming what it looked for.
lectern_primary_doc <- function(dir, extensions, mode) {
  pattern <- paste0("\\.(", paste(extensions, collapse = "|"), ")$")
  wanted <- sub("^(\\./)+", "", lectern_env("LECTERN_PRIMARY_DOC"))
  if (!nzchar(wanted)) {
    entry <- sub("^(\\./)+", "", lectern_env("LECTERN_ENTRYPOINT"))
    if (grepl(pattern, entry, ignore.case = TRUE)) wanted <- entry
  }
  if (nzchar(wanted)) {
    if (!file.exists(file.path(dir, wanted))) lectern_fail("the primary document ", wanted, " is not in the bundle")
    return(wanted)
  }
  # Files starting with "_" are R Markdown site parts (_navbar.Rmd, _footer.Rmd), never primary.
  candidates <- list.files(dir, pattern = pattern, ignore.case = TRUE)
  candidates <- candidates[!startsWith(candidates, "_")]
  index <- candidates[tolower(sub(pattern, "", candidates, ignore.case = TRUE)) == "index"]
  if (length(index) > 0L) return(index[[1L]])
  if (length(candidates) == 1L) return(candidates[[1L]])
  if (length(candidates) == 0L) {
    lectern_fail(mode, " content needs a ", paste0(".", extensions, collapse = " or "), " document, and the bundle has none")
  }
  lectern_fail(
    "the bundle has several documents (", paste(candidates, collapse = ", "), ") and names none as primary: ",
    "set metadata.primary_rmd in manifest.json or name one index.", extensions[[1L]]
  )
}

# Debian's build of jquerylib (which rmarkdown's HTML documents use) asks `dpkg -s libjs-jquery` for
# the version of the system's jQuery. dpkg reads /var/lib/dpkg, which a sandbox may not show; the
# render then fails deep inside jquerylib with "argument is of length zero". Say why up front.
lectern_check_debian_jquery <- function() {
  if (!requireNamespace("jquerylib", quietly = TRUE)) return(invisible(TRUE))
  lookup <- get0("expand_version", envir = asNamespace("jquerylib"), inherits = FALSE)
  if (!is.function(lookup) || !any(grepl("dpkg", deparse(lookup), fixed = TRUE))) return(invisible(TRUE))
  if (file.exists("/var/lib/dpkg/status")) return(invisible(TRUE))
  lectern_log(
    "warning: Debian's jquerylib looks up libjs-jquery with dpkg, but this job cannot read dpkg's ",
    "database (/var/lib/dpkg); R Markdown HTML output will fail. The server must give R jobs /var/lib/dpkg read-only."
  )
  invisible(FALSE)
}

# ---------------------------------------------------------------------------------------------------
# A small JSON reader, enough for manifest.json. jsonlite is not part of base R and may not be
# installed where restore.R runs (its job is to install packages), so the manifest is parsed here.
# Objects become named lists, arrays unnamed lists, null NULL, numbers doubles.

lectern_read_json <- function(file) {
  text <- paste(readLines(file, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
  text <- sub("^\ufeff", "", text)
  lectern_parse_json(text)
}

lectern_parse_json <- function(text) {
  # One regular expression splits the whole text into tokens (strings, numbers, literals,
  # punctuation); anything else becomes a one-character token that the parser rejects.
  pattern <- paste0(
    '"(?:[^"\\\\]|\\\\.)*"',
    "|-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?",
    "|true|false|null|[][{}:,]|\\S"
  )
  tokens <- regmatches(text, gregexpr(pattern, text, perl = TRUE))[[1L]]
  pos <- 0L
  take <- function() {
    pos <<- pos + 1L
    if (pos > length(tokens)) stop("unexpected end of JSON", call. = FALSE)
    tokens[[pos]]
  }
  peek <- function() if (pos < length(tokens)) tokens[[pos + 1L]] else ""
  expect <- function(what) {
    token <- take()
    if (!identical(token, what)) stop("expected '", what, "' in JSON, found '", token, "'", call. = FALSE)
  }
  value <- function() {
    token <- take()
    if (token == "{") {
      out <- list()
      keys <- character()
      if (peek() == "}") {
        take()
        return(structure(list(), names = character()))
      }
      repeat {
        key <- take()
        if (!startsWith(key, '"')) stop("expected a key in JSON, found '", key, "'", call. = FALSE)
        expect(":")
        # Assigning a list keeps NULL values (a plain [[<- NULL would drop the element).
        out[length(out) + 1L] <- list(value())
        keys[length(keys) + 1L] <- json_string(key)
        separator <- take()
        if (separator == "}") break
        if (separator != ",") stop("expected ',' or '}' in JSON, found '", separator, "'", call. = FALSE)
      }
      names(out) <- keys
      out
    } else if (token == "[") {
      out <- list()
      if (peek() == "]") {
        take()
        return(out)
      }
      repeat {
        out[length(out) + 1L] <- list(value())
        separator <- take()
        if (separator == "]") break
        if (separator != ",") stop("expected ',' or ']' in JSON, found '", separator, "'", call. = FALSE)
      }
      out
    } else if (startsWith(token, '"')) {
      json_string(token)
    } else if (token == "true") {
      TRUE
    } else if (token == "false") {
      FALSE
    } else if (token == "null") {
      NULL
    } else if (grepl("^-?[0-9]", token)) {
      as.numeric(token)
    } else {
      stop("unexpected '", token, "' in JSON", call. = FALSE)
    }
  }
  result <- value()
  if (pos != length(tokens)) stop("unexpected '", tokens[[pos + 1L]], "' after the JSON value", call. = FALSE)
  result
}

# The text of a JSON string token (with its quotes), escapes resolved.
json_string <- function(token) {
  s <- substr(token, 2L, nchar(token) - 1L)
  if (!grepl("\\", s, fixed = TRUE)) return(s)
  # A \u escape of a high surrogate is matched together with the low surrogate that follows it.
  escapes <- gregexpr("\\\\(u[dD][89abAB][0-9a-fA-F]{2}\\\\u[0-9a-fA-F]{4}|u[0-9a-fA-F]{4}|.)", s, perl = TRUE)
  regmatches(s, escapes) <- list(vapply(regmatches(s, escapes)[[1L]], json_unescape, ""))
  s
}

json_unescape <- function(escape) {
  switch(substr(escape, 2L, 2L),
    '"' = '"', "\\" = "\\", "/" = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
    u = {
      codes <- strtoi(regmatches(escape, gregexpr("[0-9a-fA-F]{4}", escape))[[1L]], 16L)
      if (length(codes) == 2L) intToUtf8(0x10000 + (codes[[1L]] - 0xD800) * 0x400 + (codes[[2L]] - 0xDC00)) else intToUtf8(codes)
    },
    stop("invalid escape '", escape, "' in a JSON string", call. = FALSE)
  )
}
