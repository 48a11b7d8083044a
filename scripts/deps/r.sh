#!/usr/bin/env bash
# What R content and the R tests need, idempotently (a few checks when everything is present):
# R itself (Rscript, R CMD build), pandoc for R Markdown, and Debian's builds of the R packages the
# runners use: shiny (shiny, rmd-shiny), plumber (api), rmarkdown and knitr (rmd-static,
# rmd-shiny), and the rsconnect R package (Debian's 0.8.29, which test/e2e/rsconnect-r.test.ts
# publishes with). They land in Debian's site library (/usr/lib/R/site-library), which restores reuse
# instead of downloading (CRAN is not reachable from the project's machines).
# Usage: bash scripts/deps/r.sh
set -euo pipefail

log() { printf 'deps/r: %s\n' "$*" >&2; }

# Debian package -> how to tell it is already there.
have_r_package() { # name
  [ -f "/usr/lib/R/site-library/$1/DESCRIPTION" ] || [ -f "/usr/lib/R/library/$1/DESCRIPTION" ]
}

source "$(dirname "${BASH_SOURCE[0]}")/../lib/apt.sh"

need=()
{ command -v R && command -v Rscript; } >/dev/null 2>&1 || need+=(r-base-core)
command -v pandoc >/dev/null 2>&1 || need+=(pandoc)
for pkg in shiny plumber rmarkdown knitr rsconnect; do
  have_r_package "$pkg" || need+=("r-cran-$pkg")
done

if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi

# Fail here, with the reason, rather than in the middle of the tests.
if ! out=$(Rscript --vanilla -e 'for (p in c("shiny", "plumber", "rmarkdown", "knitr", "rsconnect")) suppressPackageStartupMessages(library(p, character.only = TRUE)); cat(as.character(getRversion()))' 2>&1); then
  log "R is installed but cannot load its packages: $out"
  exit 1
fi
log "R $out with shiny, plumber, rmarkdown, knitr, rsconnect $(Rscript --vanilla -e 'cat(as.character(packageVersion("rsconnect")))'); pandoc $(pandoc --version | head -1 | awk '{print $2}')"
