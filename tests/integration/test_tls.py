"""TLS termination through the real binary: HTTPS listeners (curl, openssl s_client and
Python's ssl as clients), SNI, protocol versions, certificate reload while a download
runs, bad pairs refused, HTTPS upstreams with good and bad certificates, redirects from
HTTP, HSTS, X-Forwarded-Proto, the bypass cookie's Secure flag, stalled and non-TLS
clients, and `maintgate check` on certificates.

Certificates are made at test time with the `openssl` command in a temp dir: a
throwaway CA, a server certificate with SANs, a renewed one, a second one for SNI, an
expired one, one expiring within days, a self-signed one and a key matching none.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import (CLIENT_TIMEOUT, ClientConn, ProxyTestCase, base_config, build_request, curl, merge,
                     run_cli, to_toml)
from upstream import Upstream, websocket_accept
from wire import BufReader, close_quietly, pattern_sha256

PKI = None  # set by setUpModule


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), p.stderr.decode("utf-8", "replace")))
    return p.stdout


class Pki:
    """The certificates every test uses, made once for the module."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mg-tls-")
        d = self.dir
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=maintgate test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        # `openssl ca` is the one command that takes explicit validity dates (for the
        # expired certificate); the others use it too, for one way of signing.
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = test\n[test]\ndir = %s\ndatabase = $dir/index.txt\n"
                    "new_certs_dir = $dir\ncertificate = $dir/ca.pem\nprivate_key = $dir/ca.key\n"
                    "serial = $dir/serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n"
                    "unique_subject = no\n[any]\ncommonName = supplied\n" % d)
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        self.ca = self.path("ca.pem")
        self.server = self.issue("server", "maintgate-test-server",
                                 "DNS:localhost,DNS:app.test,IP:127.0.0.1")
        self.renewed = self.issue("renewed", "maintgate-test-renewed",
                                  "DNS:localhost,DNS:app.test,IP:127.0.0.1")
        self.other = self.issue("other", "maintgate-test-other", "DNS:other.test,DNS:*.wild.test")
        self.expired = self.issue("expired", "maintgate-test-expired", "DNS:localhost",
                                  dates=("20200101000000Z", "20200201000000Z"))
        self.soon = self.issue("soon", "maintgate-test-soon", "DNS:localhost", days=5)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "self.key", "-out", "self.pem", "-days", "2", "-subj", "/CN=maintgate-test-self",
                "-addext", "subjectAltName=DNS:localhost,DNS:app.test,IP:127.0.0.1", cwd=d)
        self.self_signed = (self.path("self.pem"), self.path("self.key"))
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "wrong.key", cwd=d)
        self.wrong_key = self.path("wrong.key")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, cn, sans, days=20, dates=None):
        d = self.dir
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
                "-addext", "subjectAltName=" + sans, cwd=d)
        validity = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", str(days)]
        openssl("ca", "-batch", "-notext", "-config", "ca.cnf", "-in", name + ".csr", "-out", name + ".pem",
                *validity, cwd=d)
        return self.path(name + ".pem"), self.path(name + ".key")

    def cleanup(self):
        shutil.rmtree(self.dir, True)


def setUpModule():
    global PKI
    PKI = Pki()


def tearDownModule():
    if PKI is not None:
        PKI.cleanup()


def client_context(cafile=None, check_hostname=True):
    ctx = ssl.create_default_context(cafile=cafile or PKI.ca)
    ctx.check_hostname = check_hostname
    return ctx


def tls_listener(cert=None, key=None, **extra):
    cert, key = (cert, key) if cert else PKI.server
    return dict({"address": "127.0.0.1:0", "tls_cert": cert, "tls_key": key}, **extra)


