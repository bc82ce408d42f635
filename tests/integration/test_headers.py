"""The header transform as the upstream and the client see it: hop-by-hop fields,
X-Forwarded-*, Via, Host, request-target form, header names with underscores."""

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


# ---- forwarding.underscores_in_headers ---------------------------------------------------
#
# CGI, WSGI and PHP apps see "X_Forwarded_For" and "X-Forwarded-For" as the same
# HTTP_X_FORWARDED_FOR variable, so a field named with an underscore can shadow one the
# proxy sets or the gate reads. nginx drops such fields by default, HAProxy forwards them.

# Fields named with underscores, and the fields around them that must survive as they are.
UNDERSCORE_FIELDS = (b"X_Forwarded_For: 1.2.3.4\r\n"
                     b"X-Custom: a_b\r\n"
                     b"x_custom_2: two\r\n"
                     b"Accept: */*\r\n"
                     b"_: alone\r\n"
                     b"X-Last: last\r\n")
OVERRIDE_ALIASES = (("X_HTTP_Method_Override", "DELETE"), ("x_http_method", "PUT"),
                    ("X_METHOD_OVERRIDE", "PATCH"))


def underscore_names(rec):
    return [n for n, _ in rec.headers if "_" in n]


class UnderscoresDropTest(ProxyTestCase):
    """The default: such fields are removed and the request goes on."""

    def test_underscore_fields_dropped_the_others_kept_in_order(self):
        c = self.connect()
        c.send(build_get("/echo", UNDERSCORE_FIELDS))
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(1)
        rec = self.up.requests[0]
        self.assertEqual(underscore_names(rec), [], "underscore fields reached the upstream: %r"
                         % rec.headers)
        self.assertEqual(rec.values("x-forwarded-for"), ["127.0.0.1"])
        names = [n.lower() for n, _ in rec.headers]
        kept = [n for n in names if n in ("x-custom", "accept", "x-last")]
        self.assertEqual(kept, ["x-custom", "accept", "x-last"], rec.headers)
        self.assertEqual(rec.values("x-custom"), ["a_b"])
        self.assertEqual(rec.values("x-last"), ["last"])

    def test_connection_stays_usable_and_bodies_intact(self):
        c = self.connect()
        resp = c.request("POST", "/echo", headers=[("X_Token", "t"), ("X-Token", "h")], body=b"hello")
        self.assertEqual(resp.status, 200, resp.describe())
        resp = c.request("GET", "/echo", headers=[("Y_Other", "o")])
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(2)
        first, second = self.up.requests[0], self.up.requests[1]
        self.assertEqual(first.body, b"hello")
        self.assertEqual(first.values("x-token"), ["h"])
        self.assertEqual(underscore_names(first), [])
        self.assertEqual(underscore_names(second), [])


class UnderscoresDropExplicitTest(UnderscoresDropTest):
    config = {"forwarding": {"underscores_in_headers": "drop"}}


class UnderscoresDropGateTest(ProxyTestCase):
    """Dropped before the gate: an underscore override neither makes a read a write
    nor reaches the app, where it would."""
    config = {"gate": {"initial_mode": "read-only"}}

    def test_dropped_override_is_not_forwarded(self):
        for name, value in OVERRIDE_ALIASES:
            with self.subTest(name=name):
                before = len(self.up.requests)
                c = self.connect()
                resp = c.request("GET", "/echo", headers=[(name, value)])
                self.assertEqual(resp.status, 200, resp.describe())
                self.up.wait_requests(before + 1)
                rec = self.up.requests[before]
                self.assertEqual(rec.method, "GET")
                self.assertEqual(underscore_names(rec), [], rec.headers)


