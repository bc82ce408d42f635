#!/usr/bin/env bash
# One command to see maintgate work: installs what is missing, builds the proxy,
# starts the bundled demo app on 127.0.0.1:3000 and runs maintgate in front of it on
# 127.0.0.1:8080 with its embedded default config. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir="${BUILD_DIR:-build}"
app_addr="127.0.0.1:3000"
proxy_url="http://127.0.0.1:8080/"

# The demo needs the compiler set plus python3 (the demo app) and curl (readiness check).
bash scripts/install-deps.sh build python3 curl

# Only the proxy is built. Without Catch2 (the demo does not install it) the test
# targets cannot even be configured, so they are switched off in that case.
build_args=(--target maintgate)
if [[ "$(dpkg-query -W -f='${Status}' catch2 2>/dev/null || true)" != "install ok installed" ]]; then
    build_args+=(-DBUILD_TESTING=OFF)
fi
BUILD_DIR="$build_dir" bash scripts/build.sh "${build_args[@]}"

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

  Drive the gate from another terminal (the admin socket is /tmp/maintgate-admin.sock):
                        $build_dir/maintgate ctl status
                        $build_dir/maintgate ctl set mode read-only reason "trying the gate" for 10m
                        $build_dir/maintgate ctl freeze
                        $build_dir/maintgate ctl set mode maintenance reason "upgrade"
                        $build_dir/maintgate ctl reopen to open
                        $build_dir/maintgate ctl history
                        $build_dir/maintgate ctl help

  The demo app itself is on http://$app_addr/ (direct, not proxied).
  Ctrl-C stops both.

EOF

# No -c: the binary's embedded default listens on 127.0.0.1:8080 and forwards to
# 127.0.0.1:3000. Not exec'd, so that the trap can stop the demo app afterwards.
"$build_dir/maintgate" run
