# Installs the R packages a bundle's manifest lists into LECTERN_R_LIBRARY (Lectern's build jobs).
#
# manifest.json `packages` maps each package to {Source, Repository, description: {Package,
# Version, ...}}, the complete set of packages the content loads (rsconnect records the whole
# dependency closure). For each package, in this order:
#   1. a site library already has that version (Debian's r-cran-* packages, an administrator's
#      install): it is reused, not copied; the run job sees site libraries after the restored one
#   2. a repository has that version: the package's own Repository first, then LECTERN_R_REPOS
#      (the server's [R] Repository), current packages first, then the repository's archive
#      (src/contrib/Archive/<pkg>/<pkg>_<version>.tar.gz, where CRAN keeps old versions)
#   3. no exact version anywhere: the newest version a site library or a repository has, with a
#      warning (a server without CRAN still runs content built against other versions)
#   4. nowhere at all: the restore fails, ending with R's own message for the package
# Everything to install goes to install.packages in one call with the exact rows chosen above, so R
# orders the installs by their dependencies.
#
# Output: one line per package saying what was reused and what is installed, install.packages' own
# output, and on failure R's messages as the last lines of stderr with exit status 1.
#
# Usage: Rscript restore.R (everything else comes from the environment)

local({
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)[1L]
  here <- dirname(normalizePath(gsub("~+~", " ", sub("^--file=", "", file_arg), fixed = TRUE)))
  source(file.path(here, "lectern.R"), local = globalenv())
})
lectern_script <- "restore.R"

# Build jobs may start without a locale (LANG unset means C, ASCII only), and R CMD INSTALL then
# mangles or rejects packages with UTF-8 in their R code or DESCRIPTION. The installs are child
# processes, so the environment variable matters, not only this process's locale.
if (!nzchar(Sys.getenv("LC_ALL")) && !nzchar(Sys.getenv("LANG"))) {
  Sys.setenv(LANG = "C.UTF-8")
  invisible(suppressWarnings(Sys.setlocale("LC_ALL", "C.UTF-8")))
}

target_lib <- lectern_env("LECTERN_R_LIBRARY")
manifest_file <- lectern_env("LECTERN_MANIFEST", file.path(lectern_env("LECTERN_APP_DIR", getwd()), "manifest.json"))
server_repos <- strsplit(trimws(lectern_env("LECTERN_R_REPOS")), "[[:space:]]+")[[1L]]
if (!nzchar(target_lib)) lectern_fail("LECTERN_R_LIBRARY is not set")
if (!dir.exists(target_lib) && !dir.create(target_lib, recursive = TRUE)) lectern_fail("cannot create the library ", target_lib)
target_lib <- normalizePath(target_lib)

manifest <- lectern_or_fail(paste("Reading", manifest_file, "failed"), lectern_read_json(manifest_file))
packages <- manifest$packages
if (length(packages) == 0L) {
  lectern_log("the manifest lists no R packages; nothing to restore")
  quit(save = "no", status = 0)
}

# Packages installed here are visible to the installs that follow (a package's dependencies), and
# the site libraries stay behind it, as in the run job's R_LIBS.
.libPaths(c(target_lib, .libPaths()))
site_libraries <- setdiff(.libPaths(), target_lib)
# On Linux a CRAN-like repository serves source packages (Posit Package Manager's __linux__ URLs
# serve prebuilt binaries under the same names, which install.packages treats the same way).
options(pkgType = "source", install.packages.compile.from.source = "always", timeout = max(300, getOption("timeout")))

# A repository URL as install.packages wants it: the root of a CRAN-like tree, no trailing slash.
clean_repo <- function(url) sub("/+$", "", trimws(url))
server_repos <- vapply(server_repos[nzchar(server_repos)], clean_repo, "", USE.NAMES = FALSE)

same_version <- function(a, b) {
  isTRUE(tryCatch(package_version(a) == package_version(b), error = function(e) identical(a, b)))
}
newer <- function(a, b) isTRUE(tryCatch(package_version(a) > package_version(b), error = function(e) FALSE))

# What every site library holds (first library first, as library() would find them).
installed <- utils::installed.packages(lib.loc = site_libraries, noCache = TRUE)
site_version <- function(package, version = NULL) {
  rows <- installed[installed[, "Package"] == package, , drop = FALSE]
  if (nrow(rows) == 0L) return(NULL)
  if (is.null(version)) return(list(version = rows[1L, "Version"], lib = rows[1L, "LibPath"], priority = rows[1L, "Priority"]))
  for (i in seq_len(nrow(rows))) {
    if (same_version(rows[i, "Version"], version)) return(list(version = rows[i, "Version"], lib = rows[i, "LibPath"], priority = rows[i, "Priority"]))
  }
  NULL
}

