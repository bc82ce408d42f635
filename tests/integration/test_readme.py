"""The README's walkthrough, followed as a newcomer would: `./scripts/demo.sh` from the
tree, then every snippet of "A maintenance window, step by step" (one window, from plan to
report, with the demo's backup hook) in order against it.

The commands are taken from the README itself, not copied here: each ```sh block's
lines are run (exit status 0 expected), and each plain block of `$ command` lines is
run and its output compared with the lines the README shows under it, numbers, times
and durations aside. The walkthrough's TOML is compared with the config the demo runs
with. The only liberties taken, both tied to the README's text by a check: the demo runs
on ports and an admin socket of the test's own (so a demo someone runs beside it does not
answer), and `maintgate` is the binary under test."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tomllib
import unittest

from harness import BIN

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
README = os.path.join(ROOT, "README.md")
WALKTHROUGH = "## A maintenance window, step by step"
ALIAS = "alias mg='maintgate ctl'"
DEMO_URL = "http://127.0.0.1:8080"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def section(text, heading):
    start = text.index("\n" + heading + "\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def fenced_blocks(text):
    """[(language, [lines])] of the ``` blocks, in order."""
    return [(m.group(1), m.group(2).split("\n"))
            for m in re.finditer(r"^```(\w*)\n(.*?)\n```$", text, re.M | re.S)]


def transcript(lines):
    """[(command, [expected output lines])] of a block of `$ command` lines."""
    steps = []
    for line in lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


NORMALISE = [
    (re.compile(r"\b[0-9a-f]{64}\b"), "SHA256"),  # a backup's checksum
    (re.compile(r"/\S*/backups/"), "BACKUPS/"),  # the demo's folder, a new one per run
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{3})?)?Z"), "TIME"),
    (re.compile(r"\b\d+(ms|[smhd])(\d+(ms|[smhd]))*\b"), "DURATION"),
    (re.compile(r"\d+"), "N"),
]


def normalise(line):
    for rx, to in NORMALISE:
        line = rx.sub(to, line)
    return line


class ReadmeWalkthroughTest(unittest.TestCase):

    def setUp(self):
        with open(README) as f:
            self.readme = f.read()
        self.walk = section(self.readme, WALKTHROUGH)
        self.dir = tempfile.mkdtemp(prefix="mg-readme-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "admin.sock")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.demo_dir = os.path.join(self.dir, "demo")
        self.env = dict(os.environ, DEMO_NO_BUILD="1", BUILD_DIR=os.path.dirname(os.path.abspath(BIN)),
                        DEMO_PROXY="127.0.0.1:%d" % self.port, DEMO_APP="127.0.0.1:%d" % free_port(),
                        DEMO_METRICS="127.0.0.1:%d" % free_port(), DEMO_SOCKET=self.sock,
                        DEMO_DIR=self.demo_dir)
        self.demo = None

    def start_demo(self):
        out = open(os.path.join(self.dir, "demo.out"), "w+")
        # Its own session, so that stopping it is the Ctrl-C the README says stops both.
        self.demo = subprocess.Popen(["./scripts/demo.sh"], cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.demo_out = out
        self.addCleanup(out.close)
        self.addCleanup(self.stop_demo)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.demo.poll() is not None:
                self.fail("the demo exited with %d:\n%s" % (self.demo.returncode, self.demo_output()))
            if self.sh("maintgate ctl status")[0] == 0:
                return
            time.sleep(0.2)
        self.fail("the demo did not answer within 30 s:\n" + self.demo_output())

    def demo_output(self):
        self.demo_out.flush()
        self.demo_out.seek(0)
        return self.demo_out.read()

    def stop_demo(self):
        if self.demo is None or self.demo.poll() is not None:
            return
        os.killpg(self.demo.pid, signal.SIGINT)
        try:
            self.demo.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.demo.pid, signal.SIGKILL)
            self.demo.wait(10)
            self.fail("Ctrl-C did not stop the demo within 30 s")

    def sh(self, command):
        """Runs one README command line in bash, as typed after the README's alias."""
        script = ('maintgate() { if [ "$1" = ctl ]; then shift; "%s" ctl --socket "%s" "$@"; '
                  'else "%s" "$@"; fi; }\nshopt -s expand_aliases\n%s\n%s\n'
                  % (BIN, self.sock, BIN, ALIAS, command.replace(DEMO_URL, self.url)))
        p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def test_the_walkthrough_against_the_demo(self):
        # The liberties the test takes are on the README's own terms.
        self.assertIn("./scripts/demo.sh", section(self.readme, "## Quick start"))
        self.assertIn(ALIAS, self.walk)
        blocks = fenced_blocks(self.walk)
        self.assertGreaterEqual(len(blocks), 5, "the walkthrough's blocks were not found")

        self.start_demo()
        banner = self.demo_output()
        for what in ("state file          %s/state.json" % self.demo_dir, "audit log           %s/audit.jsonl"
                     % self.demo_dir, "metrics             http://%s/metrics" % self.env["DEMO_METRICS"]):
            self.assertIn(what, banner)

        # The walkthrough's settings are the demo's, paths and addresses aside.
        with open(os.path.join(self.demo_dir, "maintgate.toml"), "rb") as f:
            demo_cfg = tomllib.load(f)
        own = {"admin.socket", "admin.metrics", "gate.state_file", "gate.audit_log", "hook.argv",
               "hook.backup.result_file"}
        tomls = [lines for lang, lines in blocks if lang == "toml"]
        self.assertEqual(len(tomls), 1, "one TOML block in the walkthrough")
        shown = tomllib.loads("\n".join(tomls[0]))

        def same(path, want, have):
            if isinstance(want, list) and want and isinstance(want[0], dict):  # [[table]]: its first entry
                self.assertIsInstance(have, list, path)
                want, have = want[0], have[0]
            if isinstance(want, dict):
                self.assertIsInstance(have, dict, path)
                for key, value in want.items():
                    same(path + "." + key if path else key, value, have.get(key))
            elif path in own:
                self.assertIsNotNone(have, path)
            else:
                self.assertEqual(have, want, "%s: the README shows %r, the demo runs %r" % (path, want, have))

        same("", shown, demo_cfg)

        ran = 0
        for lang, lines in blocks:
            if lang == "sh":
                for line in lines:
                    if not line.strip() or line.startswith("#") or line == ALIAS or line.startswith(ALIAS + " "):
                        continue
                    code, out, err = self.sh(line)
                    self.assertEqual(code, 0, "%s\nstdout: %s\nstderr: %s" % (line, out, err))
                    ran += 1
            elif lang == "" and lines and lines[0].startswith("$ "):
                for command, want in transcript(lines):
                    code, out, err = self.sh(command)
                    got = (out + err).rstrip("\n").split("\n")
                    self.assertEqual(code, 0, "%s\nstdout: %s\nstderr: %s" % (command, out, err))
                    self.assertEqual([normalise(l) for l in got], [normalise(l) for l in want],
                                     "$ %s\nthe README shows:\n%s\nit printed:\n%s"
                                     % (command, "\n".join(want), "\n".join(got)))
                    ran += 1
        self.assertGreaterEqual(ran, 8, "too few walkthrough commands ran")

        # The promises of the README's first screen, seen in the demo: every change is in
        # the audit log, and the mode survives a restart.
        code, out, err = self.sh("mg history")
        self.assertEqual(code, 0, err)
        self.assertIn("window start upgrade-v2", out)
        # The window ran its backup before the freeze and after the reopen, and completed.
        code, out, err = self.sh("mg window report upgrade-v2 --json")
        self.assertEqual(code, 0, err)
        self.assertIn('"phase":"completed"', out.replace(" ", ""))
        self.assertEqual(len(re.findall(r'"point":\s*"(pre_freeze|post_reopen)"', out)), 2, out)
        self.assertEqual(self.sh("mg set mode read-only reason restart-test")[0], 0)
        self.stop_demo()
        self.assertEqual(self.demo.returncode, 130, self.demo_output())
        self.start_demo()
        code, out, err = self.sh("mg status")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith("mode        read-only\n"), out)
        self.assertIn("reason      restart-test\n", out)


if __name__ == "__main__":
    unittest.main()
