"""maintgate against nginx and HAProxy, side by side: the driver behind bench/run.sh.

It starts one upstream (nginx), then per scenario the contenders in front of it (direct,
maintgate, nginx, HAProxy, each with 1 and with 2 workers), checks that each answers the
way the scenario needs, runs wrk against them in interleaved rounds, and writes
report.md, runs.csv, idle.csv, summary.csv and PNG plots into the results folder.
Everything it starts listens on 127.0.0.1 and is stopped by pid when it ends.

Run it through bench/run.sh (which installs the packages and builds maintgate);
bench/README.md explains the scenarios, the settings and how each figure is computed.
"""

import csv
import ctypes
import datetime
import http.client
import math
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(REPO, "bench", "lua", "bench.lua")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
MIB = 1024 * 1024
START_TIMEOUT = 15.0    # a server we started must answer within this
STOP_TIMEOUT = 15.0     # SIGTERM to exit; then SIGKILL
UPLOAD_SIZE = MIB
FILE_SIZES = {"64k": 64 * 1024, "16m": 16 * MIB}
SMALL_BODY = b"hello\n"
# The refused write: a small JSON document, asking for a JSON reply.
REFUSED_BODY = '{"title":"hello","text":"a small note"}'


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A problem that makes the figures meaningless: reported, and the run stops."""


# ---- settings --------------------------------------------------------------------------

def _env_int(name, default, minimum=0):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BenchError("%s=%r is not a whole number" % (name, raw))
    if value < minimum:
        raise BenchError("%s=%d is below %d" % (name, value, minimum))
    return value


def _env_words(name, default, allowed):
    words = os.environ.get(name, "").split() or list(default)
    for w in words:
        if w not in allowed:
            raise BenchError("%s: unknown %r (expected some of: %s)" % (name, w, " ".join(allowed)))
    return words


class Settings:
    """Everything a run can be told through the environment (see bench/README.md)."""

    def __init__(self):
        quick = os.environ.get("BENCH_QUICK", "") == "1"
        self.quick = quick
        self.duration = _env_int("BENCH_DURATION", 2 if quick else 10, 1)
        self.rounds = _env_int("BENCH_ROUNDS", 1 if quick else 3, 1)
        self.warmup = _env_int("BENCH_WARMUP", 1 if quick else 2, 0)
        self.connections = _env_int("BENCH_CONNECTIONS", 64, 1)
        # One wrk thread where wrk, the upstream and the proxy share two cores; two where
        # there is room, so that wrk is not what limits the 2-worker runs.
        self.wrk_threads = _env_int("BENCH_WRK_THREADS", 1 if (os.cpu_count() or 1) < 4 else 2, 1)
        self.wrk_threads = min(self.wrk_threads, self.connections)
        self.workers = [int(w) for w in _env_words("BENCH_WORKERS", ["1", "2"], ["1", "2", "3", "4"])]
        self.contenders = _env_words("BENCH_CONTENDERS", KINDS, KINDS)
        self.idle_conns = _env_int("BENCH_IDLE_CONNS", 5000, 1)
        # Connection limits of nginx (worker_connections) and HAProxy (maxconn): room for
        # the idle scenario's connections, plus the upstream side; maintgate's default
        # max_connections (10000) already is.
        self.max_conns = max(4096, self.idle_conns + 1024)
        self.upstream_workers = _env_int("BENCH_UPSTREAM_WORKERS", 1, 1)
        self.flip_interval_ms = _env_int("BENCH_FLIP_INTERVAL_MS", 100, 10)
        self.results = os.path.abspath(os.environ.get("BENCH_RESULTS_DIR", os.path.join(REPO, "bench", "results")))
        self.keep_tmp = os.environ.get("KEEP_TMP", "") == "1"
        self.maintgate = os.environ.get("MAINTGATE_BIN", "")
        if not self.maintgate:
            raise BenchError("MAINTGATE_BIN is not set (bench/run.sh sets it after building)")
        if not os.access(self.maintgate, os.X_OK):
            raise BenchError("MAINTGATE_BIN=%s is not an executable" % self.maintgate)


# ---- scenarios -------------------------------------------------------------------------

KINDS = ["direct", "maintgate", "nginx", "haproxy"]


class Scenario:
    """One load shape. `variant` says how the proxies are configured for it:
    ro (read-only rule: reads through, writes 503), open (no rule), page (every request
    gets the maintenance page), flip (maintgate only, read-only, with its admin socket)."""

    def __init__(self, name, title, what, path, variant, kinds, method="GET", body=None,
                 body_file=False, headers=(), expect=200, body_size=None, timeout=5):
        self.name = name
        self.title = title
        self.what = what
        self.path = path
        self.variant = variant
        self.kinds = kinds
        self.method = method
        self.body = body
        self.body_file = body_file
        self.headers = list(headers)
        self.expect = expect
        self.body_size = body_size
        self.timeout = timeout


SCENARIOS = [
    Scenario("small", "Small GET, keep-alive",
             "GET / answered by the upstream with a 6-byte body, over keep-alive connections. "
             "The proxies apply the read-only rule (reads pass).",
             "/", "ro", KINDS, body_size=len(SMALL_BODY)),
    Scenario("64k", "64 KiB responses",
             "GET of a 64 KiB file from the upstream, keep-alive; read-only rule.",
             "/files/64k", "ro", KINDS, body_size=FILE_SIZES["64k"]),
    Scenario("upload", "1 MiB uploads",
             "POST of a 1 MiB body, keep-alive; the upstream reads the whole body before it "
             "answers 200. Every contender must let the POST through, so in this scenario only "
             "maintgate runs in open mode and nginx and HAProxy have no rule. nginx keeps its "
             "defaults: it reads the whole body before it forwards it (proxy_request_buffering on), "
             "into a temporary file past client_body_buffer_size (16 KiB).",
             "/upload", "open", KINDS, method="POST", body_file=True,
             headers=["Content-Type: application/octet-stream"], timeout=30),
    Scenario("16m", "16 MiB downloads",
             "GET of a 16 MiB file from the upstream, keep-alive; read-only rule. "
             "Throughput is the bytes wrk received per second.",
             "/files/16m", "ro", KINDS, body_size=FILE_SIZES["16m"], timeout=60),
    Scenario("close", "New connection per request",
             "GET / with `Connection: close`: every request opens a new client connection "
             "(the proxies keep theirs to the upstream); read-only rule.",
             "/", "ro", KINDS, headers=["Connection: close"], body_size=len(SMALL_BODY)),
    Scenario("page", "Maintenance page",
             "GET / with `Accept: text/html`: maintgate in maintenance mode serves its page; "
             "nginx answers `return 503` with the same bytes through `error_page 503` from a "
             "file; HAProxy answers `http-request return status 503 ... file` (loaded at start). "
             "No request reaches the upstream.",
             "/", "page", ["maintgate", "nginx", "haproxy"], headers=["Accept: text/html"],
             expect=503),
    Scenario("refuse", "Refused writes",
             "POST / with a small JSON body and `Accept: application/json` to read-only gates: "
             "every one is refused with 503 and the same JSON body from each contender.",
             "/", "ro", ["maintgate", "nginx", "haproxy"], method="POST", body=REFUSED_BODY,
             headers=["Content-Type: application/json", "Accept: application/json"], expect=503),
    Scenario("flip", "Mode flips under load",
             "GET / load on maintgate while its mode is flipped read-only <-> open every "
             "BENCH_FLIP_INTERVAL_MS through the admin socket (`maintgate ctl --socket PATH set "
             "mode ...`). Reads pass in both modes, so every response must be a 2xx.",
             "/", "flip", ["maintgate"], body_size=len(SMALL_BODY)),
]
SCENARIO_NAMES = [s.name for s in SCENARIOS] + ["idle"]
IDLE_WHAT = ("N idle keep-alive connections that have each completed one GET / are held open "
             "against a freshly started proxy (warmed up first); the growth of the proxy "
             "processes' RSS divided by N. Read-only rule configured.")


# ---- processes -------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup():
    # Our children get SIGTERM if this driver dies without cleaning up (killed -9), so no
    # server outlives the run. PR_SET_PDEATHSIG = 1.
    _libc.prctl(1, signal.SIGTERM)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def children_of(pid):
    """Direct children of pid, found by PPid in /proc (nginx's workers)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read("/proc/%s/stat" % entry)
        if not stat:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return sorted(out)


def start_time(pid):
    """The process's start time in ticks since boot (tells a pid from its reuse), or None."""
    stat = _read("/proc/%d/stat" % pid)
    if not stat:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[19])


