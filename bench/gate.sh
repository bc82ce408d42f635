#!/usr/bin/env bash
# The gate's local replies, against nginx doing the same job from memory:
#
#   1. page:   maintgate in maintenance mode serving its maintenance page (GET /,
#              Accept: text/html)  vs  nginx returning 503 with the same bytes
#              (error_page 503 -> a static copy of maintgate's page).
#   2. refuse: maintgate in read-only mode refusing a flood of POSTs (small JSON body,
#              Accept: application/json)  vs  nginx returning 503 with the same JSON body
#              for POST. maintgate closes the connection after a refusal whose body it
#              did not read, nginx keeps it alive; so a third row, nginx with keep-alive
#              off, shows what one TCP connection per request costs on its own.
#
# Contenders run interleaved in the same run (A B A B ..., ROUNDS rounds); the table gives
# the median with min and max of each figure. Loopback only; about 2.5 minutes.
#
#   bench/gate.sh
#
# Environment: BUILD_DIR (default build), ROUNDS (default 3), DURATION (default 8s),
# KEEP_TMP=1 keeps the raw wrk output and configs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

build_dir="${BUILD_DIR:-build}"
rounds="${ROUNDS:-3}"
duration="${DURATION:-8s}"
wrk_args=(-t1 -c64 "-d$duration" --latency)
post_lua="$repo/bench/lua/post-json.lua"
# Must match the body bench/lua/post-json.lua sends (used for the curl checks).
post_body='{"title":"hello","text":"a small note"}'

