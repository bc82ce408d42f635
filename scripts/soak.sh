#!/usr/bin/env bash
# Runs the load and soak test (tests/integration/test_soak.py) by hand, for longer than
# CI does: thousands of connections mixing reads, writes, uploads, downloads,
# WebSockets and abrupt clients while the admin socket flips the gate, then the
# write-fence, mode, fd and memory checks. Prints the run's figures (the "soak report").
#
#   SOAK_SECONDS=600 scripts/soak.sh
#
# Environment:
#   SOAK_SECONDS   length of the load phase (default 600 here; CI runs 90)
#   SOAK_SURGE     connections opened at once twice during the run (default 1000)
#   SOAK_SEED      seed of the admin flips and the request mix (default: the time; the
#                  report prints it, so a failing run can be repeated)
#   MAINTGATE_BIN  the binary to test (default: BUILD_DIR/maintgate, built if missing)
#   BUILD_DIR      build folder, relative to the repository root (default: build)
# Exits with the test's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SOAK_SECONDS="${SOAK_SECONDS:-600}"
build_dir="${BUILD_DIR:-build}"
if [[ -z "${MAINTGATE_BIN:-}" ]]; then
    [[ -x "$build_dir/maintgate" ]] || BUILD_DIR="$build_dir" bash scripts/build.sh --target maintgate
    MAINTGATE_BIN="$(cd "$build_dir" && pwd)/maintgate"
fi
[[ -x "$MAINTGATE_BIN" ]] || { echo "soak.sh: no executable maintgate at $MAINTGATE_BIN" >&2; exit 2; }
export MAINTGATE_BIN
case "$SOAK_SECONDS" in
    ''|*[!0-9.]*) echo "soak.sh: SOAK_SECONDS must be a number of seconds" >&2; exit 2 ;;
esac

echo "soak: $SOAK_SECONDS s against $MAINTGATE_BIN"
cd tests/integration
exec env PYTHONDONTWRITEBYTECODE=1 python3 -B -m unittest -v test_soak