class UnderscoresRejectTest(ProxyTestCase):
    config = {"forwarding": {"underscores_in_headers": "reject"}}

    def test_each_underscore_shape_refused_before_the_upstream(self):
        cases = (
            ("shadowing X-Forwarded-For", build_get("/echo", b"X_Forwarded_For: 1.2.3.4\r\n")),
            ("first field", b"GET /echo HTTP/1.1\r\nX_First: 1\r\nHost: test.local\r\n\r\n"),
            ("lower case override", build_get("/echo", b"x_http_method_override: DELETE\r\n")),
            ("underscore alone", build_get("/echo", b"_: 1\r\n")),
            ("among hyphens", build_get("/echo", b"X-HTTP_Method-Override: PUT\r\n")),
            ("framing look-alike", build_get("/echo", b"Content_Length: 5\r\n")),
        )
        for what, raw in cases:
            with self.subTest(what=what):
                c, resp = self.roundtrip(raw)
                self.assert_local_error(resp, 400, c)
        self.assert_upstream_untouched()

    def test_pipelined_request_after_the_refusal_never_forwarded(self):
        c = self.connect()
        c.send(build_get("/echo/one", b"X_A: 1\r\n") + build_get("/echo/two"))
        resp = c.read_final()
        self.assert_local_error(resp, 400, c)
        self.assert_upstream_untouched()

    def test_body_of_a_refused_post_never_forwarded(self):
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: test.local\r\nX_A: 1\r\nContent-Length: 5\r\n\r\nhello")
        resp = c.read_final()
        self.assert_local_error(resp, 400, c)
        self.assert_upstream_untouched()

    def test_hyphens_and_underscores_in_values_still_forwarded(self):
        c = self.connect()
        resp = c.request("GET", "/echo", headers=[("X-Custom", "a_b"), ("Cookie", "a_b=c_d")])
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(1)
        self.assertEqual(self.up.requests[0].values("x-custom"), ["a_b"])


class UnderscoresForwardTest(ProxyTestCase):
    """HAProxy's way: passed unchanged; the proxy's own fields are still its own."""
    config = {"forwarding": {"underscores_in_headers": "forward"}}

    def test_underscore_fields_forwarded_unchanged_in_order(self):
        c = self.connect()
        c.send(build_get("/echo", UNDERSCORE_FIELDS))
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(1)
        rec = self.up.requests[0]
        self.assertEqual([(n, v) for n, v in rec.headers if "_" in n],
                         [("X_Forwarded_For", "1.2.3.4"), ("x_custom_2", "two"), ("_", "alone")])
        # The hyphen spelling is the proxy's: still replaced for an untrusted peer.
        self.assertEqual(rec.values("x-forwarded-for"), ["127.0.0.1"])
        names = [n.lower() for n, _ in rec.headers]
        order = [n for n in names if n in ("x_forwarded_for", "x-custom", "x_custom_2", "accept", "_", "x-last")]
        self.assertEqual(order, ["x_forwarded_for", "x-custom", "x_custom_2", "accept", "_", "x-last"])


class UnderscoresForwardGateTest(ProxyTestCase):
    """Forwarded, an underscore override reaches the app as an override, so the gate
    must read it as one: a GET overridden to a write is refused in read-only mode."""
    config = {"forwarding": {"underscores_in_headers": "forward"},
              "gate": {"initial_mode": "read-only"}}

    def test_underscore_override_naming_a_write_refused(self):
        for name, value in OVERRIDE_ALIASES:
            with self.subTest(name=name):
                c = self.connect()
                resp = c.request("GET", "/echo", headers=[(name, value)])
                self.assertEqual(resp.status, 503, "%s: %s reached the app as a read: %s"
                                 % (name, value, resp.describe()))
                self.assertEqual(resp.value("x-maintgate-mode"), "read-only", resp.describe())
        # Also behind a harmless hyphen spelling, which a CGI app may let it overwrite.
        c = self.connect()
        resp = c.request("GET", "/echo", headers=[("X-HTTP-Method-Override", "GET"),
                                                  ("X_HTTP_Method_Override", "DELETE")])
        self.assertEqual(resp.status, 503, resp.describe())
        self.assert_upstream_untouched()

    def test_underscore_override_naming_a_read_forwarded(self):
        c = self.connect()
        resp = c.request("GET", "/echo", headers=[("X_HTTP_Method_Override", "GET")])
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(1)
        self.assertEqual(self.up.requests[0].values("x_http_method_override"), ["GET"])


def build_get(target, extra=b"", host=b"test.local"):
    return b"GET " + target.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra + b"\r\n"


if __name__ == "__main__":
    unittest.main()
