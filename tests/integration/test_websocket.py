"""Upgraded connections: the WebSocket handshake through the proxy, raw bytes both ways,
close propagation, the tunnel idle timeout, and upgrades that must not be tunnelled."""

import base64
import hashlib
import os
import time
import unittest

from harness import ProxyTestCase, build_request
from upstream import websocket_accept
from wire import pattern_bytes


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def handshake_bytes(key, target="/ws", version="HTTP/1.1"):
    return build_request("GET", target, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                         ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")],
                         version=version)


class WebSocketTest(ProxyTestCase):

    def open_tunnel(self, extra=b"", timeout=None):
        c = self.connect() if timeout is None else self.connect(timeout=timeout)
        key = new_key()
        c.send(handshake_bytes(key) + extra)
        resp = c.read_final()
        self.assertEqual(resp.status, 101, resp.describe())
        self.assertIn("websocket", resp.tokens("upgrade"), resp.describe())
        self.assertIn("upgrade", resp.tokens("connection"), resp.describe())
        self.assertEqual(resp.values("sec-websocket-accept"), [websocket_accept(key)])
        self.up.wait_requests(1)
        rec = self.up.requests[-1]
        self.assertEqual(rec.target, "/ws")
        self.assertEqual(rec.values("sec-websocket-key"), [key])
        return c, rec

    def test_accept_helper_matches_rfc6455_example(self):
        self.assertEqual(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

    def test_handshake_forwards_upgrade_fields(self):
        c, rec = self.open_tunnel()
        self.assertIn("websocket", rec.tokens("upgrade"))
        self.assertIn("upgrade", rec.tokens("connection"))
        self.assertEqual(rec.values("sec-websocket-version"), ["13"])

    def test_bytes_echo_both_ways(self):
        c, _ = self.open_tunnel()
        for i in range(20):
            msg = b"message %d " % i + bytes(range(256)) * (i + 1)
            c.send(msg)
            self.assertEqual(c.reader.read_exact(len(msg)), msg)
        # Bulk, both directions at once: 8 MiB sent while the echo is read back.
        bulk = pattern_bytes(8 << 20)
        sender = c.start_sender([bulk[i:i + 65536] for i in range(0, len(bulk), 65536)])
        got = hashlib.sha256()
        n = c.reader.read_into(len(bulk), got.update)
        sender.join(60)
        self.assertEqual(n, len(bulk))
        self.assertEqual(got.hexdigest(), hashlib.sha256(bulk).hexdigest())

    def test_bytes_in_same_write_as_handshake(self):
        early = b"early bytes \x00\xff\r\n\r\nGET / HTTP/1.1\r\n\r\n"
        c, _ = self.open_tunnel(extra=early)
        self.assertEqual(c.reader.read_exact(len(early)), early)
        c.send(b"later")
        self.assertEqual(c.reader.read_exact(5), b"later")

    def test_client_close_closes_upstream_side(self):
        c, rec = self.open_tunnel()
        c.send(b"ping")
        self.assertEqual(c.reader.read_exact(4), b"ping")
        c.close()
        self.up.wait_for(lambda u: u.is_closed(rec.conn_id), timeout=20,
                         what="the upstream side of the tunnel to close after the client closed")

    def test_client_half_close_reaches_upstream_and_back(self):
        c, rec = self.open_tunnel()
        c.send(b"bye")
        c.shutdown_write()
        # The upstream echoes, sees EOF, closes; the client sees the echo, then EOF.
        self.assertEqual(c.reader.read_exact(3), b"bye")
        c.assert_closed(what="the tunnel after the client's half-close")
        self.up.wait_for(lambda u: u.is_closed(rec.conn_id), what="the upstream side to close")

    def test_upstream_close_closes_client_side(self):
        c, _ = self.open_tunnel()
        c.send(b"__close__")
        self.assertEqual(c.reader.read_exact(9), b"__close__")
        c.assert_closed(what="the tunnel after the upstream closed")

    def test_upgrade_declined_by_upstream_stays_http(self):
        c = self.connect()
        c.send(handshake_bytes(new_key(), target="/echo?declined"))
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["target"], "/echo?declined")
        resp = c.request("GET", "/echo?next")
        self.assertEqual(resp.json()["target"], "/echo?next")

    def test_h2c_upgrade_not_tunnelled(self):
        c = self.connect()
        resp = c.request("GET", "/echo", [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                                          ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
        self.assertEqual(resp.status, 200, resp.describe())
        rec = self.up.requests[0]
        self.assertEqual(rec.values("upgrade"), [], "h2c upgrade forwarded: %r" % rec.headers)
        self.assertEqual(rec.values("http2-settings"), [])
        self.assertNotIn("upgrade", rec.tokens("connection"))
        self.assertEqual(c.request("GET", "/echo?next").status, 200)

    def test_upgrade_from_http10_not_tunnelled(self):
        c = self.connect()
        c.send(handshake_bytes(new_key(), version="HTTP/1.0"))
        resp = c.read_final()
        self.assertNotEqual(resp.status, 101, resp.describe())
        rec = self.up.requests[0]
        self.assertEqual(rec.values("upgrade"), [])


class TunnelIdleTest(ProxyTestCase):
    config = {"timeouts": {"tunnel_idle": "1s"}}

    def open_tunnel(self):
        c = self.connect()
        key = new_key()
        c.send(handshake_bytes(key))
        resp = c.read_final()
        self.assertEqual(resp.status, 101, resp.describe())
        return c

    def test_idle_tunnel_closed(self):
        c = self.open_tunnel()
        start = time.monotonic()
        closed, data, _ = c.wait_closed(timeout=20)
        elapsed = time.monotonic() - start
        self.assertEqual(data, b"")
        self.assertTrue(closed, "an idle tunnel was not closed within 20 s (tunnel_idle = 1s)")
        self.assertGreaterEqual(elapsed, 0.9, "closed after %.2fs, before tunnel_idle" % elapsed)
        self.up.wait_for(lambda u: u.closed_connections == u.connections,
                         what="the upstream side of the idle tunnel to close")

    def test_traffic_keeps_tunnel_open(self):
        c = self.open_tunnel()
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 3.0:
            msg = b"tick %d" % i
            c.send(msg)
            self.assertEqual(c.reader.read_exact(len(msg)), msg,
                             "a tunnel with traffic every 0.2 s was closed after %.1fs"
                             % (time.monotonic() - start))
            time.sleep(0.2)  # the traffic pattern under test, not synchronisation
            i += 1
        closed, data, _ = c.wait_closed(timeout=20)
        self.assertTrue(closed, "the tunnel did not close once idle")


if __name__ == "__main__":
    unittest.main()
