"""The command line: --version, --help, `check` and `run` on good and bad configs, and
`ctl` against a stand-in admin socket."""

import os
import re
import socket
import stat
import tempfile
import threading
import time
import unittest

from harness import LISTENING_RE, Proxy, run_cli

HERE = os.path.dirname(os.path.abspath(__file__))

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

    # -- check opens what run will open (issue 19) ------------------------------------

    def test_check_finds_what_stops_run(self):
        # Folders that do not exist and that run would not create: every one reported.
        gone = os.path.join(self.tmp.name, "gone", "deeper")
        text = GOOD + ('\n[gate]\nstate_file = "%s/state.json"\naudit_log = "%s/audit.jsonl"\n'
                       '\n[admin]\nsocket = "%s/admin.sock"\n' % (gone, gone, gone))
        path = self.write("folders.toml", text)
        code, out, err = run_cli(["check", "-c", path])
        self.assertEqual(code, 1, out + err)
        self.assertNotIn("configuration OK", out)
        for key in ("gate.state_file", "gate.audit_log", "admin.socket"):
            self.assertIn("%s: %s: the folder %s does not exist, and run creates only the last folder of a path: "
                          "%s is missing too" % (path, key, gone, os.path.dirname(gone)), err.splitlines(), err)
        self.assertIn("3 errors; configuration refused", err)

        # A path that is there but is not what run needs.
        not_a_socket = self.write("plain-file", "")
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        text = GOOD.replace("127.0.0.1:0", "127.0.0.1:%d" % busy.getsockname()[1]) + \
            '\n[admin]\nsocket = "%s"\nsocket_owner = "no-such-user-here"\n' % not_a_socket
        path = self.write("busy.toml", text)
        code, out, err = run_cli(["check", "-c", path])
        self.assertEqual(code, 1, out + err)
        self.assertIn("%s: listener[1]: cannot bind 127.0.0.1:%d: Address already in use"
                      % (path, busy.getsockname()[1]), err.splitlines(), err)
        self.assertIn("%s: admin.socket: %s exists and is not a socket; run will not replace it"
                      % (path, not_a_socket), err.splitlines(), err)
        self.assertIn("%s: admin.socket_owner: no such user 'no-such-user-here'" % path, err.splitlines(), err)

    def test_check_says_which_folders_run_creates_and_run_creates_them(self):
        state_dir = os.path.join(self.tmp.name, "lib")
        run_dir = os.path.join(self.tmp.name, "run")
        text = GOOD + ('\n[gate]\nstate_file = "%s/state.json"\naudit_log = "%s/audit.jsonl"\n'
                       '\n[admin]\nsocket = "%s/admin.sock"\n' % (state_dir, state_dir, run_dir))
        path = self.write("creates.toml", text)
        code, out, err = run_cli(["check", "-c", path])
        self.assertEqual(code, 0, out + err)
        self.assertIn("  creates   %s (mode 0750), at start-up" % state_dir, out.splitlines(), out)
        self.assertIn("  creates   %s (mode 0700), at start-up" % run_dir, out.splitlines(), out)
        self.assertIn("  health    no health check and no smoke checks: reopen steps are not gated",
                      out.splitlines(), out)
        self.assertFalse(os.path.exists(state_dir) or os.path.exists(run_dir), "check changed the disk")

        p = Proxy(3000, toml_text=text)
        self.addCleanup(p.cleanup)
        p.start()
        self.assertIsNotNone(p.wait_log(r"maintgate started", 20), p.output())
        self.assertEqual(stat.S_IMODE(os.stat(state_dir).st_mode), 0o750)
        self.assertEqual(stat.S_IMODE(os.stat(run_dir).st_mode), 0o700)
        self.assertTrue(os.path.exists(os.path.join(state_dir, "state.json")))
        self.assertTrue(stat.S_ISSOCK(os.stat(os.path.join(run_dir, "admin.sock")).st_mode))
        self.assertIsNotNone(p.wait_log(r"created %s \(mode 0750\) for gate\.state_file" % re.escape(state_dir), 5),
                             p.output())
        # check beside the running instance: its socket answers, its address is taken.
        live = text.replace("127.0.0.1:0", "127.0.0.1:%d" % p.port)
        code, out, err = run_cli(["check", "-c", self.write("live.toml", live)])
        self.assertEqual(code, 0, out + err)
        self.assertIn("warning: listener[1] 127.0.0.1:%d is in use, by the running maintgate it seems" % p.port,
                      err.splitlines(), err)
        self.assertEqual(p.stop(), 0, p.output())

    def test_the_example_file_checks_as_shipped(self):
        example = os.path.join(HERE, "..", "..", "maintgate.example.toml")
        code, out, err = run_cli(["check", "-c", example])
        # Its listener is the demo's 127.0.0.1:8080, which a running demo may hold.
        if code != 0:
            self.assertRegex(err, r"listener\[1\]: cannot bind 127\.0\.0\.1:8080: Address already in use", err)
        else:
            self.assertIn("  admin     socket /tmp/maintgate-admin.sock (mode 0600)", out.splitlines(), out)


    def test_unknown_command_fails(self):
        code, out, err = run_cli(["frobnicate"])
        self.assertNotEqual(code, 0)



