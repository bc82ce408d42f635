#!/usr/bin/env bash
# Installs what is missing, builds everything (the test programs included) and runs
# the whole suite through CTest. Exits with CTest's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${BUILD_DIR:-build}"

bash scripts/install-deps.sh test
# BUILD_TESTING is forced on: a folder configured by demo.sh may have it off.
BUILD_DIR="$build_dir" bash scripts/build.sh -DBUILD_TESTING=ON

# Each test has its own timeout (CTest properties); --timeout is only the outer bound
# for a test that has none. --no-tests=error: a suite that found nothing to run is a
# failure, not a pass.
status=0
ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 600 --no-tests=error || status=$?
exit "$status"
