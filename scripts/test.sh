#!/usr/bin/env bash
# Installs what is missing, builds everything (the test programs included) and runs
# the whole suite through CTest; in CI, then the same suite under the sanitizers and a
# short fuzzing run. Exits non-zero when any stage failed; every stage runs regardless,
# so one CI log lists every failure, and a table of stage wall times ends the output.
#
# Stages, and the environment that turns them on (CI=true turns on sanitize and fuzz, so
# a developer's plain `scripts/test.sh` stays the quick normal suite unless asked):
#   suite     always: build folder BUILD_DIR (default build), ctest -j2
#   sanitize  MAINTGATE_CI_SANITIZE=all|asan|tsan|1|0 (1 = all; default all under CI,
#             else 0): scripts/sanitize.sh, the suite under ASan+UBSan (build-asan) and
#             TSan (build-tsan); see that script for what each runs. About 20 minutes
#             on 2 cores, builds included.
#   fuzz      MAINTGATE_CI_FUZZ=1|0 (default 1 under CI, else 0): scripts/fuzz.sh, every
#             libFuzzer target for FUZZ_SECONDS (default 20) with a fixed FUZZ_SEED
#             (default 1), in build-fuzz
# Examples: MAINTGATE_CI_SANITIZE=asan scripts/test.sh   # normal suite, then ASan only
#           CI=true MAINTGATE_CI_SANITIZE=0 scripts/test.sh  # CI without the sanitizers
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${BUILD_DIR:-build}"
in_ci=0
[[ "${CI:-}" == true ]] && in_ci=1
sanitize="${MAINTGATE_CI_SANITIZE:-$( ((in_ci)) && echo all || echo 0)}"
fuzz="${MAINTGATE_CI_FUZZ:-$in_ci}"
case "$sanitize" in
    1) sanitize=all ;;
    0|all|asan|tsan) ;;
    *) echo "test.sh: MAINTGATE_CI_SANITIZE must be all, asan, tsan, 1 or 0" >&2; exit 2 ;;
esac
[[ "$fuzz" == 0 || "$fuzz" == 1 ]] || { echo "test.sh: MAINTGATE_CI_FUZZ must be 1 or 0" >&2; exit 2; }

status=0
timings=()
# stage NAME COMMAND...: runs one stage, records its wall time and outcome.
stage() {
    local name="$1" started=$SECONDS rc=0
    shift
    echo "==== stage $name"
    "$@" || rc=$?
    timings+=("$(printf '%-9s %5ds  %s' "$name" $((SECONDS - started)) \
        "$( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)")")")
    ((rc == 0)) || status=1
}

normal_suite() {
    bash scripts/install-deps.sh test
    # BUILD_TESTING is forced on: a folder configured by demo.sh may have it off.
    BUILD_DIR="$build_dir" bash scripts/build.sh -DBUILD_TESTING=ON
    # Each test has its own timeout (CTest properties); --timeout is only the outer bound
    # for a test that has none. --no-tests=error: a suite that found nothing to run is a
    # failure, not a pass.
    ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 600 --no-tests=error
}

stage suite normal_suite
[[ "$sanitize" == 0 ]] || stage sanitize bash scripts/sanitize.sh "$sanitize"
if [[ "$fuzz" == 1 ]]; then
    stage fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_SEED="${FUZZ_SEED:-1}" \
        bash scripts/fuzz.sh
fi

echo "==== stage wall times"
printf '%s\n' "${timings[@]}"
exit "$status"