def cpu_ticks(pids):
    """utime + stime of the processes (all their threads), in clock ticks."""
    total = 0
    for pid in pids:
        stat = _read("/proc/%d/stat" % pid)
        if stat:
            fields = stat[stat.rfind(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
    return total


def status_kib(pids, field):
    """Sum of a /proc/PID/status field (VmRSS, VmHWM), in KiB."""
    total = 0
    for pid in pids:
        for line in _read("/proc/%d/status" % pid).splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1])
    return total


def free_port():
    # The kernel picks a free loopback port; the short race until our server binds it is
    # acceptable (a clash makes that server fail to start, which is reported).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A server process we started: its pid, its workers, and a way to stop it."""

    def __init__(self, name, argv, logfile, env=None):
        self.name = name
        self.argv = argv
        self.logfile = logfile
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True, preexec_fn=_child_setup, env=env)
        self.pids = [self.proc.pid]

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, lines=20):
        return "\n".join(_read(self.logfile).splitlines()[-lines:])

    def adopt_children(self, expected, timeout=START_TIMEOUT):
        """Records the forked workers (nginx) once `expected` of them exist."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kids = children_of(self.proc.pid)
            if len(kids) >= expected:
                self.pids = [self.proc.pid] + kids
                self._started = {pid: start_time(pid) for pid in kids}
                return
            if not self.alive():
                break
            time.sleep(0.05)
        raise BenchError("%s: expected %d worker processes; its log:\n%s"
                         % (self.name, expected, self.log_tail()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log("%s did not stop on SIGTERM within %.0f s; killing pid %d"
                    % (self.name, STOP_TIMEOUT, self.proc.pid))
                self.proc.kill()
                self.proc.wait()
        # nginx's workers leave with their master; one still here after that (same pid,
        # same start time: not a reused pid) is ours to end.
        for pid, started in getattr(self, "_started", {}).items():
            if started is not None and start_time(pid) == started:
                log("%s: worker %d outlived its master; killing it" % (self.name, pid))
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


# ---- HTTP checks -----------------------------------------------------------------------

def http_request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection: (status, {lower-case name: value}, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def wait_http(service, port, path="/", timeout=START_TIMEOUT):
    """Waits until the server answers anything on port; fails if it exits first."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not service.alive():
            break
        try:
            http_request(port, "GET", path, timeout=2)
            return
        except (OSError, http.client.HTTPException) as e:
            last = e
            time.sleep(0.05)
    rc = service.proc.poll()
    if rc is not None:
        why = "killed by signal %d" % -rc if rc < 0 else "exited with status %d" % rc
    else:
        why = "still running; last error: %s" % last
    raise BenchError("%s did not answer on 127.0.0.1:%d (%s); its log:\n%s"
                     % (service.name, port, why, service.log_tail()))


def headers_dict(lines):
    out = {}
    for line in lines:
        name, _, value = line.partition(":")
        out[name.strip()] = value.strip()
    return out


# ---- configuration files ---------------------------------------------------------------

def fill(template, **values):
    """Replaces @NAME@ markers (nginx and HAProxy configs are full of braces and $)."""
    for k, v in values.items():
        template = template.replace("@%s@" % k, str(v))
    left = re.search(r"@[A-Z_]+@", template)
    if left:
        raise BenchError("config template: %s was not filled" % left.group(0))
    return template


NGINX_COMMON = """daemon off;
worker_processes @WORKERS@;
worker_rlimit_nofile @NOFILE@;
pid @DIR@/nginx.pid;
# Not warn: nginx logs a warning for every request body it buffers to a file (uploads).
error_log @DIR@/error.log error;
events { worker_connections @MAXCONN@; }
http {
    access_log off;
    server_tokens off;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path @DIR@/client_body;
    proxy_temp_path @DIR@/proxy;
    fastcgi_temp_path @DIR@/fastcgi;
    uwsgi_temp_path @DIR@/uwsgi;
    scgi_temp_path @DIR@/scgi;
@HTTP@
}
"""

UPSTREAM_HTTP = """    sendfile on;
    tcp_nopush on;
    etag off;
    log_format bench_upload '$request_length $http_content_length $status';

    # /upload hands the request to this sink only after nginx has read the whole body
    # (proxy request buffering), and passes only the head on: the body is really
    # transferred from the proxy, and the upstream answers after the last byte.
    upstream bench_sink {
        server 127.0.0.1:@SINK_PORT@;
        keepalive 16;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:@PORT@ backlog=4096;
        location = / {
            default_type text/plain;
            return 200 "hello\\n";
        }
        location /files/ {
            root @DIR@/www;
            default_type application/octet-stream;
        }
        location = /upload {
            client_max_body_size 2m;
            client_body_buffer_size 2m;
            # Logged only for the checks (they send X-Bench-Check), never under load.
            access_log @DIR@/upload.log bench_upload if=$http_x_bench_check;
            proxy_pass http://bench_sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
    }
    server {
        listen 127.0.0.1:@SINK_PORT@ backlog=4096;
        location / {
            default_type text/plain;
            return 200 "ok\\n";
        }
    }"""

NGINX_PROXY_HTTP = """    client_max_body_size 2m;
    upstream app {
        server 127.0.0.1:@UPSTREAM_PORT@;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen 127.0.0.1:@PORT@ backlog=4096@REUSEPORT@;
@SERVER@
    }"""

NGINX_PASS = """            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"""

NGINX_SERVER = {
    "ro": """        location / {
            default_type application/json;
            if ($request_method !~ ^(GET|HEAD|OPTIONS)$) {
                add_header Retry-After @RETRY_AFTER@ always;
                add_header Cache-Control no-store always;
                add_header Vary Accept always;
                add_header X-Maintgate-Mode read-only always;
                return 503 '@JSON@';
            }
@PASS@
        }""",
    "open": """        location / {
@PASS@
        }""",
    "page": """        root @DIR@/html;
        open_file_cache max=16 inactive=1h;
        open_file_cache_valid 1h;
        error_page 503 /503.html;
        location / {
            return 503;
        }
        location = /503.html {
            internal;
            types { }
            default_type "text/html; charset=utf-8";
            add_header Retry-After @RETRY_AFTER@ always;
            add_header Cache-Control no-store always;
            add_header Vary Accept always;
            add_header X-Maintgate-Mode maintenance always;
        }""",
}

HAPROXY_CFG = """global
    nbthread @WORKERS@
    maxconn @MAXCONN@

defaults
    mode http
    maxconn @MAXCONN@
    timeout connect 5s
    timeout client 75s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 75s
    option forwardfor
    http-reuse always

frontend bench
    bind 127.0.0.1:@PORT@
@RULES@
    default_backend app

backend app
    server app 127.0.0.1:@UPSTREAM_PORT@
"""

HAPROXY_RULES = {
    "ro": ("    http-request deny deny_status 503 content-type application/json file @DIR@/refusal.json"
           " hdr Retry-After @RETRY_AFTER@ hdr Cache-Control no-store hdr Vary Accept"
           " hdr X-Maintgate-Mode read-only unless METH_GET || METH_OPTIONS"),
    "open": "",
    "page": ('    http-request return status 503 content-type "text/html; charset=utf-8"'
             " file @DIR@/503.html hdr Retry-After @RETRY_AFTER@ hdr Cache-Control no-store"
             " hdr Vary Accept hdr X-Maintgate-Mode maintenance"),
}


def nginx_quote(text):
    """text as an nginx single-quoted string (return's text may hold variables: refuse $)."""
    if "$" in text:
        raise BenchError("the refusal body contains '$', which nginx would expand")
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def maintgate_has_ctl(maintgate):
    """True when this maintgate binary has the `ctl` command (the flip scenario needs it)."""
    out = subprocess.run([maintgate, "--help"], capture_output=True, text=True, timeout=10)
    return re.search(r"^\s+ctl\b", out.stdout + out.stderr, re.M) is not None


