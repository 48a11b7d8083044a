#!/usr/bin/env bash
# Runs one test suite, test/<suite>/*.test.ts, with Node's test runner and its built-in coverage:
# results, then a coverage table, on standard output, and coverage/<suite>.lcov.info for tools
# (an editor's gutter, genhtml). Child processes are covered too (the runner collects every Node
# process that inherits its NODE_V8_COVERAGE: the CLI the API tests start, say).
# No coverage threshold is set, so coverage never fails a run; only the tests do.
#   bash scripts/test-suite.sh SUITE CONCURRENCY
set -euo pipefail
cd "$(dirname "$0")/.."
suite=$1
concurrency=$2
mkdir -p coverage
# Test files are not what coverage measures; Node 20 lacks the option, so there they count too.
exclude=()
if node --test-coverage-exclude='test/**' -e '' 2>/dev/null; then exclude=(--test-coverage-exclude='test/**'); fi
exec node --import tsx --test --test-concurrency="$concurrency" \
  --experimental-test-coverage "${exclude[@]}" \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=lcov --test-reporter-destination="coverage/$suite.lcov.info" \
  test/"$suite"/*.test.ts
