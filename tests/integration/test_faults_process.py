"""Faults of the maintgate process itself, through the real binary:

- file-descriptor exhaustion: RLIMIT_NOFILE lowered on the running process (prlimit(2),
  allowed unprivileged on our own child), then more connections than it can accept:
  it survives, says so in its log, answers what it did accept, and serves again once
  descriptors are free;
- `kill -9` in the middle of a maintenance window (fence up, a reopen under way, and
  while mode changes are being written), then a restart: mode, stage, fence, reason
  and since restored, nothing reopened, the audit log intact;
- a full disk when the state file or the audit log is written: RLIMIT_FSIZE lowered
  on the running process (its soft limit only, so the test can raise it again), which
  makes write(2) past the limit fail with EFBIG exactly where a full disk gives
  ENOSPC. The mode change is refused and says so, and is never half applied: the
  state file and the audit log are byte for byte unchanged and the workers keep the
  old mode. That needs SIGXFSZ ignored (its default action kills the process), which
  test_sigxfsz_is_ignored checks on its own. A real ENOSPC on a 16 KiB tmpfs is tried
  too where unprivileged user and mount namespaces are allowed; where they are not,
  that test skips and says why (the RLIMIT_FSIZE tests still run).

The admin side reuses test_admin.AdminTestCase (config, ctl, status, audit_lines)."""

import errno
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from admin_client import AdminConn
from harness import ClientConn, ProxyTestCase, build_request, poll_until
from test_admin import BYPASS, SECRET, AdminTestCase, read_bytes
from test_faults import fd_count, raw_socket
from wire import BufReader

SIGXFSZ_BIT = 1 << (signal.SIGXFSZ - 1)  # in the SigIgn mask of /proc/PID/status


def signal_mask(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def file_identity(path):
    """Changes when the file is replaced, even by a copy of itself (a freed inode number
    can be given to the next file, its modification time cannot)."""
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def no_write_reached(up):
    return [r for r in up.requests if r.method not in ("GET", "HEAD", "OPTIONS")]


# ---- file-descriptor exhaustion ------------------------------------------------------------

class FdExhaustionTest(ProxyTestCase):
    workers = 1
    config = {"upstream": {"idle_timeout": "300ms"}}
    HEADROOM = 16    # descriptors allowed above what the idle process holds
    CLIENTS = 80     # far more connections than that

    def test_accept_survives_and_recovers(self):
        pid = self.proxy.pid
        c = self.connect()
        self.assertEqual(c.request("GET", "/echo?before").status, 200)
        c.close()
        time.sleep(1.5)  # the pooled upstream connection expires (idle_timeout 300ms)
        idle = fd_count(pid)
        limit = idle + self.HEADROOM
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))

        socks = []
        try:
            for _ in range(self.CLIENTS):
                socks.append(raw_socket(self.proxy.port, timeout=20))
            line = self.proxy.wait_log(r"accept: .*[Tt]oo many open files", 20)
            self.assertIsNotNone(line, "no log line about the failed accept:\n" + self.proxy.output())
            self.assertTrue(self.proxy.alive(), self.proxy.output())
            self.assertLessEqual(fd_count(pid), limit)

            # A connection it did accept still gets an answer: it cannot open an upstream
            # connection now, which is a 502, not a hang or a crash. (The pool is empty.)
            first = socks[0]
            first.sendall(build_request("POST", "/echo?while-exhausted", body=b"w"))
            conn = AdoptedConn(first)
            resp = conn.read_final(method="POST", require_complete=False)
            self.assertIn(resp.status, (502, 503), resp.describe())
            self.assertTrue(resp.complete and not resp.problems, resp.describe())
            if resp.status == 502:  # and the log names the cause, not a side effect of it
                self.assertIsNotNone(self.proxy.wait_log(r"upstream connect: Too many open files", 5),
                                     self.proxy.output())
            self.assertTrue(self.proxy.alive(), self.proxy.output())
        finally:
            for s in socks:
                s.close()

        # Once the clients are gone the backlog drains and it serves again.
        def served():
            try:
                c = ClientConn(self.proxy.port, timeout=5)
            except OSError:
                return False
            try:
                return c.request("GET", "/echo?after").status == 200
            except (AssertionError, OSError):
                return False
            finally:
                c.close()
        poll_until(served, 30, 0.2, "a request served after the connections closed")
        poll_until(lambda: fd_count(pid) <= idle, 20, 0.1,
                   "the descriptors to come back (%d before)" % idle)
        self.assertEqual([r.target for r in no_write_reached(self.up)], [],
                         "a write sent while the proxy had no descriptors reached the upstream")
        # The warning is rate limited, not one line per failed accept.
        warnings = [l for l in self.proxy.lines() if "accept:" in l]
        self.assertLess(len(warnings), 10, "\n".join(warnings[:20]))


