"""Upstream faults: refused, silent, unreachable, reset, truncated and invalid
responses, and the retry rules (an idempotent request is retried once, on a fresh
connection, only when a reused pooled connection failed before any response byte;
never a non-idempotent one)."""

import time
import unittest

from harness import ProxyTestCase, build_request
from upstream import Blackhole, FullBacklog, refusing_port


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


if __name__ == "__main__":
    unittest.main()