# ---- the upstream and the contenders ---------------------------------------------------

class Upstream:
    """nginx serving the fixed responses, the files and the upload sink."""

    def __init__(self, tmp, workers, max_conns):
        self.dir = os.path.join(tmp, "upstream")
        os.makedirs(os.path.join(self.dir, "www", "files"))
        for name, size in FILE_SIZES.items():
            chunk = bytes(range(256)) * 256  # 64 KiB of varied bytes
            with open(os.path.join(self.dir, "www", "files", name), "wb") as f:
                for _ in range(size // len(chunk)):
                    f.write(chunk)
        self.port = free_port()
        self.sink_port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(fill(NGINX_COMMON, WORKERS=workers, DIR=self.dir, MAXCONN=max_conns,
                         NOFILE=2 * max_conns + 1024,
                         HTTP=fill(UPSTREAM_HTTP, DIR=self.dir, PORT=self.port, SINK_PORT=self.sink_port)))
        # nginx's workers run as nobody when started by root: they must read the files.
        _open_tree(tmp)
        self.service = Service("upstream nginx",
                               ["nginx", "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                               os.path.join(self.dir, "stderr"))
        try:
            wait_http(self.service, self.port)
            self.service.adopt_children(workers)
        except BaseException:
            self.service.stop()
            raise

    def upload_log(self):
        return _read(os.path.join(self.dir, "upload.log")).splitlines()


def _open_tree(path):
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


class Contender:
    """One proxy (or the upstream itself, for direct) configured for one scenario variant."""

    def __init__(self, kind, workers, variant, bench, upstream):
        self.kind = kind
        self.workers = workers
        self.variant = variant
        self.service = None
        self.admin_socket = None
        self.id = "direct" if kind == "direct" else "%s-%d" % (kind, workers)
        if kind == "direct":
            self.port = upstream.port
            self.pids = []
            return
        bench.seq += 1
        self.dir = os.path.join(bench.tmp, "%02d-%s-%s" % (bench.seq, self.id, variant))
        os.makedirs(self.dir)
        self.port = free_port()
        try:
            getattr(self, "_start_" + kind)(bench, upstream)
            if kind == "nginx":
                self.service.adopt_children(workers)
        except BaseException:
            self.stop()  # started but not answering: not left behind
            raise
        self.pids = list(self.service.pids)

    @property
    def label(self):
        if self.kind == "direct":
            return "direct (wrk → upstream)"
        return "%s, %d worker%s" % (self.kind, self.workers, "" if self.workers == 1 else "s")

    def _start_maintgate(self, bench, upstream):
        mode = {"ro": "read-only", "flip": "read-only", "open": "open", "page": "maintenance"}[self.variant]
        conf = os.path.join(self.dir, "maintgate.toml")
        text = ("workers = %d\n\n[[listener]]\naddress = \"127.0.0.1:%d\"\n\n[upstream]\n"
                "url = \"http://127.0.0.1:%d\"\n\n[gate]\ninitial_mode = \"%s\"\nstate_file = \"%s\"\n"
                % (self.workers, self.port, upstream.port, mode, os.path.join(self.dir, "state.json")))
        if self.variant == "flip":
            self.admin_socket = os.path.join(self.dir, "admin.sock")
            text += "\n[admin]\nsocket = \"%s\"\n" % self.admin_socket
        with open(conf, "w") as f:
            f.write(text)
        self.service = Service(self.id, [bench.settings.maintgate, "run", "-c", conf],
                               os.path.join(self.dir, "stderr"))
        wait_http(self.service, self.port)

    def _start_nginx(self, bench, upstream):
        if self.variant == "page":
            os.makedirs(os.path.join(self.dir, "html"))
            with open(os.path.join(self.dir, "html", "503.html"), "wb") as f:
                f.write(bench.page)
        server = fill(NGINX_SERVER[self.variant if self.variant != "flip" else "ro"],
                      PASS=NGINX_PASS, DIR=self.dir, RETRY_AFTER=bench.retry_after,
                      JSON=nginx_quote(bench.refusal.decode()))
        http_block = fill(NGINX_PROXY_HTTP, UPSTREAM_PORT=upstream.port, PORT=self.port,
                          REUSEPORT=" reuseport" if self.workers > 1 else "", SERVER=server)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(fill(NGINX_COMMON, WORKERS=self.workers, DIR=self.dir, HTTP=http_block,
                         MAXCONN=bench.settings.max_conns, NOFILE=2 * bench.settings.max_conns + 1024))
        _open_tree(self.dir)
        self.service = Service(self.id, ["nginx", "-p", self.dir, "-c", conf, "-e",
                                         os.path.join(self.dir, "error.log")],
                               os.path.join(self.dir, "stderr"))
        wait_http(self.service, self.port)

    def _start_haproxy(self, bench, upstream):
        with open(os.path.join(self.dir, "503.html"), "wb") as f:
            f.write(bench.page)
        with open(os.path.join(self.dir, "refusal.json"), "wb") as f:
            f.write(bench.refusal)
        conf = os.path.join(self.dir, "haproxy.cfg")
        rules = fill(HAPROXY_RULES[self.variant], DIR=self.dir, RETRY_AFTER=bench.retry_after)
        with open(conf, "w") as f:
            f.write(fill(HAPROXY_CFG, WORKERS=self.workers, PORT=self.port, MAXCONN=bench.settings.max_conns,
                         UPSTREAM_PORT=upstream.port, RULES=rules))
        self.service = Service(self.id, ["haproxy", "-db", "-f", conf], os.path.join(self.dir, "stderr"))
        wait_http(self.service, self.port)

    def stop(self):
        if self.service:
            self.service.stop()

    def ctl(self, bench, *words):
        """Runs `maintgate ctl --socket PATH WORDS...`: (ok, output)."""
        r = subprocess.run([bench.settings.maintgate, "ctl", "--socket", self.admin_socket, *words],
                           capture_output=True, text=True, timeout=10)
        return r.returncode == 0, (r.stdout + r.stderr).strip()


# ---- wrk -------------------------------------------------------------------------------

BENCH_LINE = re.compile(r"^BENCH (.*)$", re.M)


def run_wrk(bench, scenario, port, seconds, out_path):
    """wrk against one contender; the parsed BENCH line of bench/lua/bench.lua."""
    s = bench.settings
    env = dict(os.environ, BENCH_METHOD=scenario.method, BENCH_HEADERS="\n".join(scenario.headers),
               BENCH_BODY=scenario.body or "", BENCH_BODY_FILE=bench.upload_file if scenario.body_file else "")
    argv = ["wrk", "-t%d" % s.wrk_threads, "-c%d" % s.connections, "-d%ds" % seconds,
            "--timeout", "%ds" % scenario.timeout, "-s", LUA, "http://127.0.0.1:%d%s" % (port, scenario.path)]
    try:
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + scenario.timeout + 30)
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish: %s" % " ".join(argv))
    with open(out_path, "w") as f:
        f.write("$ %s\n%s\n%s" % (" ".join(argv), r.stdout, r.stderr))
    m = BENCH_LINE.search(r.stdout)
    if r.returncode != 0 or not m:
        raise BenchError("wrk failed (exit %d): %s\n%s" % (r.returncode, " ".join(argv), r.stderr.strip()))
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


# ---- idle keep-alive connections -------------------------------------------------------

def hold_idle_connections(port, n, batch=64, batch_timeout=20.0):
    """Opens n connections to port, completes one GET / on each, and returns the open
    sockets. Done in batches so that no listen backlog overflows."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/plain\r\n\r\n" % port
    held = []
    pending = {}
    sel = selectors.DefaultSelector()
    try:
        for start in range(0, n, batch):
            for _ in range(min(batch, n - start)):
                s = socket.socket()
                pending[s] = bytearray()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
            deadline = time.monotonic() + batch_timeout
            while pending:
                if time.monotonic() > deadline:
                    raise BenchError("idle: %d connections of a batch did not complete a request in %.0f s"
                                     % (len(pending), batch_timeout))
                for key, events in sel.select(timeout=1.0):
                    s = key.fileobj
                    if events & selectors.EVENT_WRITE:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise BenchError("idle: connect failed: %s" % os.strerror(err))
                        s.send(request)  # a few dozen bytes: one send on a fresh socket
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    chunk = s.recv(65536)
                    if not chunk:
                        raise BenchError("idle: the proxy closed a connection before answering")
                    buf = pending[s]
                    buf += chunk
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
                    if not head[0].startswith("HTTP/1.1 200"):
                        raise BenchError("idle: expected 200, got %r" % head[0])
                    length = 0
                    for line in head[1:]:
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                    if len(buf) >= end + 4 + length:
                        sel.unregister(s)
                        del pending[s]
                        held.append(s)
    except BaseException:
        for s in held + list(pending):
            s.close()
        raise
    finally:
        sel.close()
    return held


def count_still_open(socks):
    """How many sockets have neither data nor EOF waiting: the proxy still holds them."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    ready = len(sel.select(timeout=0))
    sel.close()
    return len(socks) - ready


# ---- the run ---------------------------------------------------------------------------

def median_min_max(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


class Bench:
    def __init__(self, settings, scenario_names):
        self.settings = settings
        self.scenario_names = scenario_names
        self.tmp = tempfile.mkdtemp(prefix="maintgate-bench.")
        self.seq = 0
        self.runs = []        # one dict per wrk run
        self.idle = []        # one dict per idle measurement
        self.notes = {}       # scenario -> list of notes (skips, observations)
        self.peak_rss = {}    # (scenario, contender id) -> KiB
        self.services = []    # contenders alive right now, stopped in cleanup
        self.upstream = None
        self.failures = []

    # -- setup --

    def setup(self):
        s = self.settings
        self.upload_file = os.path.join(self.tmp, "upload.bin")
        with open(self.upload_file, "wb") as f:
            f.write(bytes(range(256)) * (UPLOAD_SIZE // 256))
        self.upstream = Upstream(self.tmp, s.upstream_workers, s.max_conns)
        log("upstream nginx on 127.0.0.1:%d (%d worker%s)"
            % (self.upstream.port, s.upstream_workers, "" if s.upstream_workers == 1 else "s"))
        # maintgate's own page and JSON refusal: nginx and HAProxy answer the same bytes.
        page = self.start("maintgate", 1, "page")
        status, headers, self.page = http_request(page.port, "GET", "/", headers={"Accept": "text/html"})
        self.stop(page)
        if status != 503 or not self.page:
            raise BenchError("maintgate in maintenance mode answered %d to GET /, expected its 503 page" % status)
        self.retry_after = headers.get("retry-after", "")
        if not self.retry_after.isdigit():
            raise BenchError("maintgate's page has no numeric Retry-After (%r)" % self.retry_after)
        ro = self.start("maintgate", 1, "ro")
        status, _, self.refusal = http_request(ro.port, "POST", "/", body=REFUSED_BODY,
                                               headers={"Content-Type": "application/json",
                                                        "Accept": "application/json"})
        self.stop(ro)
        if status != 503:
            raise BenchError("maintgate in read-only mode answered %d to POST, expected 503" % status)

    def stop_all(self):
        """Stops every server still running: the contenders, then their upstream."""
        for c in self.services:
            c.stop()
        self.services = []
        if self.upstream:
            self.upstream.service.stop()
            self.upstream = None

    def remove_tmp(self):
        if self.settings.keep_tmp:
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, kind, workers, variant):
        c = Contender(kind, workers, variant, self, self.upstream)
        if kind != "direct":
            self.services.append(c)
        return c

    def stop(self, c):
        c.stop()
        if c in self.services:
            self.services.remove(c)

    def contender_plan(self, kinds):
        """(kind, workers) in the interleaving order: direct once, then each proxy per worker count."""
        plan = []
        if "direct" in kinds and "direct" in self.settings.contenders:
            plan.append(("direct", 1))
        for w in self.settings.workers:
            for kind in ("maintgate", "nginx", "haproxy"):
                if kind in kinds and kind in self.settings.contenders:
                    plan.append((kind, w))
        return plan

    # -- checks: each contender answers the way the scenario needs, before any load --

    def check(self, sc, c):
        hdrs = headers_dict(sc.headers)
        what = "%s / %s" % (sc.name, c.id)
        body = sc.body
        if sc.body_file:
            with open(self.upload_file, "rb") as f:
                body = f.read()
            hdrs["X-Bench-Check"] = "1"
        before = len(self.upstream.upload_log())
        status, rh, data = http_request(c.port, sc.method, sc.path, body=body, headers=hdrs)
        if status != sc.expect:
            raise BenchError("%s: %s %s answered %d, expected %d" % (what, sc.method, sc.path, status, sc.expect))
        if sc.body_size is not None and len(data) != sc.body_size:
            raise BenchError("%s: body of %d bytes, expected %d" % (what, len(data), sc.body_size))
        if sc.name == "page" and data != self.page:
            raise BenchError("%s: the page differs from maintgate's (%d bytes, expected %d)"
                             % (what, len(data), len(self.page)))
        if sc.name == "refuse" and data != self.refusal:
            raise BenchError("%s: the refusal differs from maintgate's: %r" % (what, data[:200]))
        if sc.body_file:
            # The upstream logs $request_length for checked uploads: the whole body arrived.
            lines = self.upstream.upload_log()[before:]
            if len(lines) != 1 or int(lines[0].split()[0]) < UPLOAD_SIZE:
                raise BenchError("%s: the upstream did not log one request of at least %d bytes: %r"
                                 % (what, UPLOAD_SIZE, lines))
        if sc.variant in ("ro", "flip") and c.kind != "direct":
            # The read-only rule is really there: a write is refused.
            status, _, _ = http_request(c.port, "POST", "/", body=REFUSED_BODY,
                                        headers={"Content-Type": "application/json"})
            if status != 503:
                raise BenchError("%s: POST / answered %d; the read-only rule should refuse it" % (what, status))
        if sc.name == "close" and "close" not in rh.get("connection", "").lower():
            raise BenchError("%s: no `Connection: close` in the reply to a request that asked for it" % what)
        return rh

    # -- one scenario --

    def run_scenario(self, sc):
        s = self.settings
        plan = self.contender_plan(sc.kinds)
        notes = self.notes.setdefault(sc.name, [])
        if not plan:
            notes.append("skipped: none of its contenders is in BENCH_CONTENDERS")
            return
        if sc.variant == "flip" and not maintgate_has_ctl(s.maintgate):
            msg = ("skipped: this maintgate has no `ctl` command yet (`%s --help` does not list it), "
                   "so its mode cannot be flipped at run time" % s.maintgate)
            log("flip: " + msg)
            notes.append(msg)
            return
        log("%s: starting %s" % (sc.name, ", ".join("%s-%d" % p for p in plan)))
        contenders = [self.start(kind, w, sc.variant) for kind, w in plan]
        try:
            conn_headers = []
            for c in contenders:
                rh = self.check(sc, c)
                conn_headers.append("%s `%s`" % (c.label, rh.get("connection", "(none: keep-alive)")))
            if sc.name == "refuse":
                # Whether a refusal costs the client its connection changes what the row means.
                notes.append("Connection header on a refused POST: %s." % "; ".join(conn_headers))
            if sc.variant == "flip":
                for c in contenders:
                    self.check_flips(c)
            for c in contenders:
                if s.warmup:
                    run_wrk(self, sc, c.port, s.warmup, os.path.join(self.tmp, "warmup-%s-%s.txt" % (sc.name, c.id)))
            for rnd in range(1, s.rounds + 1):
                for c in contenders:
                    self.measure(sc, c, rnd)
            for c in contenders:
                if c.kind != "direct":
                    self.peak_rss[(sc.name, c.id)] = status_kib(c.pids, "VmHWM")
        finally:
            for c in contenders:
                self.stop(c)

    def check_flips(self, c):
        """ctl works on this build, and each mode does what it says to a write."""
        for mode, expect in (("open", 200), ("read-only", 503)):
            ok, out = c.ctl(self, "set", "mode", mode)
            if not ok:
                raise BenchError("flip: `maintgate ctl --socket %s set mode %s` failed: %s"
                                 % (c.admin_socket, mode, out))
            status, _, _ = http_request(c.port, "POST", "/", body=REFUSED_BODY,
                                        headers={"Content-Type": "application/json"})
            if status != expect:
                raise BenchError("flip: after `set mode %s`, POST / answered %d, expected %d"
                                 % (mode, status, expect))

    def measure(self, sc, c, rnd):
        s = self.settings
        log("%s: round %d/%d: %s" % (sc.name, rnd, s.rounds, c.id))
        flipper = Flipper(self, c) if sc.variant == "flip" else None
        up_before = cpu_ticks(self.upstream.service.pids)
        before = cpu_ticks(c.pids)
        if flipper:
            flipper.start()
        try:
            r = run_wrk(self, sc, c.port, s.duration,
                        os.path.join(self.tmp, "wrk-%s-%s-%d.txt" % (sc.name, c.id, rnd)))
        finally:
            if flipper:
                flipper.finish()
        after = cpu_ticks(c.pids)
        up_after = cpu_ticks(self.upstream.service.pids)
        n = r["requests"]
        secs = r["duration_us"] / 1e6
        # Bodies moved: what wrk received, or for uploads what it sent in completed requests.
        mib = (n * UPLOAD_SIZE if sc.body_file else r["bytes"]) / MIB
        cpu_us = (after - before) * 1e6 / CLK_TCK
        # wrk's percentiles are 0 when no request completed (a short run of 16 MiB downloads).
        pct = (lambda key: r[key] if n else None)
        if sc.expect < 400:
            unexpected = r["status"]          # wrk counts responses >= 400
        else:
            unexpected = n - r["status"]      # every response should be the 503
        row = {
            "scenario": sc.name, "contender": c.id, "kind": c.kind,
            "workers": 0 if c.kind == "direct" else c.workers, "round": rnd,
            "requests": int(n), "seconds": round(secs, 3),
            "rps": n / secs if secs else 0.0,
            "mib_s": mib / secs if secs else 0.0,
            "p50_us": pct("p50"), "p90_us": pct("p90"), "p99_us": pct("p99"), "p999_us": pct("p999"),
            "max_us": pct("max"),
            "cpu_us_per_req": cpu_us / n if c.pids and n else None,
            "cpu_us_per_mib": cpu_us / mib if c.pids and mib else None,
            "upstream_cpu_us_per_req": (up_after - up_before) * 1e6 / CLK_TCK / n if n else None,
            "rss_kib": status_kib(c.pids, "VmRSS") if c.pids else None,
            "socket_errors": int(r["connect"] + r["read"] + r["write"] + r["timeout"]),
            "unexpected_status": int(unexpected),
            "flips": flipper.done if flipper else None,
            "flip_failures": flipper.failed if flipper else None,
        }
        if flipper and flipper.first_error:
            self.notes[sc.name].append("%s round %d: a flip failed: %s" % (c.id, rnd, flipper.first_error))
        if row["socket_errors"] or row["unexpected_status"] or (flipper and flipper.failed):
            self.failures.append("%s / %s round %d: %d socket errors, %d unexpected statuses%s"
                                 % (sc.name, c.id, rnd, row["socket_errors"], row["unexpected_status"],
                                    ", %d failed flips" % flipper.failed if flipper and flipper.failed else ""))
        self.runs.append(row)

    # -- idle keep-alive connections --

    def run_idle(self):
        s = self.settings
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = s.idle_conns + 256
        if soft < need and hard >= need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        elif soft < need:
            raise BenchError("idle: %d connections need %d file descriptors; the limit is %d (ulimit -n)"
                             % (s.idle_conns, need, hard))
        small = next(sc for sc in SCENARIOS if sc.name == "small")
        plan = [p for p in self.contender_plan(["maintgate", "nginx", "haproxy"])]
        self.notes.setdefault("idle", [])
        if not plan:
            self.notes["idle"].append("skipped: none of its contenders is in BENCH_CONTENDERS")
            return
        for rnd in range(1, s.rounds + 1):
            for kind, w in plan:
                c = self.start(kind, w, "ro")
                try:
                    log("idle: round %d/%d: %s, %d connections" % (rnd, s.rounds, c.id, s.idle_conns))
                    self.check(small, c)
                    # Served traffic first, so that the baseline is a working process.
                    run_wrk(self, small, c.port, max(1, s.warmup),
                            os.path.join(self.tmp, "warmup-idle-%s-%d.txt" % (c.id, rnd)))
                    time.sleep(0.5)
                    rss0 = status_kib(c.pids, "VmRSS")
                    socks = hold_idle_connections(c.port, s.idle_conns)
                    try:
                        time.sleep(1.0)
                        rss1 = status_kib(c.pids, "VmRSS")
                        still = count_still_open(socks)
                    finally:
                        for sock in socks:
                            sock.close()
                    if still != s.idle_conns:
                        self.failures.append("idle / %s round %d: the proxy closed %d of %d idle connections"
                                             % (c.id, rnd, s.idle_conns - still, s.idle_conns))
                    self.idle.append({
                        "contender": c.id, "kind": kind, "workers": w, "round": rnd,
                        "connections": s.idle_conns, "still_open": still,
                        "rss_before_kib": rss0, "rss_after_kib": rss1,
                        "bytes_per_conn": (rss1 - rss0) * 1024 / s.idle_conns,
                    })
                finally:
                    self.stop(c)

    # -- the whole run --

    def run(self):
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.load_before = _read("/proc/loadavg").split()[:3]
        self.setup()
        for sc in SCENARIOS:
            if sc.name in self.scenario_names:
                self.run_scenario(sc)
        if "idle" in self.scenario_names:
            self.run_idle()
        self.load_after = _read("/proc/loadavg").split()[:3]
        self.finished = datetime.datetime.now(datetime.timezone.utc)


class Flipper:
    """Flips maintgate's mode read-only <-> open every interval while wrk runs, through
    the admin socket, on a schedule that does not drift with the time each ctl takes."""

    def __init__(self, bench, contender):
        self.bench = bench
        self.c = contender
        self.interval = bench.settings.flip_interval_ms / 1000.0
        self.done = 0
        self.failed = 0
        self.first_error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()

    def _loop(self):
        modes = ("open", "read-only")
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            k += 1
            try:
                ok, out = self.c.ctl(self.bench, "set", "mode", modes[k % 2])
            except subprocess.TimeoutExpired:
                ok, out = False, "timed out"
            self.done += 1
            if not ok:
                self.failed += 1
                self.first_error = self.first_error or out
            self._stop.wait(max(0.0, t0 + k * self.interval - time.monotonic()))

    def finish(self):
        self._stop.set()
        self._thread.join()
        # Back to where the next round expects it.
        ok, out = self.c.ctl(self.bench, "set", "mode", "read-only")
        if not ok:
            raise BenchError("flip: could not set the mode back to read-only: %s" % out)


# ---- the report ------------------------------------------------------------------------

RUN_FIELDS = ["scenario", "contender", "kind", "workers", "round", "requests", "seconds", "rps", "mib_s",
              "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "cpu_us_per_req", "cpu_us_per_mib",
              "upstream_cpu_us_per_req", "rss_kib", "socket_errors", "unexpected_status", "flips",
              "flip_failures"]
IDLE_FIELDS = ["contender", "kind", "workers", "round", "connections", "still_open", "rss_before_kib",
               "rss_after_kib", "bytes_per_conn"]
OUTPUTS = ["report.md", "runs.csv", "idle.csv", "summary.csv", "requests.png", "throughput.png",
           "latency-p99.png", "cpu.png", "rss.png", "idle.png"]
SUMMARY_METRICS = ["rps", "mib_s", "p50_us", "p99_us", "p999_us", "cpu_us_per_req", "cpu_us_per_mib"]


def _fmt_num(v, digits):
    if v is None:
        return "–"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def cell(mmm, scale=1.0, digits=0):
    """median [min–max]"""
    if mmm is None:
        return "–"
    med, lo, hi = (x * scale for x in mmm)
    if lo == hi:
        return _fmt_num(med, digits)
    return "%s [%s–%s]" % (_fmt_num(med, digits), _fmt_num(lo, digits), _fmt_num(hi, digits))


class Report:
    def __init__(self, bench):
        self.b = bench
        self.s = bench.settings

    def stat(self, scenario, contender, metric):
        return median_min_max([r[metric] for r in self.b.runs
                               if r["scenario"] == scenario and r["contender"] == contender])

    def med(self, scenario, contender, metric):
        m = self.stat(scenario, contender, metric)
        return m[0] if m else None

    def idle_stat(self, contender):
        return median_min_max([r["bytes_per_conn"] for r in self.b.idle if r["contender"] == contender])

    def contenders_in(self, scenario):
        seen = []
        for r in self.b.runs:
            if r["scenario"] == scenario and r["contender"] not in seen:
                seen.append(r["contender"])
        return seen

    @staticmethod
    def label(cid):
        if cid == "direct":
            return "direct (no proxy)"
        kind, w = cid.rsplit("-", 1)
        return "%s ×%s" % (kind, w)

    # -- files --

    def clear(self):
        """Removes what an earlier run wrote here, so no stale plot sits next to this report."""
        for name in OUTPUTS:
            try:
                os.remove(os.path.join(self.s.results, name))
            except FileNotFoundError:
                pass

    def write_csv(self):
        res = self.s.results
        with open(os.path.join(res, "runs.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=RUN_FIELDS)
            w.writeheader()
            for r in self.b.runs:
                w.writerow({k: ("" if r[k] is None else (round(r[k], 3) if isinstance(r[k], float) else r[k]))
                            for k in RUN_FIELDS})
        with open(os.path.join(res, "idle.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=IDLE_FIELDS)
            w.writeheader()
            for r in self.b.idle:
                w.writerow({k: (round(r[k], 1) if isinstance(r[k], float) else r[k]) for k in IDLE_FIELDS})
        with open(os.path.join(res, "summary.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["scenario", "contender", "metric", "median", "min", "max", "runs"])
            for sc in self.scenarios_run():
                for cid in self.contenders_in(sc.name):
                    n = sum(1 for r in self.b.runs if r["scenario"] == sc.name and r["contender"] == cid)
                    for metric in SUMMARY_METRICS:
                        m = self.stat(sc.name, cid, metric)
                        if m:
                            w.writerow([sc.name, cid, metric] + [round(x, 3) for x in m] + [n])
                    if (sc.name, cid) in self.b.peak_rss:
                        pk = self.b.peak_rss[(sc.name, cid)]
                        w.writerow([sc.name, cid, "peak_rss_kib", pk, pk, pk, n])
            cids = []
            for r in self.b.idle:
                if r["contender"] not in cids:
                    cids.append(r["contender"])
            for cid in cids:
                m = self.idle_stat(cid)
                n = sum(1 for r in self.b.idle if r["contender"] == cid)
                w.writerow(["idle", cid, "bytes_per_conn"] + [round(x, 1) for x in m] + [n])

    def scenarios_run(self):
        return [sc for sc in SCENARIOS if any(r["scenario"] == sc.name for r in self.b.runs)]

    # -- plots --

    def plot(self):
        """PNG bar charts through gnuplot: one cluster per scenario, one bar per contender
        (the median, with a bar from min to max). The .dat files stay in the temp dir."""
        scs = self.scenarios_run()
        order = {cid: i for i, cid in enumerate(["direct"] + ["%s-%d" % (k, w) for w in (1, 2, 3, 4)
                                                               for k in ("maintgate", "nginx", "haproxy")])}
        cids = sorted({r["contender"] for r in self.b.runs} | {r["contender"] for r in self.b.idle},
                      key=lambda c: order.get(c, 99))
        script = ['set terminal pngcairo size 1280,640 font "DejaVu Sans,10"',
                  "set style data histogram", "set style histogram errorbars gap 2 lw 1",
                  "set style fill solid 0.85 border -1", 'set datafile missing "NaN"',
                  "set key outside right top", "set grid ytics", "set xtics nomirror", "set bars front"]
        made = []

        def chart(png, title, ylabel, logy, rows):
            # rows: [(cluster label, {contender: (median, min, max)})]
            cols = [c for c in cids if any(c in vals for _, vals in rows)]
            if not rows or not cols:
                return
            dat = os.path.join(self.b.tmp, png[:-4] + ".dat")
            with open(dat, "w") as f:
                for name, vals in rows:
                    f.write('"%s" %s\n' % (name, " ".join(
                        " ".join("%g" % x for x in vals[c]) if c in vals else "NaN NaN NaN" for c in cols)))
            plots = ["'%s' using %d:%d:%d%s title '%s'%s"
                     % (dat if i == 0 else "", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i, ":xtic(1)" if i == 0 else "",
                        self.label(c), _color(c)) for i, c in enumerate(cols)]
            script.extend(["set output '%s'" % os.path.join(self.s.results, png),
                           "set title '%s'" % title, "set ylabel '%s'" % ylabel,
                           "set logscale y" if logy else "unset logscale y",
                           "set yrange [*:*]" if logy else "set yrange [0:*]",
                           "plot " + ", ".join(plots)])
            made.append(png)

        def rows_of(metric, scale, names=None):
            rows = []
            for sc in scs:
                if names is None or sc.name in names:
                    vals = {}
                    for cid in self.contenders_in(sc.name):
                        m = self.stat(sc.name, cid, metric)
                        if m is not None:
                            vals[cid] = tuple(x * scale for x in m)
                    rows.append((sc.name, vals))
            return rows

        spread = "median, bar from min to max over %d round%s" % (self.s.rounds, "" if self.s.rounds == 1 else "s")
        chart("requests.png", "Requests per second (%s)" % spread, "requests/s (log scale)", True,
              rows_of("rps", 1.0))
        chart("throughput.png", "Body throughput (%s)" % spread, "MiB/s", False,
              rows_of("mib_s", 1.0, ("64k", "upload", "16m")))
        chart("latency-p99.png", "p99 latency (%s)" % spread, "ms (log scale)", True, rows_of("p99_us", 0.001))
        chart("cpu.png", "Proxy CPU time per request (%s)" % spread, "µs (log scale)", True,
              rows_of("cpu_us_per_req", 1.0))
        chart("rss.png", "Peak RSS of the proxy processes per scenario (VmHWM, from a fresh start)", "MiB",
              False, [(sc.name, {c: (v / 1024,) * 3 for (n, c), v in self.b.peak_rss.items() if n == sc.name})
                      for sc in scs])
        idle = {c: tuple(x / 1024 for x in self.idle_stat(c)) for c in cids if self.idle_stat(c)}
        if idle:
            chart("idle.png", "Memory per idle keep-alive connection (%s)" % spread, "KiB per connection", False,
                  [("%d idle connections" % self.s.idle_conns, idle)])
        if not made:
            return []
        gp = os.path.join(self.b.tmp, "plots.gp")
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError("gnuplot failed:\n%s" % r.stderr)
        return made

    # -- targets (issue 5) --

    def targets(self):
        """(target, figures, result) rows; result is met / not met / not measured / n/a."""
        rows = []
        cores = os.cpu_count() or 1

        def verdict(ok):
            return "**met**" if ok else "**not met**"

        def ms(v):
            return "%.3f ms" % (v / 1000)

        for w in self.s.workers:
            mg, ng, hp = "maintgate-%d" % w, "nginx-%d" % w, "haproxy-%d" % w
            tag = " (%d worker%s)" % (w, "" if w == 1 else "s")
            # Small GET keep-alive: CPU, requests/s, p99.
            cpu = [self.med("small", c, "cpu_us_per_req") for c in (mg, ng, hp)]
            if None in cpu:
                rows.append(("Small GET: CPU/request ≤ 0.7 × min(nginx, HAProxy)" + tag, "", "not measured"))
            else:
                bound = 0.7 * min(cpu[1], cpu[2])
                rows.append(("Small GET: CPU/request ≤ 0.7 × min(nginx, HAProxy)" + tag,
                             "maintgate %.2f µs; nginx %.2f, HAProxy %.2f → bound %.2f µs (ratio %.2f)"
                             % (cpu[0], cpu[1], cpu[2], bound, cpu[0] / min(cpu[1], cpu[2])),
                             verdict(cpu[0] <= bound)))
            rps = [self.med("small", c, "rps") for c in (mg, ng, hp)]
            if None in rps:
                rows.append(("Small GET: requests/s ≥ 1.1 × max(nginx, HAProxy)" + tag, "", "not measured"))
            else:
                bound = 1.1 * max(rps[1], rps[2])
                rows.append(("Small GET: requests/s ≥ 1.1 × max(nginx, HAProxy)" + tag,
                             "maintgate %s; nginx %s, HAProxy %s → bound %s (ratio %.2f)"
                             % (_fmt_num(rps[0], 0), _fmt_num(rps[1], 0), _fmt_num(rps[2], 0),
                                _fmt_num(bound, 0), rps[0] / max(rps[1], rps[2])),
                             verdict(rps[0] >= bound)))
            p99 = [self.med("small", c, "p99_us") for c in (mg, ng, hp)]
            if None in p99:
                rows.append(("Small GET: p99 ≤ nginx's and HAProxy's" + tag, "", "not measured"))
            else:
                rows.append(("Small GET: p99 ≤ nginx's and HAProxy's" + tag,
                             "maintgate %s; nginx %s, HAProxy %s" % (ms(p99[0]), ms(p99[1]), ms(p99[2])),
                             verdict(p99[0] <= min(p99[1], p99[2]))))
            # Memory per idle connection.
            im, inx = self.idle_stat(mg), self.idle_stat(ng)
            if im is None or inx is None:
                rows.append(("Memory per idle keep-alive connection ≤ nginx's" + tag, "", "not measured"))
            else:
                ih = self.idle_stat(hp)
                rows.append(("Memory per idle keep-alive connection ≤ nginx's" + tag,
                             "maintgate %.0f B; nginx %.0f B%s"
                             % (im[0], inx[0], "; HAProxy %.0f B" % ih[0] if ih else ""),
                             verdict(im[0] <= inx[0])))
            # RSS flat across body sizes.
            rss = {sc: self.b.peak_rss.get((sc, mg)) for sc in ("small", "64k", "upload", "16m")}
            if rss["64k"] is None or (rss["upload"] is None and rss["16m"] is None):
                rows.append(("maintgate's peak RSS flat across body sizes" + tag, "", "not measured"))
            else:
                big = max(v for k, v in rss.items() if k in ("upload", "16m") and v is not None)
                rows.append(("maintgate's peak RSS flat across body sizes: 1 MiB uploads and 16 MiB "
                             "downloads ≤ 1.25 × 64 KiB responses" + tag,
                             ", ".join("%s %.1f MiB" % (k, v / 1024) for k, v in rss.items() if v is not None),
                             verdict(big <= 1.25 * rss["64k"])))
            # Large bodies: throughput at least nginx's.
            for sc, what in (("16m", "16 MiB downloads"), ("upload", "1 MiB uploads")):
                a, b = self.med(sc, mg, "mib_s"), self.med(sc, ng, "mib_s")
                if a is None or b is None:
                    rows.append(("%s: throughput ≥ nginx's%s" % (what, tag), "", "not measured"))
                else:
                    rows.append(("%s: throughput ≥ nginx's%s" % (what, tag),
                                 "maintgate %.0f MiB/s; nginx %.0f MiB/s (ratio %.2f)" % (a, b, a / b),
                                 verdict(a >= b)))
            # Local replies: at least nginx's static 503.
            for sc, what in (("page", "Maintenance page"), ("refuse", "Refused writes")):
                a, b = self.med(sc, mg, "rps"), self.med(sc, ng, "rps")
                if a is None or b is None:
                    rows.append(("%s: requests/s ≥ nginx's static 503%s" % (what, tag), "", "not measured"))
                else:
                    rows.append(("%s: requests/s ≥ nginx's static 503%s" % (what, tag),
                                 "maintgate %s; nginx %s (ratio %.2f)" % (_fmt_num(a, 0), _fmt_num(b, 0), a / b),
                                 verdict(a >= b)))
        # Scaling: 2 workers against 1.
        a, b = self.med("small", "maintgate-2", "rps"), self.med("small", "maintgate-1", "rps")
        if a is None or b is None:
            rows.append(("Small GET: 2 workers ≥ 1.6 × 1 worker", "", "not measured"))
        else:
            others = []
            for k in ("nginx", "haproxy"):
                x, y = self.med("small", k + "-2", "rps"), self.med("small", k + "-1", "rps")
                if x and y:
                    others.append("%s %.2f×" % (k, x / y))
            fig = "maintgate %.2f× (%s → %s)%s" % (a / b, _fmt_num(b, 0), _fmt_num(a, 0),
                                                   "; " + ", ".join(others) if others else "")
            # wrk, the upstream and two proxy workers each need a core of their own.
            if cores < 4:
                rows.append(("Small GET: 2 workers ≥ 1.6 × 1 worker", fig,
                             "n/a: %d cores, fewer than the 4 that wrk, the upstream and 2 workers need" % cores))
            else:
                rows.append(("Small GET: 2 workers ≥ 1.6 × 1 worker", fig, verdict(a >= 1.6 * b)))
        # Flips: nothing may fail.
        flips = [r for r in self.b.runs if r["scenario"] == "flip"]
        if flips:
            bad = sum(r["unexpected_status"] + r["socket_errors"] for r in flips)
            failed = sum(r["flip_failures"] or 0 for r in flips)
            rows.append(("Mode flips every %d ms: no failed GET" % self.s.flip_interval_ms,
                         "%d GETs, %d non-2xx or socket errors; %d flips, %d failed"
                         % (sum(r["requests"] for r in flips), bad, sum(r["flips"] or 0 for r in flips), failed),
                         verdict(bad == 0 and failed == 0)))
        else:
            note = " ".join(self.b.notes.get("flip", [])) or "not run"
            rows.append(("Mode flips every %d ms: no failed GET" % self.s.flip_interval_ms, note, "not measured"))
        return rows

    # -- markdown --

    def write(self, pngs):
        b, s = self.b, self.s
        out = []
        commit = _git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        out.append("# maintgate against nginx and HAProxy")
        out.append("")
        out.append("Written by `bench/run.sh%s` on %s (UTC) in %s; commit %s%s."
                   % (" " + " ".join(b.scenario_names) if b.scenario_names != SCENARIO_NAMES else "",
                      b.started.strftime("%Y-%m-%d %H:%M"),
                      _elapsed((b.finished - b.started).total_seconds()),
                      commit, " with local changes" if dirty else ""))
        out.append("")
        out.append("- Machine: %d cores (%s), %s; load average before %s, after %s. wrk, the upstream "
                   "and the proxies share these cores." % (os.cpu_count() or 0, _cpu_model(), platform.platform(),
                                                         " ".join(b.load_before), " ".join(b.load_after)))
        out.append("- Versions: %s." % "; ".join(_versions(s.maintgate)))
        out.append("- Load: wrk -t%d -c%d, %d s per run after a %d s warm-up, %d interleaved round%s "
                   "(each contender once per round, in the order of the tables). Upstream: nginx, %d worker%s, "
                   "access_log off.%s"
                   % (s.wrk_threads, s.connections, s.duration, s.warmup, s.rounds, "" if s.rounds == 1 else "s",
                      s.upstream_workers, "" if s.upstream_workers == 1 else "s",
                      " **Quick run (BENCH_QUICK=1): too short for conclusions.**" if s.quick else ""))
        out.append("- Each cell: median [min–max] over the rounds. CPU is the proxy's own user+sys time "
                   "(/proc/PID/stat, all its processes and threads) divided by the requests wrk completed. "
                   "Peak RSS is the sum of VmHWM of the proxy's processes (nginx: master and workers) over "
                   "the scenario, from a fresh start. How each figure is made: `bench/README.md`.")
        out.append("- Raw figures: `runs.csv` (one row per wrk run), `idle.csv`, `summary.csv`.")
        out.append("")
        out.append("## Targets (issue 5)")
        out.append("")
        out.append("| target | figures (medians) | result |")
        out.append("|---|---|---|")
        for t, fig, res in self.targets():
            out.append("| %s | %s | %s |" % (t, fig or "–", res))
        out.append("")
        if b.failures:
            out.append("**Some runs failed** (their figures are in the tables but do not count):")
            out.append("")
            out.extend("- " + f for f in b.failures)
            out.append("")
        for sc in SCENARIOS:
            if sc.name not in b.scenario_names:
                continue
            out.append("## %s (`%s`)" % (sc.title, sc.name))
            out.append("")
            out.append(sc.what.replace("BENCH_FLIP_INTERVAL_MS", "%d ms" % s.flip_interval_ms))
            out.append("")
            cids = self.contenders_in(sc.name)
            if cids:
                big = sc.name in ("upload", "16m")
                per_mib = sc.name == "16m"  # for uploads it equals CPU per request (1 MiB each)
                head = ["contender", "requests/s"] + (["MiB/s"] if big else []) + \
                       ["p50 ms", "p99 ms", "p99.9 ms", "CPU µs/req"] + (["CPU µs/MiB"] if per_mib else []) + \
                       ["peak RSS MiB", "errors"]
                if sc.variant == "flip":
                    head.append("flips (failed)")
                out.append("| " + " | ".join(head) + " |")
                out.append("|---|" + "---:|" * (len(head) - 1))
                for cid in cids:
                    rows = [r for r in b.runs if r["scenario"] == sc.name and r["contender"] == cid]
                    errors = sum(r["socket_errors"] + r["unexpected_status"] for r in rows)
                    pk = b.peak_rss.get((sc.name, cid))
                    line = [self.label(cid), cell(self.stat(sc.name, cid, "rps"))]
                    if big:
                        line.append(cell(self.stat(sc.name, cid, "mib_s")))
                    line += [cell(self.stat(sc.name, cid, "p50_us"), 0.001, 3),
                             cell(self.stat(sc.name, cid, "p99_us"), 0.001, 3),
                             cell(self.stat(sc.name, cid, "p999_us"), 0.001, 3),
                             cell(self.stat(sc.name, cid, "cpu_us_per_req"), 1.0, 2)]
                    if per_mib:
                        line.append(cell(self.stat(sc.name, cid, "cpu_us_per_mib")))
                    line += ["%.1f" % (pk / 1024) if pk else "–", str(errors)]
                    if sc.variant == "flip":
                        line.append("%d (%d)" % (sum(r["flips"] or 0 for r in rows),
                                                 sum(r["flip_failures"] or 0 for r in rows)))
                    out.append("| " + " | ".join(line) + " |")
                out.append("")
            notes = list(b.notes.get(sc.name, []))
            if sc.variant == "flip":
                # What the flips cost: the same GET load without them, from this run.
                for cid in cids:
                    a, base = self.med("flip", cid, "rps"), self.med("small", cid, "rps")
                    if a and base:
                        notes.append("%s: %.0f%% of its requests/s without flips (`small`, %s)."
                                     % (self.label(cid), 100 * a / base, _fmt_num(base, 0)))
            for n in notes:
                out.append("- " + n)
            if notes:
                out.append("")
        if "idle" in b.scenario_names:
            out.append("## Idle keep-alive connections (`idle`)")
            out.append("")
            out.append(IDLE_WHAT.replace("N ", "%d " % s.idle_conns, 1))
            out.append("")
            cids = []
            for r in b.idle:
                if r["contender"] not in cids:
                    cids.append(r["contender"])
            if cids:
                out.append("| contender | bytes per idle connection | RSS before MiB | RSS with the connections MiB | still open |")
                out.append("|---|---:|---:|---:|---:|")
                for cid in cids:
                    rows = [r for r in b.idle if r["contender"] == cid]
                    out.append("| %s | %s | %s | %s | %s |" % (
                        self.label(cid), cell(self.idle_stat(cid)),
                        cell(median_min_max([r["rss_before_kib"] for r in rows]), 1 / 1024, 1),
                        cell(median_min_max([r["rss_after_kib"] for r in rows]), 1 / 1024, 1),
                        "%d of %d" % (min(r["still_open"] for r in rows), s.idle_conns)))
                out.append("")
            for n in b.notes.get("idle", []):
                out.append("- " + n)
            if b.notes.get("idle"):
                out.append("")
        if pngs:
            out.append("## Plots")
            out.append("")
            for png in pngs:
                out.append("![%s](%s)" % (png[:-4], png))
                out.append("")
        with open(os.path.join(s.results, "report.md"), "w") as f:
            f.write("\n".join(out))
        return "\n".join(out)


# One colour per contender in every plot: the two worker counts of a proxy in two shades.
COLORS = {"direct": "#888888", "maintgate-1": "#41ab5d", "maintgate-2": "#006d2c",
          "nginx-1": "#6baed6", "nginx-2": "#08519c", "haproxy-1": "#fd8d3c", "haproxy-2": "#a63603"}


def _color(cid):
    return " lc rgb '%s'" % COLORS[cid] if cid in COLORS else ""


def _elapsed(seconds):
    return "%.0f s" % seconds if seconds < 120 else "%.0f min" % (seconds / 60)


def _git(*args):
    try:
        r = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"))
        return r.stdout.strip() if r.returncode == 0 else ""
    except OSError:
        return ""


def _cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def _versions(maintgate):
    out = []
    for argv, pattern in (([maintgate, "--version"], r"maintgate \S+"),
                          (["nginx", "-v"], r"nginx/\S+"),
                          (["haproxy", "-v"], r"HAProxy version \S+"),
                          (["wrk", "-v"], r"wrk \S+")):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            m = re.search(pattern, r.stdout + r.stderr)
            out.append(m.group(0) if m else argv[0] + " ?")
        except OSError:
            out.append(argv[0] + " missing")
    return out


# ---- main ------------------------------------------------------------------------------

USAGE = """usage: bench/run.sh [SCENARIO...]

scenarios (default: all, in this order):
  small   small GET over keep-alive                   64k     64 KiB responses
  upload  1 MiB uploads (proxies let POST through)    16m     16 MiB downloads
  close   a new connection per request                page    maintenance page (503)
  refuse  a flood of refused writes (503)             flip    GETs while the mode flips
  idle    memory per idle keep-alive connection

environment: BENCH_QUICK=1 (2 s runs, 1 round), BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP,
BENCH_CONNECTIONS, BENCH_WRK_THREADS, BENCH_WORKERS ("1 2"), BENCH_CONTENDERS
("direct maintgate nginx haproxy"), BENCH_IDLE_CONNS, BENCH_UPSTREAM_WORKERS,
BENCH_FLIP_INTERVAL_MS, BENCH_RESULTS_DIR, BUILD_DIR, MAINTGATE_BIN, KEEP_TMP=1.
See bench/README.md.
"""


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    names = argv or list(SCENARIO_NAMES)
    for n in names:
        if n not in SCENARIO_NAMES:
            sys.stderr.write("bench: unknown scenario %r\n\n%s" % (n, USAGE))
            return 2
    names = [n for n in SCENARIO_NAMES if n in names]
    # SIGTERM ends the run through the same cleanup as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        settings = Settings()
        os.makedirs(settings.results, exist_ok=True)
        bench = Bench(settings, names)
    except BenchError as e:
        log(str(e))
        return 1
    try:
        try:
            bench.run()
        finally:
            bench.stop_all()
        report = Report(bench)
        report.clear()
        report.write_csv()
        try:
            pngs = report.plot()
        except BenchError as e:
            log(str(e))
            pngs = None
        text = report.write(pngs or [])
    except BenchError as e:
        log("stopped: %s" % e)
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        bench.remove_tmp()
    print(text)
    log("wrote %s" % os.path.join(settings.results, "report.md"))
    if pngs is None:
        return 1
    if bench.failures:
        log("some runs saw errors:\n  " + "\n  ".join(bench.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