class AdoptedConn(ClientConn):
    """A ClientConn over a socket that is already connected."""

    def __init__(self, sock, timeout=20.0):
        sock.settimeout(timeout)
        self.sock = sock
        self.reader = BufReader(sock)
        self.timeout = timeout
        self._senders = []


# ---- kill -9 mid-window --------------------------------------------------------------------

class KillNineTest(AdminTestCase):

    def start_gate(self, mode):
        return self.start(mode=mode, gate={"bypass_secret": SECRET},
                          rules=[{"path": "/echo/login", "action": "allow-writes-in-read-only",
                                  "reason": "login"}])

    def kill9(self):
        self.proxy.stopped = True  # the harness must not count this death as a failure
        self.proxy.proc.send_signal(signal.SIGKILL)
        self.assertEqual(self.proxy.wait_exit(20), -signal.SIGKILL)

    def assert_audit_intact(self, before):
        """The audit log still holds exactly the lines it held, each a JSON object."""
        raw = read_bytes(self.audit_path)
        self.assertTrue(raw.startswith(before), "the audit log lost or changed lines")
        self.assertTrue(raw.endswith(b"\n"), raw[-200:])
        for line in raw.decode("utf-8").splitlines():
            self.assertIsInstance(json.loads(line), dict)

    def writes_during(self, stop, port, out):
        """Writes (and bypass writes) sent until stop is set; statuses into out."""
        n = 0
        while not stop.is_set() and n < 2000:
            n += 1
            try:
                c = ClientConn(port, timeout=5)
                try:
                    headers = BYPASS if n % 2 else ()
                    out.append(c.request("POST", "/echo?during=%d" % n, headers, b"w").status)
                finally:
                    c.close()
            except (AssertionError, OSError):
                out.append(None)  # the process was killed under this request
                time.sleep(0.05)

    def test_kill9_in_maintenance_with_the_fence_up_mid_reopen(self):
        self.start_gate("open")
        self.forwarded("POST", "/echo", body=b"before")
        self.ctl_ok("set", "mode", "maintenance", "reason", "schema migration", "for", "45m")
        self.ctl_ok("reopen")  # maintenance -> operators: a window half way through
        self.assertTrue(self.ask("freeze --json", True)["ok"])
        before = self.status()
        self.assertEqual((before["mode"], before["stage"], before["fenced"]),
                         ("maintenance", "operators", True), before)
        state = read_bytes(self.state_path)
        audit = read_bytes(self.audit_path)
        writes_before = len(no_write_reached(self.up))

        stop = threading.Event()
        statuses = []
        t = threading.Thread(target=self.writes_during, args=(stop, self.proxy.port, statuses), daemon=True)
        t.start()
        time.sleep(0.5)
        self.kill9()
        stop.set()
        t.join(30)
        self.assertTrue(set(statuses) <= {503, None}, "a write got through: %r" % sorted(set(statuses), key=str))
        self.assertEqual(read_bytes(self.state_path), state)
        self.assertTrue(os.path.lexists(self.sock_path), "kill -9 cannot remove the socket file")

        self.start_gate("open")  # initial_mode must not matter: the state file does
        s = self.status()
        for key in ("mode", "stage", "fenced", "reason", "since", "set_by", "until"):
            self.assertEqual(s.get(key), before.get(key), "%s after kill -9: %r, before %r" % (key, s, before))
        self.refused("GET", "/echo", "maintenance")
        self.refused("POST", "/echo", "maintenance", body=b"user")
        self.refused("POST", "/echo", "maintenance", BYPASS, body=b"operator, fenced")
        self.forwarded("GET", "/echo", BYPASS)
        self.assertEqual(len(no_write_reached(self.up)), writes_before, "a write reached the upstream")
        self.assertEqual(read_bytes(self.state_path), state, "the restart rewrote the state file")
        self.assert_audit_intact(audit)
        # And the window carries on where it was.
        self.assertEqual(self.ctl_ok("reopen").splitlines()[0], "stage read-only (was operators)")

    def test_kill9_while_mode_changes_are_written(self):
        self.start_gate("maintenance")
        self.ctl_ok("freeze")
        stop = threading.Event()
        done = []

        def flip():
            modes = ("read-only", "maintenance")
            try:
                with AdminConn(self.sock_path, timeout=10) as a:
                    for i in range(10000):
                        if stop.is_set():
                            break
                        r = a.command("set mode %s reason flip-%d --json" % (modes[i % 2], i), True)
                        done.append(r)
            except (AssertionError, OSError):
                pass  # killed mid-command

        t = threading.Thread(target=flip, daemon=True)
        t.start()
        poll_until(lambda: len(done) >= 5, 20, 0.02, "a few mode changes")
        time.sleep(random.uniform(0.05, 0.4))
        self.kill9()
        stop.set()
        t.join(15)
        self.assertTrue(all(r["ok"] for r in done), [r for r in done if not r["ok"]][:3])

        audit = read_bytes(self.audit_path)
        entries = [json.loads(l) for l in audit.decode().splitlines()]  # every line whole
        oks = [e for e in entries if e["command"].startswith("set mode") and e["outcome"] == "ok"]
        self.assertGreaterEqual(len(oks), len(done))
        state = json.loads(read_bytes(self.state_path))  # never a torn state file
        # The audit line is written before the rename over the state file (the log never
        # misses a change: gate_control::apply_local), so a kill between the two leaves
        # the log one change ahead of the state, never behind it and never anything else.
        last = oks[-1]
        self.assertIn(state["mode"], ("read-only", "maintenance"), state)
        self.assertTrue(state["fenced"], state)
        self.assertIn(state["reason"], (last["reason"], "flip-%d" % (int(last["reason"][5:]) - 1)),
                      (state, last))
        # A temp file the kill left behind must not matter either.
        with open(self.state_path + ".tmp", "w") as f:
            f.write('{"mode":"open","stage":"open","fenced":fal')

        self.start_gate("open")
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"], s["reason"]), (state["mode"], True, state["reason"]), s)
        self.refused("POST", "/echo", s["mode"], body=b"x")
        self.refused("POST", "/echo/login", s["mode"], body=b"fenced")
        self.assertEqual(no_write_reached(self.up), [])
        self.assert_audit_intact(audit)
        self.ctl_ok("set", "mode", "maintenance", "reason", "after the kill")
        entries = [json.loads(l) for l in read_bytes(self.audit_path).decode().splitlines()]
        self.assertEqual((entries[-1]["reason"], entries[-1]["outcome"]), ("after the kill", "ok"))


