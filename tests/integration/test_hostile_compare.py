"""The same raw hostile requests through maintgate, nginx and HAProxy (issue 6).

Where test_hostile.py departs from what nginx or HAProxy do, it says so in a "ref:"
comment. This module keeps those comments honest: each case below goes through all
three proxies, each in front of its own upstream.py (TrickUpstream), and the test
asserts what each one did, as recorded with nginx 1.22.1 and HAProxy 2.6.12 (Debian 12,
close to default settings: see NGINX_CONF and HAPROXY_CFG). A difference from the
record means either maintgate changed (see test_hostile.py for why it answers as it
does) or a reference did (record the new behaviour and check the "ref:" comment).

nginx and HAProxy come from the `bench` dependency set (scripts/install-deps.sh bench),
which CI does not install: without the binaries every test here is skipped, saying
so, and nothing else is.

What is compared, per case: the statuses of the responses read from the client
connection until the proxy closed it (every proxy here closes an idle connection
after 1 s), and what the upstream received, as a list of request targets (or of
X-Forwarded-For values for the spoofing case), the marker request that ends each case
left out.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import ClientConn, NoResponse, Proxy, build_request, poll_until
from test_hostile import CHUNKED, H, POST, SMUGGLED, TrickUpstream, ws_handshake

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
MISSING = [name for name, path in (("nginx", NGINX), ("haproxy", HAPROXY)) if path is None]

START_TIMEOUT = 20.0
CASE_TIMEOUT = 20.0    # any one socket read; the proxies' own idle timeouts end a case

# The usual reverse-proxy shape of each: HTTP/1.1 and keep-alive to the upstream,
# WebSocket passed through, X-Forwarded-For added, the client's Host kept, and short
# idle timeouts so that a case ends when the proxy closes the connection.
NGINX_CONF = """daemon off;
worker_processes 1;
@USER@
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path @DIR@/client_body;
    proxy_temp_path @DIR@/proxy;
    fastcgi_temp_path @DIR@/fastcgi;
    uwsgi_temp_path @DIR@/uwsgi;
    scgi_temp_path @DIR@/scgi;
    keepalive_timeout 1s;
    client_header_timeout 3s;
    client_body_timeout 3s;
    map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
    upstream app {
        server 127.0.0.1:@UPSTREAM_PORT@;
        keepalive 8;
    }
    server {
        listen 127.0.0.1:@PORT@;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
"""

HAPROXY_CFG = """global
    maxconn 256

defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
    timeout http-request 3s
    timeout http-keep-alive 1s
    option forwardfor

frontend hostile
    bind fd@@FD@
    default_backend app

backend app
    server app 127.0.0.1:@UPSTREAM_PORT@
"""


def fill(template, **values):
    for k, v in values.items():
        template = template.replace("@%s@" % k, str(v))
    return template


class Front:
    """One proxy process in front of its own upstream. The listening socket is bound
    here on port 0 and handed to nginx and HAProxy as an inherited descriptor (nginx's
    NGINX variable, HAProxy's fd@), so no port is guessed."""

    name = None

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir)
        self.up = TrickUpstream().start()
        self.proc = None
        self.proxy = None
        self.port = None
        self._listener = None
        self._stderr = None

    def _listen(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(64)
        os.set_inheritable(ls.fileno(), True)
        self._listener = ls
        self.port = ls.getsockname()[1]
        return ls.fileno()

    def _spawn(self, argv, env=None, fd=None):
        self._stderr = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                                     env=env, pass_fds=(fd,), cwd=self.dir)
        # The child has its copy; ours would keep accepting nothing but would hold
        # the port after the child ends.
        self._listener.close()

    def wait_ready(self):
        """Until a GET goes through to the upstream (the process may still be starting)."""
        def ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, self.log()))
            try:
                c = ClientConn(self.port, timeout=5)
            except OSError:
                return False
            try:
                return c.request("GET", "/echo?ready").status == 200
            except (AssertionError, OSError):
                return False
            finally:
                c.close()
        poll_until(ready, START_TIMEOUT, interval=0.2, what="%s to serve" % self.name)
        self.up.wait_requests(1)
        self.up.clear()

    def log(self):
        try:
            with open(os.path.join(self.dir, "stderr"), "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proxy is not None:
            self.proxy.cleanup()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._stderr is not None:
            self._stderr.close()
        self.up.stop()


class MaintgateFront(Front):
    name = "maintgate"

    def start(self):
        self.proxy = Proxy(self.up.port, {"timeouts": {"keepalive": "1s", "header": "3s", "body_idle": "3s"}})
        self.proxy.start()
        self.port = self.proxy.port
        self.wait_ready()
        return self


class NginxFront(Front):
    name = "nginx"

    def start(self):
        fd = self._listen()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            # As root, nginx's workers would run as nobody, who cannot use this folder.
            f.write(fill(NGINX_CONF, DIR=self.dir, PORT=self.port, UPSTREAM_PORT=self.up.port,
                         USER="user root;" if os.geteuid() == 0 else ""))
        # nginx reuses a listening socket named in NGINX ("fd;") when its address
        # matches a `listen` (the mechanism of its binary upgrade).
        env = dict(os.environ, NGINX="%d;" % fd)
        self._spawn([NGINX, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")], env, fd)
        self.wait_ready()
        return self

    def log(self):
        text = super().log()
        try:
            with open(os.path.join(self.dir, "error.log"), "rb") as f:
                text += f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            pass
        return text


class HAProxyFront(Front):
    name = "haproxy"

    def start(self):
        fd = self._listen()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(fill(HAPROXY_CFG, FD=fd, UPSTREAM_PORT=self.up.port))
        self._spawn([HAPROXY, "-db", "-f", cfg], None, fd)
        self.wait_ready()
        return self


def targets(reqs):
    # A long target is shown by its length, to keep failure messages readable.
    return [r.target if len(r.target) <= 80 else "<%d-byte target>" % len(r.target) for r in reqs]


def forwarded_for(reqs):
    return [", ".join(r.values("x-forwarded-for")) for r in reqs]


def expectations(reqs):
    return [(r.target, r.values("expect")) for r in reqs]


# (name, raw bytes, what to list of the upstream's requests,
#  {proxy: (statuses the client read, the upstream's list)}).
# "closed" in place of statuses: the proxy closed without answering.
CASES = [
    # X-Forwarded-For from an untrusted client: maintgate replaces it, the others
    # append the peer (test_hostile: GateReadOnlyBypassTest).
    ("xff_from_untrusted_client", build_request("GET", "/echo", [("X-Forwarded-For", "192.0.2.1")]), forwarded_for,
     {"maintgate": ([200], ["127.0.0.1"]),
      "nginx": ([200], ["192.0.2.1, 127.0.0.1"]),
      "haproxy": ([200], ["192.0.2.1, 127.0.0.1"])}),
    # Expect: 100-continue, the body sent at once, and an upstream that answers 401
    # without reading it and keeps the connection. nginx reads the body itself and
    # sends the request whole; HAProxy forwards the expectation, relays the 401 and
    # then sends the body on anyway. Either way this upstream parses the body as a
    # request: the upstream's fault (RFC 9110 10.1.1 has it read the body when it
    # keeps the connection), but maintgate never sends a body the upstream has
    # already answered, and closes that connection (test_hostile: ExpectUpgradeTest).
    ("expect_early_final_keep_alive", POST.replace(b"/echo", b"/early/401") + b"Expect: 100-continue\r\n"
     b"Content-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED, targets,
     {"maintgate": ([401], ["/early/401"]),
      "nginx": ([401], ["/early/401", "/echo?smuggled"]),
      "haproxy": ([401], ["/early/401", "/echo?smuggled"])}),
    # Expect with no body to wait for: maintgate and nginx drop it, HAProxy passes it.
    ("expect_without_body", POST + b"Expect: 100-continue\r\nContent-Length: 0\r\n\r\n", expectations,
     {"maintgate": ([200], [("/echo", [])]), "nginx": ([200], [("/echo", [])]),
      "haproxy": ([200], [("/echo", ["100-continue"])])}),
    # Chunk lines (test_hostile: SMUGGLING_REJECTIONS).
    ("chunk_size_trailing_space", CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n", targets,
     {"maintgate": ([400], []), "nginx": ([200], ["/echo"]), "haproxy": ([200], ["/echo"])}),
    ("chunk_size_bare_lf", CHUNKED + b"5\nhello\r\n0\r\n\r\n", targets,
     {"maintgate": ([400], []), "nginx": ([200], ["/echo"]), "haproxy": ([200], ["/echo"])}),
    ("last_chunk_bare_lf_then_request", CHUNKED + b"5\r\nhello\r\n0\n\r\n" + SMUGGLED, targets,
     {"maintgate": ([400], []), "nginx": ([200, 200], ["/echo", "/echo?smuggled"]),
      "haproxy": ([200, 200], ["/echo", "/echo?smuggled"])}),
    ("long_chunk_extension", CHUNKED + b"5;a=" + b"b" * 20000 + b"\r\nhello\r\n0\r\n\r\n", targets,
     {"maintgate": ([200], ["/echo"]), "nginx": ([200], ["/echo"]), "haproxy": ([400], [])}),
    ("transfer_encoding_chunked_comma", POST + b"Transfer-Encoding: chunked,\r\n\r\n5\r\nhello\r\n0\r\n\r\n", targets,
     {"maintgate": ([200], ["/echo"]), "nginx": ([501], []), "haproxy": ([200], ["/echo"])}),
    # Versions and methods (test_hostile: REQUEST_LINE_REJECTIONS).
    ("http_1_2", b"GET /echo HTTP/1.2\r\n" + H + b"\r\n", targets,
     {"maintgate": ([505], []), "nginx": ([200], ["/echo"]), "haproxy": ([200], ["/echo"])}),
    ("http_0_9_version_token", b"GET /echo HTTP/0.9\r\n" + H + b"\r\n", targets,
     {"maintgate": ([505], []), "nginx": ([400], []), "haproxy": ([200], ["/echo"])}),
    ("trace_lowercase", b"trace /echo HTTP/1.1\r\n" + H + b"\r\n", targets,
     {"maintgate": ([405], []), "nginx": ([400], []), "haproxy": ([200], ["/echo"])}),
    ("get_lowercase", b"get /echo HTTP/1.1\r\n" + H + b"\r\n", targets,
     {"maintgate": ([200], ["/echo"]), "nginx": ([400], []), "haproxy": ([200], ["/echo"])}),
    # Host (test_framing and test_hostile). For a conflicting absolute-form, nginx
    # follows RFC 9112 3.2.2 (the target's authority wins; Host is passed on as it
    # came); maintgate and HAProxy refuse, so no two parties disagree on the host.
    ("absolute_form_conflicting_host", b"GET http://evil.test/echo HTTP/1.1\r\n" + H + b"\r\n", targets,
     {"maintgate": ([400], []), "nginx": ([200], ["/echo"]), "haproxy": ([400], [])}),
    ("missing_host", b"GET /echo HTTP/1.1\r\n\r\n", targets,
     {"maintgate": ([400], []), "nginx": ([400], []), "haproxy": ([200], ["/echo"])}),
    # RFC 9112 3.2 has the client send a Host identical to the target's authority;
    # maintgate holds it to that, nginx takes the target, HAProxy compares the two
    # with the default port dropped and forwards the absolute-form target as it came.
    ("absolute_form_default_port", b"GET http://test.local:80/echo HTTP/1.1\r\n" + H + b"\r\n", targets,
     {"maintgate": ([400], []), "nginx": ([200], ["/echo"]), "haproxy": ([404], ["http://test.local/echo"])}),
    ("duplicate_host", b"GET /echo HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", targets,
     {"maintgate": ([400], []), "nginx": ([400], []), "haproxy": ([400], [])}),
    # Default limits (test_hostile: DefaultLimitsTest).
    ("101_fields", b"GET /echo HTTP/1.1\r\n" + H + b"".join(b"X-F%d: v\r\n" % i for i in range(100)) + b"\r\n",
     targets, {"maintgate": ([431], []), "nginx": ([200], ["/echo"]), "haproxy": ([400], [])}),
    ("target_over_8_kib", b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n" + H + b"\r\n", targets,
     {"maintgate": ([414], []), "nginx": ([414], []), "haproxy": ([404], ["<8201-byte target>"])}),
    # maintgate bounds the target (414 past 8 KiB) and the whole head (431 past
    # 16 KiB), not the method on its own; nginx bounds the request line as a whole.
    ("method_of_10000_bytes", b"G" * 10000 + b" /echo HTTP/1.1\r\n" + H + b"\r\n", targets,
     {"maintgate": ([200], ["/echo"]), "nginx": ([414], []), "haproxy": ([200], ["/echo"])}),
    # Expect and Upgrade (test_hostile: EXPECT_UPGRADE_REJECTIONS).
    # An empty Expect: no expectation, for all three; HAProxy forwards the empty field.
    ("expect_empty", POST + b"Expect:\r\nContent-Length: 5\r\n\r\nhello", expectations,
     {"maintgate": ([200], [("/echo", [])]), "nginx": ([200], [("/echo", [])]), "haproxy": ([200], [("/echo", [""])])}),
    ("expect_list", POST + b"Expect: 100-continue, foo\r\nContent-Length: 5\r\n\r\nhello", targets,
     {"maintgate": ([417], []), "nginx": ([200], ["/echo"]), "haproxy": ([200], ["/echo"])}),
    ("expect_two_fields", POST + b"Expect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
     targets, {"maintgate": ([417], []), "nginx": ([400], []), "haproxy": ([200], ["/echo"])}),
    ("websocket_without_key", ws_handshake("/always-101", key=None), targets,
     {"maintgate": ([400], []), "nginx": ([101], ["/always-101"]), "haproxy": ([400], [])}),
    ("h2c_to_an_upstream_that_switches", build_request("GET", "/always-101", [
        ("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"), ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]),
     targets, {"maintgate": ([502], ["/always-101"]), "nginx": ([101], ["/always-101"]),
               "haproxy": ([502], ["/always-101"])}),
    ("frame_bytes_after_a_refused_upgrade", ws_handshake("/ws-426") + b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
     targets, {"maintgate": ([426, 400], ["/ws-426"]), "nginx": ([426, 400], ["/ws-426"]),
               "haproxy": ([426, 400], ["/ws-426"])}),
]


@unittest.skipIf(MISSING, "%s not installed (scripts/install-deps.sh bench installs them)" % " and ".join(MISSING))
class CompareTest(unittest.TestCase):
    """One maintgate, one nginx and one HAProxy for the whole class: the cases are
    independent requests, each on a new connection, and each proxy has its own
    upstream."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="maintgate-compare-")
        cls.fronts = []
        try:
            for kind in (MaintgateFront, NginxFront, HAProxyFront):
                front = kind(cls.tmp.name)
                cls.fronts.append(front)
                front.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for front in cls.fronts:
            front.stop()
        cls.tmp.cleanup()

    def observe(self, front, raw, listing):
        """Sends raw on a new connection; returns (statuses read until the proxy closed
        the connection, or "closed" when it sent nothing; the upstream's list)."""
        front.up.clear()
        c = ClientConn(front.port, timeout=CASE_TIMEOUT)
        statuses = []
        try:
            try:
                c.send(raw)
            except OSError:
                pass  # refused and closed before everything was read
            for _ in range(4):
                try:
                    resp = c.read_final(require_complete=False)
                except NoResponse:
                    break
                statuses.append(resp.status)
                if resp.status in (None, 101) or not resp.complete or resp.problems:
                    break
        finally:
            c.close()
        # A marker on a new connection: once it has arrived, the upstream has parsed
        # everything the case made the proxy send (each proxy forwards before it
        # answers, and the case's connection is closed).
        marker = "/echo?marker=%d" % time.monotonic_ns()
        m = ClientConn(front.port, timeout=CASE_TIMEOUT)
        try:
            self.assertEqual(m.request("GET", marker).status, 200, "%s: marker refused" % front.name)
        finally:
            m.close()
        front.up.wait_for(lambda u: marker in targets(u.requests), what="the marker through %s" % front.name)
        got = [r for r in front.up.requests if r.target != marker]
        return (statuses or "closed"), listing(got)

    def test_cases(self):
        show = os.environ.get("HOSTILE_COMPARE_SHOW") == "1"
        for name, raw, listing, expected in CASES:
            for front in self.fronts:
                with self.subTest(case=name, proxy=front.name):
                    statuses, listed = self.observe(front, raw, listing)
                    if show:
                        print("%-40s %-10s %r %r" % (name, front.name, statuses, listed))
                    want_statuses, want_listed = expected[front.name]
                    self.assertEqual((statuses, listed), (want_statuses, want_listed),
                                     "%s through %s: got statuses %r, upstream %r; recorded %r, %r"
                                     % (name, front.name, statuses, listed, want_statuses, want_listed))

    def test_versions_are_the_recorded_ones(self):
        # The reference rows were recorded with these; another version may differ in
        # any of them, and this says which one first.
        out = subprocess.run([NGINX, "-v"], capture_output=True, text=True, timeout=10)
        self.assertIn("nginx/1.22.1", out.stderr + out.stdout)
        out = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, timeout=10)
        self.assertIn("HAProxy version 2.6.", out.stdout)


if __name__ == "__main__":
    unittest.main()
