"""Every request the proxy must refuse itself. For each: the exact status, a complete
local reply with Connection: close, the connection closed after it, and nothing at all
(no request, no partial head, no byte) reaching the upstream."""

import unittest

from harness import ProxyTestCase, build_request

H = b"Host: test.local\r\n"

LIMITS = {"limits": {"max_headers": 20, "max_header_size": 8192, "max_uri_size": 2048,
                     "max_body_size": 100000}}

# (name, raw request, status). Each becomes a test method test_reject_<name>.
REJECTIONS = [
    # Content-Length and Transfer-Encoding together (both orders).
    ("cl_then_te", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_then_cl", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    # Content-Length values.
    ("cl_list_differing", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!", 400),
    ("cl_list_same", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    ("cl_plus_sign", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl_hex", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("cl_negative", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("cl_space_inside", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 1 0\r\n\r\n0123456789", 400),
    ("cl_empty", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: \r\n\r\n", 400),
    ("cl_over_63_bits", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999\r\n\r\n", 400),
    ("cl_two_fields_same", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("cl_two_fields_differing", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    # Transfer-Encoding codings.
    ("te_chunked_identity", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    ("te_identity", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\n\r\nhello", 400),
    ("te_quoted_chunked", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400),
    ("te_chunked_twice", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_chunked_in_two_fields", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_chunked_then_gzip_fields", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400),
    ("te_gzip_chunked", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("te_gzip_field_then_chunked_field", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    ("te_in_http10", b"POST /echo HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # Line endings and field syntax.
    ("bare_lf_request_line", b"GET /echo HTTP/1.1\n" + H + b"\r\n", 400),
    ("bare_lf_field_line", b"GET /echo HTTP/1.1\r\nHost: test.local\nX-A: b\r\n\r\n", 400),
    ("bare_lf_end_of_head", b"GET /echo HTTP/1.1\r\n" + H + b"\n", 400),
    ("bare_cr_request_line", b"GET /echo\rx HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bare_cr_field_value", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    ("obs_fold_space", b"GET /echo HTTP/1.1\r\n" + H + b"X-Long: a\r\n b\r\n\r\n", 400),
    ("obs_fold_tab", b"GET /echo HTTP/1.1\r\n" + H + b"X-Long: a\r\n\tb\r\n\r\n", 400),
    ("whitespace_before_first_field", b"GET /echo HTTP/1.1\r\n Host: test.local\r\n\r\n", 400),
    ("nul_in_field_value", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("ctl_in_field_value", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("del_in_field_value", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n", 400),
    ("space_before_colon", b"GET /echo HTTP/1.1\r\nHost : test.local\r\n\r\n", 400),
    ("space_before_colon_other_field", b"GET /echo HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n", 400),
    ("tab_before_colon", b"GET /echo HTTP/1.1\r\n" + H + b"X-A\t: b\r\n\r\n", 400),
    ("empty_field_name", b"GET /echo HTTP/1.1\r\n" + H + b": b\r\n\r\n", 400),
    ("invalid_field_name", b"GET /echo HTTP/1.1\r\n" + H + b"X(A): b\r\n\r\n", 400),
    ("field_without_colon", b"GET /echo HTTP/1.1\r\n" + H + b"X-A b\r\n\r\n", 400),
    # Host.
    ("missing_host", b"GET /echo HTTP/1.1\r\n\r\n", 400),
    ("duplicate_host", b"GET /echo HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400),
    ("duplicate_host_same_value", b"GET /echo HTTP/1.1\r\n" + H + H + b"\r\n", 400),
    ("duplicate_host_http10", b"GET /echo HTTP/1.0\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400),
    ("host_with_userinfo", b"GET /echo HTTP/1.1\r\nHost: user@test.local\r\n\r\n", 400),
    ("host_with_path", b"GET /echo HTTP/1.1\r\nHost: test.local/x\r\n\r\n", 400),
    ("host_with_space", b"GET /echo HTTP/1.1\r\nHost: test local\r\n\r\n", 400),
    ("absolute_form_conflicting_host", b"GET http://other.test/echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    # Request line.
    ("target_not_origin_form", b"GET abc HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("asterisk_target_with_get", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_with_space", b"GET /echo x HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_with_fragment", b"GET /echo#frag HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("invalid_method_token", b"G(T /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("empty_method", b" /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("double_space_in_request_line", b"GET  /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lowercase_http_name", b"GET /echo http/1.1\r\n" + H + b"\r\n", 400),
    ("malformed_version", b"GET /echo HTTP/11\r\n" + H + b"\r\n", 400),
    ("http2_version", b"GET /echo HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("http3_version", b"GET /echo HTTP/3.0\r\n" + H + b"\r\n", 505),
    ("http09", b"GET /\r\n\r\n", 400),
    # Methods and expectations.
    ("trace", b"TRACE /echo HTTP/1.1\r\n" + H + b"\r\n", 405),
    ("connect", b"CONNECT test.local:443 HTTP/1.1\r\nHost: test.local:443\r\n\r\n", 405),
    ("expect_other", b"POST /echo HTTP/1.1\r\n" + H + b"Expect: something-else\r\nContent-Length: 5\r\n\r\nhello", 417),
    # Limits (the class config: max_headers 20, max_header_size 8192, max_uri_size 2048,
    # max_body_size 100000).
    ("thirty_headers", b"GET /echo HTTP/1.1\r\n" + H + b"".join(b"X-H%d: v\r\n" % i for i in range(29)) + b"\r\n", 431),
    ("twenty_one_headers", b"GET /echo HTTP/1.1\r\n" + H + b"".join(b"X-H%d: v\r\n" % i for i in range(20)) + b"\r\n", 431),
    ("huge_header", b"GET /echo HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ("head_over_size_in_many_fields", b"GET /echo HTTP/1.1\r\n" + H + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 600) for i in range(15)) + b"\r\n", 431),
    ("target_too_long", b"GET /echo?" + b"q" * 3000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("declared_body_too_large", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 100001\r\n\r\n", 413),
]

# A rejected request followed, in the same write, by requests that must never be
# forwarded: the classic smuggling shapes.
PIPELINED = [
    ("after_bad_content_length", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 1, 2\r\n\r\nx"
     + b"GET /echo?smuggled HTTP/1.1\r\n" + H + b"\r\n"),
    ("cl_te_smuggle", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
     + b"GET /echo?smuggled HTTP/1.1\r\n" + H + b"\r\n"),
    ("te_cl_smuggle", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
     + b"5c\r\nGET /echo?smuggled HTTP/1.1\r\n" + H + b"Content-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n"),
    ("te_obfuscated", b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n"
     + b"0\r\n\r\nGET /echo?smuggled HTTP/1.1\r\n" + H + b"\r\n"),
    ("after_bad_target", b"GET abc HTTP/1.1\r\n" + H + b"\r\n" + b"GET /echo?smuggled HTTP/1.1\r\n" + H + b"\r\n"),
    ("after_obs_fold", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n" + b"GET /echo?smuggled HTTP/1.1\r\n" + H + b"\r\n"),
]


class FramingTest(ProxyTestCase):
    config = LIMITS

    def reject(self, raw, status):
        c = self.connect()
        try:
            c.send(raw)
        except OSError:
            pass  # the proxy may refuse and close before reading everything
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, status, conn=c)
        return resp

    # ---- positive controls: the same limits let valid requests through --------------

    def test_twenty_headers_accepted(self):
        c = self.connect()
        resp = c.request("GET", "/echo", headers=[("X-H%d" % i, "v") for i in range(19)])
        self.assertEqual(resp.status, 200, resp.describe())

    def test_long_target_under_limit_accepted(self):
        c = self.connect()
        target = "/echo?" + "q" * 1900
        resp = c.request("GET", target)
        self.assertEqual(resp.json()["target"], target)

    def test_body_at_limit_accepted(self):
        c = self.connect()
        resp = c.request("POST", "/echo", body=b"b" * 100000)
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["body_len"], 100000)

    def test_options_asterisk_forwarded(self):
        c = self.connect()
        resp = c.request("OPTIONS", "*")
        self.assertEqual(resp.status, 404, resp.describe())  # the upstream's answer
        self.assertEqual(self.up.requests[0].target, "*")

    def test_http10_without_host_accepted(self):
        c = self.connect()
        c.send(b"GET /echo HTTP/1.0\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())

    def test_expect_100_continue_mixed_case_accepted(self):
        c = self.connect()
        c.send(b"POST /expect HTTP/1.1\r\n" + H + b"Expect: 100-Continue\r\nContent-Length: 5\r\n\r\n")
        interim = c.read_response()
        self.assertEqual(interim.status, 100, interim.describe())
        c.send(b"hello")
        self.assertEqual(c.read_final().json()["body_len"], 5)

    # ---- trailers --------------------------------------------------------------------

    def check_trailer(self, trailer):
        # Control first: an ordinary trailer field is accepted.
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.status, 200, "control (ordinary trailer) failed: " + resp.describe())
        self.up.wait_for(lambda u: u.closed_connections == u.connections or u.complete_requests,
                         what="the control request")
        self.up.clear()
        # Then the forbidden one: refused, and the upstream never sees a complete request.
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n\r\n")
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 400, conn=c)
        self.assert_no_complete_request_upstream()

    def assert_no_complete_request_upstream(self):
        # Every upstream connection that carried part of it must be closed: after that
        # nothing more can arrive.
        self.up.wait_for(lambda u: all(r.complete for r in u.requests) or
                         u.closed_connections == u.connections,
                         what="the upstream connection carrying the refused request to close")
        done = [r for r in self.up.requests if r.complete]
        self.assertEqual(done, [], "the upstream received a complete request: %r" % done)

    def test_reject_trailer_content_length(self):
        self.check_trailer(b"Content-Length: 5")

    def test_reject_trailer_transfer_encoding(self):
        self.check_trailer(b"Transfer-Encoding: chunked")

    def test_reject_trailer_host(self):
        self.check_trailer(b"Host: evil.test")

    # ---- body over the limit, chunked ------------------------------------------------

    def test_reject_chunked_body_growing_past_limit(self):
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b"4000\r\n" + b"c" * 0x4000 + b"\r\n"
        sender = c.start_sender([piece] * 64)   # 1 MiB in all, ten times the limit
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 413, conn=c)
        sender.join(20)
        self.assert_no_complete_request_upstream()

    # ---- pipelined bytes after a refusal ---------------------------------------------

    def test_good_then_bad_pipelined(self):
        c = self.connect()
        c.send(build_request("GET", "/echo?first") + b"GET /echo HTTP/1.1\r\nHost : x\r\n\r\n"
               + build_request("GET", "/echo?third"))
        first = c.read_final()
        self.assertEqual(first.json()["target"], "/echo?first")
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 400, conn=c)
        self.assertEqual([r.target for r in self.up.requests], ["/echo?first"])


def _make_reject(raw, status):
    def test(self):
        self.reject(raw, status)
        self.assert_upstream_untouched()
    return test


def _make_pipelined(raw):
    def test(self):
        self.reject(raw, 400)
        self.assert_upstream_untouched()
    return test


for _name, _raw, _status in REJECTIONS:
    setattr(FramingTest, "test_reject_" + _name, _make_reject(_raw, _status))
for _name, _raw in PIPELINED:
    setattr(FramingTest, "test_pipelined_" + _name, _make_pipelined(_raw))


if __name__ == "__main__":
    unittest.main()
