"""Client-side timeouts (request head deadline, body idle, keep-alive idle) and
graceful shutdown on SIGTERM."""

import select
import signal
import time
import unittest

from harness import NoResponse, ProxyTestCase, build_request, connect_refused, poll_until


class ClientTimeoutsTest(ProxyTestCase):
    config = {"timeouts": {"header": "2s", "keepalive": "1s", "body_idle": "1s"}}

    def read_timeout_reply(self, c):
        """After a client timeout the proxy either answers 408 (a complete local reply)
        or just closes; either way the connection ends."""
        try:
            resp = c.read_final(require_complete=False)
        except NoResponse:
            return None
        self.assert_local_error(resp, 408, conn=c)
        return resp

    def test_slowloris_head_closed_at_header_deadline(self):
        c = self.connect()
        head = b"GET /echo HTTP/1.1\r\nHost: test.local\r\nX-Slow: " + b"a" * 200
        start = time.monotonic()
        # One byte every 300 ms: each gap is far below any per-read timeout, so only a
        # total deadline for the head stops it. At most 60 bytes (18 s).
        ended = False
        for i in range(60):
            try:
                c.sock.send(head[i:i + 1])
            except OSError:
                ended = True
                break
            readable, _, _ = select.select([c.sock], [], [], 0.3)
            if readable:
                ended = True
                break
        elapsed = time.monotonic() - start
        self.assertTrue(ended, "a head trickled for 18 s was still open (header = 2s)")
        self.read_timeout_reply(c)
        self.assertGreaterEqual(elapsed, 1.9, "closed after %.2fs, before the 2 s header deadline" % elapsed)
        self.assert_upstream_untouched()

    def test_idle_keepalive_connection_closed(self):
        c = self.connect()
        self.assertEqual(c.request("GET", "/echo").status, 200)
        start = time.monotonic()
        closed, data, _ = c.wait_closed(timeout=20)
        elapsed = time.monotonic() - start
        self.assertTrue(closed, "an idle keep-alive connection was not closed within 20 s (keepalive = 1s)")
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 408 "), "unexpected bytes on idle close: %r" % data)
        self.assertGreaterEqual(elapsed, 0.9, "closed after %.2fs, before keepalive" % elapsed)

    def test_active_keepalive_connection_stays_open(self):
        c = self.connect()
        for i in range(8):
            self.assertEqual(c.request("GET", "/echo?i=%d" % i).status, 200)
            time.sleep(0.25)  # the client's pace under test (well under keepalive = 1s)

    def test_stalled_request_body_closed_at_body_idle(self):
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\n0123456789")
        start = time.monotonic()
        readable, _, _ = select.select([c.sock], [], [], 20)
        elapsed = time.monotonic() - start
        self.assertTrue(readable, "a stalled body was not ended within 20 s (body_idle = 1s)")
        self.read_timeout_reply(c)
        self.assertGreaterEqual(elapsed, 0.9)
        # Whatever part of it was forwarded, the upstream never gets a complete request
        # and its connection is closed (it cannot be reused mid-body).
        self.up.wait_for(lambda u: u.closed_connections == u.connections,
                         what="the upstream connection carrying the stalled body to close")
        self.assertEqual(self.up.complete_requests, [])


class MaxConnectionsTest(ProxyTestCase):
    config = {"limits": {"max_connections": 2}}
    workers = 1

    def test_connections_past_the_limit_are_closed_and_the_limit_recovers(self):
        first, second = self.connect(), self.connect()
        self.assertEqual(first.request("GET", "/echo").status, 200)
        self.assertEqual(second.request("GET", "/echo").status, 200)
        # Both held open: a third is accepted and closed at once, before any request.
        third = self.connect()
        third.assert_closed(what="a connection past max_connections")
        # A slot freed by a client that leaves is usable again.
        first.close()
        def fourth_served():
            c = self.connect()
            try:
                return c.request("GET", "/echo").status == 200
            except (AssertionError, OSError):  # closed at once: the slot is not free yet
                return False
        poll_until(fourth_served, timeout=10.0, what="a connection accepted after one closed")
        self.assertEqual(second.request("GET", "/echo").status, 200)


