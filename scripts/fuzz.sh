#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, AddressSanitizer and UBSan, and runs
# each for a while starting from its seed corpus in fuzz/corpus/. Fails on the first
# crash, sanitizer report or broken property; the input that did it is left in the
# build folder as crash-*/leak-*/timeout-* and named in the output.
#
#   scripts/fuzz.sh [TARGET...]        # default: every target
#
# Environment:
#   FUZZ_SECONDS  run time per target (default 30; CI runs 20)
#   FUZZ_JOBS     parallel fuzzing processes per target (default 1)
#   FUZZ_SEED     libFuzzer's -seed (default 1). A fixed seed makes the run depend only
#                 on the tree: the work corpus below is emptied first, so every run
#                 starts from the seed corpus and mutates it the same way (how far it
#                 gets in FUZZ_SECONDS still depends on the machine). 0: a random seed,
#                 and the work corpus is kept, so long runs build on each other.
#                 FUZZ_JOBS > 1 implies 0: jobs given one seed would all do the same.
#   BUILD_DIR     build folder (default build-fuzz); new inputs that add coverage are
#                 kept in BUILD_DIR/corpus/<name>, not in the tree
#
# Longer runs, on a machine with cores to spare: FUZZ_SEED=0 FUZZ_SECONDS=3600
# FUZZ_JOBS=4 scripts/fuzz.sh fuzz_framing. To replay one input: BUILD_DIR/fuzz/fuzz_framing FILE.
# To fold new coverage back into the seed corpus, minimise it first:
#   BUILD_DIR/fuzz/fuzz_policy -merge=1 fuzz/corpus/policy BUILD_DIR/corpus/policy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${BUILD_DIR:-build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
jobs="${FUZZ_JOBS:-1}"
seed="${FUZZ_SEED:-1}"
all_targets=(fuzz_framing fuzz_policy fuzz_config fuzz_admin_command)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")

[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_SECONDS must be a positive integer" >&2; exit 2; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_JOBS must be a positive integer" >&2; exit 2; }
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: FUZZ_SEED must be a non-negative integer" >&2; exit 2; }
# libFuzzer hands -seed unchanged to every job it starts: one seed, N copies of one run.
((jobs == 1)) || seed=0

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
    # A fixed seed means a fresh start: inputs found by an earlier run would change
    # what this one does. Old crash inputs go too, so the list below is this run's.
    ((seed == 0)) || rm -rf "$work" "$artifacts"
    mkdir -p "$work" "$artifacts"
    echo "== $target: ${seconds}s from fuzz/corpus/$name, seed $seed"
    started=$SECONDS
    # New inputs go to the work folder (first corpus argument); the seeds stay read-only.
    # -timeout: one input taking over 10 s is a hang worth reporting, not a slow machine.
    # Several jobs run as child processes, each logging to fuzz-N.log in the artifacts
    # folder (libFuzzer writes them to the current folder).
    # -seed=0 is libFuzzer's own "pick one at random".
    parallel=()
    ((jobs == 1)) || parallel=(-jobs="$jobs" -workers="$jobs")
    if ! (cd "$artifacts" && "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 \
            -seed="$seed" -rss_limit_mb=2048 -print_final_stats=1 "${parallel[@]}" \
            -artifact_prefix="$artifacts/" "$work" "$seeds"); then
        echo "fuzz.sh: $target failed; inputs in $artifacts/:" >&2
        ls -1 "$artifacts/" >&2 || true
        status=1
    fi
    echo "== $target: $((SECONDS - started))s"
done
exit "$status"
