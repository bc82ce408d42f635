"""The command line: --version, --help, `check` and `run` on good and bad configs."""

import os
import re
import tempfile
import time
import unittest

from harness import LISTENING_RE, run_cli

GOOD = """\
workers = 1

[[listener]]
address = "127.0.0.1:0"

[upstream]
url = "http://127.0.0.1:3000"
connect_timeout = "250ms"
response_timeout = "1m30s"

[timeouts]
header = "10s"

[limits]
max_headers = 50

[forwarding]
trusted_proxies = ["10.0.0.0/8", "127.0.0.1/32"]

[log]
level = "info"
"""

# Four independent errors; each is (line, key) so the test can compute the position
# of the key and of its value on that line.
BAD = """\
workers = "two"

[[listener]]
address = "nonsense"

[upstream]
url = "http://127.0.0.1:3000"
connect_timeout = "5 seconds"

[limits]
max_headers = -1
"""
BAD_ERRORS = [(1, "workers"), (4, "address"), (8, "connect_timeout"), (11, "max_headers")]

SYNTAX = """\
workers = 1
[upstream
url = "http://127.0.0.1:3000"
"""

ERROR_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


class CliTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="maintgate-cli-")
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def positions(self, text, line, key):
        """Acceptable (line, column) for an error on `key`: the key or its value."""
        src = text.splitlines()[line - 1]
        key_col = src.index(key) + 1
        eq = src.index("=")
        rest = src[eq + 1:]
        value_col = eq + 1 + (len(rest) - len(rest.lstrip())) + 1
        return {(line, key_col), (line, value_col)}

    def error_lines(self, output, path):
        out = []
        for line in output.splitlines():
            m = ERROR_RE.match(line)
            if m and m.group("file") == path:
                out.append((int(m.group("line")), int(m.group("col")), m.group("msg")))
        return out

    def assert_bad_errors(self, output, path):
        errors = self.error_lines(output, path)
        self.assertEqual(len(errors), len(BAD_ERRORS),
                         "expected %d FILE:LINE:COLUMN errors, got:\n%s" % (len(BAD_ERRORS), output))
        for (line, col, msg), (want_line, key) in zip(errors, BAD_ERRORS):
            self.assertIn((line, col), self.positions(BAD, want_line, key),
                          "error for %s at %d:%d: %s" % (key, line, col, msg))
            self.assertIn(key, msg, "the message should name the key: %s" % msg)

    def test_version(self):
        code, out, err = run_cli(["--version"])
        self.assertEqual(code, 0, err)
        self.assertRegex(out + err, r"\d+\.\d+\.\d+")

    def test_help_lists_commands(self):
        code, out, err = run_cli(["--help"])
        self.assertEqual(code, 0, err)
        self.assertRegex(out + err, r"\brun\b")
        self.assertRegex(out + err, r"\bcheck\b")

    def test_check_good_config(self):
        path = self.write("good.toml", GOOD)
        code, out, err = run_cli(["check", "-c", path])
        self.assertEqual(code, 0, out + err)
        self.assertEqual(self.error_lines(out + err, path), [])

    def test_check_bad_config_reports_every_error(self):
        path = self.write("bad.toml", BAD)
        code, out, err = run_cli(["check", "-c", path])
        self.assertNotEqual(code, 0)
        self.assert_bad_errors(out + err, path)

    def test_check_syntax_error_has_position(self):
        path = self.write("syntax.toml", SYNTAX)
        code, out, err = run_cli(["check", "-c", path])
        self.assertNotEqual(code, 0)
        errors = self.error_lines(out + err, path)
        self.assertEqual(len(errors), 1, out + err)
        self.assertEqual(errors[0][0], 2, out + err)

    def test_check_missing_file(self):
        path = os.path.join(self.tmp.name, "missing.toml")
        code, out, err = run_cli(["check", "-c", path])
        self.assertNotEqual(code, 0)
        self.assertIn(path, out + err)

    def test_run_bad_config_refuses_to_start(self):
        path = self.write("bad.toml", BAD)
        start = time.monotonic()
        code, out, err = run_cli(["run", "-c", path], timeout=30)
        self.assertNotEqual(code, 0)
        self.assert_bad_errors(out + err, path)
        self.assertIsNone(LISTENING_RE.search(out + err), "listened with a bad config:\n" + out + err)
        self.assertLess(time.monotonic() - start, 30)

    def test_run_missing_config_refuses_to_start(self):
        path = os.path.join(self.tmp.name, "missing.toml")
        code, out, err = run_cli(["run", "-c", path])
        self.assertNotEqual(code, 0)
        self.assertIsNone(LISTENING_RE.search(out + err))

    def test_unknown_command_fails(self):
        code, out, err = run_cli(["frobnicate"])
        self.assertNotEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