def peer_cn(sock):
    cert = sock.getpeercert()
    for rdn in cert["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


class TLSConn(ClientConn):
    """A ClientConn over TLS: the same request and response helpers."""

    def __init__(self, port, server_hostname="localhost", context=None, timeout=CLIENT_TIMEOUT):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = context or client_context(check_hostname=server_hostname is not None)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except Exception:
            close_quietly(raw)
            raise
        self.reader = BufReader(self.sock)
        self.timeout = timeout
        self._senders = []

    def cn(self):
        return peer_cn(self.sock)


class TLSUpstream(Upstream):
    """The test upstream behind TLS: each accepted connection is wrapped before it is
    served. Handshakes the proxy gives up on are counted, not errors."""

    def __init__(self, cert, key):
        super().__init__()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.handshake_failures = []
        self.sni_seen = []
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni_seen.append(name)

    def _serve(self, conn):
        try:
            conn.sock.settimeout(10)
            conn.sock = self.ctx.wrap_socket(conn.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            close_quietly(conn.sock)
            with self._cv:
                self.handshake_failures.append(str(e))
                conn.closed = True
                self._cv.notify_all()
            return
        super()._serve(conn)


class TLSTestCase(ProxyTestCase):
    start_default = False
    workers = 2

    def setUp(self):
        super().setUp()
        self.up = self.start_upstream()

    def start(self, listeners, extra=None, upstream_port=None):
        cfg = merge(base_config(upstream_port or self.up.port, 1, self.workers), extra)
        cfg["listener"] = listeners
        self.proxy = self.start_proxy(upstream_port or self.up.port, toml_text=to_toml(cfg),
                                      listeners=len(listeners))
        self.cfg = cfg
        return self.proxy

    def tls_connect(self, port=None, server_hostname="localhost", context=None, timeout=CLIENT_TIMEOUT):
        c = TLSConn(port or self.proxy.port, server_hostname, context, timeout)
        self.addCleanup(c.close)
        return c


# ---- handshake and forwarding -------------------------------------------------------------

class HandshakeTest(TLSTestCase):

    def setUp(self):
        super().setUp()
        self.start([tls_listener(), {"address": "127.0.0.1:0"}])
        self.https, self.http = self.proxy.ports

    def test_curl_forwards_over_https_with_x_forwarded_proto(self):
        code, out, err = curl("--cacert", PKI.ca, "-w", "\n%{http_version} %{ssl_verify_result}",
                              "https://localhost:%d/echo?curl=1" % self.https)
        self.assertEqual(code, 0, err)
        body, _, tail = out.rpartition(b"\n")
        self.assertEqual(tail, b"1.1 0")
        self.assertEqual(json.loads(body)["target"], "/echo?curl=1")
        rec = self.up.requests[-1]
        self.assertEqual(rec.values("x-forwarded-proto"), ["https"])
        # curl offering h2 gets HTTP/1.1 through ALPN.
        code, out, err = curl("--http2", "--cacert", PKI.ca, "-w", "%{http_version}", "-o", "/dev/null",
                              "https://app.test:%d/echo" % self.https, "--resolve", "app.test:%d:127.0.0.1" % self.https)
        self.assertEqual((code, out), (0, b"1.1"), err)
        # The plain listener says http.
        resp = self.connect(port=self.http).request("GET", "/echo")
        self.assertEqual(resp.status, 200)
        self.assertEqual(self.up.requests[-1].values("x-forwarded-proto"), ["http"])

    def test_openssl_s_client_raw(self):
        req = b"GET /echo?raw=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.https,
                            "-servername", "localhost", "-CAfile", PKI.ca, "-verify_return_error",
                            "-alpn", "http/1.1", "-ign_eof"],
                           input=req, capture_output=True, timeout=30)
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, out + p.stderr.decode())
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertIn("ALPN protocol: http/1.1", out)
        self.assertIn("TLSv1.3", out)
        self.assertIn("HTTP/1.1 200 OK", out)
        self.assertIn('"target": "/echo?raw=1"', out.replace('":"', '": "'))

    def test_keepalive_bodies_and_a_large_download(self):
        c = self.tls_connect()
        for i in range(20):
            body = b"tls body %d " % i * (i * 100 + 1)
            resp = c.request("POST", "/echo?i=%d" % i, body=body)
            self.assertEqual(resp.status, 200, resp.describe())
            self.assertEqual(resp.json()["body_sha256"], hashlib.sha256(body).hexdigest())
        chunks = [b"x" * 70000, b"y" * 3]
        c.send(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in chunks) + b"0\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.json()["body_len"], 70003)
        n = 8 << 20
        c.send(build_request("GET", "/bytes/%d" % n, host="localhost"))
        resp = c.read_final(keep_body=False)
        self.assertEqual((resp.status, resp.body_len, resp.body_sha256), (200, n, pattern_sha256(n)))
        resp = c.request("GET", "/chunked/300000")
        self.assertEqual(resp.body_len, 300000)
        c.assert_open()
        self.assertLessEqual(self.up.connections, 2)

    def test_tls_1_0_and_1_1_refused(self):
        for flag in ("-tls1", "-tls1_1"):
            p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.https, flag,
                                "-cipher", "DEFAULT@SECLEVEL=0"],
                               input=b"", capture_output=True, timeout=30)
            out = (p.stdout + p.stderr).decode("utf-8", "replace")
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn("alert protocol version", out, flag)
        # 1.2 and 1.3 are fine.
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_context()
            ctx.minimum_version = ctx.maximum_version = version
            c = self.tls_connect(context=ctx)
            self.assertEqual(c.sock.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
            self.assertEqual(c.request("GET", "/echo").status, 200)

    def test_session_resumption(self):
        ctx = client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the session is usable right after the handshake
        c = self.tls_connect(context=ctx)
        self.assertEqual(c.request("GET", "/echo").status, 200)
        session = c.sock.session
        c.close()
        raw = socket.create_connection(("127.0.0.1", self.https), timeout=CLIENT_TIMEOUT)
        s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        try:
            self.assertTrue(s.session_reused, "the second connection did a full handshake")
        finally:
            close_quietly(s)

    def test_websocket_through_tls(self):
        c = self.tls_connect()
        key = base64.b64encode(os.urandom(16)).decode()
        resp = c.request("GET", "/ws", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                         ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
        self.assertEqual(resp.status, 101, resp.describe())
        self.assertEqual(resp.values("sec-websocket-accept"), [websocket_accept(key)])
        for i in range(10):
            msg = b"frame %d " % i + os.urandom(1000 * i)
            c.send(msg)
            self.assertEqual(c.reader.read_exact(len(msg)), msg)
        c.send(b"__close__")
        self.assertEqual(c.reader.read_exact(9), b"__close__")
        closed, _, _ = c.wait_closed(10)
        self.assertTrue(closed, "the tunnel stayed open after the upstream closed")

    def test_plain_http_on_the_https_port(self):
        c = self.connect(port=self.https)
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.status, 400, resp.describe())
        self.assertIn(b"This port speaks HTTPS", resp.body)
        self.assertIn("close", resp.tokens("connection"))
        c.assert_closed()
        # Bytes that are neither TLS nor HTTP: closed without a word.
        c = self.connect(port=self.https)
        c.send(b"\x00\x01\x02 not tls\r\n\r\n")
        c.assert_closed()
        self.assertEqual(self.up.requests, [])
        # The listener still serves TLS.
        self.assertEqual(self.tls_connect().request("GET", "/echo").status, 200)


class SniTest(TLSTestCase):

    def test_sni_picks_the_certificate(self):
        # to_toml writes no [[listener.sni]], so this config is written out in full.
        toml_text = ("workers = 2\n\n[[listener]]\naddress = \"127.0.0.1:0\"\ntls_cert = %s\ntls_key = %s\n\n"
                     "[[listener.sni]]\ntls_cert = %s\ntls_key = %s\n\n[upstream]\nurl = \"http://127.0.0.1:%d\"\n"
                     % (tuple(json.dumps(x) for x in PKI.server + PKI.other) + (self.up.port,)))
        p = self.start_proxy(self.up.port, toml_text=toml_text)
        self.assertIsNotNone(p.wait_log(r"listening on 127\.0\.0\.1:\d+ \(https: localhost, app\.test, "
                                        r"other\.test, \*\.wild\.test\)", 1), p.output())
        for name, cn in (("localhost", "maintgate-test-server"), ("other.test", "maintgate-test-other"),
                         ("a.wild.test", "maintgate-test-other"), ("unknown.test", "maintgate-test-server")):
            c = self.tls_connect(p.port, server_hostname=name, context=client_context(check_hostname=False))
            self.assertEqual(c.cn(), cn, "SNI %s" % name)
            self.assertEqual(c.request("GET", "/echo", host=name).status, 200)
        # No SNI at all (as with an IP address): the listener's own certificate.
        c = self.tls_connect(p.port, server_hostname=None, context=client_context(check_hostname=False))
        self.assertEqual(c.cn(), "maintgate-test-server")


class TimeoutTest(TLSTestCase):

    def test_a_stalled_handshake_is_dropped_by_the_header_deadline(self):
        self.start([tls_listener()], extra={"timeouts": {"header": "1s"}})
        # Nothing at all after connecting.
        start = time.monotonic()
        c = self.connect()
        closed, data, _ = c.wait_closed(10)
        self.assertTrue(closed)
        self.assertEqual(data, b"")
        self.assertLess(time.monotonic() - start, 5)
        # Half a ClientHello, then silence.
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        with self.assertRaises(ssl.SSLWantReadError):
            obj.do_handshake()
        hello = outgoing.read()
        self.assertEqual(hello[0], 0x16)
        start = time.monotonic()
        c = self.connect()
        c.send(hello[:len(hello) // 2])
        closed, data, _ = c.wait_closed(10)
        self.assertTrue(closed, "a client stalled mid-handshake was not dropped")
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(self.tls_connect().request("GET", "/echo").status, 200)


# ---- headers: HSTS, the bypass cookie ----------------------------------------------------

class HeadersTest(TLSTestCase):

    def test_hsts_on_https_only_and_the_apps_own_wins(self):
        self.start([tls_listener(hsts="max-age=31536000; includeSubDomains"), {"address": "127.0.0.1:0"}])
        https, http = self.proxy.ports
        c = self.tls_connect(https)
        resp = c.request("GET", "/echo")
        self.assertEqual(resp.values("strict-transport-security"), ["max-age=31536000; includeSubDomains"])
        resp = c.request("GET", "/set-headers?Strict-Transport-Security=max-age%3D5")
        self.assertEqual(resp.values("strict-transport-security"), ["max-age=5"])
        # The proxy's own replies too.
        c.send(b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.values("strict-transport-security"), ["max-age=31536000; includeSubDomains"])
        # Never over plain HTTP (RFC 6797 8.1: a UA ignores it there anyway).
        resp = self.connect(port=http).request("GET", "/echo")
        self.assertEqual(resp.values("strict-transport-security"), [])

    def test_gate_over_https_and_the_bypass_cookie_is_secure(self):
        secret = "tls-bypass-secret-0123456789"
        self.start([tls_listener(hsts="max-age=60"), {"address": "127.0.0.1:0"}],
                   extra={"gate": {"initial_mode": "maintenance", "bypass_secret": secret}})
        https, http = self.proxy.ports
        c = self.tls_connect(https)
        resp = c.request("GET", "/echo", [("Accept", "text/html")])
        self.assertEqual(resp.status, 503)
        self.assertEqual(resp.value("x-maintgate-mode"), "maintenance")
        self.assertEqual(resp.values("strict-transport-security"), ["max-age=60"])
        resp = c.request("GET", "/.maintgate/bypass/" + secret)
        self.assertEqual(resp.status, 302, resp.describe())
        cookie = resp.value("set-cookie")
        self.assertIn("; Secure", cookie)
        self.assertIn("HttpOnly", cookie)
        # The cookie lets the operator through, over TLS.
        resp = c.request("GET", "/echo", [("Cookie", cookie.split(";")[0])])
        self.assertEqual(resp.status, 200, resp.describe())
        # Over plain HTTP the cookie is not marked Secure (the browser would drop it).
        resp = self.connect(port=http).request("GET", "/.maintgate/bypass/" + secret)
        self.assertNotIn("Secure", resp.value("set-cookie"))


# ---- redirects from HTTP -------------------------------------------------------------------

class RedirectTest(TLSTestCase):

    def test_redirect_to_this_servers_https_port(self):
        self.start([tls_listener(), {"address": "127.0.0.1:0", "redirect_https": True,
                                     "redirect_except": ["/echo", "/status/"]}])
        https, http = self.proxy.ports
        c = self.connect(port=http)
        resp = c.request("GET", "/page?q=1", host="app.test:8080")
        self.assertEqual(resp.status, 301, resp.describe())
        self.assertEqual(resp.value("location"), "https://app.test:%d/page?q=1" % https)
        c.assert_open()  # a redirect keeps the connection
        resp = c.request("HEAD", "/x", host="app.test")
        self.assertEqual((resp.status, resp.value("location")), (301, "https://app.test:%d/x" % https))
        # Writes get 308, which keeps the method and body; the body is drained.
        resp = c.request("POST", "/form", body=b"a=1" * 1000, host="[::1]:8080")
        self.assertEqual((resp.status, resp.value("location")), (308, "https://[::1]:%d/form" % https))
        resp = c.request("DELETE", "/thing", host="app.test")
        self.assertEqual(resp.status, 308)
        # The exceptions are served here: an exact path, and a prefix ending in "/".
        resp = c.request("GET", "/echo?x=1", host="app.test")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(self.up.requests[-1].values("x-forwarded-proto"), ["http"])
        resp = c.request("GET", "/status/204", host="app.test")
        self.assertEqual(resp.status, 204)
        resp = c.request("GET", "/echo/more", host="app.test")
        self.assertEqual(resp.status, 301)
        self.assertEqual([r.target for r in self.up.requests], ["/echo?x=1", "/status/204"])
        # The redirect target actually answers.
        code, out, err = curl("-L", "--cacert", PKI.ca, "-o", "/dev/null", "-w", "%{http_code} %{url_effective}",
                              "http://localhost:%d/echo/after" % http)
        self.assertEqual((code, out.decode()), (0, "200 https://localhost:%d/echo/after" % https), err)

    def test_redirect_to_a_configured_url(self):
        self.start([{"address": "127.0.0.1:0", "redirect_https": "https://www.example.com:8443"}])
        resp = self.connect().request("GET", "/a/b?c=d", host="anything")
        self.assertEqual((resp.status, resp.value("location")), (301, "https://www.example.com:8443/a/b?c=d"))
        resp = self.connect().request("GET", "http://anything/p?q", host="anything")
        self.assertEqual(resp.value("location"), "https://www.example.com:8443/p?q")
        self.assertEqual(self.up.requests, [])


# ---- reload -----------------------------------------------------------------------------------

class ReloadTest(TLSTestCase):

    def setUp(self):
        super().setUp()
        self.sock_path = os.path.join(PKI.dir, "admin-%d.sock" % id(self))
        self.start([tls_listener()], extra={"admin": {"socket": self.sock_path}})

    def rewrite(self, cert, key):
        cfg = dict(self.cfg)
        cfg["listener"] = [tls_listener(cert, key)]
        with open(self.proxy.config_path, "w") as f:
            f.write(to_toml(cfg))

    def reload(self):
        return run_cli(["ctl", "--socket", self.sock_path, "reload"])

    def test_new_certificate_for_new_connections_while_an_old_download_continues(self):
        old = self.tls_connect()
        self.assertEqual(old.cn(), "maintgate-test-server")
        n = 64 << 20
        old.send(build_request("GET", "/bytes/%d" % n, host="localhost"))
        head = old.reader.read_line()
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        digest = hashlib.sha256()
        # Part of the body before the reload; the rest after.
        while old.reader.read_line() not in (b"\r\n", b""):
            pass
        got = old.reader.read_into(1 << 20, digest.update)

        self.rewrite(*PKI.renewed)
        code, out, err = self.reload()
        self.assertEqual(code, 0, out + err)
        new = self.tls_connect()
        self.assertEqual(new.cn(), "maintgate-test-renewed")
        self.assertEqual(new.request("GET", "/echo").status, 200)

        got += old.reader.read_into(n - got, digest.update)
        self.assertEqual(got, n)
        self.assertEqual(digest.hexdigest(), pattern_sha256(n))
        # The old connection still works, with its old certificate.
        self.assertEqual(old.cn(), "maintgate-test-server")
        self.assertEqual(old.request("GET", "/echo").status, 200)

    def test_a_bad_pair_is_refused_and_the_old_certificate_stays(self):
        self.rewrite(PKI.renewed[0], PKI.wrong_key)
        code, out, err = self.reload()
        self.assertEqual(code, 1, out)
        self.assertIn("reload refused", err)
        self.assertIn("listener[0]: the key \"%s\" does not belong to the certificate \"%s\""
                      % (PKI.wrong_key, PKI.renewed[0]), err)
        self.assertRegex(err, re.escape(self.proxy.config_path) + r":\d+:\d+: listener\[0\]")
        self.assertEqual(self.tls_connect().cn(), "maintgate-test-server")
        # A file that does not exist is refused as clearly.
        self.rewrite(PKI.path("missing.pem"), PKI.server[1])
        code, out, err = self.reload()
        self.assertEqual(code, 1, out)
        self.assertIn("cannot read \"%s\": No such file or directory" % PKI.path("missing.pem"), err)
        self.assertEqual(self.tls_connect().cn(), "maintgate-test-server")
        self.assertIsNotNone(self.proxy.wait_log(r"reload refused: 1 TLS error"))


# ---- HTTPS upstreams --------------------------------------------------------------------------

class UpstreamTest(TLSTestCase):

    def setUp(self):
        super().setUp()
        self.tls_up = self.start_upstream(lambda: TLSUpstream(*PKI.server))

    def start_to(self, upstream):
        return self.start([{"address": "127.0.0.1:0"}],
                          extra={"upstream": dict({"url": "https://127.0.0.1:%d" % self.tls_up.port}, **upstream)})

    def test_valid_certificate_pooled_keepalive(self):
        self.start_to({"tls_ca_file": PKI.ca})
        c = self.connect()
        for i in range(10):
            body = b"over tls %d" % i
            resp = c.request("POST", "/echo?i=%d" % i, body=body)
            self.assertEqual(resp.status, 200, resp.describe())
            self.assertEqual(resp.json()["body_sha256"], hashlib.sha256(body).hexdigest())
        n = 3 << 20
        resp = c.request("GET", "/bytes/%d" % n)
        self.assertEqual((resp.body_len, resp.body_sha256), (n, pattern_sha256(n)))
        # Expect: 100-continue is answered by the proxy for a TLS upstream.
        c.send(build_request("POST", "/upload", [("Expect", "100-continue"), ("Content-Length", "5")]))
        interim = c.read_response()
        self.assertEqual(interim.status, 100)
        c.send(b"hello")
        self.assertEqual(c.read_final().json()["body_len"], 5)
        self.assertLessEqual(self.tls_up.connections, 2, "keep-alive connections to the upstream were not reused")
        self.assertEqual(self.tls_up.handshake_failures, [])
        # An IP address in the URL: no SNI sent, the IP SAN verified.
        self.assertTrue(all(name is None for name in self.tls_up.sni_seen), self.tls_up.sni_seen)

    def test_server_name_is_sent_and_verified(self):
        self.start_to({"tls_ca_file": PKI.ca, "tls_server_name": "app.test"})
        self.assertEqual(self.connect().request("GET", "/echo").status, 200)
        self.assertEqual(self.tls_up.sni_seen, ["app.test"])

    def test_websocket_to_a_tls_upstream(self):
        self.start_to({"tls_ca_file": PKI.ca})
        c = self.connect()
        key = base64.b64encode(os.urandom(16)).decode()
        resp = c.request("GET", "/ws", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                         ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
        self.assertEqual(resp.status, 101, resp.describe())
        for i in range(5):
            msg = b"both sides %d " % i * 300
            c.send(msg)
            self.assertEqual(c.reader.read_exact(len(msg)), msg)

    def assert_502_with_reason(self, reason):
        resp = self.connect().request("GET", "/echo")
        self.assertEqual(resp.status, 502, resp.describe())
        line = self.proxy.wait_log(r"TLS handshake with 127\.0\.0\.1:%d failed: certificate verify failed"
                                   % self.tls_up.port)
        self.assertIsNotNone(line, self.proxy.output())
        self.assertIn(reason, line)
        self.assertEqual(self.tls_up.requests, [])

    def test_unknown_ca_is_a_502_with_the_reason(self):
        self.start_to({})  # the system store does not know the test CA
        self.assert_502_with_reason("unable to get local issuer certificate")

    def test_wrong_name_is_a_502_with_the_reason(self):
        self.start_to({"tls_ca_file": PKI.ca, "tls_server_name": "wrong.test"})
        self.assert_502_with_reason('hostname mismatch (expected name "wrong.test")')

    def test_health_and_smoke_checks_speak_tls_to_the_upstream(self):
        sock = os.path.join(tempfile.mkdtemp(prefix="mg-tls-adm-"), "admin.sock")
        self.addCleanup(shutil.rmtree, os.path.dirname(sock), True)
        self.start([{"address": "127.0.0.1:0"}],
                   extra={"upstream": {"url": "https://127.0.0.1:%d" % self.tls_up.port, "tls_ca_file": PKI.ca,
                                       "tls_server_name": "app.test"},
                          "admin": {"socket": sock},
                          "health_check": {"path": "/echo?health=1", "interval": "0s"},
                          "smoke_check": [{"name": "echo", "path": "/echo?smoke=1", "body_contains": "smoke=1"}]})
        code, out, err = run_cli(["ctl", "--socket", sock, "check"])
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out, r"(?m)^pass  GET /echo\?health=1: 200 in \d+ ms$", out)
        self.assertRegex(out, r"(?m)^pass  echo: 200 in \d+ ms$", out)
        self.assertIn("app.test", self.tls_up.sni_seen)
        self.assertEqual(self.tls_up.handshake_failures, [])

    def test_self_signed_upstream(self):
        rogue = self.start_upstream(lambda: TLSUpstream(*PKI.self_signed))
        self.start([{"address": "127.0.0.1:0"}],
                   extra={"upstream": {"url": "https://127.0.0.1:%d" % rogue.port, "tls_ca_file": PKI.ca}})
        resp = self.connect().request("GET", "/echo")
        self.assertEqual(resp.status, 502)
        self.assertIsNotNone(self.proxy.wait_log(r"certificate verify failed: self-signed certificate"))
        self.assertEqual(rogue.requests, [])
        self.assertEqual(self.proxy.stop(), 0)
        # Verification off: it is reached, and the start-up log says what that means.
        p = self.start([{"address": "127.0.0.1:0"}],
                       extra={"upstream": {"url": "https://127.0.0.1:%d" % rogue.port, "tls_verify": False}})
        self.assertEqual(self.connect(p).request("GET", "/echo").status, 200)
        self.assertIsNotNone(p.wait_log(r"upstream\.tls_verify = false: the upstream's certificate is not checked"))


# ---- maintgate check ------------------------------------------------------------------------------

class CheckTest(unittest.TestCase):

    def check(self, listeners, upstream=None):
        cfg = merge(base_config(1, 1, 1), {"upstream": upstream} if upstream else None)
        cfg["listener"] = listeners
        path = os.path.join(PKI.dir, "check-%d.toml" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(to_toml(cfg))
        code, out, err = run_cli(["check", "-c", path])
        return code, out, err, path

    def test_good_certificates(self):
        code, out, err, _ = self.check([tls_listener(hsts="max-age=60"),
                                        {"address": "127.0.0.1:0", "redirect_https": True}],
                                       {"url": "https://app.test", "tls_ca_file": PKI.ca})
        self.assertEqual(code, 0, err)
        self.assertEqual(err, "")
        self.assertRegex(out, r"listener  127\.0\.0\.1:0 \(https, TLS 1\.2 and up\)")
        self.assertRegex(out, r"listener  127\.0\.0\.1:0 \(http, redirecting to https on the first HTTPS listener\)")
        self.assertRegex(out, r"cert      listener\[0\]: %s \(localhost, app\.test\), valid until \S+ \(1[89] days\)"
                         % re.escape(PKI.server[0]))
        self.assertIn("upstream  TLS: certificate verified against %s, name app.test" % PKI.ca, out)

    def test_expiring_within_14_days_warns(self):
        code, out, err, path = self.check([tls_listener(*PKI.soon)])
        self.assertEqual(code, 0, err)
        self.assertRegex(err, r"^warning: %s:\d+:\d+: listener\[0\]: certificate \"%s\" \(localhost\) expires on "
                         r".*, in [45] days\n$" % (re.escape(path), re.escape(PKI.soon[0])))

    def test_expired_wrong_key_and_missing_files_are_errors(self):
        code, out, err, path = self.check([tls_listener(*PKI.expired)])
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, r"%s:\d+:\d+: listener\[0\]: certificate \"%s\" \(localhost\) expired on 2020-02-01"
                         % (re.escape(path), re.escape(PKI.expired[0])))
        self.assertTrue(err.endswith("1 error; configuration refused\n"), err)

        code, out, err, path = self.check([tls_listener(PKI.server[0], PKI.wrong_key),
                                           tls_listener(PKI.path("nope.pem"), PKI.server[1])])
        self.assertEqual((code, out), (1, ""))
        lines = err.splitlines()
        self.assertEqual(len(lines), 3, err)
        self.assertRegex(lines[0], r"^%s:\d+:\d+: listener\[0\]: the key \"%s\" does not belong to the certificate"
                         % (re.escape(path), re.escape(PKI.wrong_key)))
        self.assertRegex(lines[1], r"^%s:\d+:\d+: listener\[1\]\.tls_cert: cannot read \"%s\": No such file"
                         % (re.escape(path), re.escape(PKI.path("nope.pem"))))
        self.assertEqual(lines[2], "2 errors; configuration refused")

        code, out, err, path = self.check([{"address": "127.0.0.1:0"}],
                                          {"url": "https://app.test", "tls_ca_file": PKI.path("none.pem")})
        self.assertEqual(code, 1, out)
        self.assertIn("upstream.tls_ca_file: cannot read \"%s\"" % PKI.path("none.pem"), err)


if __name__ == "__main__":
    unittest.main()
