#!/usr/bin/env bash
# Configures and builds maintgate.
#
#   scripts/build.sh [-DNAME=VALUE ...] [--target NAME ...]
#
# -D options go to the CMake configure step, --target to the build step (default:
# everything, the test programs included). Environment:
#   BUILD_DIR   build folder, relative to the repository root (default: build)
#   BUILD_TYPE  CMAKE_BUILD_TYPE (default: RelWithDebInfo: optimised, with symbols)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${BUILD_DIR:-build}"
build_type="${BUILD_TYPE:-RelWithDebInfo}"

configure_args=()
build_args=()
while (($# > 0)); do
    case "$1" in
        -D*) configure_args+=("$1") ;;
        --target)
            [[ $# -ge 2 ]] || { echo "build.sh: --target needs a name" >&2; exit 2; }
            build_args+=(--target "$2")
            shift
            ;;
        *) echo "build.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

# The generator can only be chosen when the folder is first configured; after that
# CMake refuses a different one, so keep whatever the cache already has.
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    configure_args=(-G Ninja "${configure_args[@]}")
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "${configure_args[@]}"
cmake --build "$build_dir" -j"$(nproc)" "${build_args[@]}"