class GracefulShutdownTest(ProxyTestCase):
    config = {"timeouts": {"shutdown": "15s"}}

    def test_sigterm_drains_in_flight_request(self):
        idle = self.connect()
        self.assertEqual(idle.request("GET", "/echo?idle").status, 200)
        busy = self.connect()
        busy.send(build_request("GET", "/slow/6000"))
        self.up.wait_for(lambda u: any(r.target == "/slow/6000" for r in u.requests),
                         what="the slow request to reach the upstream")

        self.proxy.send_signal(signal.SIGTERM)

        # New connections are refused while the slow request is still in flight.
        poll_until(lambda: connect_refused(self.proxy.port), timeout=5.0,
                   what="the listener to close after SIGTERM")
        self.assertTrue(self.proxy.alive(), "maintgate exited with a request in flight")

        # The idle keep-alive connection is closed, without waiting for the busy one.
        closed, data, _ = idle.wait_closed(timeout=5.0)
        self.assertTrue(closed, "an idle keep-alive connection stayed open during shutdown")
        self.assertEqual(data, b"")
        busy_ready, _, _ = select.select([busy.sock], [], [], 0)
        self.assertFalse(busy_ready, "the slow request ended before the idle connection was closed")

        resp = busy.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["target"], "/slow/6000")
        busy.assert_closed(what="the drained connection after its response")

        code = self.proxy.stop(timeout=25)
        self.assertEqual(code, 0, self.proxy.output())

    def test_parked_connections_serve_again_and_close_at_sigterm(self):
        """Idle past park_after (100 ms), a keep-alive connection waits outside any
        coroutine; its next request is served as before, and SIGTERM closes it."""
        conns = [self.connect() for _ in range(20)]
        for i, c in enumerate(conns):
            self.assertEqual(c.request("GET", "/echo?first=%d" % i).status, 200)
        time.sleep(0.5)  # every one parked
        for i, c in enumerate(conns):
            resp = c.request("GET", "/echo?again=%d" % i)
            self.assertEqual(resp.status, 200, resp.describe())
            self.assertEqual(resp.json()["target"], "/echo?again=%d" % i)
        time.sleep(0.5)
        start = time.monotonic()
        code = self.proxy.stop(timeout=25)
        self.assertEqual(code, 0, self.proxy.output())
        self.assertLess(time.monotonic() - start, 10, "parked connections held up the shutdown")
        for c in conns:
            closed, data, _ = c.wait_closed(timeout=5)
            self.assertTrue(closed, "a parked connection outlived the proxy")
            self.assertEqual(data, b"")

    def test_sigterm_when_idle_exits_zero(self):
        c = self.connect()
        self.assertEqual(c.request("GET", "/echo").status, 200)
        c.close()
        start = time.monotonic()
        code = self.proxy.stop(timeout=25)
        self.assertEqual(code, 0, self.proxy.output())
        self.assertLess(time.monotonic() - start, 10, "an idle proxy took long to stop")


class ShutdownDeadlineTest(ProxyTestCase):
    config = {"timeouts": {"shutdown": "1s"}}

    def test_in_flight_request_cut_at_shutdown_deadline(self):
        # Parked keep-alive connections beside it: the forced shutdown destroys their
        # waits with the io_context, and with them the sessions.
        parked = [self.connect() for _ in range(5)]
        for p in parked:
            self.assertEqual(p.request("GET", "/echo").status, 200)
        time.sleep(0.3)
        c = self.connect()
        c.send(build_request("GET", "/fault/hang"))
        self.up.wait_requests(1)
        start = time.monotonic()
        self.proxy.send_signal(signal.SIGTERM)
        code = self.proxy.wait_exit(20)
        elapsed = time.monotonic() - start
        self.proxy.stopped = True
        self.assertIsNotNone(code, "maintgate still running 20 s after SIGTERM with shutdown = 1s")
        self.assertGreaterEqual(elapsed, 0.9, "exited after %.2fs, before the shutdown deadline" % elapsed)
        closed, _, _ = c.wait_closed(timeout=5)
        self.assertTrue(closed)
        for p in parked:
            closed, _, _ = p.wait_closed(timeout=5)
            self.assertTrue(closed, "a parked connection outlived the proxy")


if __name__ == "__main__":
    unittest.main()