# ---- maintgate ctl -------------------------------------------------------------------
# ctl against a stand-in admin server (a Unix socket served by a thread of this test), so
# these cases pin ctl's own side of the protocol: what it sends, how it reads a reply,
# and its exit statuses. test_ctl_client.py runs it against the real server.

CTL_COMMANDS = ["help", "status", "set mode", "freeze", "reopen", "reopen status", "check",
                "history", "reload"]


class FakeAdmin:
    """Accepts one connection, reads one line, answers with `respond(conn, line)`."""

    def __init__(self, path, respond):
        self.path = path
        self.respond = respond
        self.lines = []
        self.error = None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(20)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(data)
                self.respond(conn, data)
        except Exception as e:  # reported by close()
            self.error = e

    def close(self):
        self.thread.join(timeout=30)
        self.sock.close()
        if self.error is not None:
            raise AssertionError("stand-in admin server failed: %r" % (self.error,))


def reply_with(*chunks, delay=0.0, then_close=True, hold=0.0):
    """A respond function: sends the chunks (pausing `delay` between them), then
    optionally keeps the connection open `hold` seconds."""
    def respond(conn, line):
        for c in chunks:
            conn.sendall(c)
            if delay:
                time.sleep(delay)
        if hold:
            time.sleep(hold)
    return respond


class CtlTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="maintgate-ctl-")
        self.addCleanup(self.tmp.cleanup)
        self.sock_path = os.path.join(self.tmp.name, "admin.sock")

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def serve(self, respond):
        admin = FakeAdmin(self.sock_path, respond)
        self.addCleanup(admin.sock.close)
        return admin

    def ctl(self, *words, timeout=30.0):
        return run_cli(["ctl", "--socket", self.sock_path] + list(words), timeout=timeout)

    # -- the command line -----------------------------------------------------------

    def test_help_lists_ctl(self):
        code, out, err = run_cli(["--help"])
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"\bctl\b")

    def test_ctl_help_lists_options_and_every_command(self):
        for flag in ("--help", "-h"):
            code, out, err = run_cli(["ctl", flag])
            self.assertEqual(code, 0, err)
            for word in ("--socket", "--json", "--timeout", "-c"):
                self.assertIn(word, out)
            for command in CTL_COMMANDS:
                self.assertRegex(out, r"(?m)^[* ] %s\b" % re.escape(command), out)

    def test_ctl_without_words_prints_usage(self):
        for args in (["ctl"], ["ctl", "--socket", self.sock_path], ["ctl", "--json"]):
            code, out, err = run_cli(args)
            self.assertEqual(code, 2, args)
            self.assertIn("usage: maintgate ctl", err)

    def test_ctl_usage_errors(self):
        cases = [
            (["ctl", "--bogus", "status"], "--bogus"),
            (["ctl", "--socket"], "needs a value"),
            (["ctl", "--socket", ""], "--socket needs a path"),
            (["ctl", "--timeout", "soon", "status"], "'soon' is not a duration"),
            (["ctl", "--timeout=5", "status"], "'5' is not a duration"),
            (["ctl", "--socket", "a.sock", "--socket", "b.sock", "status"], "given twice"),
            (["ctl", "--socket", "a.sock", "-c", "x.toml", "status"], "not both"),
            (["-c", "x.toml", "ctl", "--socket", "a.sock", "status"], "not both"),
            (["ctl", "--socket", "a.sock", "set", "mode", "open", "reason", "two\nlines"],
             "control byte 0x0a"),
            (["ctl", "--socket", "a.sock", "set", "mode", "open", "reason", "x" * 5000],
             "at most 4096"),
            (["ctl", "--socket", os.path.join("/tmp", "s" * 200), "status"], "at most 107"),
        ]
        for args, says in cases:
            code, out, err = run_cli(args)
            self.assertEqual(code, 2, "%r: %s" % (args, err))
            self.assertIn(says, err, args)
            self.assertEqual(out, "", args)

    def test_ctl_cannot_connect(self):
        code, out, err = self.ctl("status")
        self.assertEqual(code, 3, err)
        self.assertIn(self.sock_path, err)
        self.assertIn("No such file or directory", err)
        self.assertIn("is maintgate running?", err)

    def test_ctl_connection_refused(self):
        # A socket file nobody listens on any more.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock_path)
        s.close()
        code, out, err = self.ctl("status")
        self.assertEqual(code, 3, err)
        self.assertIn("Connection refused", err)

    def test_ctl_socket_from_config(self):
        config = GOOD + '\n[admin]\nsocket = "%s"\n' % self.sock_path
        path = self.write("admin.toml", config)
        code, out, err = run_cli(["ctl", "-c", path, "status"])
        self.assertEqual(code, 3, err)
        self.assertIn(self.sock_path, err)
        code, out, err = run_cli(["-c", path, "ctl", "status"])
        self.assertEqual(code, 3, err)
        self.assertIn(self.sock_path, err)

    def test_ctl_config_without_socket(self):
        path = self.write("good.toml", GOOD)
        code, out, err = run_cli(["ctl", "-c", path, "status"])
        self.assertEqual(code, 2, err)
        self.assertIn("no [admin] socket", err)
        self.assertIn(path, err)

    def test_ctl_bad_config_prints_its_errors(self):
        path = self.write("bad.toml", BAD)
        code, out, err = run_cli(["ctl", "-c", path, "status"])
        self.assertEqual(code, 2, err)
        errors = [l for l in err.splitlines() if ERROR_RE.match(l) and l.startswith(path + ":")]
        self.assertEqual(len(errors), len(BAD_ERRORS), err)
        for (_, key), line in zip(BAD_ERRORS, errors):
            self.assertIn(key, line)

    def test_ctl_embedded_default(self):
        code, out, err = run_cli(["ctl", "status"], cwd=self.tmp.name)
        # The embedded default names no socket today; should it ever name one, ctl must
        # try that one and fail to connect to it here, not hang or pass.
        if code == 2:
            self.assertIn("embedded default", err)
        else:
            self.assertEqual(code, 3, err)
            self.assertIn("is maintgate running?", err)

    # -- the exchange -----------------------------------------------------------------

    def test_ctl_text_reply(self):
        admin = self.serve(reply_with(b"mode: open\nstage: open\n\n"))
        code, out, err = self.ctl("status")
        admin.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "mode: open\nstage: open\n")
        self.assertEqual(admin.lines, [b"status\n"])

    def test_ctl_quotes_words_for_the_server(self):
        admin = self.serve(reply_with(b"mode: maintenance\n\n"))
        code, out, err = self.ctl("set", "mode", "maintenance", "reason", "schema migration",
                                  "for", "45m")
        admin.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(admin.lines,
                         [b'set mode maintenance reason "schema migration" for 45m\n'])

    def test_ctl_hostile_words_arrive_quoted(self):
        admin = self.serve(reply_with(b"ok\n\n"))
        code, out, err = self.ctl("set", "mode", "open", "reason", 'say "hi"', "C:\\", "",
                                  "it's", "日本")
        admin.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(admin.lines[0].decode("utf-8"),
                         'set mode open reason "say \\"hi\\"" "C:\\\\" "" "it\'s" 日本\n')

    def test_ctl_error_reply(self):
        admin = self.serve(reply_with(b"error: unknown command 'stats'; commands: help\n\n"))
        code, out, err = self.ctl("stats")
        admin.close()
        self.assertEqual(code, 1, err)
        self.assertIn("error: unknown command 'stats'", err)

    def test_ctl_multi_line_reply_in_pieces(self):
        admin = self.serve(reply_with(b"line one\nli", b"ne two\n", b"\n", delay=0.2))
        code, out, err = self.ctl("history")
        admin.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "line one\nline two\n")

    def test_ctl_large_reply(self):
        body = b"".join(b"entry %06d %s\n" % (i, b"x" * 60) for i in range(5000))
        admin = self.serve(reply_with(body + b"\n"))
        code, out, err = self.ctl("history", "5000")
        admin.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(out.encode(), body)

    def test_ctl_json_reply(self):
        reply = b'{"ok":true,"mode":"open","nested":{"ok":false,"list":["}",1]}}\n'
        admin = self.serve(reply_with(reply))
        code, out, err = self.ctl("--json", "status")
        admin.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(out.encode(), reply)
        self.assertEqual(admin.lines, [b"status --json\n"])

    def test_ctl_json_flag_among_the_words(self):
        for words, sent in ((["status", "--json"], b"status --json\n"),
                            (["json", "status"], b"json status\n")):
            admin = self.serve(reply_with(b'{"ok": true}\n'))
            code, out, err = self.ctl(*words)
            admin.close()
            os.unlink(self.sock_path)
            self.assertEqual(code, 0, err)
            self.assertEqual(out, '{"ok": true}\n')
            self.assertEqual(admin.lines, [sent])

    def test_ctl_json_refusal(self):
        reply = b'{"error":"reopen refused: health check failed","ok":false}\n'
        admin = self.serve(reply_with(reply))
        code, out, err = self.ctl("--json", "reopen")
        admin.close()
        self.assertEqual(code, 1, err)
        self.assertEqual(out.encode(), reply)

    def test_ctl_json_without_ok(self):
        admin = self.serve(reply_with(b'{"mode":"open"}\n'))
        code, out, err = self.ctl("--json", "status")
        admin.close()
        self.assertEqual(code, 1, err)
        self.assertIn('"ok"', err)

    def test_ctl_connection_drops_mid_reply(self):
        for chunks in ((b"mode: open\n",), (), (b'{"ok":tr',)):
            json_mode = chunks and chunks[0].startswith(b"{")
            admin = self.serve(reply_with(*chunks))
            code, out, err = self.ctl(*(["--json", "status"] if json_mode else ["status"]))
            admin.close()
            os.unlink(self.sock_path)
            self.assertEqual(code, 4, "%r: %s" % (chunks, err))
            self.assertIn("closed", err)

    def test_ctl_timeout(self):
        admin = self.serve(reply_with(b"mode: open\n", hold=5.0))
        start = time.monotonic()
        code, out, err = self.ctl("--timeout", "300ms", "status")
        elapsed = time.monotonic() - start
        admin.close()
        self.assertEqual(code, 4, err)
        self.assertIn("300ms", err)
        self.assertLess(elapsed, 4.5)

    def test_ctl_waits_without_timeout(self):
        # freeze may legitimately take its whole timeout: no --timeout, no limit.
        admin = self.serve(reply_with(b"frozen\n", b"\n", delay=1.5))
        code, out, err = self.ctl("freeze", "timeout", "30s")
        admin.close()
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "frozen\n")


if __name__ == "__main__":
    unittest.main()
