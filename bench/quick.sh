#!/usr/bin/env bash
# The day-one overhead figure: what does putting maintgate in front of a fast upstream
# cost? Runs wrk against nginx directly, then through maintgate (1 worker) in front of
# the same nginx, and prints a Markdown table. Loopback only; about 30 seconds.
#
#   bench/quick.sh
#
# Environment: BUILD_DIR (default build). Raw wrk output is kept when KEEP_TMP=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

build_dir="${BUILD_DIR:-build}"
wrk_args=(-t1 -c64 -d10s --latency)

bash scripts/install-deps.sh bench >&2
BUILD_DIR="$build_dir" bash scripts/build.sh --target maintgate >&2
maintgate="$repo/$build_dir/maintgate"

# Everything this run makes lives here (git-ignored), and goes when it ends.
mkdir -p bench/results
tmp="$(mktemp -d "$repo/bench/results/tmp.XXXXXX")"
nginx_pid=""
proxy_pid=""
cleanup() {
    # Stop what we started, by pid: the proxy first, then its upstream.
    for pid in "$proxy_pid" "$nginx_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "$proxy_pid" "$nginx_pid"; do
        if [[ -n "$pid" ]]; then wait "$pid" 2>/dev/null || true; fi
    done
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "quick.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    # Ask the kernel for a free loopback port; the tiny race until nginx binds it is
    # acceptable on a machine where nothing else is starting listeners.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_url() {
    # Up to 10 s for a server we just started to answer.
    local url="$1" pid="$2"
    for _ in $(seq 100); do
        curl -fsS --max-time 2 -o /dev/null "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- upstream: nginx with one worker, answering a fixed 200 from memory -------------
nginx_port="$(free_port)"
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            default_type text/plain;
            return 200 "hello\n";
        }
    }
}
EOF
# -e: nginx opens its error log before reading the config; keep it out of /var/log.
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_pid=$!
direct_url="http://127.0.0.1:$nginx_port/"
if ! wait_for_url "$direct_url" "$nginx_pid"; then
    echo "quick.sh: nginx did not start:" >&2
    cat "$tmp/nginx/error.log" >&2 || true
    exit 1
fi

# --- maintgate: one worker, on a port the kernel picks -------------------------------
cat >"$tmp/maintgate.toml" <<EOF
workers = 1

[[listener]]
address = "127.0.0.1:0"

[upstream]
url = "http://127.0.0.1:$nginx_port"
EOF
"$maintgate" run -c "$tmp/maintgate.toml" 2>"$tmp/maintgate.stderr" &
proxy_pid=$!
# The port is only known once maintgate logs "listening on 127.0.0.1:PORT".
proxy_port=""
for _ in $(seq 100); do
    proxy_port="$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/maintgate.stderr" \
                  | head -n1 | sed 's/.*://')" || true
    [[ -n "$proxy_port" ]] && break
    kill -0 "$proxy_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$proxy_port" ]]; then
    echo "quick.sh: maintgate did not report its port; its stderr:" >&2
    cat "$tmp/maintgate.stderr" >&2 || true
    exit 1
fi
proxy_url="http://127.0.0.1:$proxy_port/"
if ! wait_for_url "$proxy_url" "$proxy_pid"; then
    echo "quick.sh: maintgate does not answer 200 on $proxy_url; its stderr:" >&2
    cat "$tmp/maintgate.stderr" >&2 || true
    exit 1
fi

# --- measure ----------------------------------------------------------------------
# Other work on the machine skews every figure; the load before the run goes in the report.
load_before="$(cut -d' ' -f1 /proc/loadavg)"
run_wrk() {
    # A short warm-up first (connections, caches), then the measured run. timeout(1)
    # bounds each run even if wrk hangs.
    local name="$1" url="$2"
    echo "quick.sh: $name: wrk ${wrk_args[*]} $url" >&2
    timeout 20 wrk -t1 -c64 -d2s "$url" >/dev/null
    timeout 60 wrk "${wrk_args[@]}" "$url" >"$tmp/wrk-$name.txt"
}
run_wrk direct "$direct_url"
run_wrk maintgate "$proxy_url"

# Reads one wrk output: requests/s, p50 and p99 in microseconds, and error count
# (socket errors plus non-2xx/3xx responses, so that fast failures cannot pass as speed).
summarise() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return (v + 0) * 1000
            if (v ~ /m$/)  return (v + 0) * 60000000
            if (v ~ /s$/)  return (v + 0) * 1000000
            return v + 0
        }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { errors += $NF }
        /Socket errors:/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) errors += $i + 0
        }
        END { printf "%s %d %d %d\n", rps, p50, p99, errors }
    ' "$1"
}
read -r direct_rps direct_p50 direct_p99 direct_err < <(summarise "$tmp/wrk-direct.txt")
read -r proxy_rps proxy_p50 proxy_p99 proxy_err < <(summarise "$tmp/wrk-maintgate.txt")

ms() { awk -v u="$1" 'BEGIN { printf "%.3f ms", u / 1000 }'; }
rps() { awk -v r="$1" 'BEGIN { printf "%.0f", r }'; }

commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
cat <<EOF

### bench/quick.sh — $(date -u +%Y-%m-%dT%H:%MZ), commit $commit, $(nproc) cores

wrk ${wrk_args[*]}; upstream nginx (1 worker) returning a 6-byte 200; maintgate with
\`workers = 1\`. wrk, nginx and maintgate share the same $(nproc) cores; load average
before the run: $load_before.

| path | requests/s | p50 | p99 | errors |
|---|---:|---:|---:|---:|
| wrk → nginx | $(rps "$direct_rps") | $(ms "$direct_p50") | $(ms "$direct_p99") | $direct_err |
| wrk → maintgate → nginx | $(rps "$proxy_rps") | $(ms "$proxy_p50") | $(ms "$proxy_p99") | $proxy_err |

Added by maintgate: $(ms $((proxy_p50 - direct_p50))) at p50, $(ms $((proxy_p99 - direct_p99))) at p99; \
throughput $(awk -v a="$proxy_rps" -v b="$direct_rps" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }') of direct.
EOF

if ((direct_err > 0 || proxy_err > 0)); then
    echo "quick.sh: wrk saw errors; the figures above are not valid (KEEP_TMP=1 keeps the raw output)" >&2
    exit 1
fi
