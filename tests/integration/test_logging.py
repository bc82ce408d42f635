"""The access log: one line per request, in combined or JSON format, written off the
data path, and safe against client-controlled bytes."""

import json
import os
import re
import tempfile
import unittest

from harness import ProxyTestCase, poll_until

COMBINED_RE = re.compile(
    r'^(?P<peer>\S+) - - \[(?P<time>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] '
    r'"(?P<request>[^"\\]*(?:\\.[^"\\]*)*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"\\]*(?:\\.[^"\\]*)*)" "(?P<ua>[^"\\]*(?:\\.[^"\\]*)*)"$')


class AccessLogCase(ProxyTestCase):
    start_default = False
    access_format = "combined"

    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.log_path = os.path.join(self.dir.name, "access.log")
        self.up = self.start_upstream()
        self.proxy = self.start_proxy(self.up.port, {
            "log": {"access": self.log_path, "access_format": self.access_format}})

    def log_lines(self, count):
        """Waits until the log has at least count lines (it is written asynchronously)."""
        def read():
            if not os.path.exists(self.log_path):
                return []
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace").splitlines()
        poll_until(lambda: len(read()) >= count, timeout=10.0, what="%d access log lines" % count)
        return read()


class CombinedLogTest(AccessLogCase):

    def test_one_line_per_request_with_status_and_bytes(self):
        c = self.connect()
        self.assertEqual(c.request("GET", "/bytes/1234", [("Referer", "http://r.example/"),
                                                          ("User-Agent", "t/1")]).status, 200)
        self.assertEqual(c.request("HEAD", "/head").status, 200)
        resp = c.request("GET", "/status/404")
        self.assertEqual(resp.status, 404)
        bad = self.connect()
        bad.send(b"GET /a HTTP/1.1\r\n\r\n")  # no Host: answered locally
        self.assertEqual(bad.read_final().status, 400)
        lines = self.log_lines(3)
        parsed = [COMBINED_RE.match(line) for line in lines]
        self.assertTrue(all(parsed), "not combined format: %r" % lines)
        first = parsed[0]
        self.assertEqual(first["peer"], "127.0.0.1")
        self.assertEqual(first["request"], "GET /bytes/1234 HTTP/1.1")
        self.assertEqual((first["status"], first["bytes"]), ("200", "1234"))
        self.assertEqual((first["referer"], first["ua"]), ("http://r.example/", "t/1"))
        self.assertEqual((parsed[1]["request"], parsed[1]["bytes"]), ("HEAD /head HTTP/1.1", "0"))
        self.assertEqual(parsed[2]["status"], "404")

    def test_client_bytes_cannot_forge_fields_or_lines(self):
        # A quote would end the field early; raw non-ASCII bytes could upset a terminal or
        # a log pipeline. (Control bytes never get this far: they are a framing error.)
        c = self.connect()
        resp = c.request("GET", "/echo", [("User-Agent", 'evil" 200 999 "x\\ caf\u00e9')])
        self.assertEqual(resp.status, 200)
        lines = self.log_lines(1)
        self.assertEqual(len(lines), 1, lines)
        m = COMBINED_RE.match(lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m["ua"], 'evil\\" 200 999 \\"x\\\\ caf\\xe9')


class JsonLogTest(AccessLogCase):
    access_format = "json"

    def test_json_lines(self):
        c = self.connect()
        self.assertEqual(c.request("POST", "/echo", [("User-Agent", 'q"\\ caf\u00e9')], body=b"abc").status, 200)
        self.assertEqual(c.request("GET", "/bytes/10").status, 200)
        records = [json.loads(line) for line in self.log_lines(2)]
        self.assertEqual(records[0]["method"], "POST")
        self.assertEqual(records[0]["target"], "/echo")
        self.assertEqual(records[0]["status"], 200)
        self.assertEqual(records[0]["remote"], "127.0.0.1")
        self.assertEqual(records[0]["user_agent"], 'q"\\ caf\u00e9')
        self.assertEqual(records[0]["version"], "1.1")
        self.assertRegex(records[0]["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsInstance(records[0]["duration_ms"], float)
        self.assertEqual((records[1]["target"], records[1]["bytes"]), ("/bytes/10", 10))


if __name__ == "__main__":
    unittest.main()
