"""Upstream faults: refused, silent, unreachable, reset, truncated and invalid
responses, and the retry rules (an idempotent request is retried once, on a fresh
connection, only when a reused pooled connection failed before any response byte;
never a non-idempotent one).

Also: an oversized upstream head; stray bytes after a response and bodies on 204, 304
and HEAD responses (one well-framed response for the client, that upstream connection
never reused); a pooled connection reset just as a POST is sent; clients that abort
mid-upload or mid-download (no file descriptor leak); slow clients (slowloris heads,
stalled bodies, a reader that never reads) with the proxy's memory bounded. Every
write here carries a unique target, and every test checks it reached the upstream at
most once.

Process-level faults (kill -9, a full disk, file descriptor exhaustion) live in
test_faults_process.py."""

import os
import select
import socket
import struct
import time
import unittest

from harness import ProxyTestCase, build_request, poll_until
from upstream import Blackhole, FullBacklog, Upstream, _Close, refusing_port
from wire import pattern_slices, pattern_view

READS = ("GET", "HEAD", "OPTIONS")
# What a broken upstream puts after a response: itself a complete response, so a
# connection reused with these bytes pending answers the next request with them.
STRAY = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Stray: yes\r\n\r\nSTRAY!"
MIB = 1 << 20


# ---- helpers shared by the fault tests ----------------------------------------------------

