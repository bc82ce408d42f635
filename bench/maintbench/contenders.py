"""The upstream nginx and the contenders in front of it, with their configuration files."""

import os
import re
import subprocess

from .common import BenchError, FILE_SIZES, START_TIMEOUT, _read
from .procs import Service, free_port, wait_http


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

    def __init__(self, kind, workers, variant, bench, upstream, wrap=None, start_timeout=START_TIMEOUT):
        # wrap: an argv prefix the proxy runs under (callgrind), which also makes it start slower.
        self.wrap = list(wrap or [])
        self.start_timeout = start_timeout
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
            if kind == "nginx" and not self.wrap:
                self.service.adopt_children(workers)
        except BaseException:
            self.stop()  # started but not answering: not left behind
            raise
        self.pids = list(self.service.pids)

    def _wait(self):
        # Under callgrind the first answer is slow; one try per run keeps the count of
        # requests exact (the Ir figure subtracts two runs).
        wait_http(self.service, self.port, timeout=self.start_timeout, try_timeout=30 if self.wrap else 2)

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
        if bench.settings.maintgate_extra:
            text += "\n" + bench.settings.maintgate_extra
        with open(conf, "w") as f:
            f.write(text)
        self.service = Service(self.id, self.wrap + [bench.settings.maintgate, "run", "-c", conf],
                               os.path.join(self.dir, "stderr"))
        self._wait()

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
            # Under a wrapper, one process with no master: the wrapper sees all the work.
            f.write(("master_process off;\n" if self.wrap else "") +
                    fill(NGINX_COMMON, WORKERS=self.workers, DIR=self.dir, HTTP=http_block,
                         MAXCONN=bench.settings.max_conns, NOFILE=2 * bench.settings.max_conns + 1024))
        _open_tree(self.dir)
        self.service = Service(self.id, self.wrap + ["nginx", "-p", self.dir, "-c", conf, "-e",
                                                     os.path.join(self.dir, "error.log")],
                               os.path.join(self.dir, "stderr"))
        self._wait()

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
        self.service = Service(self.id, self.wrap + ["haproxy", "-db", "-f", conf],
                               os.path.join(self.dir, "stderr"))
        self._wait()

    def stop(self):
        if self.service:
            self.service.stop()

    def ctl(self, bench, *words):
        """Runs `maintgate ctl --socket PATH WORDS...`: (ok, output)."""
        r = subprocess.run([bench.settings.maintgate, "ctl", "--socket", self.admin_socket, *words],
                           capture_output=True, text=True, timeout=10)
        return r.returncode == 0, (r.stdout + r.stderr).strip()