# ---- a full disk ---------------------------------------------------------------------------

class FullDiskTest(AdminTestCase):
    """RLIMIT_FSIZE: see the module docstring."""

    def setUp(self):
        super().setUp()
        self.start(mode="open")
        # Some history first, so the audit log is larger than the state file.
        for reason in ("first window", "second window"):
            self.ctl_ok("set", "mode", "read-only", "reason", reason)
            self.ctl_ok("set", "mode", "open")
        self.state = read_bytes(self.state_path)
        self.state_identity = file_identity(self.state_path)
        self.audit = read_bytes(self.audit_path)
        self.assertGreater(len(self.audit), 2 * len(self.state) + 100)

    def limit_file_size(self, size):
        """The soft limit only: an unprivileged process may raise it again."""
        _, hard = resource.prlimit(self.proxy.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.proxy.pid, resource.RLIMIT_FSIZE, (size, hard))
        self.addCleanup(self.unlimit)

    def unlimit(self):
        if self.proxy.alive():
            _, hard = resource.prlimit(self.proxy.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(self.proxy.pid, resource.RLIMIT_FSIZE, (hard, hard))

    def assert_refused_and_unchanged(self, expected_error_re):
        for words in (("set", "mode", "maintenance", "reason", "disk full"), ("freeze",),
                      ("set", "mode", "read-only")):
            what = "ctl %s" % " ".join(words)
            code, out, err = self.ctl(*words)
            # Checked first and fatal: after a death every other check is noise.
            self.assertTrue(self.proxy.alive(),
                            "%s: maintgate died (exit %s) writing past RLIMIT_FSIZE:\n%s"
                            % (what, self.proxy.proc.returncode, self.proxy.output()))
            self.assertEqual((code, out), (1, ""), "%s: %s" % (what, err))
            self.assertRegex(err, expected_error_re, what)
            self.assertEqual(read_bytes(self.state_path), self.state, "%s: the state file changed" % what)
            # Not even replaced by a copy of itself: a write that puts the old state back
            # after a failed audit line could fail too on a full disk.
            self.assertEqual(file_identity(self.state_path), self.state_identity,
                             "%s: the state file was replaced" % what)
            self.assertFalse(os.path.exists(self.state_path + ".tmp"), "%s: a temp state file was left" % what)
            self.assertEqual(read_bytes(self.audit_path), self.audit, "%s: the audit log changed" % what)
            s = self.status()
            self.assertEqual((s["mode"], s["stage"], s["fenced"]), ("open", "open", False), "%s: %r" % (what, s))
            self.forwarded("POST", "/echo", body=b"the workers are still open")

    def assert_recovers(self):
        self.unlimit()
        self.ctl_ok("set", "mode", "maintenance", "reason", "space again")
        self.assertEqual(json.loads(read_bytes(self.state_path))["mode"], "maintenance")
        last = self.audit_lines()[-1]
        self.assertEqual((last["new_mode"], last["outcome"], last["reason"]), ("maintenance", "ok", "space again"))
        self.refused("POST", "/echo", "maintenance", body=b"x")

    def test_sigxfsz_is_ignored(self):
        # Without this a write past RLIMIT_FSIZE kills the process instead of failing
        # with EFBIG: a mode change would take the whole proxy down.
        self.assertTrue(signal_mask(self.proxy.pid, "SigIgn") & SIGXFSZ_BIT,
                        "maintgate does not ignore SIGXFSZ")

    def test_state_file_cannot_be_written(self):
        # Below the state file's size: its temp file fails; the audit log, already
        # longer, cannot take even the "failed" line.
        self.limit_file_size(len(self.state) // 2)
        self.assert_refused_and_unchanged(
            r"^error: cannot persist the change: cannot write %s\.tmp: File too large; nothing changed\n$"
            % self.state_path)
        self.assertIsNotNone(self.proxy.wait_log(r"cannot persist the change", 5))
        self.assert_recovers()

    def test_audit_log_cannot_be_written(self):
        # Room for the state file, none left in the audit log: the new state is written
        # to the temp file, which is removed when the audit line fails.
        self.limit_file_size(len(self.audit))
        self.assert_refused_and_unchanged(
            r"^error: cannot write the audit log: cannot write %s: File too large; nothing changed\n$"
            % self.audit_path)
        self.assert_recovers()

    def test_audit_log_with_room_for_half_a_line(self):
        # A short write: part of the line lands, and must be truncated away again.
        self.limit_file_size(len(self.audit) + 40)
        self.assert_refused_and_unchanged(
            r"^error: cannot write the audit log: short write %s: 40 of \d+ bytes; nothing changed\n$"
            % self.audit_path)
        self.assert_recovers()


class TmpfsFullDiskTest(AdminTestCase):
    """A real ENOSPC: state file and audit log on a 16 KiB tmpfs, mounted in a private
    user and mount namespace that maintgate runs in (its files are reached through
    /proc/PID/root). Skips, saying why, where such namespaces are not allowed."""

    SIZE = "16k"

    def setUp(self):
        super().setUp()
        probe = tempfile.mkdtemp(prefix="mg-tmpfs-probe-")
        self.addCleanup(shutil.rmtree, probe, True)
        try:
            p = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=16k none \"$0\"", probe],
                               capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
            why = p.stderr.decode("utf-8", "replace").strip() if p.returncode else None
        except (OSError, subprocess.TimeoutExpired) as e:
            why = str(e)
        if why is not None:
            self.skipTest("no tmpfs in an unprivileged mount namespace here (%s); "
                          "FullDiskTest covers the same paths with RLIMIT_FSIZE" % why)
        self.disk = os.path.join(self.dir, "disk")
        os.mkdir(self.disk)
        self.state_path = os.path.join(self.disk, "state.json")
        self.audit_path = os.path.join(self.disk, "audit.jsonl")
        self.wrapper = os.path.join(self.dir, "in-tmpfs.sh")
        with open(self.wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "exec unshare -rm sh -c 'mount -t tmpfs -o size=%s maintgate-it \"$0\" && exec \"$@\"' "
                    "%s %s \"$@\"\n" % (self.SIZE, self.disk, harness.BIN))
        os.chmod(self.wrapper, 0o755)

    def start_in_tmpfs(self, **kw):
        old = harness.BIN
        harness.BIN = self.wrapper  # Proxy.start runs harness.BIN
        try:
            return self.start(**kw)
        finally:
            harness.BIN = old

    def inside(self, path):
        return "/proc/%d/root%s" % (self.proxy.pid, path)

    # The base class's helpers read the files from outside: here they are inside.
    def read_state(self):
        return json.loads(read_bytes(self.inside(self.state_path)))

    def audit_lines(self):
        return [json.loads(l) for l in read_bytes(self.inside(self.audit_path)).decode().splitlines()]

    def test_mode_change_refused_on_a_full_tmpfs(self):
        self.start_in_tmpfs(mode="open")
        self.ctl_ok("set", "mode", "read-only", "reason", "before the disk fills")
        self.ctl_ok("set", "mode", "open")
        state = read_bytes(self.inside(self.state_path))
        before = self.audit_lines()
        filler = self.inside(os.path.join(self.disk, "filler"))
        with open(filler, "wb", buffering=0) as f:
            try:
                for _ in range(64):
                    f.write(b"x" * 4096)
                self.fail("a %s tmpfs took 256 KiB" % self.SIZE)
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC, e)
        for words in (("set", "mode", "maintenance", "reason", "disk full"), ("freeze",)):
            with self.subTest(command=words):
                code, out, err = self.ctl(*words)
                self.assertTrue(self.proxy.alive(), self.proxy.output())
                self.assertEqual((code, out), (1, ""), err)
                self.assertRegex(err, r"^error: cannot persist the change: cannot write %s\.tmp: "
                                      r"No space left on device; nothing changed\n$" % self.state_path)
                self.assertEqual(read_bytes(self.inside(self.state_path)), state)
                self.assertFalse(os.path.exists(self.inside(self.state_path + ".tmp")))
                s = self.status()
                self.assertEqual((s["mode"], s["fenced"]), ("open", False), s)
                self.forwarded("POST", "/echo", body=b"still open")
        # The refused attempts may be recorded (the audit log's last page has room),
        # as failures that changed nothing; never as a change.
        after = self.audit_lines()
        self.assertEqual(after[:len(before)], before)
        for e in after[len(before):]:
            self.assertEqual((e["outcome"], e["old_mode"], e["new_mode"]), ("failed", "open", "open"), e)
        os.unlink(filler)
        self.ctl_ok("set", "mode", "maintenance", "reason", "space again")
        self.assertEqual(self.read_state()["mode"], "maintenance")
        self.assertEqual(self.audit_lines()[-1]["outcome"], "ok")
        self.refused("POST", "/echo", "maintenance", body=b"x")


if __name__ == "__main__":
    unittest.main()
