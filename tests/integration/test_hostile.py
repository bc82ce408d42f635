"""Hostile requests (issue 6), by the issue's headings: request smuggling and desync, the
request line and headers, Expect and Upgrade, and gate bypass attempts. Each case asserts
the status, that the connection is closed where framing is in doubt, and that the upstream
received nothing of it (no request, no partial head, no byte; see
ProxyTestCase.assert_upstream_untouched).

test_framing.py and test_gate.py hold the first-order cases (CL with TE, "+5", "0x5",
"5, 6", quoted and repeated chunked, obs-fold, Host rules, "/healthz/../x", forged
cookies...); this module adds the obfuscations and combinations attackers use on top.

Where the right answer was unclear, the same raw bytes went through HAProxy 2.6.12 and
nginx 1.22.1 (Debian 12, default settings, proxying to upstream.py). A deliberate
difference is noted next to its case as "ref: ...". test_hostile_compare.py replays the
cases where the three differ through all of them and checks these notes (it is
skipped where nginx and HAProxy are not installed, as in CI).
"""

import base64
import hashlib
import hmac
import os
import socket
import tempfile
import time
import unittest
import urllib.parse

from harness import ProxyTestCase, build_request
from upstream import Upstream

H = b"Host: test.local\r\n"
POST = b"POST /echo HTTP/1.1\r\n" + H
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
SMUGGLED = b"GET /echo?smuggled HTTP/1.1\r\n" + H + b"\r\n"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example key

SECRET = "hostile-secret-0123456789abcdef"
BYPASS_PATH = "/.maintgate/bypass"


def ws_handshake(target, key=WS_KEY, extra=()):
    fields = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")]
    if key is not None:
        fields.append(("Sec-WebSocket-Key", key))
    return build_request("GET", target, fields + list(extra))


def cookie_value(secret, expiry_text):
    """The bypass cookie value maintgate signs: hmac-sha256 over "maintgate-bypass:<expiry>"."""
    mac = hmac.new(secret.encode(), ("maintgate-bypass:%s" % expiry_text).encode(), hashlib.sha256)
    return "%s.%s" % (expiry_text, mac.hexdigest())


class TrickUpstream(Upstream):
    """upstream.py plus the answers a broken or hostile app gives to upgrades, and an
    echo under the gate's allow rule:
      /always-101   101 Switching Protocols whatever was asked, then echoes raw bytes
      /ws-426       426 Upgrade Required with Upgrade and Connection fields, keep-alive
      /health...    like /echo
      /hostonly...  like /echo (the gate's host-filtered rule)
      /early/N      status N at once, keep-alive, without reading the body: what comes
                    next on the connection is parsed as the next request, so a body the
                    proxy forwarded after the answer shows up as a request of its own
    """

    def _dispatch(self, conn, reader, rec):
        if rec.path.startswith("/early/"):
            # RFC 9110 10.1.1 lets a server answer before the body and keep the
            # connection only if it then reads the body; this one does not, which is
            # what makes reusing the connection dangerous.
            status = int(rec.path.rsplit("/", 1)[1])
            return self._respond(conn.sock, rec, status, b"early %d\n" % status), None
        if urllib.parse.unquote(rec.path).startswith(("/health", "/hostonly")):
            self._read_body(reader, rec)
            return self._json(conn.sock, rec, self._echo_obj(rec)), None
        if rec.target == "/always-101":
            self._send_head(conn.sock, 101, [("Upgrade", "websocket"), ("Connection", "Upgrade")])
            rec.complete = True
            self._notify()
            self._echo_until_close(conn.sock, reader)
        if rec.target == "/ws-426":
            self._read_body(reader, rec)
            return self._respond(conn.sock, rec, 426, b"upgrade required\n",
                                 [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                  ("Sec-WebSocket-Version", "13")]), None
        return super()._dispatch(conn, reader, rec)

    def _echo_until_close(self, sock, reader):
        sock.settimeout(0.5)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                if not reader.buffered() and not reader.fill():
                    break
            except socket.timeout:
                continue
            except OSError:
                break
            sock.sendall(reader.take_buffered())
        self._linger_close(sock, reader)


class HostileTestCase(ProxyTestCase):
    """Helpers shared by every class below."""

    def reject(self, raw, status, timeout=None):
        """Sends raw bytes on a new connection: a local error reply with the status, then
        the connection closed. Returns the connection."""
        c = self.connect() if timeout is None else self.connect(timeout=timeout)
        try:
            c.send(raw)
        except OSError:
            pass  # the proxy may answer and close before it read everything
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, status, conn=c)
        return c

    def assert_no_complete_request_upstream(self, what="the refused request"):
        """For bodies refused after the head was forwarded: every upstream connection
        that carried part of it is closed, and none delivered a complete request."""
        self.up.wait_for(lambda u: u.closed_connections == u.connections
                         or all(r.complete for r in u.requests),
                         what="the upstream connections carrying %s to close" % what)
        done = [r for r in self.up.requests if r.complete]
        self.assertEqual(done, [], "the upstream received a complete request: %r" % done)

    def assert_upstream_got_only(self, expected_targets):
        """The upstream parsed exactly these requests, bodiless, and not one byte more."""
        self.up.wait_requests(len(expected_targets))
        reqs = self.up.requests
        self.assertEqual([r.target for r in reqs], list(expected_targets), "upstream received %r" % reqs)
        self.assertEqual(self.up.bytes_received, sum(len(r.raw_head) for r in reqs),
                         "the upstream received bytes beyond those request heads")


def _make_reject(raw, status):
    def test(self):
        self.reject(raw, status)
        self.assert_upstream_untouched()
    return test


def _add_rejections(cls, rows, prefix="test_reject_"):
    for name, raw, status in rows:
        assert not hasattr(cls, prefix + name), name
        setattr(cls, prefix + name, _make_reject(raw, status))


# ==== Request smuggling and desync ========================================================

