#!/usr/bin/env bash
# Instructions per small GET under callgrind, maintgate beside nginx and HAProxy:
#
#   bench/callgrind.sh LABEL          e.g. bench/callgrind.sh before, bench/callgrind.sh accept4
#
# The `ir` scenario of bench/run.sh alone (bench/README.md, "Instructions per request"),
# written into bench/results/ir-LABEL/ (report.md, ir.csv, summary.csv) so that the
# figures of each change can be committed side by side. Settings as for run.sh:
# BENCH_IR_REQUESTS ("1000 2000"), BENCH_IR_REPEATS (3), BENCH_CONTENDERS, MAINTGATE_BIN.
# Takes a few minutes; the figure barely moves with the load on the machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

label="${1:-}"
if [[ -z "$label" || "$label" == -* || "$label" == */* ]]; then
    sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
fi
export BENCH_RESULTS_DIR="${BENCH_RESULTS_DIR:-$PWD/bench/results/ir-$label}"
exec bash bench/run.sh ir