bash scripts/install-deps.sh bench >&2
BUILD_DIR="$build_dir" bash scripts/build.sh --target maintgate >&2
maintgate="$repo/$build_dir/maintgate"
[[ "$build_dir" = /* ]] && maintgate="$build_dir/maintgate"

# Everything this run makes lives here (git-ignored), and goes when it ends.
mkdir -p bench/results
tmp="$(mktemp -d "$repo/bench/results/tmp.XXXXXX")"
nginx_pid=""
page_pid=""
ro_pid=""
cleanup() {
    # Stop what we started, by pid.
    for pid in "$page_pid" "$ro_pid" "$nginx_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "$page_pid" "$ro_pid" "$nginx_pid"; do
        if [[ -n "$pid" ]]; then wait "$pid" 2>/dev/null || true; fi
    done
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
        echo "gate.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "gate.sh: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- maintgate: two instances, one per mode, one worker each ------------------------
# The upstream is never reached by what is measured (the page and refused POSTs are
# answered locally); it points at the nginx started below.
nginx_page_port="$(free_port)"
nginx_post_port="$(free_port)"
nginx_close_port="$(free_port)"

# start_maintgate NAME MODE: sets mg_pid and mg_port.
start_maintgate() {
    local name="$1" mode="$2"
    mkdir -p "$tmp/$name"
    cat >"$tmp/$name/maintgate.toml" <<EOF
workers = 1

[[listener]]
address = "127.0.0.1:0"

[upstream]
url = "http://127.0.0.1:$nginx_page_port"

[gate]
initial_mode = "$mode"
state_file = "$tmp/$name/state.json"
EOF
    "$maintgate" run -c "$tmp/$name/maintgate.toml" 2>"$tmp/$name/stderr" &
    mg_pid=$!
    mg_port=""
    for _ in $(seq 100); do
        mg_port="$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/$name/stderr" \
                   | head -n1 | sed 's/.*://')" || true
        [[ -n "$mg_port" ]] && break
        kill -0 "$mg_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$mg_port" ]]; then
        cat "$tmp/$name/stderr" >&2 || true
        die "maintgate ($mode) did not report its port; its stderr is above"
    fi
}
start_maintgate mg-page maintenance
page_pid=$mg_pid
mg_page_url="http://127.0.0.1:$mg_port/"
start_maintgate mg-ro read-only
ro_pid=$mg_pid
mg_post_url="http://127.0.0.1:$mg_port/"

# Capture what maintgate answers: nginx serves the same body bytes.
mkdir -p "$tmp/nginx/html"
status="$(curl -sS --max-time 5 -H 'Accept: text/html' -D "$tmp/mg-page.head" \
               -o "$tmp/nginx/html/maint.html" -w '%{http_code}' "$mg_page_url")" || true
[[ "$status" == 503 ]] || die "maintgate (maintenance) answered $status to GET /, expected 503"
# nginx's worker may run as another user (nobody, when started as root): let it read the
# page (mktemp -d makes the folder 0700).
chmod 755 "$tmp" "$tmp/nginx" "$tmp/nginx/html"
chmod 644 "$tmp/nginx/html/maint.html"
status="$(curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' \
               -H 'Accept: application/json' --data-binary "$post_body" -D "$tmp/mg-post.head" \
               -o "$tmp/refusal.json" -w '%{http_code}' "$mg_post_url")" || true
[[ "$status" == 503 ]] || die "maintgate (read-only) answered $status to POST, expected 503"
retry_after="$(tr -d '\r' <"$tmp/mg-page.head" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }')"
[[ "$retry_after" =~ ^[0-9]+$ ]] || die "maintgate's page has no numeric Retry-After"
grep -q '^[[:print:]]*$' "$tmp/refusal.json" && [[ "$(wc -l <"$tmp/refusal.json")" -le 1 ]] \
    || die "the JSON refusal is not one printable line; cannot embed it in nginx.conf"
# nginx single-quoted string: the JSON has no single quotes or backslashes to escape;
# its final newline becomes \n.
json_line="$(tr -d '\n' <"$tmp/refusal.json")"
[[ "$json_line" != *"'"* && "$json_line" != *'\'* ]] || die "the JSON refusal needs escaping"
json_nl=""
[[ "$(tail -c1 "$tmp/refusal.json" | od -An -c | tr -d ' ')" == '\n' ]] && json_nl='\n'

# --- nginx: one worker, three servers ----------------------------------------------
# Response headers are made as close as nginx allows to maintgate's (Retry-After,
# Cache-Control, Vary, a mode header); nginx adds Server, Date and Connection.
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    etag off;
    # The page file stays open between requests (nginx still reads it each time).
    open_file_cache max=16 inactive=1h;
    open_file_cache_valid 1h;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;

    # 1. the maintenance page: every request gets 503 with maintgate's page.
    server {
        listen 127.0.0.1:$nginx_page_port;
        root $tmp/nginx/html;
        error_page 503 /maint.html;
        location / { return 503; }
        location = /maint.html {
            internal;
            types { }
            default_type "text/html; charset=utf-8";
            add_header Retry-After $retry_after always;
            add_header Cache-Control no-store always;
            add_header Vary Accept always;
            add_header X-Maintgate-Mode maintenance always;
        }
    }

    # 2. refused writes: POST gets 503 with maintgate's JSON body; keep-alive stays on
    #    (nginx discards the small body and keeps the connection).
    server {
        listen 127.0.0.1:$nginx_post_port;
        default_type application/json;
        add_header Retry-After $retry_after always;
        add_header Cache-Control no-store always;
        add_header Vary Accept always;
        add_header X-Maintgate-Mode read-only always;
        location / {
            if (\$request_method = POST) { return 503 '$json_line$json_nl'; }
            return 200 "ok\n";
        }
    }

    # 2b. the same, but closing the connection after every response: what a refusal
    #     costs when the connection cannot be kept (a body too large to drain).
    server {
        listen 127.0.0.1:$nginx_close_port;
        keepalive_timeout 0;
        default_type application/json;
        add_header Retry-After $retry_after always;
        add_header Cache-Control no-store always;
        add_header Vary Accept always;
        add_header X-Maintgate-Mode read-only always;
        location / {
            if (\$request_method = POST) { return 503 '$json_line$json_nl'; }
            return 200 "ok\n";
        }
    }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_pid=$!
nginx_page_url="http://127.0.0.1:$nginx_page_port/"
nginx_post_url="http://127.0.0.1:$nginx_post_port/"
nginx_close_url="http://127.0.0.1:$nginx_close_port/"
up=""
for _ in $(seq 100); do
    code="$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "$nginx_page_url" 2>/dev/null)" || true
    [[ "$code" == 503 ]] && { up=1; break; }
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$up" ]]; then
    cat "$tmp/nginx/error.log" >&2 || true
    die "nginx did not start (its error log is above)"
fi

# Same status and same body bytes from both sides, or the comparison means nothing.
curl -sS --max-time 5 -H 'Accept: text/html' -D "$tmp/nginx-page.head" \
     -o "$tmp/nginx-page.body" "$nginx_page_url"
cmp -s "$tmp/nginx/html/maint.html" "$tmp/nginx-page.body" || die "nginx's page differs from maintgate's"
for h in nginx-post nginx-close; do
    u="$nginx_post_url"
    [[ "$h" == nginx-close ]] && u="$nginx_close_url"
    curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' \
         --data-binary "$post_body" -D "$tmp/$h.head" -o "$tmp/$h.body" "$u"
    cmp -s "$tmp/refusal.json" "$tmp/$h.body" || die "nginx's JSON refusal ($u) differs from maintgate's"
done
for h in mg-page nginx-page mg-post nginx-post nginx-close; do
    head -n1 "$tmp/$h.head" | grep -q ' 503' || die "$h: not a 503: $(head -n1 "$tmp/$h.head")"
    tr -d '\r' <"$tmp/$h.head" | grep -qi '^retry-after: ' || die "$h: no Retry-After"
done
head_bytes() { wc -c <"$tmp/$1.head" | tr -d ' '; }
conn_header() { tr -d '\r' <"$tmp/$1.head" | awk -F': ' 'tolower($1) == "connection" { print $2 }'; }
# What the refused-write rows mean depends on whether maintgate kept the connection:
# say what this run observed, not what an earlier build did.
refusal_connection_note() {
    if [[ "$(conn_header mg-post)" == *close* ]]; then
        echo "maintgate answered a refused POST with \`Connection: close\`: every refused write in"
        echo "its row costs a new TCP connection, as in nginx's \`keepalive_timeout 0\` row."
    else
        echo "maintgate drains a refused POST's small body (up to 1 MiB) and keeps the connection,"
        echo "as nginx does; the \`keepalive_timeout 0\` row shows what a close per refusal costs."
    fi
}

# --- measure ----------------------------------------------------------------------
clk_tck="$(getconf CLK_TCK)"
# utime + stime (clock ticks) of a process and, for nginx, its workers (the children).
cpu_ticks() {
    local total=0 pid t
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] || continue
        t="$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
        total=$((total + t))
    done
    echo "$total"
}
nginx_pids() {
    echo "$nginx_pid"
    cat /proc/"$nginx_pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true
}

# Reads one wrk output: requests/s, p50 and p99 (us), total requests, socket errors,
# and responses that were not 4xx/5xx (all should be 503 here).
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
        / requests in / { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx += $NF }
        /Socket errors:/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) serr += $i + 0
        }
        END { printf "%s %d %d %d %d %d\n", rps, p50, p99, n, serr, n - non2xx }
    ' "$1"
}

# run_one NAME ROUND URL KIND(page|post) PID...
run_one() {
    local name="$1" round="$2" url="$3" kind="$4"
    shift 4
    local extra=()
    if [[ "$kind" == page ]]; then extra=(-H 'Accept: text/html'); else extra=(-s "$post_lua"); fi
    echo "gate.sh: round $round: $name: wrk ${wrk_args[*]} ${extra[*]} $url" >&2
    timeout 20 wrk -t1 -c64 -d2s "${extra[@]}" "$url" >/dev/null
    local before after out="$tmp/wrk-$name-$round.txt"
    before="$(cpu_ticks "$@")"
    timeout 60 wrk "${wrk_args[@]}" "${extra[@]}" "$url" >"$out"
    after="$(cpu_ticks "$@")"
    local rps p50 p99 n serr ok
    read -r rps p50 p99 n serr ok < <(summarise "$out")
    ((n > 0)) || die "$name: wrk completed no requests"
    local cpu_us
    cpu_us="$(awk -v d=$((after - before)) -v hz="$clk_tck" -v n="$n" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')"
    echo "$name $round $rps $p50 $p99 $cpu_us $n $serr $ok" >>"$tmp/results.txt"
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/results.txt"
mapfile -t ngx < <(nginx_pids)
for round in $(seq "$rounds"); do
    run_one mg-page "$round" "$mg_page_url" page "$page_pid"
    run_one nginx-page "$round" "$nginx_page_url" page "${ngx[@]}"
    run_one mg-refuse "$round" "$mg_post_url" post "$ro_pid"
    run_one nginx-refuse "$round" "$nginx_post_url" post "${ngx[@]}"
    run_one nginx-refuse-close "$round" "$nginx_close_url" post "${ngx[@]}"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# median [min–max] of column COL for NAME, formatted by FMT (rps | ms | cpu)
stat() {
    local name="$1" col="$2" fmt="$3"
    awk -v n="$name" -v c="$col" '$1 == n { print $c }' "$tmp/results.txt" | sort -g | awk -v f="$fmt" '
        function fmt(v) {
            if (f == "rps") return sprintf("%.0f", v)
            if (f == "ms")  return sprintf("%.3f", v / 1000)
            return sprintf("%.2f", v)
        }
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "–"; exit }
            med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%s [%s–%s]", fmt(med), fmt(v[1]), fmt(v[NR])
        }'
}
sum_col() { awk -v n="$1" -v c="$2" '$1 == n { s += $c } END { print s + 0 }' "$tmp/results.txt"; }
row() {
    local label="$1" name="$2"
    echo "| $label | $(stat "$name" 3 rps) | $(stat "$name" 4 ms) | $(stat "$name" 5 ms) | $(stat "$name" 6 cpu) | $(sum_col "$name" 8) | $(sum_col "$name" 9) |"
}

commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(GIT_OPTIONAL_LOCKS=0 git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ", with local changes" || true)"
report="$(cat <<EOF

### bench/gate.sh — $(date -u +%Y-%m-%dT%H:%MZ), commit $commit$dirty, $(nproc) cores

The gate's local replies against nginx (1 worker, access_log off) answering the same
503s: the page from a static file kept open by open_file_cache, the JSON from its config.
wrk ${wrk_args[*]}, contenders interleaved, $rounds rounds; each cell is the median
[min–max] over the rounds (each figure on its own). CPU is the server process's own user+sys time
(/proc/PID/stat; nginx: master + worker) per request, in µs, at $clk_tck ticks/s.
wrk, nginx and maintgate (\`workers = 1\`) share the same $(nproc) cores, with other work
on the machine; load average (1/5/15 min) before: $load_before, after: $load_after.

| contender | requests/s | p50 ms | p99 ms | CPU µs/req | socket errors | not 4xx/5xx |
|---|---:|---:|---:|---:|---:|---:|
$(row "maintgate, maintenance page (GET, Accept: text/html)" mg-page)
$(row "nginx, same page (error_page 503)" nginx-page)
$(row "maintgate, read-only, refused POST (Accept: application/json)" mg-refuse)
$(row "nginx, 503 for POST, keep-alive" nginx-refuse)
$(row "nginx, 503 for POST, keepalive_timeout 0" nginx-refuse-close)

Bodies are byte-identical (checked with cmp): page $(wc -c <"$tmp/nginx/html/maint.html" | tr -d ' ') bytes,
JSON refusal $(wc -c <"$tmp/refusal.json" | tr -d ' ') bytes. Response heads: maintgate page $(head_bytes mg-page) bytes,
nginx page $(head_bytes nginx-page); maintgate refusal $(head_bytes mg-post), nginx refusal $(head_bytes nginx-post).
$(refusal_connection_note)
EOF
)"
echo "$report"
echo "$report" >bench/results/gate-latest.md

bad="$(awk '$8 > 0 || $9 > 0' "$tmp/results.txt")"
if [[ -n "$bad" ]]; then
    echo "gate.sh: some runs saw socket errors or non-503 responses (KEEP_TMP=1 keeps the raw output):" >&2
    echo "$bad" >&2
    exit 1
fi