SMUGGLING_REJECTIONS = [
    # Content-Length values a naive parser reads as something else.
    ("cl_exactly_2_63", POST + b"Content-Length: 9223372036854775808\r\n\r\nhello", 400),
    ("cl_2_64_wraps_to_0", POST + b"Content-Length: 18446744073709551616\r\n\r\n" + SMUGGLED, 400),
    ("cl_2_64_plus_5_wraps_to_5", POST + b"Content-Length: 18446744073709551621\r\n\r\nhello", 400),
    ("cl_trailing_comma", POST + b"Content-Length: 5,\r\n\r\nhello", 400),
    ("cl_leading_comma", POST + b"Content-Length: ,5\r\n\r\nhello", 400),
    ("cl_tab_inside", POST + b"Content-Length: 1\t0\r\n\r\n0123456789", 400),
    ("cl_with_te_identity", POST + b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("cl_with_te_xchunked", POST + b"Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\nhello", 400),
    # Transfer-Encoding obfuscations (test_framing has "chunked, identity", identity,
    # quoted, and chunked twice).
    ("te_space_before_colon", POST + b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("te_folded_value", POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_folded_onto_previous_field", POST + b"X-A: b\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_leading_whitespace_line", b"POST /echo HTTP/1.1\r\n Transfer-Encoding: chunked\r\n" + H
     + b"\r\n0\r\n\r\n", 400),
    ("te_vertical_tab_before", POST + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400),
    ("te_vertical_tab_after", POST + b"Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n", 400),
    ("te_form_feed", POST + b"Transfer-Encoding:\x0cchunked\r\n\r\n0\r\n\r\n", 400),
    ("te_non_ascii_latin1", POST + b"Transfer-Encoding: chunk\xe9d\r\n\r\n0\r\n\r\n", 400),
    ("te_non_ascii_utf8", POST + b"Transfer-Encoding: chunk\xc3\xa9d\r\n\r\n0\r\n\r\n", 400),
    ("te_xchunked", POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("te_chunked_with_parameter", POST + b"Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400),
    ("te_single_quoted", POST + b"Transfer-Encoding: 'chunked'\r\n\r\n0\r\n\r\n", 400),
    ("te_empty", POST + b"Transfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello", 400),
    ("te_chunked_then_identity_field", POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
     b"0\r\n\r\n", 400),
    ("te_http10_with_cl", b"POST /echo HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
     b"hello", 400),
    # Bare CR and LF outside the places test_framing covers.
    ("bare_cr_ending_request_line", b"GET /echo HTTP/1.1\r" + H + b"\r\n", 400),
    ("bare_lf_before_request_line", b"\nGET /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bare_cr_before_request_line", b"\rGET /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("bare_cr_ending_head", b"GET /echo HTTP/1.1\r\n" + H + b"\r" + SMUGGLED, 400),
    # ref: HAProxy and nginx both accept a bare LF in chunk lines; refused here (the
    # proxy re-chunks, so it would be safe to accept, but no client sends one).
    ("chunk_size_bare_lf", CHUNKED + b"5\nhello\r\n0\r\n\r\n", 400),
    ("chunk_data_bare_lf", CHUNKED + b"5\r\nhello\n0\r\n\r\n", 400),
    ("chunk_size_bare_cr", CHUNKED + b"5\rhello\r\n0\r\n\r\n", 400),
    ("chunk_extension_bare_lf", CHUNKED + b"5;a=b\nc\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_data_without_crlf", CHUNKED + b"5\r\nhelloXX0\r\n\r\n", 400),
    # NUL and control bytes in names, the target and the method (values are in test_framing).
    ("nul_in_field_name", b"GET /echo HTTP/1.1\r\n" + H + b"X-A\x00: b\r\n\r\n", 400),
    ("ctl_in_field_name", b"GET /echo HTTP/1.1\r\n" + H + b"X-\x01A: b\r\n\r\n", 400),
    ("del_in_field_name", b"GET /echo HTTP/1.1\r\n" + H + b"X-A\x7f: b\r\n\r\n", 400),
    ("non_ascii_in_field_name", b"GET /echo HTTP/1.1\r\n" + H + b"X-\xc3\xa9: b\r\n\r\n", 400),
    ("escape_in_field_value", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: \x1b[31mred\r\n\r\n", 400),
    ("nul_in_target", b"GET /ec\x00ho HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("nul_in_method", b"GE\x00T /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("nul_in_chunk_extension", CHUNKED + b"5;a=\x00\r\nhello\r\n0\r\n\r\n", 400),
    ("nul_in_trailer_value", CHUNKED + b"5\r\nhello\r\n0\r\nX-A: a\x00b\r\n\r\n", 400),
    # Bad chunk sizes.
    ("chunk_size_17_hex_digits", CHUNKED + b"10000000000000005\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_negative", CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_0x_prefix", CHUNKED + b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_empty", CHUNKED + b"\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_leading_space", CHUNKED + b" 5\r\nhello\r\n0\r\n\r\n", 400),
    # ref: HAProxy and nginx accept trailing whitespace after the size; RFC 9112 7.1
    # allows none without an extension.
    ("chunk_size_trailing_space", CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_inner_space", CHUNKED + b"1 0\r\n0123456789abcdef\r\n0\r\n\r\n", 400),
    # An extension longer than the session's read buffer (max_header_size + 32 KiB).
    ("chunk_extension_over_the_buffer", CHUNKED + b"5;a=" + b"b" * 100000 + b"\r\nhello\r\n0\r\n\r\n", 400),
    # Framing and routing fields in trailers (Content-Length, Transfer-Encoding and Host
    # are in test_framing).
    ("trailer_content_length_lowercase", CHUNKED + b"5\r\nhello\r\n0\r\ncontent-length: 50\r\n\r\n", 400),
    ("trailer_connection", CHUNKED + b"5\r\nhello\r\n0\r\nConnection: close\r\n\r\n", 400),
    ("trailer_upgrade", CHUNKED + b"5\r\nhello\r\n0\r\nUpgrade: websocket\r\n\r\n", 400),
    ("trailer_expect", CHUNKED + b"5\r\nhello\r\n0\r\nExpect: 100-continue\r\n\r\n", 400),
    ("trailer_trailer", CHUNKED + b"5\r\nhello\r\n0\r\nTrailer: Host\r\n\r\n", 400),
    ("trailer_host_after_ordinary_field", CHUNKED + b"5\r\nhello\r\n0\r\nX-Sum: 1\r\nHost: evil.test\r\n\r\n", 400),
    ("trailer_space_before_colon", CHUNKED + b"5\r\nhello\r\n0\r\nX-Sum : 1\r\n\r\n", 400),
    ("trailer_transfer_encoding_upper_case", CHUNKED + b"5\r\nhello\r\n0\r\nTRANSFER-ENCODING: chunked\r\n\r\n",
     400),
    ("trailer_transfer_encoding_identity", CHUNKED + b"5\r\nhello\r\n0\r\nTransfer-Encoding: identity\r\n\r\n",
     400),
    # Announcing a trailer field in the head does not make a framing field allowed.
    ("trailer_content_length_announced", POST + b"Trailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n", 400),
    ("trailer_content_length_and_transfer_encoding", CHUNKED + b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("trailer_content_length_after_many_fields", CHUNKED + b"5\r\nhello\r\n0\r\n"
     + b"".join(b"X-T%d: v\r\n" % i for i in range(20)) + b"Content-Length: 5\r\n\r\n", 400),
]

# A request refused for its framing, with a complete request right behind it in the same
# write: the second one must never be parsed, let alone forwarded.
PIPELINED_REJECTIONS = [
    ("after_417", POST + b"Expect: smuggle\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED
     + SMUGGLED, 417),
    ("after_505", b"GET /echo HTTP/2.0\r\n" + H + b"\r\n" + SMUGGLED, 505),
    ("after_431", b"GET /echo HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(120)) + b"\r\n"
     + SMUGGLED, 431),
    ("after_414", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 414),
    ("after_405", b"TRACE /echo HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 405),
    ("after_bad_chunk_size", CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n" + SMUGGLED, 400),
    # The CL.TE and TE.CL classics with the Transfer-Encoding name or value disguised.
    ("cl_te_space_before_colon", POST + b"Content-Length: 6\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\nG"
     + SMUGGLED, 400),
    ("te_cl_vertical_tab", POST + b"Transfer-Encoding:\x0bchunked\r\nContent-Length: 3\r\n\r\n"
     b"5c\r\n" + SMUGGLED + b"\r\n0\r\n\r\n", 400),
    ("te_cl_folded", POST + b"Content-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5c\r\n" + SMUGGLED
     + b"\r\n0\r\n\r\n", 400),
    # Reframing through the trailer section, and through a last-chunk line Beast reads
    # as an extension once the next request arrives. ref: HAProxy and nginx accept the
    # bare LF and forward the next request as a pipelined one.
    ("trailer_content_length", CHUNKED + b"5\r\nhello\r\n0\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
     + SMUGGLED, 400),
    ("last_chunk_bare_lf", CHUNKED + b"5\r\nhello\r\n0\n\r\n" + SMUGGLED, 400),
    ("trailer_section_bare_lf", CHUNKED + b"5\r\nhello\r\n0\r\n\n" + SMUGGLED, 400),
    ("websocket_without_key", ws_handshake("/ws", key=None) + SMUGGLED, 400),
    ("trailer_transfer_encoding", CHUNKED + b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n" + SMUGGLED,
     400),
    # Host rules: what a cache or router behind would key on differently.
    ("missing_host", b"GET /echo HTTP/1.1\r\n\r\n" + SMUGGLED, 400),
    ("duplicate_host", b"GET /echo HTTP/1.1\r\n" + H + b"X-A: b\r\nHost: evil.test\r\n\r\n" + SMUGGLED, 400),
    ("absolute_form_conflicting_host", b"GET http://evil.test/echo HTTP/1.1\r\n" + H + b"\r\n" + SMUGGLED, 400),
    ("after_501", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, 501),
    ("after_http09", b"GET /echo\r\n" + SMUGGLED, 400),
    ("after_unknown_version", b"GET /echo HTTP/1.2\r\n" + H + b"\r\n" + SMUGGLED, 505),
]


class SmugglingTest(HostileTestCase):
    """Request smuggling and desync."""

    def forwarded_with_body(self, raw, body):
        c = self.connect()
        c.send(raw)
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(1)
        rec = self.up.requests[0]
        self.assertEqual(rec.body, body, "the upstream received %r" % rec)
        c.assert_open()
        return rec

    # ---- what must still work: the positive controls --------------------------------

    def test_content_length_with_leading_zeros_is_five(self):
        rec = self.forwarded_with_body(POST + b"Content-Length: 005\r\n\r\nhello", b"hello")
        self.assertEqual(rec.values("content-length"), ["005"])

    def test_transfer_encoding_spellings_that_are_chunked(self):
        # Case and empty list elements do not change the coding (RFC 9110 5.6.1, 10.1.4).
        # ref: nginx answers 501 to "chunked,"; HAProxy agrees with this.
        for value in (b"CHUNKED", b"chunked,", b", chunked", b"\tchunked\t"):
            with self.subTest(value=value):
                self.up.clear()
                rec = self.forwarded_with_body(POST + b"Transfer-Encoding: " + value + b"\r\n\r\n"
                                               b"5\r\nhello\r\n0\r\n\r\n", b"hello")
                self.assertEqual(rec.tokens("transfer-encoding"), ["chunked"], rec.headers)

    def test_chunk_size_with_leading_zeros_and_upper_case(self):
        self.forwarded_with_body(CHUNKED + b"0000000000000005\r\nhello\r\n00A\r\n0123456789\r\n000\r\n\r\n",
                                 b"hello0123456789")

    def test_long_chunk_extensions_are_not_forwarded(self):
        # ref: HAProxy refuses a 20 kB extension, nginx accepts it. Accepted here: it fits
        # the read buffer, and the body is re-chunked, so the extension never reaches the
        # upstream (over the buffer it is a 400, see the table).
        ext = b";a=" + b"b" * 20000
        rec = self.forwarded_with_body(CHUNKED + b"5" + ext + b"\r\nhello\r\n0" + ext + b"\r\n\r\n", b"hello")
        body_bytes = self.up.bytes_received - len(rec.raw_head)
        self.assertLess(body_bytes, 100, "%d bytes of chunked body reached the upstream for 5 bytes of data"
                        % body_bytes)

    def test_obs_fold_in_trailers_never_reaches_the_upstream(self):
        # Beast accepts obs-fold in the trailer section (never in the head, which the
        # proxy scans itself). Trailers are not forwarded at all, so the folded line
        # reaches nobody. ref: HAProxy and nginx accept it too.
        rec = self.forwarded_with_body(CHUNKED + b"5\r\nhello\r\n0\r\nX-A: b\r\n Transfer-Encoding: x\r\n\r\n",
                                       b"hello")
        self.assertEqual(rec.trailers, [])
        self.assertEqual(rec.tokens("transfer-encoding"), ["chunked"], rec.headers)

    # ---- runaway and stalled chunked bodies ------------------------------------------

    def test_runaway_chunk_then_close(self):
        # A chunk announcing more than is sent, then the client goes away: the upstream
        # sees an incomplete request on a connection that is closed, never reused.
        c = self.connect()
        c.send(CHUNKED + b"ffff\r\n" + b"x" * 100)
        self.up.wait_requests(1, complete=False)
        rec = self.up.requests[0]
        c.close()
        self.up.wait_for(lambda u: u.is_closed(rec.conn_id),
                         what="the upstream connection of the runaway request to close")
        self.assertFalse(rec.complete, rec)
        # The proxy serves the next client on another upstream connection.
        resp = self.connect().request("GET", "/echo?next")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertNotEqual(self.up.requests[-1].conn_id, rec.conn_id)

    def test_runaway_chunk_then_half_close(self):
        # The client half-closes inside a chunk: the body can never be completed. The
        # proxy closes at once (nginx's "client prematurely closed connection"), with at
        # most an error reply, and the upstream never sees the request complete.
        c = self.connect()
        c.send(CHUNKED + b"100\r\n" + b"x" * 10)
        c.shutdown_write()
        closed, data, _ = c.wait_closed(timeout=10)
        self.assertTrue(closed, "the proxy kept a half-closed runaway request open")
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 400 "),
                        "not an error reply after a truncated body: %r" % data[:200])
        self.assert_no_complete_request_upstream("the truncated body")

    def test_chunk_size_of_2_64_minus_1_refused(self):
        # Without max_body_size Beast takes any 64-bit chunk size; past 2^63 (where
        # Content-Length stops too) the proxy answers 400, as HAProxy and nginx do.
        self.reject(CHUNKED + b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400, timeout=2)
        self.assert_upstream_untouched()

    # ---- pipelined bytes after a refused request -------------------------------------

    def test_refused_then_valid_pipelined_on_new_connection_is_served(self):
        # The refusal closes its own connection only: the same bytes that were refused as
        # a pipelined tail arrive fine as a request of their own.
        self.reject(PIPELINED_REJECTIONS[0][1], 417)
        resp = self.connect().request("GET", "/echo?smuggled")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assert_upstream_got_only(["/echo?smuggled"])


_add_rejections(SmugglingTest, SMUGGLING_REJECTIONS)
_add_rejections(SmugglingTest, PIPELINED_REJECTIONS, prefix="test_pipelined_")


class StalledChunkedBodyTest(HostileTestCase):
    """A last chunk or trailer line with a bare LF and nothing after it: Beast waits for
    the end of the trailer section before it sees the error, so the request stalls until
    body_idle. It is never completed upstream and never answered as if it were good.
    ref: HAProxy and nginx accept it as the end of the body."""

    config = {"timeouts": {"body_idle": "1s"}}

    def check_stall(self, tail):
        c = self.connect()
        c.send(CHUNKED + b"5\r\nhello\r\n" + tail)
        closed, data, _ = c.wait_closed(timeout=15)
        self.assertTrue(closed, "not closed after body_idle")
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 400 "),
                        "a stalled request was answered: %r" % data[:200])
        self.assert_no_complete_request_upstream("the stalled body")

    def test_last_chunk_bare_lf(self):
        self.check_stall(b"0\n\r\n")

    def test_trailer_bare_lf(self):
        self.check_stall(b"0\r\nX-A: b\n\r\n")


# ==== Request line and headers ============================================================

REQUEST_LINE_REJECTIONS = [
    # Versions (HTTP/2.0, HTTP/3.0 and "HTTP/11" are in test_framing).
    # ref: RFC 9110 2.5 says to process 1.2 as 1.1, and HAProxy and nginx do. Refused on
    # purpose: no client sends it, and every version check here stays two-valued.
    ("http_1_2", b"GET /echo HTTP/1.2\r\n" + H + b"\r\n", 505),
    # ref: HAProxy forwards it, nginx answers 400.
    ("http_0_9_version_token", b"GET /echo HTTP/0.9\r\n" + H + b"\r\n", 505),
    ("http_3_without_minor", b"GET /echo HTTP/3\r\n" + H + b"\r\n", 400),
    ("http_1_10", b"GET /echo HTTP/1.10\r\n" + H + b"\r\n", 400),
    ("http_leading_zero_major", b"GET /echo HTTP/01.1\r\n" + H + b"\r\n", 400),
    ("http2_connection_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("version_then_space", b"GET /echo HTTP/1.1 \r\n" + H + b"\r\n", 400),
    # Method tokens.
    ("method_with_tab", b"GET\t/echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("method_with_slash", b"G/ET /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("method_with_at", b"@GET /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("method_non_ascii", b"G\xc3\x89T /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    # TRACE and CONNECT in any case: Django and Werkzeug upper-case the method before the
    # app sees it. ref: nginx refuses every lower-case method (400), HAProxy forwards.
    ("trace_lowercase", b"trace /echo HTTP/1.1\r\n" + H + b"\r\n", 405),
    ("trace_mixed_case", b"TrAcE /echo HTTP/1.1\r\n" + H + b"\r\n", 405),
    ("connect_lowercase", b"connect test.local:443 HTTP/1.1\r\nHost: test.local:443\r\n\r\n", 405),
    ("connect_origin_form", b"CONNECT /echo HTTP/1.1\r\n" + H + b"\r\n", 405),
    # Targets.
    ("absolute_form_port_differs", b"GET http://test.local:81/echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute_form_userinfo", b"GET http://user@test.local/echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute_form_ftp", b"GET ftp://test.local/echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute_form_empty_authority", b"GET http:///echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute_form_backslash", b"GET http://test.local\\@evil.test/echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("authority_form_with_get", b"GET test.local:80 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("backslash_target", b"GET \\echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("non_ascii_target", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    # Host.
    ("host_empty", b"GET /echo HTTP/1.1\r\nHost:\r\n\r\n", 400),
    ("host_list", b"GET /echo HTTP/1.1\r\nHost: test.local, evil.test\r\n\r\n", 400),
    ("host_port_too_large", b"GET /echo HTTP/1.1\r\nHost: test.local:99999\r\n\r\n", 400),
    ("host_unclosed_ipv6", b"GET /echo HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    ("host_duplicate_different_case", b"GET /echo HTTP/1.1\r\nHost: test.local\r\nhOST: test.local\r\n\r\n", 400),
    ("host_missing_with_absolute_form", b"GET http://test.local/echo HTTP/1.1\r\n\r\n", 400),
    ("host_empty_then_real", b"GET /echo HTTP/1.1\r\nHost:\r\nHost: test.local\r\n\r\n", 400),
    ("host_missing_http11_post", b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
    # Absolute-form whose authority and Host differ only by the default port: RFC 9112
    # 3.2 asks the client for a Host identical to the authority, and a backend or
    # cache comparing them as strings would see two hosts. ref: nginx takes the
    # target's authority, HAProxy compares without the default port (both forward).
    ("absolute_form_default_port_not_in_host", b"GET http://test.local:80/echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute_form_host_with_default_port", b"GET http://test.local/echo HTTP/1.1\r\nHost: test.local:80\r\n\r\n",
     400),
    ("absolute_form_target_over_8_kib", b"GET http://test.local/" + b"a" * 8200 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
]


class RequestLineAndHeadersTest(HostileTestCase):
    """The request line and header fields."""

    def test_absolute_form_https_matching_host_forwarded_as_origin_form(self):
        resp = self.connect().request("GET", "https://test.local/echo?x=1")
        self.assertEqual(resp.json()["target"], "/echo?x=1")

    def test_lowercase_methods_are_other_methods(self):
        # "get" is not GET (methods are case-sensitive): forwarded as it is in open mode,
        # and a write for the gate (see GateReadOnlyBypassTest). ref: nginx refuses
        # lower-case methods, HAProxy forwards them.
        c = self.connect()
        resp = c.request("get", "/echo")
        self.assertEqual(resp.json()["method"], "get")


_add_rejections(RequestLineAndHeadersTest, REQUEST_LINE_REJECTIONS)


class DefaultLimitsTest(HostileTestCase):
    """The limits that apply when the config sets none: 100 fields and 16 KiB per head
    (431), 8 KiB per request-target (414). test_framing checks configured limits."""

    # ref: nginx has no field count limit (the 101 fields go through); HAProxy's is
    # 101 lines with the request line, and it answers 400.
    def test_101_fields_refused(self):
        fields = b"".join(b"X-F%d: v\r\n" % i for i in range(100))
        self.reject(b"GET /echo HTTP/1.1\r\n" + H + fields + b"\r\n", 431)
        self.assert_upstream_untouched()

    def test_100_fields_accepted(self):
        resp = self.connect().request("GET", "/echo", [("X-F%d" % i, "v") for i in range(99)])
        self.assertEqual(resp.status, 200, resp.describe())

    def test_head_over_16_kib_refused(self):
        self.reject(b"GET /echo HTTP/1.1\r\n" + H + b"X-Big: " + b"a" * 16400 + b"\r\n\r\n", 431)
        self.assert_upstream_untouched()

    def test_one_long_field_name_refused(self):
        self.reject(b"GET /echo HTTP/1.1\r\n" + H + b"X-" + b"n" * 17000 + b": v\r\n\r\n", 431)
        self.assert_upstream_untouched()

    def test_target_over_8_kib_refused(self):
        self.reject(b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n" + H + b"\r\n", 414)
        self.assert_upstream_untouched()

    def test_101_empty_fields_refused(self):
        # Empty values count as fields: a flood of them costs the same bookkeeping.
        self.reject(b"GET /echo HTTP/1.1\r\n" + H + b"".join(b"X-E%d:\r\n" % i for i in range(100)) + b"\r\n", 431)
        self.assert_upstream_untouched()

    def test_head_streamed_past_16_kib_refused(self):
        # Fields that arrive one at a time are counted as they come: the head never
        # reaches the upstream, however slowly it grows past the limit.
        c = self.connect()
        sender = c.start_sender([b"GET /echo HTTP/1.1\r\n" + H]
                                + [b"X-S%d: %s\r\n" % (i, b"s" * 1000) for i in range(40)] + [b"\r\n"])
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 431, conn=c)
        sender.join(10)
        self.assert_upstream_untouched()

    def test_trailer_section_over_the_buffer_refused(self):
        # Trailers are not forwarded, but they are read, and reading them is bounded:
        # a trailer section far over the head limit is a 400, never a request that
        # completes upstream. (Within the buffer they are read and dropped, see
        # SmugglingTest.test_obs_fold_in_trailers_never_reaches_the_upstream.)
        for what, pieces in (
                ("one huge field", [b"X-T: "] + [b"v" * 65536] * 16 + [b"\r\n\r\n"]),
                ("many fields", [b"".join(b"X-T%d: v\r\n" % i for i in range(1000))] * 10 + [b"\r\n"])):
            with self.subTest(trailers=what):
                c = self.connect()
                sender = c.start_sender([CHUNKED + b"5\r\nhello\r\n0\r\n"] + pieces)
                resp = c.read_final(require_complete=False)
                self.assert_local_error(resp, 400, conn=c)
                sender.join(10)
                self.assert_no_complete_request_upstream("the request with a runaway trailer section")

    def test_endless_request_line_refused_before_the_head_limit(self):
        # The target limit is checked per byte: a client streaming a target never gets
        # to make the proxy buffer the whole head.
        c = self.connect()
        sender = c.start_sender([b"GET /"] + [b"a" * 4096] * 64)
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 414, conn=c)
        sender.join(10)
        self.assert_upstream_untouched()


# ==== Expect and Upgrade ==================================================================

EXPECT_UPGRADE_REJECTIONS = [
    # ref: HAProxy forwards all four, nginx all but the repeated field (400). RFC 9110
    # 10.1.1 lets a server answer an expectation it does not support with 417, and the
    # proxy cannot know which ones the app supports.
    ("expect_list", POST + b"Expect: 100-continue, foo\r\nContent-Length: 5\r\n\r\nhello", 417),
    ("expect_two_fields", POST + b"Expect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
     b"hello", 417),
    ("expect_unknown_http10", b"POST /echo HTTP/1.0\r\n" + H + b"Expect: foo\r\nContent-Length: 5\r\n\r\nhello",
     417),
    ("expect_with_parameter", POST + b"Expect: 100-continue;x=1\r\nContent-Length: 5\r\n\r\nhello", 417),
    # A WebSocket handshake without a usable key: a server must refuse it (RFC 6455
    # 4.2.1), and an upstream that switches protocols anyway would get a tunnel nobody
    # validated. ref: HAProxy refuses a missing or malformed key (400) but forwards two
    # keys; nginx forwards all of them.
    ("websocket_without_key", ws_handshake("/always-101", key=None), 400),
    ("websocket_two_keys", ws_handshake("/always-101", extra=[("Sec-WebSocket-Key", WS_KEY)]), 400),
    ("websocket_key_not_16_bytes", ws_handshake("/always-101", key=base64.b64encode(b"x" * 20).decode()), 400),
    ("websocket_key_not_base64", ws_handshake("/always-101", key="!" * 22 + "=="), 400),
    ("websocket_versioned_upgrade_without_key", build_request("GET", "/always-101", [
        ("Upgrade", "WebSocket/13"), ("Connection", "keep-alive, Upgrade")]), 400),
]


class ExpectUpgradeTest(HostileTestCase):
    """Expect and Upgrade. TrickUpstream answers 101 or 426 whatever was asked."""

    start_default = False

    def setUp(self):
        super().setUp()
        self.up = self.start_upstream(TrickUpstream)
        self.proxy = self.start_proxy(self.up.port, self.config)

    def test_expect_100_continue_from_http10_is_dropped(self):
        # RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 is ignored. No 100 is
        # sent, and the upstream (spoken to in HTTP/1.1) never sees the expectation.
        c = self.connect()
        c.send(b"POST /echo HTTP/1.0\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.interims, [], "an HTTP/1.0 client was sent an interim response")
        self.up.wait_requests(1)
        rec = self.up.requests[0]
        self.assertEqual(rec.values("expect"), [], rec.headers)
        self.assertEqual(rec.body, b"hello")

    def test_empty_expect_is_no_expectation(self):
        # RFC 9110: Expect is a list, and an empty one asks for nothing; nginx and
        # HAProxy take it so too. No 100, no 417, and the empty field is not forwarded.
        c = self.connect()
        c.send(POST + b"Expect: \r\nContent-Length: 5\r\n\r\nhello")
        resp = c.read_final(method="POST")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.interims, [], resp.describe())
        self.up.wait_requests(1)
        rec = self.up.requests[0]
        self.assertEqual(rec.values("expect"), [], rec.headers)
        self.assertEqual(rec.body, b"hello")
        c.assert_open()

    # ---- Expect: 100-continue against an upstream that answers 100, or a final
    # status at once -------------------------------------------------------------------

    def expect_head(self, target, body_len):
        """The head of a POST to target announcing body_len bytes and expecting 100."""
        return (POST.replace(b"/echo", target.encode())
                + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % body_len)

    def test_expect_upstream_answers_100_then_body_and_connections_are_reused(self):
        # The control: after 100 the body goes through whole, and both connections stay
        # usable because the upstream read the request to its end.
        c = self.connect()
        c.send(self.expect_head("/expect", 5))
        interim = c.read_response()
        self.assertEqual(interim.status, 100, interim.describe())
        c.send(b"hello")
        resp = c.read_final(method="POST")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["body_len"], 5)
        resp = c.request("GET", "/echo?next")
        self.assertEqual(resp.status, 200, resp.describe())
        self.up.wait_requests(2)
        first, second = self.up.requests
        self.assertEqual(first.body, b"hello")
        self.assertEqual(second.conn_id, first.conn_id, "a clean upstream connection was not reused")

    def check_early_final(self, status, body_with_head, chunked=False):
        """POST with Expect: 100-continue to an upstream that answers `status` at once,
        keep-alive, and never reads the body. The client's body is a complete request.
        That body must never reach the upstream: the client gets the status with no
        100 before it and its connection closed, and the upstream connection is
        closed, never handed to the next client. ref: nginx (which reads the body
        itself first) and HAProxy (which relays the 401 and then sends the body on)
        both deliver the body to this upstream, which parses it as a request."""
        target = "/early/%d" % status
        c = self.connect()
        if chunked:
            head = (POST.replace(b"/echo", target.encode())
                    + b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
            body = b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n"
        else:
            head, body = self.expect_head(target, len(SMUGGLED)), SMUGGLED
        # A client may send its body without waiting for 100 (RFC 9110 10.1.1).
        c.send(head + body if body_with_head else head)
        resp = c.read_final(method="POST")
        self.assertEqual(resp.status, status, resp.describe())
        self.assertEqual(resp.interims, [], "100 relayed before a final status: " + resp.describe())
        self.assertEqual(resp.body, b"early %d\n" % status)
        self.assertIn("close", resp.tokens("connection"),
                      "the client connection was kept with its body unread: " + resp.describe())
        if not body_with_head:
            try:
                c.send(body)  # the body after all, late
            except OSError:
                pass  # already closed: fine
        closed, data, _ = c.wait_closed()
        self.assertTrue(closed, "the client connection stayed open after the early answer")
        self.assertEqual(data, b"", "bytes after the early answer: %r" % data[:200])
        self.up.wait_requests(1, complete=False)
        early = self.up.requests[0]
        self.up.wait_for(lambda u: u.is_closed(early.conn_id),
                         what="the upstream connection that skipped the body to close")
        # A new client: served on another upstream connection, and the body of the
        # first request never turned into a request.
        nxt = "/echo?next-client"
        resp = self.connect().request("GET", nxt)
        self.assertEqual(resp.json()["target"], nxt)
        self.up.wait_requests(1)
        reqs = self.up.requests
        self.assertEqual([r.target for r in reqs], [target, nxt], "upstream received %r" % reqs)
        self.assertEqual(self.up.bytes_received, sum(len(r.raw_head) for r in reqs),
                         "body bytes of the answered request reached the upstream")
        self.assertNotEqual(reqs[1].conn_id, early.conn_id,
                            "the upstream connection with an unsent body was reused")

    def test_expect_upstream_401_at_once_keep_alive_body_later(self):
        self.check_early_final(401, body_with_head=False)

    def test_expect_upstream_401_at_once_keep_alive_body_sent_early(self):
        self.check_early_final(401, body_with_head=True)

    def test_expect_upstream_401_at_once_keep_alive_chunked_body(self):
        self.check_early_final(401, body_with_head=False, chunked=True)

    def test_expect_upstream_417_at_once_keep_alive(self):
        self.check_early_final(417, body_with_head=False)

    def test_expect_upstream_200_at_once_keep_alive(self):
        # A success before the body is as final as a refusal.
        self.check_early_final(200, body_with_head=True)

    def test_expect_100_continue_without_body_is_not_forwarded(self):
        # Content-Length: 0 means no body will follow: no 100 to wait for, and the
        # expectation is removed rather than passed to an upstream that might wait.
        # ref: HAProxy forwards the field; nginx handles Expect itself and never
        # forwards it.
        c = self.connect()
        c.send(self.expect_head("/echo", 0))
        resp = c.read_final(method="POST")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.interims, [], resp.describe())
        self.up.wait_requests(1)
        self.assertEqual(self.up.requests[0].values("expect"), [], self.up.requests[0].headers)
        c.assert_open()

    # ---- Upgrade answered without switching protocols ---------------------------------

    def check_optimistic_frame_not_tunnelled(self, target, status):
        """A client that sends WebSocket frames right behind its handshake (before the
        101) to an upstream that does not switch: the frame bytes are the next
        request as far as HTTP goes, so a 400, and the upstream never sees them."""
        c = self.connect()
        c.send(ws_handshake(target) + b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")
        resp = c.read_final()
        self.assertEqual(resp.status, status, resp.describe())
        self.assertEqual(resp.values("upgrade"), [], resp.describe())
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 400, conn=c)
        self.assert_upstream_got_only([target])

    def test_upstream_426_with_frame_bytes_already_sent(self):
        self.check_optimistic_frame_not_tunnelled("/ws-426", 426)

    def test_upstream_200_with_frame_bytes_already_sent(self):
        self.check_optimistic_frame_not_tunnelled("/set-headers?Upgrade=websocket&Connection=Upgrade", 200)

    def test_upstream_answering_426_leaves_the_upstream_connection_http(self):
        # After a refused upgrade the upstream connection is an ordinary one: the next
        # request on it is parsed as HTTP by the upstream, nothing from a tunnel in it.
        c = self.connect()
        c.send(ws_handshake("/ws-426"))
        self.assertEqual(c.read_final().status, 426)
        resp = c.request("POST", "/echo?after", body=b"x=1")
        self.assertEqual(resp.json()["target"], "/echo?after")
        self.assertEqual(self.up.requests[1].body, b"x=1")
        self.assertEqual(self.up.errors, [])

    # ---- h2c -------------------------------------------------------------------------

    def test_h2c_in_upper_case_is_not_tunnelled(self):
        # Upgrade tokens are case-insensitive (RFC 9110 7.8).
        c = self.connect()
        c.send(build_request("GET", "/always-101", [("Upgrade", "H2C"), ("Connection", "Upgrade, HTTP2-Settings"),
                                                   ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        rec = self.up.requests[0]
        self.assertEqual(rec.values("upgrade"), [], rec.headers)
        self.assertEqual(rec.values("http2-settings"), [], rec.headers)

    def test_h2c_with_a_body_is_forwarded_as_http11(self):
        c = self.connect()
        resp = c.request("POST", "/echo", [("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                                           ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")], b"x=1")
        self.assertEqual(resp.status, 200, resp.describe())
        rec = self.up.requests[0]
        self.assertEqual((rec.body, rec.values("upgrade")), (b"x=1", []), rec.headers)
        c.assert_open()

    def test_h2c_then_http2_preface_never_reaches_the_upstream(self):
        # A client that assumes the switch and sends the HTTP/2 preface at once: the
        # request is answered in HTTP/1.1, and the preface is refused as a request line.
        c = self.connect()
        c.send(build_request("GET", "/echo?h2c", [("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                                                 ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
               + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 505, conn=c)
        self.assert_upstream_got_only(["/echo?h2c"])

    def test_valid_handshake_to_an_always_101_upstream_is_tunnelled(self):
        # The control for the refusals above: the same upstream, a handshake with a key.
        c = self.connect()
        c.send(ws_handshake("/always-101"))
        resp = c.read_final()
        self.assertEqual(resp.status, 101, resp.describe())
        c.send(b"ping")
        self.assertEqual(c.reader.read_exact(4), b"ping")

    def check_no_tunnel(self, c, first_target):
        """After a non-101 answer the connection speaks HTTP: frame bytes are a bad
        request line (400), and the upstream never receives them."""
        c.send(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58")  # a masked "Hello" frame
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 400, conn=c)
        self.assert_upstream_got_only([first_target])

    def test_upstream_answering_426_is_relayed_without_tunnel(self):
        c = self.connect()
        c.send(ws_handshake("/ws-426"))
        resp = c.read_final()
        self.assertEqual(resp.status, 426, resp.describe())
        self.assertEqual(resp.values("upgrade"), [], "Upgrade relayed on a 426: " + resp.describe())
        self.assertNotIn("upgrade", resp.tokens("connection"), resp.describe())
        self.assertEqual(resp.body, b"upgrade required\n")
        self.check_no_tunnel(c, "/ws-426")

    def test_upstream_answering_200_with_upgrade_fields_is_relayed_without_tunnel(self):
        target = "/set-headers?Upgrade=websocket&Connection=Upgrade"
        c = self.connect()
        c.send(ws_handshake(target))
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.values("upgrade"), [], resp.describe())
        self.check_no_tunnel(c, target)

    def test_upstream_switching_protocols_on_h2c_gets_502(self):
        # h2c is never tunnelled (forward.hpp): the upgrade fields are removed, and an
        # upstream that switches protocols anyway is answered with 502, not spliced to a
        # client that would then speak HTTP/2 past every check. ref: HAProxy answers 502
        # too; nginx, with the usual WebSocket settings, passes h2c on and tunnels.
        c = self.connect()
        c.send(build_request("GET", "/always-101", [("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                                                   ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        rec = self.up.requests[0]
        self.assertEqual(rec.values("upgrade"), [], rec.headers)
        self.assertEqual(rec.values("http2-settings"), [], rec.headers)

    def test_h2c_offered_with_websocket_is_not_tunnelled(self):
        # Offered among others, the upstream might pick h2c: the whole upgrade is dropped.
        c = self.connect()
        c.send(ws_handshake("/always-101", extra=[]).replace(b"Upgrade: websocket", b"Upgrade: websocket, h2c"))
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        self.assertEqual(self.up.requests[0].values("upgrade"), [])

    def test_upstream_switching_protocols_without_upgrade_request_gets_502(self):
        c = self.connect()
        c.send(build_request("GET", "/always-101") + b"raw bytes for a tunnel")
        resp = c.read_final(require_complete=False)
        self.assert_local_error(resp, 502, conn=c)
        self.assertEqual(self.up.bytes_received, len(self.up.requests[0].raw_head),
                         "bytes after the request reached the upstream")


_add_rejections(ExpectUpgradeTest, EXPECT_UPGRADE_REJECTIONS)


# ==== Gate bypass attempts ================================================================

RULES = [
    {"path_prefix": "/health", "action": "allow", "reason": "load balancer"},
    {"path": "/search", "methods": ["POST"], "action": "read", "reason": "search form"},
    {"path_prefix": "/hostonly", "host": "status.test.local", "action": "allow", "reason": "status host"},
]


class GateCase(HostileTestCase):
    """A maintgate with the gate closed (`mode`), the rules above, an operator network
    (192.0.2.0/24), a bypass secret, and `trusted_proxies` (10.0.0.0/8: not this
    test's peer)."""

    mode = "read-only"
    trusted_proxies = ["10.0.0.0/8"]
    start_default = False

    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory(prefix="maintgate-hostile-")
        self.addCleanup(tmp.cleanup)
        self.up = self.start_upstream(TrickUpstream)
        gate = {"initial_mode": self.mode, "state_file": os.path.join(tmp.name, "state.json"),
                "bypass_cidrs": ["192.0.2.0/24"], "bypass_secret": SECRET,
                "bypass_header": "X-Maintgate-Bypass", "bypass_path": BYPASS_PATH}
        self.proxy = self.start_proxy(self.up.port, {"gate": gate, "rule": RULES,
                                                     "forwarding": {"trusted_proxies": self.trusted_proxies}})

    def refused(self, method, target, headers=(), body=None, what=None):
        """The gate's 503, with the mode, and nothing reaches the upstream."""
        c = self.connect()
        resp = c.request(method, target, headers, body)
        d = "%s: %s" % (what or "%s %s" % (method, target), resp.describe())
        self.assertEqual(resp.status, 503, d)
        self.assertEqual(resp.value("x-maintgate-mode"), self.mode, d)
        self.assertIsNotNone(resp.value("retry-after"), d)
        self.assertEqual(resp.values("set-cookie"), [], d)
        self.assertEqual(self.up.requests, [], "%s reached the upstream" % (what or target))
        return c, resp

    def check_refused(self, cases):
        """cases: (what, method, target, headers, body); each refused, then only a
        marker reaches the upstream."""
        for what, method, target, headers, body in cases:
            with self.subTest(what=what):
                self.refused(method, target, headers, body, what)
        self.assert_only_marker_upstream()

    def assert_only_marker_upstream(self):
        """Nothing sent so far reached the upstream: a marker sent now under the allow
        rule (open in every mode) is the only request it parsed, and no other byte came."""
        self.assertEqual(self.up.requests, [], "the upstream received requests: %r" % self.up.requests)
        marker = "/health?marker=%d" % time.monotonic_ns()
        resp = self.connect().request("GET", marker)
        self.assertEqual(resp.status, 200, "marker: " + resp.describe())
        self.assert_upstream_got_only([marker])


class GateReadOnlyBypassTest(GateCase):
    mode = "read-only"

    def test_methods_outside_the_read_allow_list(self):
        # "post" and PURGE are in test_gate. A lower-case "get" is not GET: a write.
        self.check_refused([
            ("get", "get", "/echo", (), None),
            ("head lower case", "head", "/echo", (), None),
            ("Options", "Options", "/echo", (), None),
            ("PROPFIND", "PROPFIND", "/echo", (), b"<x/>"),
            ("M-SEARCH", "M-SEARCH", "/echo", (), None),
            ("BREW", "BREW", "/echo", (), b"coffee"),
        ])

    def test_dot_segments_against_the_exception(self):
        # test_gate has "/healthz/../api/write", "%2e%2e", "%2f..%2f" and "//healthz/../x".
        self.check_refused([(t, "POST", t, (), b"x=1") for t in (
            "//health", "//health/live", "/health/.%2e/api/write", "/health/%2e./api/write",
            "/health/..%5capi/write", "/health/%252e%252e/api/write", "/health/..;/api/write",
            "/health/%c0%ae%c0%ae/api/write", "/health/.../api/write", "/health/%2e%2e%2fapi/write",
            "http://test.local/health/../api/write")])

    def test_write_routes_that_resolve_into_the_exception(self):
        # The other direction: a write route, spelled so that resolving dot segments
        # gives the exception's path. The proxy forwards the target as it came, and a
        # backend that routes on the raw path (Express, Rack, Werkzeug, Django) would run
        # its /api/write handler. So no rule matches a path with a dot segment. ref:
        # HAProxy and nginx forward such a target unchanged too; the rule must not match.
        self.check_refused([(t, "POST", t, (), b"x=1") for t in (
            "/api/write/../../health", "/api/write/%2e%2e/%2e%2e/health",
            "/api%2fwrite%2f..%2f..%2fhealth", "/api\\write\\..\\..\\health",
            "/api/write/./../../health/live", "http://test.local/api/write/../../health")])

    def test_exception_still_matches_plain_spellings(self):
        # The control: the exception itself, spelled in ways every backend reads alike.
        targets = ["/health", "/health/live", "/%68ealth", "/health//live", "/health?x=../.."]
        for target in targets:
            with self.subTest(target=target):
                resp = self.connect().request("POST", target, body=b"x=1")
                self.assertEqual(resp.status, 200, "not forwarded: " + resp.describe())
                self.assertEqual(resp.json()["target"], target)
        self.assertEqual([r.target for r in self.up.requests], targets)

    def test_method_override_get_on_a_post(self):
        self.check_refused([
            ("X-HTTP-Method-Override: GET", "POST", "/echo", [("X-HTTP-Method-Override", "GET")], b"x=1"),
            ("X-HTTP-Method: GET", "POST", "/echo", [("X-HTTP-Method", "GET")], b"x=1"),
            ("X-Method-Override: GET", "POST", "/echo", [("X-Method-Override", "GET")], b"x=1"),
            ("_method=GET in the query", "POST", "/echo?_method=GET", (), b"x=1"),
        ])

    # The README (The gate): "X-HTTP-Method-Override tricks are writes". Rails, Laravel, Symfony,
    # Express's method-override and ASP.NET honour these fields, so the gate reads the
    # first of X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override too: a request is a
    # write when either method is, and a rule's `methods` must list both.
    def test_method_override_write_on_a_get(self):
        self.check_refused([
            ("X-HTTP-Method-Override: DELETE", "GET", "/echo", [("X-HTTP-Method-Override", "DELETE")], None),
        ])

    def test_method_override_variants_on_a_get(self):
        self.check_refused([
            ("X-HTTP-Method: PUT", "GET", "/echo", [("X-HTTP-Method", "PUT")], None),
            ("X-Method-Override: POST", "GET", "/echo", [("X-Method-Override", "POST")], None),
        ])

    def test_method_override_write_on_a_read_rule(self):
        # "/search" is a `read` rule for POST: a POST that says it is a DELETE is not one.
        self.check_refused([
            ("read rule + X-HTTP-Method-Override: DELETE", "POST", "/search",
             [("X-HTTP-Method-Override", "DELETE")], b"q=1"),
        ])

    def test_spoofed_forwarding_fields_from_an_untrusted_peer(self):
        # 127.0.0.1 is neither an operator nor a trusted proxy: what it claims about the
        # client's address is ignored by the gate (which reads the socket's peer only).
        self.check_refused([(name, "POST", "/echo", [(name, value)], b"x=1") for name, value in (
            ("X-Forwarded-For", "192.0.2.1"), ("X-Forwarded-For", "192.0.2.1, 10.1.2.3"),
            ("X-Real-IP", "192.0.2.1"), ("Forwarded", "for=192.0.2.1"), ("True-Client-IP", "192.0.2.1"),
            ("CF-Connecting-IP", "192.0.2.1"), ("X-Client-IP", "192.0.2.1"))])

    def test_bypass_header_near_misses(self):
        # test_gate has a wrong, a short and an empty secret, and the secret in another field.
        self.check_refused([(what, "POST", "/echo", headers, b"x=1") for what, headers in (
            ("secret with a suffix", [("X-Maintgate-Bypass", SECRET + "x")]),
            ("secret upper-cased", [("X-Maintgate-Bypass", SECRET.upper())]),
            ("wrong secret first of two", [("X-Maintgate-Bypass", "nope"), ("X-Maintgate-Bypass", SECRET)]),
            ("secret as a bearer token", [("Authorization", "Bearer " + SECRET)]),
            ("secret in a cookie of the header's name", [("Cookie", "X-Maintgate-Bypass=" + SECRET)]),
        )] + [("secret in the query", "POST", "/echo?x-maintgate-bypass=" + SECRET, (), b"x=1")])

    def test_absolute_form_cannot_borrow_the_host_of_a_host_rule(self):
        # "/hostonly" is open only on status.test.local. A target naming one host and a
        # Host field naming the other is refused before the gate looks at either, so
        # neither the rule nor a cache keyed on the other name can be fooled.
        for raw in (b"POST http://test.local/hostonly HTTP/1.1\r\nHost: status.test.local\r\n"
                    b"Content-Length: 3\r\n\r\nx=1",
                    b"POST http://status.test.local/hostonly HTTP/1.1\r\nHost: test.local\r\n"
                    b"Content-Length: 3\r\n\r\nx=1",
                    b"POST http://status.test.local/hostonly HTTP/1.1\r\nContent-Length: 3\r\n\r\nx=1"):
            with self.subTest(raw=raw[:60]):
                self.reject(raw, 400)
        self.check_refused([("host rule, other host", "POST", "/hostonly", [], b"x=1")])

    def test_host_rule_control(self):
        # The control: the rule's own host, plain and in absolute-form, is let through.
        for raw in (build_request("POST", "/hostonly?plain", body=b"x=1", host="status.test.local"),
                    build_request("POST", "http://status.test.local/hostonly?absolute", body=b"x=1",
                                  host="status.test.local")):
            c = self.connect()
            c.send(raw)
            resp = c.read_final(method="POST")
            self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual([r.target for r in self.up.requests], ["/hostonly?plain", "/hostonly?absolute"])

    def test_http10_absolute_form_without_host_is_judged_on_the_host_it_is_sent_with(self):
        # HTTP/1.0 needs no Host: the target's authority is the host, for the gate as for
        # the upstream, so the rule and the app never disagree about which host it was.
        for authority, forwarded in (("status.test.local", True), ("test.local", False)):
            with self.subTest(authority=authority):
                self.up.clear()
                c = self.connect()
                c.send(b"POST http://%s/hostonly HTTP/1.0\r\nContent-Length: 3\r\n\r\nx=1" % authority.encode())
                resp = c.read_final(method="POST")
                if forwarded:
                    self.assertEqual(resp.status, 200, resp.describe())
                    self.up.wait_requests(1)
                    self.assertEqual(self.up.requests[0].values("host"), [authority])
                else:
                    self.assertEqual(resp.status, 503, resp.describe())
                    self.assertEqual(self.up.requests, [])

    def test_forwarded_x_forwarded_for_is_the_real_peer(self):
        # What the app is told about the client on a read that is let through: the
        # claim of an untrusted peer is replaced, not appended to, so an app that takes
        # the first address (most do) sees the real one. ref: nginx's
        # $proxy_add_x_forwarded_for and HAProxy's "option forwardfor" append the peer
        # to whatever the client sent (test_hostile_compare).
        resp = self.connect().request("GET", "/echo", [("X-Forwarded-For", "192.0.2.1"),
                                                       ("X-Forwarded-For", "192.0.2.2, 10.0.0.1")])
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(self.up.requests[0].values("x-forwarded-for"), ["127.0.0.1"])

    def test_forged_and_expired_cookies_in_read_only(self):
        # test_gate and the maintenance class below cover cookies in maintenance; the
        # same verdicts hold for writes in read-only.
        now = int(time.time())
        good = cookie_value(SECRET, str(now + 3600))
        expiry, mac = good.split(".")
        flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
        self.check_refused([(what, "POST", "/echo", [("Cookie", "maintgate_bypass=" + value)], b"x=1")
                            for what, value in (
                                ("expired a second ago", cookie_value(SECRET, str(now - 1))),
                                ("expired long ago", cookie_value(SECRET, "1")),
                                ("expiry zero", cookie_value(SECRET, "0")),
                                ("MAC of another expiry", str(now + 7200) + "." + mac),
                                ("last MAC digit changed", expiry + "." + flipped),
                                ("MAC upper-cased and changed", expiry + "." + flipped.upper()),
                                ("MAC of the empty string", expiry + "." + hmac.new(
                                    SECRET.encode(), b"", hashlib.sha256).hexdigest()),
                                ("MAC without the prefix", expiry + "." + hmac.new(
                                    SECRET.encode(), expiry.encode(), hashlib.sha256).hexdigest()),
                                ("negative expiry", cookie_value(SECRET, "-1")),
                                ("empty", ""),
                                ("just a dot", "."),
                            )])

    def test_cookie_control_in_read_only(self):
        cookie = "maintgate_bypass=" + cookie_value(SECRET, str(int(time.time()) + 3600))
        resp = self.connect().request("POST", "/echo", [("Cookie", cookie)], b"x=1")
        self.assertEqual(resp.status, 200, resp.describe())

    def test_pipelined_request_in_a_refused_body_is_never_forwarded(self):
        # The refused write's body is read and dropped to keep the connection (as nginx
        # does): a request inside it is body bytes, never a request of its own.
        for what, raw in (
                ("content-length", POST + b"Content-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED),
                ("chunked", CHUNKED + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n")):
            with self.subTest(body=what):
                c = self.connect()
                c.send(raw)
                resp = c.read_final(method="POST")
                self.assertEqual(resp.status, 503, resp.describe())
                self.assertNotIn("close", resp.tokens("connection"), resp.describe())
                resp = c.request("GET", "/echo?next")
                self.assertEqual(resp.json()["target"], "/echo?next")
        self.assert_upstream_got_only(["/echo?next", "/echo?next"])

    def test_upgrade_is_a_write_and_a_write_pipelined_after_it_is_refused(self):
        # An upgrade opens a channel that can carry writes, so read-only refuses it like
        # a write (policy::decide); what is pipelined after it is gated on its own.
        # (An upstream refusing an upgrade with 426 leaves no tunnel either: see
        # ExpectUpgradeTest, in open mode.)
        c = self.connect()
        c.send(ws_handshake("/ws-426") + build_request("POST", "/echo?smuggled", body=b"x=1"))
        resp = c.read_final()
        self.assertEqual(resp.status, 503, resp.describe())
        resp = c.read_final(method="POST")
        self.assertEqual(resp.status, 503, "the pipelined write was not gated: " + resp.describe())
        self.assert_upstream_untouched()


class GateMaintenanceBypassTest(GateCase):
    mode = "maintenance"

    def test_write_routes_that_resolve_into_the_allow_rule(self):
        self.check_refused([(t, m, t, (), b) for m, b in (("GET", None), ("POST", b"x=1")) for t in (
            "/echo/../health", "/api/write/../../health/live", "/./health")])

    def test_stolen_cookie_bent_out_of_shape(self):
        # test_gate has altered, expired, truncated and foreign cookies. These start from
        # a cookie maintgate issued (a stolen one, say) and change what needs no secret:
        # how the expiry is written, where the value goes, the name.
        now = int(time.time())
        good = cookie_value(SECRET, str(now + 3600))
        expiry, mac = good.split(".")
        cases = [(what, [("Cookie", "maintgate_bypass=" + value)]) for what, value in (
            ("expiry with a leading zero", "0" + good),
            ("expiry with a plus sign", "+" + good),
            ("expiry with a space", expiry + " ." + mac),
            ("MAC with a suffix", good + "0"),
            ("MAC twice", good + mac),
            ("replayed at its expiry", cookie_value(SECRET, str(now))),
        )]
        cases += [
            ("cookie name with a suffix", [("Cookie", "maintgate_bypass2=" + good)]),
            ("cookie name with a prefix", [("Cookie", "xmaintgate_bypass=" + good)]),
            ("cookie value in the bypass header", [("X-Maintgate-Bypass", good)]),
        ]
        self.check_refused([(what, "POST", "/echo", headers, b"x=1") for what, headers in cases])

    def test_stolen_cookie_control(self):
        # The control for the cases above: the cookie as issued passes.
        cookie = "maintgate_bypass=" + cookie_value(SECRET, str(int(time.time()) + 3600))
        resp = self.connect().request("POST", "/echo", [("Cookie", cookie)], b"x=1")
        self.assertEqual(resp.status, 200, resp.describe())

    def test_secret_url_near_misses_grant_nothing(self):
        # Only GET of exactly bypass_path/<secret> sets the cookie.
        self.check_refused([(what, method, target, (), None) for what, method, target in (
            ("POST", "POST", "%s/%s" % (BYPASS_PATH, SECRET)),
            ("HEAD", "HEAD", "%s/%s" % (BYPASS_PATH, SECRET)),
            ("percent-encoded secret", "GET", "%s/%%%02x%s" % (BYPASS_PATH, ord(SECRET[0]), SECRET[1:])),
            ("trailing slash", "GET", "%s/%s/" % (BYPASS_PATH, SECRET)),
            ("dot segment after", "GET", "%s/%s/../x" % (BYPASS_PATH, SECRET)),
            ("prefix before", "GET", "/x%s/%s" % (BYPASS_PATH, SECRET)),
            ("absolute-form", "GET", "http://test.local%s/%s" % (BYPASS_PATH, SECRET)),
            ("secret prefix", "GET", "%s/%s" % (BYPASS_PATH, SECRET[:-1])),
        )])

    def test_spoofed_operator_address(self):
        self.check_refused([(name, "GET", "/echo", [(name, value)], None) for name, value in (
            ("X-Forwarded-For", "192.0.2.1"), ("X-Real-IP", "192.0.2.1"), ("Forwarded", "for=192.0.2.1"))])


class GateBehindTrustedProxyTest(GateCase):
    """127.0.0.1 is a trusted proxy here (say a load balancer), and the client it
    speaks for claims an operator address. The gate reads the socket's peer only
    (policy::request_view.peer): an address in X-Forwarded-For, however the chain is
    arranged, is never an operator, not even from a trusted peer. The forwarded field
    keeps the chain and appends the real peer."""

    mode = "maintenance"
    trusted_proxies = ["10.0.0.0/8", "127.0.0.1/32"]

    def test_operator_address_in_x_forwarded_for_gets_nothing(self):
        self.check_refused([(what, method, "/echo", [("X-Forwarded-For", value)], body)
                            for method, body in (("GET", None), ("POST", b"x=1"))
                            for what, value in (
                                ("the operator alone", "192.0.2.1"),
                                ("the operator last", "203.0.113.9, 192.0.2.1"),
                                ("the operator first", "192.0.2.1, 203.0.113.9"),
                                ("the operator with a port", "192.0.2.1:443"),
                                ("the operator in brackets", "[192.0.2.1]"))])

    def test_other_client_address_fields_get_nothing(self):
        self.check_refused([(name, "POST", "/echo", [(name, value)], b"x=1") for name, value in (
            ("X-Real-IP", "192.0.2.1"), ("Forwarded", "for=192.0.2.1"), ("True-Client-IP", "192.0.2.1"))])

    def test_the_chain_is_kept_and_the_peer_appended(self):
        resp = self.connect().request("GET", "/health", [("X-Forwarded-For", "203.0.113.9, 192.0.2.1")])
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(", ".join(self.up.requests[0].values("x-forwarded-for")), "203.0.113.9, 192.0.2.1, 127.0.0.1")


if __name__ == "__main__":
    unittest.main()
