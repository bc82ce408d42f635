#!/usr/bin/env bash
# maintgate against nginx and HAProxy, side by side, in one command:
#
#   bench/run.sh [SCENARIO...]        bench/run.sh --help lists scenarios and settings
#
# Installs what it needs (scripts/install-deps.sh bench), builds maintgate
# (scripts/build.sh --target maintgate: RelWithDebInfo, as every other script here), then
# hands over to bench/bench.py, which starts everything on 127.0.0.1 free ports, runs wrk
# in interleaved rounds, stops what it started (by pid, also on Ctrl-C), and writes
# bench/results/report.md, runs.csv, idle.csv, summary.csv and *.png.
#
# About 30 minutes with the defaults on 2 cores; BENCH_QUICK=1 (2 s runs, 1 round) checks
# that everything works in about 3 minutes. MAINTGATE_BIN=PATH benchmarks that binary
# instead of building one. bench/README.md says what each scenario and figure is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
    -h|--help)
        if command -v python3 >/dev/null 2>&1; then exec python3 bench/bench.py --help; fi
        sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
esac

bash scripts/install-deps.sh bench >&2
if [[ -z "${MAINTGATE_BIN:-}" ]]; then
    build_dir="${BUILD_DIR:-build}"
    BUILD_DIR="$build_dir" bash scripts/build.sh --target maintgate >&2
    [[ "$build_dir" = /* ]] || build_dir="$PWD/$build_dir"
    export MAINTGATE_BIN="$build_dir/maintgate"
fi

# The idle scenario holds thousands of connections at once (and so do the proxies):
# raise the soft descriptor limit to the hard one for everything started from here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec python3 bench/bench.py "$@"