# The index of one repository, read once. A repository that cannot be read (down, unreachable, not
# CRAN-like) has an empty index; R's warning about it is kept for the failure message.
repo_notes <- character()
repo_indexes <- list()
repo_index <- function(repo) {
  if (!is.null(repo_indexes[[repo]])) return(repo_indexes[[repo]])
  index <- withCallingHandlers(
    tryCatch(utils::available.packages(repos = repo, type = "source"), error = function(e) {
      repo_notes[[length(repo_notes) + 1L]] <<- conditionMessage(e)
      NULL
    }),
    warning = function(w) {
      repo_notes[[length(repo_notes) + 1L]] <<- conditionMessage(w)
      invokeRestart("muffleWarning")
    }
  )
  if (is.null(index)) index <- matrix(character(), 0L, 0L)
  repo_indexes[[repo]] <<- index
  index
}
repo_row <- function(repo, package) {
  index <- repo_index(repo)
  if (nrow(index) == 0L || !package %in% index[, "Package"]) return(NULL)
  index[index[, "Package"] == package, , drop = FALSE][1L, , drop = FALSE]
}

# Archived versions are downloaded into a local repository of our own, so they go through the same
# install.packages call (and dependency ordering) as everything else.
archive_repo <- file.path(tempdir(), "lectern-archive")
archive_contrib <- file.path(archive_repo, "src", "contrib")
archive_fetch <- function(repo, package, version) {
  if (nrow(repo_index(repo)) == 0L) return(FALSE) # unreachable: do not wait on it again
  dir.create(archive_contrib, recursive = TRUE, showWarnings = FALSE)
  file <- sprintf("%s_%s.tar.gz", package, version)
  url <- sprintf("%s/src/contrib/Archive/%s/%s", repo, package, file)
  ok <- tryCatch(suppressWarnings(utils::download.file(url, file.path(archive_contrib, file), quiet = TRUE, mode = "wb")) == 0L, error = function(e) FALSE)
  if (!ok) unlink(file.path(archive_contrib, file))
  ok
}

reused <- character()
# package -> version of what site libraries provide: Lectern records them with what is installed
# here (src/execution/restored-packages.ts reads the file write_reused() leaves in the library).
reused_version <- character()
write_reused <- function() {
  if (length(reused_version) == 0L) return(invisible())
  write.dcf(data.frame(Package = names(reused_version), Version = unname(reused_version)), file.path(target_lib, ".lectern-reused.dcf"))
}
chosen <- list() # package -> one available.packages row
archived <- character()
missing <- character()
fallbacks <- character()

for (name in names(packages)) {
  entry <- packages[[name]]
  description <- entry$description
  package <- if (!is.null(description$Package)) description$Package else name
  version <- description$Version
  if (is.null(version) || !nzchar(version)) lectern_fail("the manifest's entry for ", package, " has no description.Version")

  # Base packages (stats, utils, ...) come with R itself and cannot be installed separately.
  base <- site_version(package)
  if (!is.null(base) && identical(unname(base$priority), "base")) {
    reused[[package]] <- sprintf("%s %s (part of R)", package, base$version)
    next
  }
  site <- site_version(package, version)
  if (!is.null(site)) {
    reused[[package]] <- sprintf("%s %s from %s", package, site$version, site$lib)
    reused_version[[package]] <- site$version
    next
  }

  own <- if (is.character(entry$Repository) && nzchar(entry$Repository) && grepl("://", entry$Repository)) clean_repo(entry$Repository) else character()
  repos <- unique(c(own, server_repos))
  row <- NULL
  for (repo in repos) {
    candidate <- repo_row(repo, package)
    if (!is.null(candidate) && same_version(candidate[1L, "Version"], version)) {
      row <- candidate
      break
    }
  }
  if (is.null(row)) {
    for (repo in repos) {
      if (archive_fetch(repo, package, version)) {
        archived[[package]] <- repo
        break
      }
    }
    if (!is.na(archived[package])) next
  }
  if (is.null(row)) {
    # No exact version: the newest one on offer, a site library's when it is as new as any.
    best_site <- site_version(package)
    best_repo <- NULL
    for (repo in repos) {
      candidate <- repo_row(repo, package)
      if (!is.null(candidate) && (is.null(best_repo) || newer(candidate[1L, "Version"], best_repo[1L, "Version"]))) best_repo <- candidate
    }
    if (!is.null(best_repo) && (is.null(best_site) || newer(best_repo[1L, "Version"], best_site$version))) {
      row <- best_repo
      fallbacks[[package]] <- sprintf("%s %s is not available; installing %s from %s instead", package, version, row[1L, "Version"], dirname(dirname(row[1L, "Repository"])))
    } else if (!is.null(best_site)) {
      fallbacks[[package]] <- sprintf("%s %s is not available; using %s from %s instead", package, version, best_site$version, best_site$lib)
      reused[[package]] <- sprintf("%s %s from %s (the bundle has %s)", package, best_site$version, best_site$lib, version)
      reused_version[[package]] <- best_site$version
      next
    }
  }
  if (is.null(row)) {
    where <- if (length(repos)) paste("not in", paste(repos, collapse = ", ")) else "no repository is known (the manifest names none and [R] Repository is empty)"
    source <- if (is.character(entry$Source)) entry$Source else "unknown"
    missing[[package]] <- sprintf("%s %s (source: %s) is in no site library, and %s", package, version, source, where)
    next
  }
  chosen[[package]] <- row
}

