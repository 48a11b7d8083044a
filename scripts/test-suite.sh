#!/usr/bin/env bash
# Runs one test suite, test/<suite>/*.test.ts, with Node's test runner and its built-in coverage:
# results, then a coverage table, on standard output, and coverage/<suite>.lcov.info for tools
# (an editor's gutter, genhtml). Child processes are covered too (the runner collects every Node
# process that inherits its NODE_V8_COVERAGE: the CLI the API tests start, say).
# No coverage threshold is set, so coverage never fails a run; only the tests do. Coverage costs time
# (measured on 2 busy cores: the unit suite 105 s -> 135 s, an API file 15 s -> 22 s, one that starts
# the CLI in child processes 35 s -> 57 s): LECTERN_TEST_COVERAGE=0 runs a suite without it.
#   bash scripts/test-suite.sh SUITE CONCURRENCY
set -euo pipefail
cd "$(dirname "$0")/.."
suite=$1
concurrency=$2
if [ "${LECTERN_TEST_COVERAGE:-1}" = 0 ]; then
  exec node --import tsx --test --test-concurrency="$concurrency" test/"$suite"/*.test.ts
fi
mkdir -p coverage
# Test files are not what coverage measures; Node 20 lacks the option, so there they count too.
exclude=()
if node --test-coverage-exclude='test/**' -e '' 2>/dev/null; then exclude=(--test-coverage-exclude='test/**'); fi
exec node --import tsx --test --test-concurrency="$concurrency" \
  --experimental-test-coverage "${exclude[@]}" \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=lcov --test-reporter-destination="coverage/$suite.lcov.info" \
  test/"$suite"/*.test.ts
