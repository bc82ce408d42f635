#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, AddressSanitizer and UBSan, and runs
# each for a while starting from its seed corpus in fuzz/corpus/. Fails on the first
# crash, sanitizer report or broken property; the input that did it is left in the
# build folder as crash-*/leak-*/timeout-* and named in the output.
#
#   scripts/fuzz.sh [TARGET...]        # default: every target
#
# Environment:
#   FUZZ_SECONDS  run time per target (default 30: the short CI run)
#   FUZZ_JOBS     parallel fuzzing processes per target (default 1)
#   BUILD_DIR     build folder (default build-fuzz); new inputs that add coverage are
#                 kept in BUILD_DIR/corpus/<name>, not in the tree
#
# Longer runs, on a machine with cores to spare: FUZZ_SECONDS=3600 FUZZ_JOBS=4
# scripts/fuzz.sh fuzz_framing. To replay one input: BUILD_DIR/fuzz/fuzz_framing FILE.
# To fold new coverage back into the seed corpus, minimise it first:
#   BUILD_DIR/fuzz/fuzz_policy -merge=1 fuzz/corpus/policy BUILD_DIR/corpus/policy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${BUILD_DIR:-build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
jobs="${FUZZ_JOBS:-1}"
all_targets=(fuzz_framing fuzz_policy fuzz_config fuzz_admin_command)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")

[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_SECONDS must be a positive integer" >&2; exit 2; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_JOBS must be a positive integer" >&2; exit 2; }

# clang and its runtime libraries (libFuzzer, the sanitizers) come from Debian.
bash scripts/install-deps.sh build clang libclang-rt-14-dev

# The generator can only be chosen when the folder is first configured.
generator=()
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
fi
cmake -S . -B "$build_dir" "${generator[@]}" -DMAINTGATE_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}"

root="$(pwd)"
build="$(cd "$build_dir" && pwd)"
status=0
for target in "${targets[@]}"; do
    name="${target#fuzz_}"
    seeds="$root/fuzz/corpus/$name"
    work="$build/corpus/$name"
    artifacts="$build/artifacts/$name"
    [[ -d "$seeds" ]] || { echo "fuzz.sh: no seed corpus $seeds for $target" >&2; exit 2; }
    mkdir -p "$work" "$artifacts"
    echo "== $target: ${seconds}s from fuzz/corpus/$name"
    # New inputs go to the work folder (first corpus argument); the seeds stay read-only.
    # -timeout: one input taking over 10 s is a hang worth reporting, not a slow machine.
    # Several jobs run as child processes, each logging to fuzz-N.log in the artifacts
    # folder (libFuzzer writes them to the current folder).
    parallel=()
    ((jobs == 1)) || parallel=(-jobs="$jobs" -workers="$jobs")
    if ! (cd "$artifacts" && "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 "${parallel[@]}" \
            -artifact_prefix="$artifacts/" "$work" "$seeds"); then
        echo "fuzz.sh: $target failed; inputs in $artifacts/:" >&2
        ls -1 "$artifacts/" >&2 || true
        status=1
    fi
done
exit "$status"