for (line in reused) lectern_log("reusing ", line)
for (line in fallbacks) lectern_log("warning: ", line)

# R's own account of why a package cannot be had: install.packages looks in the repositories
# searched and says "package 'x' is not available ..." (and why an index could not be read).
if (length(missing) > 0L) {
  for (line in missing) lectern_log("missing: ", line)
  repos <- unique(c(unlist(lapply(packages[names(missing)], function(p) if (is.character(p$Repository) && grepl("://", p$Repository)) clean_repo(p$Repository))), server_repos))
  messages <- repo_notes
  if (length(repos) > 0L) {
    withCallingHandlers(
      tryCatch(utils::install.packages(names(missing), lib = target_lib, repos = repos, dependencies = FALSE, quiet = TRUE),
        error = function(e) messages[[length(messages) + 1L]] <<- conditionMessage(e)
      ),
      warning = function(w) {
        messages[[length(messages) + 1L]] <<- conditionMessage(w)
        invokeRestart("muffleWarning")
      }
    )
  }
  flush(stdout())
  cat(sprintf("[restore.R] error: cannot restore %d R package%s: %s\n", length(missing), if (length(missing) > 1L) "s" else "", paste(names(missing), collapse = ", ")), file = stderr())
  if (length(messages) > 0L) cat(unique(messages), sep = "\n", file = stderr())
  quit(save = "no", status = 1, runLast = FALSE)
}

if (length(archived) > 0L) {
  tools::write_PACKAGES(archive_contrib, type = "source")
  archive_index <- utils::available.packages(repos = paste0("file://", archive_repo), type = "source")
  for (package in names(archived)) {
    chosen[[package]] <- archive_index[archive_index[, "Package"] == package, , drop = FALSE][1L, , drop = FALSE]
  }
}

if (length(chosen) == 0L) {
  lectern_log("all ", length(reused), " packages are available in the site libraries; nothing to install")
  write_reused()
  quit(save = "no", status = 0)
}

# One matrix of exactly the rows chosen (columns differ between repositories: keep the common ones).
columns <- Reduce(intersect, lapply(chosen, colnames))
available <- do.call(rbind, lapply(chosen, function(row) row[, columns, drop = FALSE]))
rownames(available) <- available[, "Package"]
for (package in rownames(available)) {
  from <- if (!is.na(archived[package])) paste0(archived[[package]], " (archive)") else dirname(dirname(available[package, "Repository"]))
  lectern_log("installing ", package, " ", available[package, "Version"], " from ", from)
}

messages <- character()
outputs <- file.path(tempdir(), "install-output")
dir.create(outputs, showWarnings = FALSE)
# Parallel installs go through make -j; without make, one at a time.
ncpus <- if (nzchar(Sys.which("make"))) max(1L, min(4L, parallel::detectCores(), na.rm = TRUE)) else 1L
withCallingHandlers(
  tryCatch(
    utils::install.packages(
      rownames(available),
      lib = target_lib,
      repos = unique(dirname(dirname(available[, "Repository"]))),
      available = available,
      dependencies = FALSE,
      Ncpus = ncpus,
      type = "source",
      # Each package's build output is also kept in <pkg>.out, so a failure can end with it.
      keep_outputs = outputs
    ),
    error = function(e) messages[[length(messages) + 1L]] <<- conditionMessage(e)
  ),
  warning = function(w) {
    messages[[length(messages) + 1L]] <<- conditionMessage(w)
    invokeRestart("muffleWarning")
  }
)

# install.packages only warns when a package fails; what counts is what is in the library now.
now <- utils::installed.packages(lib.loc = target_lib, noCache = TRUE)
failed <- character()
for (package in rownames(available)) {
  have <- now[now[, "Package"] == package, "Version"]
  if (length(have) == 0L || !same_version(have[[1L]], available[package, "Version"])) failed <- c(failed, package)
}
flush(stdout())
if (length(failed) > 0L) {
  # R CMD INSTALL's own error for each failed package, which parallel installs print on stdout and
  # in the middle of other packages' output, is repeated here, so it is among the last lines.
  for (package in failed) {
    out <- file.path(outputs, paste0(package, ".out"))
    if (file.exists(out)) {
      lines <- readLines(out, warn = FALSE)
      cat(sprintf("[restore.R] the end of %s's installation output:\n", package), file = stderr())
      cat(utils::tail(lines, 15L), sep = "\n", file = stderr())
    }
  }
  cat(sprintf("[restore.R] error: installing %s failed\n", paste(failed, collapse = ", ")), file = stderr())
  if (length(messages) > 0L) cat(unique(messages), sep = "\n", file = stderr())
  quit(save = "no", status = 1, runLast = FALSE)
}
if (length(messages) > 0L) cat(unique(messages), sep = "\n", file = stderr())
write_reused()
lectern_log("installed ", length(available[, "Package"]), " packages into ", target_lib, "; reused ", length(reused))
