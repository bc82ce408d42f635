"""The header transform as the upstream and the client see it: hop-by-hop fields,
X-Forwarded-*, Via, Host, request-target form."""

import unittest

from harness import ProxyTestCase

HOP_BY_HOP = ("connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
              "transfer-encoding", "http2-settings")


class HeadersTest(ProxyTestCase):

    def send_and_record(self, raw):
        c = self.connect()
        c.send(raw)
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(1)
        return resp, self.up.requests[-1]

    def assert_no_client_connection_field(self, rec):
        """The client's Connection field never reaches the upstream. The proxy may send
        its own, naming only its own connection options."""
        for token in rec.tokens("connection"):
            self.assertIn(token, ("keep-alive", "close"),
                          "Connection option %r from the client reached the upstream: %r"
                          % (token, rec.headers))

    # ---- hop-by-hop ------------------------------------------------------------------

    def test_hop_by_hop_fields_removed(self):
        _, rec = self.send_and_record(
            b"GET /echo HTTP/1.1\r\nHost: test.local\r\n"
            b"Connection: keep-alive, X-Custom-Hop\r\n"
            b"Keep-Alive: timeout=5, max=100\r\n"
            b"TE: trailers\r\n"
            b"Trailer: X-Checksum\r\n"
            b"Upgrade: websocket\r\n"
            b"Proxy-Connection: keep-alive\r\n"
            b"X-Custom-Hop: secret\r\n"
            b"X-End-To-End: kept\r\n\r\n")
        names = [n.lower() for n, _ in rec.headers]
        for name in ("keep-alive", "te", "trailer", "upgrade", "proxy-connection", "x-custom-hop"):
            self.assertNotIn(name, names, "%s reached the upstream: %r" % (name, rec.headers))
        self.assert_no_client_connection_field(rec)
        self.assertEqual(rec.values("x-end-to-end"), ["kept"])

    def test_fields_named_in_several_connection_fields_removed_case_insensitively(self):
        _, rec = self.send_and_record(
            b"GET /echo HTTP/1.1\r\nHost: test.local\r\n"
            b"Connection: X-Foo,x-BAR\r\n"
            b"x-foo: 1\r\nX-Bar: 2\r\nX-Baz: 3\r\nX-Qux: 4\r\n"
            b"connection: x-baz\r\n\r\n")
        names = [n.lower() for n, _ in rec.headers]
        for name in ("x-foo", "x-bar", "x-baz"):
            self.assertNotIn(name, names, "%s (named in Connection) reached the upstream" % name)
        self.assertEqual(rec.values("x-qux"), ["4"])
        self.assert_no_client_connection_field(rec)

    def test_connection_cannot_remove_host_or_content_length(self):
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: test.local\r\nConnection: host, content-length\r\n"
               b"Content-Length: 5\r\n\r\nhello")
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        rec = self.up.requests[0]
        self.assertEqual(rec.value("host"), "test.local")
        self.assertTrue(rec.complete)
        self.assertEqual(rec.body, b"hello")

    def test_upgrade_without_connection_upgrade_is_not_forwarded(self):
        _, rec = self.send_and_record(build_get("/echo", b"Upgrade: websocket\r\n"))
        self.assertEqual(rec.values("upgrade"), [])
        self.assert_no_client_connection_field(rec)

    def test_hop_by_hop_response_fields_removed(self):
        c = self.connect()
        resp = c.request("GET", "/set-headers?Connection=X-Secret&X-Secret=1&Keep-Alive=timeout%3D5"
                                "&Proxy-Connection=keep-alive&Upgrade=foo&X-Kept=yes")
        self.assertEqual(resp.status, 200)
        names = [n.lower() for n, _ in resp.headers]
        for name in ("x-secret", "keep-alive", "proxy-connection", "upgrade"):
            self.assertNotIn(name, names, "%s reached the client: %s" % (name, resp.describe()))
        for token in resp.tokens("connection"):
            self.assertIn(token, ("keep-alive", "close"), resp.describe())
        self.assertEqual(resp.values("x-kept"), ["yes"])

    def test_repeated_end_to_end_fields_kept_in_order(self):
        _, rec = self.send_and_record(build_get("/echo", b"X-Dup: a\r\nX-Other: o\r\nX-Dup: b\r\n"))
        self.assertEqual(rec.values("x-dup"), ["a", "b"])

    # ---- X-Forwarded-* ---------------------------------------------------------------

    def test_x_forwarded_for_set_to_peer(self):
        _, rec = self.send_and_record(build_get("/echo"))
        self.assertEqual(rec.values("x-forwarded-for"), ["127.0.0.1"])

    def test_x_forwarded_for_spoof_replaced(self):
        _, rec = self.send_and_record(build_get("/echo", b"X-Forwarded-For: 1.2.3.4\r\n"))
        self.assertEqual(rec.values("x-forwarded-for"), ["127.0.0.1"],
                         "an untrusted client's X-Forwarded-For must be replaced")

    def test_x_forwarded_for_several_spoofed_fields_replaced(self):
        _, rec = self.send_and_record(build_get(
            "/echo", b"X-Forwarded-For: 1.2.3.4\r\nx-forwarded-for: 5.6.7.8, 9.9.9.9\r\n"))
        self.assertEqual(rec.values("x-forwarded-for"), ["127.0.0.1"])

    def test_x_forwarded_proto_and_host_set(self):
        _, rec = self.send_and_record(build_get("/echo", host=b"Example.test:8080"))
        self.assertEqual(rec.values("x-forwarded-proto"), ["http"])
        self.assertEqual(rec.values("x-forwarded-host"), ["Example.test:8080"])

    def test_x_forwarded_proto_and_host_spoofs_replaced(self):
        _, rec = self.send_and_record(build_get(
            "/echo", b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n"))
        self.assertEqual(rec.values("x-forwarded-proto"), ["http"])
        self.assertEqual(rec.values("x-forwarded-host"), ["test.local"])

    # ---- Via -------------------------------------------------------------------------

    def test_via_added_both_ways(self):
        resp, rec = self.send_and_record(build_get("/echo"))
        self.assertEqual(rec.values("via"), ["1.1 maintgate"])
        self.assertIn("1.1 maintgate", [t.strip() for v in resp.values("via") for t in v.split(",")],
                      resp.describe())

    def test_via_appended_to_existing(self):
        resp, rec = self.send_and_record(build_get("/echo", b"Via: 1.0 fred\r\n"))
        self.assertEqual(", ".join(rec.values("via")), "1.0 fred, 1.1 maintgate")
        c = self.connect()
        resp = c.request("GET", "/set-headers?Via=1.1%20app")
        self.assertEqual(", ".join(resp.values("via")), "1.1 app, 1.1 maintgate", resp.describe())

    # ---- Host and target -------------------------------------------------------------

    def test_host_kept(self):
        _, rec = self.send_and_record(build_get("/echo", host=b"app.example:443"))
        self.assertEqual(rec.values("host"), ["app.example:443"])

    def test_absolute_form_sent_as_origin_form(self):
        _, rec = self.send_and_record(
            b"GET http://test.local/echo/abs?q=1 HTTP/1.1\r\nHost: test.local\r\n\r\n")
        self.assertEqual(rec.target, "/echo/abs?q=1")
        self.assertEqual(rec.values("host"), ["test.local"])

    def test_absolute_form_host_compared_case_insensitively(self):
        _, rec = self.send_and_record(
            b"GET http://TEST.Local:8080/echo HTTP/1.1\r\nHost: test.local:8080\r\n\r\n")
        self.assertEqual(rec.target, "/echo")

    def test_http10_request_sent_upstream_as_http11(self):
        _, rec = self.send_and_record(b"GET /echo HTTP/1.0\r\nHost: test.local\r\n\r\n")
        self.assertEqual(rec.version, "HTTP/1.1")


class TrustedProxyHeadersTest(ProxyTestCase):
    config = {"forwarding": {"trusted_proxies": ["127.0.0.1/32"]}}

    def record(self, extra):
        c = self.connect()
        resp = c.request("GET", "/echo", headers=extra)
        self.assertEqual(resp.status, 200, resp.describe())
        return self.up.requests[-1]

    def test_x_forwarded_for_appended(self):
        rec = self.record([("X-Forwarded-For", "1.2.3.4")])
        self.assertEqual(", ".join(rec.values("x-forwarded-for")), "1.2.3.4, 127.0.0.1")

    def test_x_forwarded_for_chain_appended(self):
        rec = self.record([("X-Forwarded-For", "1.2.3.4, 10.0.0.1")])
        self.assertEqual(", ".join(rec.values("x-forwarded-for")), "1.2.3.4, 10.0.0.1, 127.0.0.1")

    def test_x_forwarded_for_set_when_absent(self):
        rec = self.record([])
        self.assertEqual(rec.values("x-forwarded-for"), ["127.0.0.1"])

    def test_x_forwarded_proto_and_host_kept_from_trusted_peer(self):
        rec = self.record([("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "public.example")])
        self.assertEqual(rec.values("x-forwarded-proto"), ["https"])
        self.assertEqual(rec.values("x-forwarded-host"), ["public.example"])


class HostOverrideTest(ProxyTestCase):
    config = {"upstream": {"host_header": "app.internal:3000"}}

    def test_host_replaced_and_original_in_x_forwarded_host(self):
        c = self.connect()
        resp = c.request("GET", "/echo", host="public.example")
        self.assertEqual(resp.status, 200)
        rec = self.up.requests[0]
        self.assertEqual(rec.values("host"), ["app.internal:3000"])
        self.assertEqual(rec.values("x-forwarded-host"), ["public.example"])


class ViaDisabledTest(ProxyTestCase):
    config = {"forwarding": {"via": False}}

    def test_no_via_either_way(self):
        c = self.connect()
        resp = c.request("GET", "/echo")
        self.assertEqual(resp.values("via"), [], resp.describe())
        self.assertEqual(self.up.requests[0].values("via"), [])


def build_get(target, extra=b"", host=b"test.local"):
    return b"GET " + target.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra + b"\r\n"


if __name__ == "__main__":
    unittest.main()
