"""Forwarding through the real proxy: keep-alive, pooling, pipelining, bodies in both
framings, HTTP/1.0 clients, bodiless responses, 1xx and Expect: 100-continue, curl."""

import hashlib
import json
import os
import tempfile
import threading
import time
import unittest

from harness import ClientConn, ProxyTestCase, build_request, curl
from wire import pattern_bytes, pattern_sha256


def sha(data):
    return hashlib.sha256(data).hexdigest()


class ForwardingTest(ProxyTestCase):

    # ---- keep-alive and pooling ------------------------------------------------------

    def test_get_keepalive_one_client_connection_one_upstream_connection(self):
        c = self.connect()
        for i in range(50):
            resp = c.request("GET", "/echo?i=%d" % i)
            self.assertEqual(resp.status, 200, resp.describe())
            self.assertEqual(resp.json()["target"], "/echo?i=%d" % i)
            self.assertNotIn("close", resp.tokens("connection"), resp.describe())
        c.assert_open()
        self.up.wait_requests(50)
        self.assertEqual(len(self.up.requests), 50)
        # Sequential requests from one client reuse one pooled upstream connection.
        self.assertLessEqual(self.up.connections, 2,
                             "50 sequential requests opened %d upstream connections" % self.up.connections)

    def test_get_head_post_mixed_on_one_connection(self):
        c = self.connect()
        for i in range(10):
            body = b"x" * (i * 1000 + 1)
            resp = c.request("POST", "/echo", body=body)
            self.assertEqual(resp.status, 200, resp.describe())
            self.assertEqual(resp.json()["body_len"], len(body))
            self.assertEqual(resp.json()["body_sha256"], sha(body))
            resp = c.request("HEAD", "/head")
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.value("content-length"), "1234", resp.describe())
            resp = c.request("GET", "/bytes/%d" % (i * 777))
            self.assertEqual(resp.body, pattern_bytes(i * 777))
        c.assert_open()
        self.assertEqual(self.up.errors, [])
        self.assertLessEqual(self.up.connections, 2)

    def test_upstream_connections_pooled_across_client_connections(self):
        for i in range(6):
            c = self.connect()
            for j in range(5):
                resp = c.request("GET", "/echo?c=%d&r=%d" % (i, j))
                self.assertEqual(resp.status, 200)
            c.close()
        self.up.wait_requests(30)
        # One pool per worker (2 workers): never more than one connection per worker
        # for strictly sequential traffic.
        self.assertLessEqual(self.up.connections, 2,
                             "30 sequential requests over 6 client connections opened %d "
                             "upstream connections" % self.up.connections)

    def test_concurrent_clients(self):
        # 16 clients at once, 20 requests each, bodies unique per request: every
        # response must belong to its own request (no cross-talk through the pool).
        errors = []

        def client(n):
            try:
                c = ClientConn(self.proxy.port)
                try:
                    for i in range(20):
                        body = b"client %d request %d " % (n, i) * (i + 1)
                        resp = c.request("POST", "/echo?c=%d&i=%d" % (n, i), body=body)
                        data = resp.json()
                        if resp.status != 200 or data["target"] != "/echo?c=%d&i=%d" % (n, i) \
                                or data["body_sha256"] != sha(body):
                            errors.append("client %d request %d: %s" % (n, i, resp.describe()))
                            return
                finally:
                    c.close()
            except Exception as e:  # reported below, with the client number
                errors.append("client %d: %r" % (n, e))

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "clients still running after 120 s")
        self.assertEqual(errors, [])
        self.assertEqual(len(self.up.complete_requests), 16 * 20)
        self.assertLessEqual(self.up.connections, 16 + 2)

    def test_pipelining_ten_requests_in_one_write(self):
        c = self.connect()
        wire = b""
        expected = []
        for i in range(10):
            if i == 3:
                wire += build_request("HEAD", "/bytes/500")
                expected.append(("HEAD", "/bytes/500"))
            elif i == 6:
                wire += build_request("POST", "/echo?i=6", body=b"pipelined body")
                expected.append(("POST", "/echo?i=6"))
            else:
                wire += build_request("GET", "/echo?i=%d" % i)
                expected.append(("GET", "/echo?i=%d" % i))
        c.send(wire)
        for method, target in expected:
            resp = c.read_final(method=method)
            self.assertEqual(resp.status, 200, resp.describe())
            if method == "HEAD":
                self.assertEqual(resp.value("content-length"), "500")
            else:
                data = resp.json()
                self.assertEqual((data["method"], data["target"]), (method, target),
                                 "responses out of order")
                if method == "POST":
                    self.assertEqual(data["body_len"], len(b"pipelined body"))
        c.assert_open()
        self.assertEqual([(r.method, r.target) for r in self.up.requests], expected)

    # ---- bodies ----------------------------------------------------------------------

    def test_chunked_request_body_reaches_upstream_complete(self):
        c = self.connect()
        chunks = [b"a" * 1, b"b" * 100, b"c" * 5000, b"d" * 70000, b"e" * 3]
        body = b"".join(chunks)
        wire = (b"POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in chunks[:2])
                + b"%x;ext=1\r\n%s\r\n" % (len(chunks[2]), chunks[2])
                + b"".join(b"%X\r\n%s\r\n" % (len(x), x) for x in chunks[3:])
                + b"0\r\n\r\n")
        c.send(wire)
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["body_len"], len(body))
        self.assertEqual(resp.json()["body_sha256"], sha(body))
        rec = self.up.requests[0]
        self.assertTrue(rec.complete)
        self.assertEqual((rec.body_len, rec.body_sha256), (len(body), sha(body)))
        c.assert_open()

    def test_chunked_request_split_at_every_framing_boundary(self):
        # The proxy must keep the chunked framing in step whatever its reads return. The
        # first chunk's data is itself a request: if the framing slips, it would reach
        # the upstream as one (request smuggling).
        inner = b"GET /echo?smuggled HTTP/1.1\r\nHost: test.local\r\n\r\n"
        head = b"POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
        first = b"%x\r\n%s\r\n" % (len(inner), inner)
        wire = head + first + b"5\r\nhello\r\n0\r\n\r\n"
        body = inner + b"hello"
        splits = {
            "after the head": len(head),
            "inside a chunk-size line": len(head) + 1,
            "after a chunk-size line": len(head) + 4,
            "inside chunk data": len(head) + 10,
            "before the CRLF after chunk data": len(head) + len(first) - 2,
            "between that CR and LF": len(head) + len(first) - 1,
            "before the last chunk": len(wire) - 5,
            "before the final CRLF": len(wire) - 2,
        }
        for where, at in splits.items():
            with self.subTest(split=where):
                c = self.connect()
                c.send(wire[:at])
                time.sleep(0.2)  # two separate reads on the proxy: the shape under test
                c.send(wire[at:])
                resp = c.read_final()
                self.assertEqual(resp.status, 200, resp.describe())
                self.assertEqual((resp.json()["body_len"], resp.json()["body_sha256"]),
                                 (len(body), sha(body)), "split %s: body changed" % where)
                c.close()
        self.assertEqual(self.up.errors, [], "the upstream saw broken framing")
        self.assertEqual([r.target for r in self.up.requests], ["/echo"] * len(splits))

    def test_chunked_request_trickled_byte_by_byte(self):
        c = self.connect()
        wire = (b"POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\na;x=y\r\n0123456789\r\n0\r\n\r\n")
        head_len = wire.index(b"\r\n\r\n") + 4
        c.send(wire[:head_len])
        for i in range(head_len, len(wire)):
            c.send(wire[i:i + 1])
            time.sleep(0.02)  # one byte per segment: the shape under test
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["body_len"], 13)
        self.assertEqual(resp.json()["body_sha256"], sha(b"abc0123456789"))
        self.assertEqual(self.up.errors, [])

    def test_chunked_request_with_trailer_fields(self):
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["body_len"], 5)
        # The next request on the connection still parses (the trailer was consumed).
        resp = c.request("GET", "/echo?after")
        self.assertEqual(resp.json()["target"], "/echo?after")

    def test_content_length_request_body_in_pieces(self):
        c = self.connect()
        body = pattern_bytes(300000)
        c.send(b"PUT /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 300000\r\n\r\n")
        for i in range(0, len(body), 65536):
            c.send(body[i:i + 65536])
        resp = c.read_final()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json()["body_len"], 300000)
        self.assertEqual(resp.json()["body_sha256"], sha(body))

    def test_chunked_response(self):
        c = self.connect()
        resp = c.request("GET", "/chunked/200000")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.framing, "chunked", resp.describe())
        self.assertEqual(resp.body_len, 200000)
        self.assertEqual(resp.body_sha256, pattern_sha256(200000))
        resp = c.request("GET", "/echo?next")
        self.assertEqual(resp.status, 200)

    def test_chunked_response_with_trailer(self):
        c = self.connect()
        c.send(build_request("GET", "/chunked/5000?trailer=1", [("TE", "trailers")]))
        resp = c.read_final()
        self.assertEqual(resp.body_len, 5000)
        self.assertEqual(resp.body_sha256, pattern_sha256(5000))
        c.request("GET", "/echo")

    def test_close_delimited_upstream_response_is_chunked_to_http11_client(self):
        c = self.connect()
        resp = c.request("GET", "/close/150000")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.framing, "chunked",
                         "a close-delimited upstream body must reach an HTTP/1.1 client chunked: "
                         + resp.describe())
        self.assertEqual(resp.body_len, 150000)
        self.assertEqual(resp.body_sha256, pattern_sha256(150000))
        # The client connection survives (the upstream one is the one that closed).
        resp = c.request("GET", "/echo?after-close")
        self.assertEqual(resp.status, 200)

    # ---- HTTP/1.0 clients ------------------------------------------------------------

    def test_http10_client_without_keepalive(self):
        c = self.connect()
        c.send(b"GET /echo?v=10 HTTP/1.0\r\nHost: test.local\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertIn(resp.version, ("HTTP/1.0", "HTTP/1.1"))
        self.assertEqual(resp.values("transfer-encoding"), [], "chunked sent to an HTTP/1.0 client")
        self.assertEqual(resp.json()["target"], "/echo?v=10")
        c.assert_closed(what="an HTTP/1.0 connection without keep-alive")
        rec = self.up.requests[0]
        self.assertEqual(rec.version, "HTTP/1.1", "the upstream connection is always HTTP/1.1")

    def test_http10_client_with_keepalive(self):
        c = self.connect()
        for i in range(3):
            c.send(b"GET /echo?i=%d HTTP/1.0\r\nHost: test.local\r\nConnection: keep-alive\r\n\r\n" % i)
            resp = c.read_final()
            self.assertEqual(resp.status, 200, resp.describe())
            self.assertIn("keep-alive", resp.tokens("connection"),
                          "an HTTP/1.0 keep-alive reply must say Connection: keep-alive: "
                          + resp.describe())
            self.assertEqual(resp.framing, "content-length", resp.describe())
            self.assertEqual(resp.json()["target"], "/echo?i=%d" % i)
        c.assert_open()

    def test_http10_client_gets_chunked_upstream_body_unchunked(self):
        c = self.connect()
        c.send(b"GET /chunked/70000 HTTP/1.0\r\nHost: test.local\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.values("transfer-encoding"), [], resp.describe())
        self.assertEqual(resp.body_len, 70000)
        self.assertEqual(resp.body_sha256, pattern_sha256(70000))
        c.assert_closed()

    def test_http10_keepalive_client_with_chunked_upstream_body(self):
        # The length is unknown up front: the proxy must fall back to closing.
        c = self.connect()
        c.send(b"GET /chunked/7000 HTTP/1.0\r\nHost: test.local\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.values("transfer-encoding"), [], resp.describe())
        self.assertEqual(resp.body_len, 7000)
        self.assertEqual(resp.body_sha256, pattern_sha256(7000))
        if resp.framing == "close":
            c.assert_closed()

    def test_http10_client_gets_no_interim_response(self):
        c = self.connect()
        c.send(b"GET /interim HTTP/1.0\r\nHost: test.local\r\n\r\n")
        resp = c.read_final()
        self.assertEqual(resp.interims, [], "1xx sent to an HTTP/1.0 client (RFC 9110 15.2)")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"final\n")

    # ---- bodiless responses ----------------------------------------------------------

    def test_head_has_no_body(self):
        c = self.connect()
        for target in ("/head", "/bytes/4096", "/chunked/4096", "/echo"):
            resp = c.request("HEAD", target)
            self.assertEqual(resp.status, 200, resp.describe())
        resp = c.request("HEAD", "/head")
        self.assertEqual(resp.value("content-length"), "1234")
        # No stray body bytes: the next response parses.
        resp = c.request("GET", "/head")
        self.assertEqual(resp.body, pattern_bytes(1234))
        c.assert_open()

    def test_204_and_304_have_no_body(self):
        c = self.connect()
        for status in (204, 304, 204):
            resp = c.request("GET", "/status/%d" % status)
            self.assertEqual(resp.status, status)
            self.assertEqual(resp.values("transfer-encoding"), [], resp.describe())
            if status == 204:
                self.assertIn(resp.values("content-length"), ([], ["0"]), resp.describe())
            resp = c.request("GET", "/echo?after=%d" % status)
            self.assertEqual(resp.json()["target"], "/echo?after=%d" % status)
        c.assert_open()

    def test_other_statuses_are_relayed(self):
        c = self.connect()
        for status in (201, 400, 404, 418, 500, 503):
            resp = c.request("GET", "/status/%d" % status)
            self.assertEqual(resp.status, status)
            self.assertEqual(resp.body, b"status %d\n" % status)

    # ---- 1xx -------------------------------------------------------------------------

    def test_103_early_hints_relayed_before_200(self):
        c = self.connect()
        c.send(build_request("GET", "/interim"))
        resp = c.read_final()
        self.assertEqual([i.status for i in resp.interims], [103], resp.describe())
        self.assertEqual(resp.interims[0].values("link"), ["</style.css>; rel=preload; as=style"])
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"final\n")
        c.request("GET", "/echo")

    def test_expect_100_continue_accepted(self):
        c = self.connect()
        body = pattern_bytes(100000)
        c.send(b"POST /expect HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100000\r\n"
               b"Expect: 100-continue\r\n\r\n")
        interim = c.read_response()
        self.assertEqual(interim.status, 100, "expected 100 Continue first: " + interim.describe())
        c.send(body)
        resp = c.read_final()
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.json()["body_len"], 100000)
        self.assertEqual(resp.json()["body_sha256"], sha(body))
        rec = self.up.requests[0]
        self.assertTrue(rec.complete)
        c.request("GET", "/echo?after-expect")

    def test_expect_100_continue_rejected_final_status_without_body(self):
        c = self.connect()
        c.send(b"POST /expect-reject HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100000\r\n"
               b"Expect: 100-continue\r\n\r\n")
        resp = c.read_final()
        # The client never sent the body, yet gets the upstream's final status.
        self.assertEqual(resp.interims, [],
                         "100 Continue sent although the upstream refused: " + resp.describe())
        self.assertEqual(resp.status, 401, resp.describe())
        self.assertEqual(resp.body, b"no\n")
        rec = self.up.requests[0]
        self.assertFalse(rec.complete)
        self.assertEqual(rec.body_len, 0)

    # ---- curl as a real client -------------------------------------------------------

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.proxy.port, path)

    def test_curl_get(self):
        code, out, err = curl("-i", self.url("/bytes/100000"), "-o", "/dev/null",
                              "-w", "%{http_code} %{size_download} %{num_connects}")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"200 100000 1")

    def test_curl_post_upload(self):
        with tempfile.NamedTemporaryFile() as f:
            data = pattern_bytes(3 * 1024 * 1024 + 17)
            f.write(data)
            f.flush()
            code, out, err = curl("-H", "Expect:", "--data-binary", "@" + f.name, self.url("/upload"))
            self.assertEqual(code, 0, err)
            self.assertEqual(eval_json(out), {"body_len": len(data), "body_sha256": sha(data)})
            # Chunked upload, as curl does for a stream of unknown length.
            code, out, err = curl("-H", "Transfer-Encoding: chunked", "-H", "Expect:",
                                  "--data-binary", "@" + f.name, self.url("/upload"))
            self.assertEqual(code, 0, err)
            self.assertEqual(eval_json(out), {"body_len": len(data), "body_sha256": sha(data)})

    def test_curl_expect_100_continue(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"z" * 200000)
            f.flush()
            code, out, err = curl("-v", "-H", "Expect: 100-continue", "--expect100-timeout", "30",
                                  "--data-binary", "@" + f.name, self.url("/expect"))
            self.assertEqual(code, 0, err)
            self.assertIn("< HTTP/1.1 100 Continue", err)
            self.assertEqual(eval_json(out)["body_len"], 200000)

    def test_curl_expect_rejected(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"z" * 200000)
            f.flush()
            code, out, err = curl("-v", "-H", "Expect: 100-continue", "--expect100-timeout", "30",
                                  "--data-binary", "@" + f.name, "-o", os.devnull,
                                  "-w", "%{http_code}", self.url("/expect-reject"))
            self.assertEqual(code, 0, err)
            self.assertEqual(out, b"401")
            self.assertNotIn("< HTTP/1.1 100", err)
        rec = self.up.requests[0]
        self.assertEqual(rec.body_len, 0, "the body reached the upstream after a rejection")

    def test_curl_keepalive_reuses_connection(self):
        code, out, err = curl("-v", self.url("/echo?a"), self.url("/echo?b"), self.url("/echo?c"))
        self.assertEqual(code, 0, err)
        self.assertEqual(err.count("Re-using existing connection") + err.count("Reusing existing connection"), 2, err)


class MultiListenerTest(ProxyTestCase):
    start_default = False

    def test_every_listener_serves(self):
        self.up = self.start_upstream()
        self.proxy = self.start_proxy(self.up.port, listeners=2)
        self.assertEqual(len(set(self.proxy.ports)), 2, self.proxy.output())
        for port in self.proxy.ports:
            c = self.connect(port=port)
            resp = c.request("GET", "/echo?port=%d" % port)
            self.assertEqual(resp.json()["target"], "/echo?port=%d" % port)


def eval_json(data):
    try:
        return json.loads(data)
    except ValueError:
        raise AssertionError("expected a JSON body, curl printed %r" % data[:500])


if __name__ == "__main__":
    unittest.main()
