#!/usr/bin/env bash
# One command to see maintgate work: installs what is missing, builds the proxy,
# starts the bundled demo app on 127.0.0.1:3000 and runs maintgate in front of it on
# 127.0.0.1:8080. Ctrl-C stops both.
#
# maintgate runs with a config written into a folder of its own (printed at start), with
# a state file, an audit log and the metrics listener, so that a restart keeps the mode
# and `maintgate ctl history` shows every change. The folder stays after Ctrl-C; run
# again with DEMO_DIR=that-folder to restart on the same state. Environment:
#   DEMO_DIR      the demo's folder (default: a new /tmp/maintgate-demo.XXXXXX)
#   DEMO_PROXY    where maintgate listens (default 127.0.0.1:8080)
#   DEMO_APP      where the demo app listens (default 127.0.0.1:3000)
#   DEMO_METRICS  the metrics listener (default 127.0.0.1:9180)
#   DEMO_SOCKET   the admin socket (default /tmp/maintgate-admin.sock, the one that
#                 `maintgate ctl` without -c or --socket connects to)
#   DEMO_NO_BUILD 1: use the maintgate already in BUILD_DIR (no install, no build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

build_dir="${BUILD_DIR:-build}"
app_addr="${DEMO_APP:-127.0.0.1:3000}"
proxy_addr="${DEMO_PROXY:-127.0.0.1:8080}"
metrics_addr="${DEMO_METRICS:-127.0.0.1:9180}"
socket="${DEMO_SOCKET:-/tmp/maintgate-admin.sock}"
proxy_url="http://$proxy_addr/"

if [[ "${DEMO_NO_BUILD:-}" != 1 ]]; then
    # The demo needs the compiler set plus python3 (the demo app) and curl (readiness check).
    bash scripts/install-deps.sh build python3 curl

    # Only the proxy is built. Without Catch2 (the demo does not install it) the test
    # targets cannot even be configured, so they are switched off in that case.
    build_args=(--target maintgate)
    if [[ "$(dpkg-query -W -f='${Status}' catch2 2>/dev/null || true)" != "install ok installed" ]]; then
        build_args+=(-DBUILD_TESTING=OFF)
    fi
    BUILD_DIR="$build_dir" bash scripts/build.sh "${build_args[@]}"
fi

demo_dir="${DEMO_DIR:-}"
if [[ -z "$demo_dir" ]]; then
    demo_dir="$(mktemp -d /tmp/maintgate-demo.XXXXXX)"
else
    mkdir -p "$demo_dir"
fi
demo_dir="$(cd "$demo_dir" && pwd)"
config="$demo_dir/maintgate.toml"

# The settings of the README's walkthrough ("A maintenance window, step by step"), with
# the files in the demo's folder. The config is rewritten at every start; the state file
# and the audit log are kept.
cat >"$config" <<CONFIG
# Written by scripts/demo.sh; rewritten at each start.
[[listener]]
address = "$proxy_addr"

[upstream]
url = "http://$app_addr"

[admin]
socket = "$socket"
metrics = "$metrics_addr"

[gate]
state_file = "$demo_dir/state.json"
audit_log = "$demo_dir/audit.jsonl"

[health_check]
path = "/healthz"
expect_status = 200
interval = "10s"

[[smoke_check]]
name = "front page renders"
path = "/"
body_contains = "<title>Demo notes"

[reopen]
watch = "5m"
max_error_rate = 0.05
min_requests = 20

[[hook]]
name = "backup"
argv = ["$root/scripts/demo_backup.sh", "http://$app_addr", "$demo_dir/backups"]
env = ["PATH"]
timeout = "1m"

[hook.backup]
result_file = "$demo_dir/backups/result.json"
min_bytes = 100
min_ratio = 0.5
max_age = "5m"
CONFIG

# How to type the binary: as installed when it is on PATH, else from the build folder.
mg_bin="$build_dir/maintgate"
if command -v maintgate >/dev/null 2>&1; then mg_bin=maintgate; fi
ctl="$mg_bin ctl"
[[ "$socket" == /tmp/maintgate-admin.sock ]] || ctl="$mg_bin ctl --socket $socket"

app_pid=""
cleanup() {
    # The demo app is ours to stop; maintgate was in the foreground and is gone already.
    if [[ -n "$app_pid" ]] && kill -0 "$app_pid" 2>/dev/null; then
        kill "$app_pid" 2>/dev/null || true
        wait "$app_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
# Exit through the EXIT trap on Ctrl-C or a kill, whatever maintgate did with the signal.
trap 'exit 130' INT
trap 'exit 143' TERM

python3 scripts/demo_app.py "$app_addr" &
app_pid=$!

# Wait until the app answers (a few seconds at most) so the first request through
# the proxy does not meet a closed port.
ready=0
for _ in $(seq 50); do
    if curl -fsS --max-time 1 -o /dev/null "http://$app_addr/healthz" 2>/dev/null; then
        ready=1
        break
    fi
    if ! kill -0 "$app_pid" 2>/dev/null; then
        app_pid=""
        echo "demo: the demo app did not start (is $app_addr already in use?)" >&2
        exit 1
    fi
    sleep 0.1
done
if ((ready == 0)); then
    echo "demo: the demo app does not answer on $app_addr" >&2
    exit 1
fi

cat <<EOF

  maintgate is starting in front of the demo app.

    open in a browser:  $proxy_url
    or with curl:       curl -i $proxy_url
                        curl -i ${proxy_url}api/notes
                        curl -i -H 'Content-Type: application/json' \\
                             -d '{"text":"hello through the proxy"}' ${proxy_url}api/notes

  Drive the gate from another terminal (the admin socket is $socket):
                        $ctl status
                        $ctl window plan try start manual end +30m hook pre_freeze backup reason trying the gate
                        $ctl window start try
                        $ctl reopen to open
                        $ctl window report try
                        $ctl history
                        $ctl help
  (README: "A maintenance window, step by step"; by hand: set mode, freeze, reopen)

  The demo's files, in $demo_dir:
    config              $config
    state file          $demo_dir/state.json (the mode survives a restart)
    audit log           $demo_dir/audit.jsonl (what ctl history shows)
    backups             $demo_dir/backups (the backup hook's, scripts/demo_backup.sh)
    metrics             http://$metrics_addr/metrics

  The demo app itself is on http://$app_addr/ (direct, not proxied).
  Ctrl-C stops both; DEMO_DIR=$demo_dir $0 restarts on the same state.

EOF

# Not exec'd, so that the trap can stop the demo app afterwards.
"$build_dir/maintgate" run -c "$config"
