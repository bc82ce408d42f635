"""1 GiB bodies through the proxy in both directions and both framings, checked
end to end by sha256, with the proxy's peak RSS (VmHWM) staying under 64 MiB:
bodies are streamed through bounded buffers, never accumulated."""

import json
import unittest

from harness import ProxyTestCase, build_request
from wire import pattern_sha256, pattern_slices

GIB = 1 << 30
PEAK_RSS_LIMIT_KIB = 64 * 1024
# A stalled transfer fails after this, a slow machine does not.
IO_TIMEOUT = 120.0


class StreamingTest(ProxyTestCase):

    def assert_memory_bounded(self):
        rss, hwm = self.proxy.memory_kib()
        self.assertLess(hwm, PEAK_RSS_LIMIT_KIB,
                        "proxy peak RSS %d KiB (current %d KiB) after a 1 GiB transfer" % (hwm, rss))

    def upload(self, chunked):
        c = self.connect(timeout=IO_TIMEOUT)
        if chunked:
            c.send(build_request("POST", "/upload", [("Transfer-Encoding", "chunked")]))

            def pieces():
                for view in pattern_slices(GIB):
                    yield b"%x\r\n" % len(view)
                    yield view
                    yield b"\r\n"
                yield b"0\r\n\r\n"
        else:
            c.send(build_request("POST", "/upload", [("Content-Length", str(GIB))]))
            pieces = lambda: pattern_slices(GIB)  # noqa: E731
        sender = c.start_sender(pieces())
        resp = c.read_final()
        sender.join(IO_TIMEOUT)
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertIsNone(sender.error, "sending the body failed: %r" % sender.error)
        self.assertGreaterEqual(sender.sent, GIB)
        self.assertEqual(json.loads(resp.body), {"body_len": GIB, "body_sha256": pattern_sha256(GIB)})
        rec = self.up.requests[0]
        self.assertTrue(rec.complete)
        self.assert_memory_bounded()
        # The connection is still usable afterwards.
        self.assertEqual(c.request("GET", "/echo?after").status, 200)

    def download(self, target):
        c = self.connect(timeout=IO_TIMEOUT)
        c.send(build_request("GET", target))
        resp = c.read_final(keep_body=False)
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.body_len, GIB, resp.describe())
        self.assertEqual(resp.body_sha256, pattern_sha256(GIB))
        self.assert_memory_bounded()
        self.assertEqual(c.request("GET", "/echo?after").status, 200)
        return resp

    def test_upload_1gib_content_length(self):
        self.upload(chunked=False)

    def test_upload_1gib_chunked(self):
        self.upload(chunked=True)

    def test_download_1gib_content_length(self):
        resp = self.download("/bytes/%d" % GIB)
        self.assertEqual(resp.framing, "content-length")
        self.assertEqual(resp.value("content-length"), str(GIB))

    def test_download_1gib_chunked(self):
        resp = self.download("/chunked/%d" % GIB)
        self.assertEqual(resp.framing, "chunked")


if __name__ == "__main__":
    unittest.main()