class FaultUpstream(Upstream):
    """The recording upstream plus the faults upstream.py does not have:
      /fault/huge-header         a 100 KiB response field (the proxy reads at most 64 KiB)
      /fault/extra-same          200 "ok" with STRAY in the same write, connection kept
      /fault/extra-late          200 "ok", STRAY 300 ms later, connection kept
      /fault/body-on/204|304     that status followed by STRAY, connection kept
      /fault/head-body           to HEAD: Content-Length 1234 and 1234 body bytes, then
                                 STRAY, connection kept
      /fault/reset-on-head-once/KEY  the first time: reads the head, not the body, and
                                 resets (SO_LINGER 0); afterwards like /echo
    rec.stray_sent is set (and waiters notified) once the stray bytes are out."""

    def _dispatch(self, conn, reader, rec):
        sock = conn.sock
        path = rec.path
        if path.startswith("/fault/reset-on-head-once/"):
            with self._cv:
                first = path not in self._once
                self._once.add(path)
            if first:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                raise _Close()
            self._read_body(reader, rec)
            return self._json(sock, rec, self._echo_obj(rec)), None

        if not path.startswith(("/fault/huge-header", "/fault/extra-", "/fault/body-on/",
                                "/fault/head-body")):
            return super()._dispatch(conn, reader, rec)
        self._read_body(reader, rec)

        if path == "/fault/huge-header":
            self._send_head(sock, 200, [("X-Big", "a" * 100000), ("Content-Length", "3")])
            sock.sendall(b"ok\n")
            self._linger_close(sock, reader)
        if path == "/fault/extra-same":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n" + STRAY)
        elif path == "/fault/extra-late":
            self._send_head(sock, 200, [("Content-Length", "3")])
            sock.sendall(b"ok\n")
            self._stop.wait(0.3)
            sock.sendall(STRAY)
        elif path == "/fault/body-on/204":
            sock.sendall(b"HTTP/1.1 204 No Content\r\n\r\n" + STRAY)
        elif path == "/fault/body-on/304":
            sock.sendall(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n" + STRAY)
        elif path == "/fault/head-body":
            self._send_head(sock, 200, [("Content-Length", "1234")])
            sock.sendall(bytes(pattern_view(0, 1234)) + STRAY)
        else:
            return self._respond(sock, rec, 404, b"no such fault\n"), None
        rec.stray_sent = True
        self._notify()
        return True, None


def fd_count(pid):
    """Open file descriptors of a process, from /proc/PID/fd."""
    return len(os.listdir("/proc/%d/fd" % pid))


def raw_socket(port, rcvbuf=None, timeout=20.0):
    """A connected client socket; rcvbuf (set before connect, so the window stays small)
    makes a client whose kernel buffers little when it stops reading."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def reset_close(sock):
    """Closes with an RST (SO_LINGER 0): a client that goes away abruptly."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultCase(ProxyTestCase):
    """A ProxyTestCase against a FaultUpstream, with the checks every fault test ends
    with."""

    start_default = False

    def setUp(self):
        super().setUp()
        self.up = self.start_upstream(FaultUpstream)
        self.proxy = self.start_proxy(self.up.port, self.config)

    def assert_writes_at_most_once(self, up=None):
        """No write (any method but GET, HEAD, OPTIONS) reached the upstream twice: the
        tests give every write a unique target."""
        seen = {}
        for r in (up or self.up).requests:
            if r.method not in READS:
                seen.setdefault((r.method, r.target), []).append(r)
        twice = {k: v for k, v in seen.items() if len(v) > 1}
        self.assertEqual(twice, {}, "writes that reached the upstream more than once")

    def copies(self, target, up=None):
        return [r for r in (up or self.up).requests if r.target == target]

    def wait_upstream_quiet(self, up=None):
        """Every upstream connection the proxy opened has been closed."""
        (up or self.up).wait_for(lambda u: u.closed_connections == u.connections, 30,
                                 "every upstream connection to be closed")

    def quiet_fd_count(self, proxy=None, settle=1.0, timeout=20.0):
        """The proxy's fd count once it has not changed for `settle` seconds."""
        pid = (proxy or self.proxy).pid
        last, since = fd_count(pid), time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = fd_count(pid)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= settle:
                return now
        raise AssertionError("the proxy's fd count did not settle within %.0fs" % timeout)

    def assert_fds_back_to(self, baseline, proxy=None, timeout=20.0):
        pid = (proxy or self.proxy).pid
        try:
            poll_until(lambda: fd_count(pid) <= baseline, timeout, 0.1, "fds back to %d" % baseline)
        except AssertionError:
            self.fail("file descriptor leak: %d open, %d before (%s)"
                      % (fd_count(pid), baseline, sorted(os.listdir("/proc/%d/fd" % pid))))

    def assert_serves(self, n=3, proxy=None):
        """The next requests (a read and a write each) are served normally."""
        for i in range(n):
            c = self.connect(proxy)
            target = "/echo?after=%d&t=%d" % (i, time.monotonic_ns())
            resp = c.request("GET", target)
            self.assertEqual((resp.status, resp.json()["target"]), (200, target), resp.describe())
            target = "/echo?after-post=%d&t=%d" % (i, time.monotonic_ns())
            resp = c.request("POST", target, body=b"after %d" % i)
            self.assertEqual((resp.status, resp.json()["target"]), (200, target), resp.describe())
            c.close()


class UpstreamUnavailableTest(ProxyTestCase):
    start_default = False

    def get_local_error(self, proxy, status):
        c = self.connect(proxy)
        start = time.monotonic()
        c.send(build_request("GET", "/echo"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, status, conn=c)
        return time.monotonic() - start

    def test_refused_upstream_502(self):
        proxy = self.start_proxy(refusing_port())
        self.get_local_error(proxy, 502)
        # Still serving afterwards.
        self.get_local_error(proxy, 502)

    def test_upstream_never_answering_504(self):
        hole = Blackhole().start()
        self.addCleanup(hole.stop)
        proxy = self.start_proxy(hole.port, {"upstream": {"response_timeout": "1s"}})
        elapsed = self.get_local_error(proxy, 504)
        self.assertGreaterEqual(elapsed, 0.9, "504 after %.2fs, before response_timeout" % elapsed)
        self.assertGreaterEqual(hole.connections, 1)

    def test_upstream_reading_but_never_answering_504(self):
        up = self.start_upstream()
        proxy = self.start_proxy(up.port, {"upstream": {"response_timeout": "1s"}})
        c = self.connect(proxy)
        c.send(build_request("GET", "/fault/hang"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 504, conn=c)
        # The connection with the unanswered request is closed, never pooled.
        rec = up.requests[0]
        up.wait_for(lambda u: u.is_closed(rec.conn_id),
                    what="the proxy to close the timed-out upstream connection")
        # A response slower than nothing but faster than the timeout is fine.
        c = self.connect(proxy)
        self.assertEqual(c.request("GET", "/slow/200").status, 200)

    def test_connect_timeout_504(self):
        # See upstream.FullBacklog: a full accept queue makes Linux drop the SYN, so the
        # connect hangs until the proxy's connect_timeout.
        target = FullBacklog().start()
        self.addCleanup(target.stop)
        if not target.ok:
            self.skipTest("the kernel completed every connect to a full backlog; "
                          "a connect timeout cannot be provoked on this machine")
        proxy = self.start_proxy(target.port, {"upstream": {"connect_timeout": "500ms",
                                                            "response_timeout": "60s"}})
        elapsed = self.get_local_error(proxy, 504)
        self.assertLess(elapsed, 30, "the 504 came after %.1fs: connect_timeout is 500ms" % elapsed)


class BrokenResponsesTest(ProxyTestCase):

    def get_partial(self, target):
        c = self.connect()
        c.send(build_request("GET", target))
        return c, c.read_final(require_complete=False)

    def test_reset_mid_response(self):
        c, resp = self.get_partial("/fault/reset")
        if resp.status == 502:
            # The reset came before the proxy relayed the head: a clean local error.
            self.assert_local_error(resp, 502, conn=c)
            return
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertFalse(resp.complete, "a reset upstream response looked complete: " + resp.describe())
        self.assertLess(resp.body_len, 100000)
        c.assert_closed(what="the client connection after the upstream reset")

    def test_truncated_content_length_body(self):
        c, resp = self.get_partial("/fault/truncate-cl")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.value("content-length"), "1000", resp.describe())
        self.assertFalse(resp.complete, resp.describe())
        self.assertEqual(resp.body_len, 100)
        c.assert_closed(what="the client connection after a truncated body")

    def test_truncated_chunked_body(self):
        c, resp = self.get_partial("/fault/truncate-chunked")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.framing, "chunked", resp.describe())
        self.assertFalse(resp.complete,
                         "a truncated chunked body was given a terminating chunk: " + resp.describe())
        self.assertLessEqual(resp.body_len, 600)
        c.assert_closed(what="the client connection after a truncated chunked body")

    def test_invalid_upstream_response_502(self):
        c, resp = self.get_partial("/fault/garbage")
        self.assert_local_error(resp, 502, conn=c)

    def test_upstream_response_with_content_length_and_transfer_encoding_502(self):
        c, resp = self.get_partial("/fault/cl-te")
        self.assert_local_error(resp, 502, conn=c)

    def test_upstream_response_with_content_length_list_502(self):
        c, resp = self.get_partial("/fault/bad-cl")
        self.assert_local_error(resp, 502, conn=c)


class RetryTest(ProxyTestCase):
    # One worker: one upstream pool, so "the pooled connection" is well defined.
    workers = 1

    def copies(self, target):
        return [r for r in self.up.requests if r.target == target]

    def warm_pool(self):
        """One request whose upstream connection goes back into the pool."""
        c = self.connect()
        self.assertEqual(c.request("GET", "/echo?warm").status, 200)
        c.close()
        warm = self.up.requests[-1]
        self.assertEqual(self.up.connections, 1)
        return warm.conn_id

    def test_get_close_on_first_use_connection_502_not_retried(self):
        c = self.connect()
        c.send(build_request("GET", "/fault/close"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        self.up.wait_for(lambda u: u.closed_connections == u.connections, what="upstream connections to close")
        self.assertEqual(len(self.copies("/fault/close")), 1,
                         "a request that failed on a first-use connection was retried")

    def test_get_close_on_reused_connection_retried_once_on_fresh_connection(self):
        pooled = self.warm_pool()
        c = self.connect()
        resp = c.request("GET", "/fault/close-once/get-a")
        self.assertEqual(resp.status, 200, resp.describe())
        copies = self.copies("/fault/close-once/get-a")
        self.assertEqual(len(copies), 2, copies)
        self.assertEqual(copies[0].conn_id, pooled, "the first attempt should use the pooled connection")
        self.assertNotEqual(copies[1].conn_id, pooled)
        self.assertEqual(copies[1].conn_id, max(r.conn_id for r in self.up.requests),
                         "the retry must use a fresh connection")

    def test_get_retried_at_most_once(self):
        self.warm_pool()
        c = self.connect()
        c.send(build_request("GET", "/fault/close"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        self.up.wait_for(lambda u: u.closed_connections == u.connections, what="upstream connections to close")
        self.assertEqual(len(self.copies("/fault/close")), 2,
                         "expected the first attempt and exactly one retry")

    def test_post_close_on_first_use_connection_502_one_copy(self):
        c = self.connect()
        c.send(build_request("POST", "/fault/close", body=b"payment=1"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        self.up.wait_for(lambda u: u.closed_connections == u.connections, what="upstream connections to close")
        self.assertEqual(len(self.copies("/fault/close")), 1)

    def test_post_close_on_reused_connection_never_retried(self):
        self.warm_pool()
        c = self.connect()
        c.send(build_request("POST", "/fault/close-once/post-a", body=b"payment=1"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        self.up.wait_for(lambda u: u.closed_connections == u.connections, what="upstream connections to close")
        self.assertEqual(len(self.copies("/fault/close-once/post-a")), 1,
                         "a POST was retried: %r" % self.up.requests)

    def idle_closed_pool(self):
        c = self.connect()
        self.assertEqual(c.request("GET", "/idle-close/100").status, 200)
        c.close()
        conn_id = self.up.requests[-1].conn_id
        # The upstream closes its idle keep-alive connection while it sits in the pool.
        self.up.wait_for(lambda u: u.is_closed(conn_id), what="the upstream to close the idle connection")
        return conn_id

    def test_post_not_sent_on_connection_closed_while_idle(self):
        dead = self.idle_closed_pool()
        c = self.connect()
        resp = c.request("POST", "/echo?post", body=b"exactly once")
        self.assertEqual(resp.status, 200, resp.describe())
        copies = self.copies("/echo?post")
        self.assertEqual(len(copies), 1, copies)
        self.assertNotEqual(copies[0].conn_id, dead)
        self.assertTrue(copies[0].complete)

    def test_get_after_connection_closed_while_idle(self):
        self.idle_closed_pool()
        c = self.connect()
        self.assertEqual(c.request("GET", "/echo?get").status, 200)
        self.assertEqual(len(self.copies("/echo?get")), 1)


class BrokenResponsesToWritesTest(FaultCase):
    """The broken upstream responses above, to a POST: the client sees the same result
    (a local error before any response byte, else a cut response), the upstream
    connection is closed, and the POST reached the upstream exactly once."""

    config = {"upstream": {"response_timeout": "2s"}}

    # path -> the local error status, or None for a response cut after its head.
    CASES = {
        "/fault/close": 502,
        "/fault/garbage": 502,
        "/fault/cl-te": 502,
        "/fault/bad-cl": 502,
        "/fault/huge-header": 502,
        "/fault/hang": 504,
        "/fault/truncate-cl": None,
        "/fault/truncate-chunked": None,
        "/fault/reset": None,
    }

    def test_each_broken_response_to_a_post(self):
        for i, (path, status) in enumerate(sorted(self.CASES.items())):
            with self.subTest(path=path):
                target = "%s?post=%d" % (path, i)
                c = self.connect()
                c.send(build_request("POST", target, body=b"charge card %d" % i))
                resp = c.read_final(method="POST", require_complete=False)
                if status is None and resp.status == 502:
                    status = 502  # /fault/reset may come before the head was relayed
                if status is not None:
                    self.assert_local_error(resp, status, conn=c)
                else:
                    self.assertEqual(resp.status, 200, resp.describe())
                    self.assertFalse(resp.complete, "a cut response looked complete: " + resp.describe())
                    c.assert_closed(what="the client connection after a cut response")
                self.wait_upstream_quiet()
                copies = self.copies(target)
                self.assertEqual(len(copies), 1, "POST %s reached the upstream %d times"
                                 % (target, len(copies)))
                self.assertTrue(copies[0].complete, copies)
        self.assert_writes_at_most_once()
        self.assert_serves(1)

    def test_oversized_upstream_head_502(self):
        c = self.connect()
        c.send(build_request("GET", "/fault/huge-header"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        self.assertNotIn(b"aaaaaaaa", resp.raw_head, "part of the oversized field reached the client")
        self.wait_upstream_quiet()


class StrayBytesTest(FaultCase):
    """Bytes after a complete upstream response (extra bytes, or a body on a 204, 304 or
    HEAD response): the client gets exactly one well-framed response, and that upstream
    connection is never used again, so the next request never sees the stray bytes.
    One worker: one pool, so a reused connection would be the next request's."""

    workers = 1

    CASES = (
        # (method, path, status, body)
        ("GET", "/fault/extra-same", 200, b"ok\n"),
        ("GET", "/fault/extra-late", 200, b"ok\n"),
        ("POST", "/fault/extra-same", 200, b"ok\n"),
        ("GET", "/fault/body-on/204", 204, b""),
        ("GET", "/fault/body-on/304", 304, b""),
        ("HEAD", "/fault/head-body", 200, b""),
    )

    def assert_no_stray(self, c, what):
        """Nothing but (perhaps) the end of the connection follows the response: True
        when the connection is still open."""
        closed, data, _ = c.wait_closed(timeout=0.8)
        self.assertEqual(data, b"", "%s: bytes after the response reached the client" % what)
        return not closed

    def test_stray_bytes_never_reach_a_later_request(self):
        for i, (method, path, status, body) in enumerate(self.CASES):
            with self.subTest(method=method, path=path):
                target = "%s?n=%d" % (path, i)
                c = self.connect()
                resp = c.request(method, target, body=b"w" if method == "POST" else None)
                self.assertEqual(resp.status, status, resp.describe())
                self.assertEqual(resp.body, body, resp.describe())
                self.assertEqual(resp.values("x-stray"), [], resp.describe())
                if status in (204, 304):
                    self.assertEqual(resp.values("transfer-encoding"), [], resp.describe())
                if method == "HEAD":
                    self.assertEqual(resp.value("content-length"), "1234", resp.describe())
                fault = self.copies(target)[0]
                self.up.wait_for(lambda u: getattr(fault, "stray_sent", False),
                                 what="the upstream to send its stray bytes")
                still_open = self.assert_no_stray(c, "%s %s" % (method, target))
                # The next requests, on this connection when it stayed open and on a new
                # one, get their own responses from another upstream connection.
                conns = [c] if still_open else []
                conns.append(self.connect())
                for j, conn in enumerate(conns):
                    nxt = "/echo?after=%d-%d" % (i, j)
                    r = conn.request("GET", nxt)
                    self.assertEqual(r.status, 200, r.describe())
                    self.assertEqual(r.values("x-stray"), [], "a stray response reached the client")
                    self.assertEqual(r.json()["target"], nxt, r.describe())
                    rec = self.copies(nxt)[0]
                    self.assertNotEqual(rec.conn_id, fault.conn_id,
                                        "the connection with stray bytes was reused")
                    self.assert_no_stray(conn, nxt)
                c.close()
        self.assert_writes_at_most_once()
        self.assertEqual(self.up.errors, [])


class PooledConnectionResetTest(FaultCase):
    """The pooled upstream connection is reset the moment a request arrives on it (the
    upstream read the head and went away): a POST gets 502 and reached the upstream
    once; a GET is retried once on a fresh connection."""

    workers = 1

    def warm_pool(self):
        """One request on a new upstream connection, which goes back into the (empty)
        pool: its id."""
        before = self.up.connections
        c = self.connect()
        target = "/echo?warm=%d" % time.monotonic_ns()
        self.assertEqual(c.request("GET", target).status, 200)
        c.close()
        self.assertEqual(self.up.connections, before + 1, "the warm-up reused a connection")
        return self.copies(target)[0].conn_id

    def test_post_on_pooled_connection_reset_as_it_is_sent(self):
        for size in (9, 256 * 1024):
            with self.subTest(body=size):
                pooled = self.warm_pool()
                target = "/fault/reset-on-head-once/post-%d" % size
                c = self.connect()
                c.send(build_request("POST", target, body=b"x" * size))
                resp = c.read_final(method="POST", require_complete=False)
                self.assert_local_error(resp, 502, conn=c)
                copies = self.copies(target)
                self.assertEqual(len(copies), 1, copies)
                self.assertEqual(copies[0].conn_id, pooled, "the POST did not go out on the pooled connection")
                self.wait_upstream_quiet()
                self.assertEqual(len(self.copies(target)), 1, "the POST was retried")
        self.assert_writes_at_most_once()
        self.assert_serves(1)

    def test_get_on_pooled_connection_reset_is_retried_once(self):
        pooled = self.warm_pool()
        c = self.connect()
        target = "/fault/reset-on-head-once/get"
        resp = c.request("GET", target)
        self.assertEqual((resp.status, resp.json()["target"]), (200, target), resp.describe())
        copies = self.copies(target)
        self.assertEqual([r.conn_id == pooled for r in copies], [True, False], copies)


class ClientAbortTest(FaultCase):
    """A client that goes away (FIN or RST) in the middle of its upload or its download:
    the proxy survives, the upstream connection carrying the cut message is closed (never
    pooled in a broken state), later requests are fine, and no descriptor leaks."""

    workers = 1
    config = {"upstream": {"idle_timeout": "300ms"}}

    def setUp(self):
        super().setUp()
        self.baseline = self.quiet_fd_count()

    def test_abort_mid_upload(self):
        for how in ("fin", "rst"):
            with self.subTest(close=how):
                target = "/upload?abort=%s" % how
                s = raw_socket(self.proxy.port)
                s.sendall(build_request("POST", target, [("Content-Length", str(64 * MIB))]))
                for view in pattern_slices(MIB, 64 * 1024):
                    s.sendall(view)
                self.up.wait_for(lambda u: any(r.target == target and r.body_len > 0 for r in u.requests),
                                 what="part of the upload to reach the upstream")
                rec = self.copies(target)[0]
                if how == "rst":
                    reset_close(s)
                else:
                    s.close()
                self.up.wait_for(lambda u: u.is_closed(rec.conn_id), 30,
                                 "the upstream connection with the cut upload to close")
                self.assertFalse(rec.complete, rec)
                self.assertLess(rec.body_len, 64 * MIB)
                self.assert_serves(2)
                self.assertTrue(self.proxy.alive())
                self.assert_fds_back_to(self.baseline)
        self.assert_writes_at_most_once()

    def test_abort_mid_download(self):
        for how in ("fin", "rst"):
            with self.subTest(close=how):
                target = "/bytes/%d?abort=%s" % (256 * MIB, how)
                s = raw_socket(self.proxy.port)
                s.sendall(build_request("GET", target))
                got = 0
                while got < MIB:
                    data = s.recv(65536)
                    self.assertTrue(data, "the download ended after %d bytes" % got)
                    got += len(data)
                rec = self.copies(target)[0]
                if how == "rst":
                    reset_close(s)
                else:
                    s.close()
                self.up.wait_for(lambda u: u.is_closed(rec.conn_id), 30,
                                 "the upstream connection of the abandoned download to close")
                self.assert_serves(2)
                self.assertTrue(self.proxy.alive())
                self.assert_fds_back_to(self.baseline)
        self.assert_writes_at_most_once()


class SlowClientsTest(FaultCase):
    """Slow clients are bounded in memory and ended by the configured timeouts."""

    config = {"timeouts": {"header": "2s", "body_idle": "1s", "send": "2s", "keepalive": "5s"},
              "upstream": {"idle_timeout": "300ms"}}
    # Growth of the proxy's resident memory allowed while the slow clients are connected.
    RSS_GROWTH_KIB = 24 * 1024

    def setUp(self):
        super().setUp()
        # Warm up (first request paths, the pool) before the memory baseline.
        self.assert_serves(1)
        self.baseline_fds = self.quiet_fd_count()
        self.baseline_rss = self.proxy.memory_kib()[0]

    def rss(self):
        return self.proxy.memory_kib()[0]

    def assert_rss_bounded(self, peak, what):
        self.assertLess(peak - self.baseline_rss, self.RSS_GROWTH_KIB,
                        "%s: RSS grew from %d to %d KiB" % (what, self.baseline_rss, peak))

    def trickle(self, socks, data, rounds, gap=0.2):
        """Sends data[k] on every still-open socket in round k; returns the sockets the
        proxy closed meanwhile (EOF, reset or a reply) and the peak RSS."""
        ended = set()
        peak = self.rss()
        for k in range(rounds):
            for s in socks:
                if s in ended:
                    continue
                try:
                    s.send(data[k:k + 1])
                except OSError:
                    ended.add(s)
            readable, _, _ = select.select([s for s in socks if s not in ended], [], [], gap)
            ended.update(readable)
            peak = max(peak, self.rss())
            if len(ended) == len(socks):
                break
        return ended, peak

    def assert_all_end(self, socks, timeout=20.0):
        """Every socket is closed by the proxy (a 408 before the close is fine)."""
        deadline = time.monotonic() + timeout
        for s in socks:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            data = b""
            try:
                while True:
                    piece = s.recv(65536)
                    if not piece:
                        break
                    data += piece
                    self.assertLess(len(data), 1 << 16, "a slow client got a large reply")
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail("a slow client was still connected after the timeouts: got %r" % data[:200])
            if data:
                self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:200])

    def test_many_slowloris_heads(self):
        n = 40
        socks = [raw_socket(self.proxy.port) for _ in range(n)]
        for s in socks:
            self.addCleanup(s.close)
        head = b"GET /echo HTTP/1.1\r\nHost: test.local\r\nX-Slow: " + b"a" * 200
        start = time.monotonic()
        ended, peak = self.trickle(socks, head, 100, 0.2)  # 20 s at most; header = 2s
        self.assertEqual(len(ended), n, "%d of %d slowloris heads were still open after %.0fs"
                         % (n - len(ended), n, time.monotonic() - start))
        self.assert_all_end(socks)
        self.assert_rss_bounded(peak, "%d slowloris connections" % n)
        self.assertEqual(self.copies("/echo"), [])
        self.assert_fds_back_to(self.baseline_fds)
        self.assert_serves(1)

    def test_many_stalled_bodies(self):
        n = 20
        socks = []
        for i in range(n):
            s = raw_socket(self.proxy.port)
            self.addCleanup(s.close)
            s.sendall(build_request("POST", "/upload?slow=%d" % i, [("Content-Length", str(4 * MIB))]))
            s.sendall(bytes(pattern_view(0, 1000)))
            socks.append(s)
        # A slow body (a byte every 200 ms, under body_idle) for 2 s, then a stall.
        ended, peak = self.trickle(socks, b"b" * 10, 10, 0.2)
        self.assertEqual(ended, set(), "a slow but moving body was cut")
        start = time.monotonic()
        self.assert_all_end(socks)
        self.assertLess(time.monotonic() - start, 20)
        peak = max(peak, self.rss())
        self.assert_rss_bounded(peak, "%d stalled uploads" % n)
        self.wait_upstream_quiet()
        for i in range(n):
            copies = self.copies("/upload?slow=%d" % i)
            self.assertLessEqual(len(copies), 1, copies)
            self.assertFalse(any(r.complete for r in copies), copies)
        self.assert_writes_at_most_once()
        self.assert_fds_back_to(self.baseline_fds)
        self.assert_serves(1)

    def test_reader_that_never_reads(self):
        size = 512 * MIB
        target = "/bytes/%d" % size
        s = raw_socket(self.proxy.port, rcvbuf=4096)
        self.addCleanup(s.close)
        s.sendall(build_request("GET", target))
        self.up.wait_requests(1 + len(self.up.requests), complete=False)
        rec = self.copies(target)[0]
        # The proxy stops reading the upstream once the client stops reading, and
        # gives up on the client after timeouts.send (2 s) without progress.
        peak = self.rss()
        deadline = time.monotonic() + 60
        while not self.up.is_closed(rec.conn_id):
            self.assertLess(time.monotonic(), deadline,
                            "the proxy still held the upstream of a client that never reads after 60 s")
            peak = max(peak, self.rss())
            time.sleep(0.1)
        self.assert_rss_bounded(peak, "a client not reading a 512 MiB download")
        # The client connection is closed too: what is buffered drains, then EOF or RST.
        got = 0
        s.settimeout(20)
        try:
            while True:
                data = s.recv(1 << 20)
                if not data:
                    break
                got += len(data)
                self.assertLess(got, size)
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.fail("the connection of a client that never read stayed open (%d bytes read)" % got)
        self.assertLess(got, 64 * MIB, "far more was sent than socket buffers can hold")
        self.assert_fds_back_to(self.baseline_fds)
        self.assert_serves(1)


if __name__ == "__main__":
    unittest.main()
