#!/usr/bin/env bash
# Builds maintgate and its tests with the compiler's sanitizers and runs the suite
# against them. Exits non-zero when a test fails or when any sanitizer report was
# written, by any process: the test programs, or a maintgate the integration tests
# started (its stderr is the test's to read, so a report there could pass unseen;
# log_path sends every report to a file that this script checks instead).
#
#   scripts/sanitize.sh [asan|tsan|all]     # default: all (asan, then tsan)
#
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer at exit):
#         the whole suite, unit and integration (one exclusion, stated below)
#   tsan  ThreadSanitizer: the same suite; most maintgates the integration tests start
#         run 2 workers next to the admin, reload, access-log and signal threads
#
# Environment:
#   ASAN_BUILD_DIR  build folder for asan (default build-asan)
#   TSAN_BUILD_DIR  build folder for tsan (default build-tsan)
#   CTEST_ARGS      extra ctest arguments, e.g. "-R integration.gate" to run one module
#
# Reports land in <build folder>/sanitizer-reports/ as asan.<program>.<pid> (and
# ubsan.*, tsan.*); the folder is emptied at the start of each run and every report in
# it is printed at the end. To replay one integration module by hand with the same
# settings, see the *_OPTIONS lines below and run, from tests/integration:
#   MAINTGATE_BIN=build-asan/maintgate ASAN_OPTIONS=... python3 -B -m unittest -v test_gate
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

which_runs="${1:-all}"
case "$which_runs" in
    asan) runs=(asan) ;;
    tsan) runs=(tsan) ;;
    all)  runs=(asan tsan) ;;
    -h|--help) sed -n '2,25s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "sanitize.sh: unknown run '$which_runs' (expected asan, tsan or all)" >&2; exit 2 ;;
esac
read -r -a extra_ctest_args <<<"${CTEST_ARGS:-}"

# g++ brings libasan, libubsan and libtsan with it (libgcc-12-dev).
bash scripts/install-deps.sh test

# Left out, each for a stated reason (everything else runs under both sanitizers):
#   integration.streaming  four 1 GiB transfers whose point is a 64 MiB peak-RSS bound;
#       under ASan the downloads peak at 150-220 MiB (measured; the same with ASan's
#       quarantine off), since shadow memory, redzones and ASan's own allocator count in
#       RSS, so the bound cannot hold there; and under TSan 4 GiB of copies
#       through instrumented code is minutes for a path the forwarding tests cover with
#       small bodies. It runs in the normal suite.
excluded='^integration\.streaming$'

# run_one KIND SANITIZERS BUILD_DIR TIMEOUT_FACTOR: configure, build, test, check reports.
run_one() {
    local kind="$1" sanitizers="$2" build_dir="$3" factor="$4"
    local started=$SECONDS
    echo "== sanitize $kind: -fsanitize=$sanitizers in $build_dir"

    local generator=()
    if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
        generator=(-G Ninja)
    fi
    # -O1: fast enough for the integration suite. -g1: line tables only, which is all a
    # sanitizer's stack needs (function, file, line), and compiles a third faster than
    # -g (measured: client_session.cpp 160 s against 239 s). No -DNDEBUG, so assert()
    # and BOOST_ASSERT check too. CMAKE_PROJECT_INCLUDE pulls in the sanitizer flags
    # even where the top-level CMakeLists.txt does not yet (the file's include_guard
    # makes a second include a no-op).
    cmake -S . -B "$build_dir" "${generator[@]}" -DBUILD_TESTING=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
        -DCMAKE_PROJECT_INCLUDE="$root/cmake/sanitizers.cmake" \
        -DMAINTGATE_SANITIZE="$sanitizers" \
        -DMAINTGATE_INTEGRATION_TIMEOUT_FACTOR="$factor" >/dev/null
    cmake --build "$build_dir" -j"$(nproc)"
    local built=$SECONDS

    local reports
    reports="$(cd "$build_dir" && pwd)/sanitizer-reports"
    rm -rf "$reports"
    mkdir -p "$reports"

    # Every process the tests start inherits these; uninstrumented ones (python3,
    # curl, openssl, socat) ignore them. log_exe_name adds the program to the file name.
    local common="log_exe_name=1:print_summary=1"
    if [[ "$kind" == asan ]]; then
        # halt_on_error with -fno-sanitize-recover: the first report ends the process,
        # so it cannot be missed or drowned. detect_leaks: LeakSanitizer runs at every
        # clean exit (a SIGTERM'd maintgate included). detect_stack_use_after_return: a
        # completion handler that kept a reference to a finished frame's local, the
        # classic Asio mistake. check_initialization_order, strict_init_order: one file's
        # static initialiser reading another's global before it is built.
        export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan:$common"
        export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan:$common"
        unset TSAN_OPTIONS
    else
        # halt_on_error=0: a race is reported and the process carries on, so one CI run
        # lists every race instead of the first (the report file still fails the run).
        # history_size=4: enough memory to print the other thread's stack for a race
        # in a long-lived connection. second_deadlock_stack: both stacks of a lock-order
        # inversion.
        export TSAN_OPTIONS="halt_on_error=0:history_size=4:second_deadlock_stack=1:log_path=$reports/tsan:$common"
        unset ASAN_OPTIONS UBSAN_OPTIONS
    fi

    # The integration tests' CTest timeouts are scaled by the factor at configure time;
    # --timeout bounds the unit tests, which have none.
    # MAINTGATE_SANITIZER tells the few tests that measure memory which runtime is in.
    local status=0
    MAINTGATE_SANITIZER="$kind" ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 900 --no-tests=error \
        -E "$excluded" "${extra_ctest_args[@]}" || status=$?
    unset ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

    local found=()
    local f
    for f in "$reports"/*; do
        [[ -e "$f" ]] && found+=("$f")
    done
    if ((${#found[@]} > 0)); then
        echo "sanitize.sh: $kind: ${#found[@]} sanitizer report(s):" >&2
        for f in "${found[@]}"; do
            echo "---- $f" >&2
            cat "$f" >&2
        done
        status=1
    fi
    echo "== sanitize $kind: build $((built - started))s, tests $((SECONDS - built))s," \
         "status $status"
    return "$status"
}

overall=0
for run in "${runs[@]}"; do
    case "$run" in
        asan) run_one asan address,undefined "${ASAN_BUILD_DIR:-build-asan}" 3 || overall=1 ;;
        tsan) run_one tsan thread "${TSAN_BUILD_DIR:-build-tsan}" 5 || overall=1 ;;
    esac
done
exit "$overall"
