"""The admin socket and what it drives, through the real binary and the real socket:
every command's text and JSON reply (via `maintgate ctl`, a raw Unix socket and socat),
the socket file's permissions and life cycle, the write fence under concurrent write
load, a freeze that times out, the fence's semantics, the staged reopen gated by health
and smoke checks, the automatic step back, the audit log, the metrics listener, reload
and SIGHUP, and a restart in the middle of a reopen.

Every maintgate here gets its admin socket, state file and audit log in a short temp
folder of the test (a Unix socket path holds at most 107 bytes), and its upstream is
GateUpstream: the recording upstream plus wall-clock stamps and a switchable /smoke."""

import calendar
import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

from admin_client import AdminConn, ask
from harness import (BIN, ClientConn, Proxy, ProxyTestCase, base_config, build_request, merge, poll_until,
                     run_cli, to_toml)
from upstream import Upstream

SECRET = "admin-it-secret-0123456789"
BYPASS = [("X-Maintgate-Bypass", SECRET)]
HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = os.path.join(HERE, "..", "..", "maintenance_pages")
ISO_S = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
CONFIG_ERROR_RE = re.compile(r"^(?P<file>/.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")
COMMAND_LIST = ("help, status, set mode, freeze, reopen, reopen status, check, history, reload, "
                "spool status, spool list, spool show, spool replay, spool drop, spool requeue, "
                "window plan, window start, window status, window abort, window history, window report, "
                "hooks, hook run")
STATE_CHANGING = ("set mode", "freeze", "reopen [", "reload", "spool replay", "spool drop", "spool requeue",
                  "window plan", "window start", "window abort", "hook run")  # help marks these with "* "
AUDIT_KEYS = {"time", "uid", "pid", "actor", "command", "old_mode", "new_mode", "old_stage",
              "new_stage", "reason", "outcome", "detail"}
METRIC_FAMILIES = {
    "maintgate_requests_total": "counter",
    "maintgate_in_flight_requests": "gauge",
    "maintgate_refused_writes_total": "counter",
    "maintgate_upstream_responses_total": "counter",
    "maintgate_upstream_5xx_responses_total": "counter",
    "maintgate_upstream_errors_total": "counter",
    "maintgate_mode": "gauge",
    "maintgate_stage": "gauge",
    "maintgate_write_fence": "gauge",
    "maintgate_stage_since_timestamp_seconds": "gauge",
    "maintgate_connections": "gauge",
}


# ---- small helpers ---------------------------------------------------------------------

def epoch_ms(text):
    """Unix milliseconds of "2026-11-22T03:49:20.445Z" (or whole seconds without ".mmm")."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{3}))?Z", text or "")
    if not m:
        raise AssertionError("not an ISO 8601 UTC time: %r" % (text,))
    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + int(m.group(2) or 0)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def parse_metrics(text):
    """({(name, ((label, value), ...)): float}, {family: type}) from the exposition text."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not m:
            raise AssertionError("not a metrics sample line: %r" % line)
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


def metric(samples, name, **labels):
    key = (name, tuple(sorted((k, v) for k, v in labels.items())))
    if key not in samples:
        raise AssertionError("no sample %s%r in the metrics" % (name, labels))
    return samples[key]


class GateUpstream(Upstream):
    """The recording upstream, plus:
    - rec.wall: time.time() when the request head had been read, and rec.respond_wall:
      time.time() just before the response head was sent (the write fence tests compare
      them with the freeze reply and the reported boundary);
    - /smoke answers smoke_status with smoke_body, and after smoke_passes successful
      answers (when set) answers 500: the smoke checks' target."""

    def __init__(self):
        super().__init__()
        self.smoke_status = 200
        self.smoke_body = b"Welcome to the app\n"
        self.smoke_passes = None

    def _parse_head(self, conn, lines):
        rec = super()._parse_head(conn, lines)
        rec.wall = time.time()
        rec.respond_wall = None
        return rec

    def _respond(self, sock, rec, status, body=b"", fields=(), close=False):
        rec.respond_wall = time.time()
        return super()._respond(sock, rec, status, body, fields, close)

    def _dispatch(self, conn, reader, rec):
        if rec.path == "/smoke":
            self._read_body(reader, rec)
            status, body = self.smoke_status, self.smoke_body
            with self._cv:
                if self.smoke_passes is not None:
                    if self.smoke_passes <= 0:
                        status, body = 500, b"broken\n"
                    else:
                        self.smoke_passes -= 1
            return self._respond(conn.sock, rec, status, body), None
        return super()._dispatch(conn, reader, rec)

    def count(self, path, method=None):
        return sum(1 for r in self.requests if r.path == path and (method is None or r.method == method))


# ---- the base class --------------------------------------------------------------------

class AdminTestCase(ProxyTestCase):
    """Starts nothing by itself: each test calls start() with the config it needs."""

    start_default = False
    workers = 2

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="mg-adm-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock_path = os.path.join(self.dir, "admin.sock")
        self.state_path = os.path.join(self.dir, "state.json")
        self.audit_path = os.path.join(self.dir, "audit.jsonl")
        self.up = self.start_upstream(GateUpstream)
        self.proxy = None
        self._n = 0

    # ---- starting ----------------------------------------------------------------------

    def config(self, mode="open", gate=None, admin=None, reopen=None, health=None, smoke=None,
               rules=None, extra=None):
        cfg = base_config(self.up.port, 1, self.workers)
        cfg["admin"] = dict({"socket": self.sock_path}, **(admin or {}))
        g = {"initial_mode": mode, "state_file": self.state_path, "audit_log": self.audit_path}
        g.update(gate or {})
        cfg["gate"] = g
        if reopen:
            cfg["reopen"] = reopen
        if health:
            cfg["health_check"] = health
        if smoke:
            cfg["smoke_check"] = smoke
        if rules:
            cfg["rule"] = rules
        return merge(cfg, extra)

    def start(self, watched=True, **kw):
        self.cfg = self.config(**kw)
        if watched:
            p = self.start_proxy(self.up.port, toml_text=to_toml(self.cfg))
        else:
            # Kept out of the harness's list, whose tearDown fails the test when the
            # process died: a test that expects a defect to kill it asserts that itself.
            p = Proxy(self.up.port, toml_text=to_toml(self.cfg))
            self.addCleanup(p.cleanup)
            p.start()
        if p.wait_log(r"maintgate started", 20) is None:
            self.fail("maintgate did not finish starting:\n" + p.output())
        self.proxy = p
        return p

    def start_failing(self, **kw):
        """Runs maintgate with a config that must not start: (exit code, output)."""
        path = os.path.join(self.dir, "failing.toml")
        with open(path, "w") as f:
            f.write(to_toml(self.config(**kw)))
        try:
            p = subprocess.run([BIN, "run", "-c", path], capture_output=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail("maintgate started although it should have refused to")
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")

    def metrics_port(self, proxy=None):
        line = (proxy or self.proxy).wait_log(r"metrics listening on 127\.0\.0\.1:\d+", 10)
        self.assertIsNotNone(line, "no 'metrics listening on' line:\n" + (proxy or self.proxy).output())
        return int(re.search(r"metrics listening on 127\.0\.0\.1:(\d+)", line).group(1))

    # ---- the admin side ----------------------------------------------------------------

    def ctl(self, *words, timeout=40.0):
        return run_cli(["ctl", "--socket", self.sock_path] + list(words), timeout=timeout)

    def ctl_ok(self, *words):
        code, out, err = self.ctl(*words)
        self.assertEqual(code, 0, "ctl %s: exit %d\nstdout: %s\nstderr: %s" % (" ".join(words), code, out, err))
        return out

    def ctl_with_pid(self, *words):
        """Runs ctl, returning its pid too (the audit log records it)."""
        p = subprocess.Popen([BIN, "ctl", "--socket", self.sock_path] + list(words),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail("ctl %s did not finish" % " ".join(words))
        return p.pid, p.returncode, out.decode(), err.decode()

    def ask(self, line, json_reply=False):
        return ask(self.sock_path, line, json_reply)

    def status(self):
        s = self.ask("status --json", True)
        self.assertTrue(s["ok"], s)
        return s

    def audit_lines(self):
        if not os.path.exists(self.audit_path):
            return []
        with open(self.audit_path) as f:
            lines = [l for l in f.read().split("\n") if l]
        return [json.loads(l) for l in lines]

    def read_state(self):
        with open(self.state_path) as f:
            return json.load(f)

    # ---- the client side ---------------------------------------------------------------

    def unique(self, target):
        self._n += 1
        return "%s%sn=%d" % (target, "&" if "?" in target else "?", self._n)

    def http(self, method, target, headers=(), body=None, port=None):
        c = ClientConn(port or self.proxy.port)
        try:
            return c.request(method, target, headers, body)
        finally:
            c.close()

    def forwarded(self, method, target, headers=(), body=None):
        """The request reaches the upstream (and the response is the upstream's)."""
        target = self.unique(target)
        resp = self.http(method, target, headers, body)
        self.assertNotEqual(resp.status, 503, "%s %s was refused: %s" % (method, target, resp.describe()))
        self.up.wait_for(lambda u: any(r.target == target and r.method == method for r in u.requests),
                         10, "%s %s at the upstream" % (method, target))
        return resp

    def refused(self, method, target, mode, headers=(), body=None):
        """A 503 from the gate that never reached the upstream."""
        target = self.unique(target)
        resp = self.http(method, target, headers, body)
        d = "%s %s: %s" % (method, target, resp.describe())
        self.assertEqual(resp.status, 503, d)
        self.assertRegex(resp.value("retry-after") or "", r"^[1-9][0-9]*$", d)
        self.assertEqual(resp.value("x-maintgate-mode"), mode, d)
        self.assertFalse(any(r.target == target for r in self.up.requests), "%s reached the upstream" % target)
        return resp


# ---- 1. every command, through ctl, a raw socket and socat --------------------------------

class CommandsTest(AdminTestCase):

    def setUp(self):
        super().setUp()
        self.start(health={"path": "/status/200", "interval": "0s"},
                   smoke=[{"name": "front page", "path": "/smoke", "body_contains": "Welcome"}])

    def test_status_text_and_json(self):
        out = self.ctl_ok("status")
        self.assertTrue(out.endswith("\n") and "\n\n" not in out, repr(out))
        lines = out.splitlines()
        self.assertEqual(lines[0], "mode        open", out)
        self.assertRegex(lines[1], r"^since       %s \(\d+s ago\) by config$" % ISO_S, out)
        self.assertIn("in flight   0 read(s), 0 write(s)", lines, out)
        self.assertIn("refused     0 write(s) since start, 0 in this stage", lines, out)
        self.assertIn("last write  none since start-up", lines, out)
        self.assertIn("upstream    not checked yet", lines, out)
        self.assertIn("this stage  0 request(s), 0 upstream response(s), 0 5xx (0.0%)", lines, out)
        self.assertRegex(lines[-1], r"^connections \d+$", out)

        s = self.status()
        self.assertEqual((s["mode"], s["stage"], s["fenced"], s["set_by"], s["reason"], s["until"]),
                         ("open", "open", False, "config", "", None), s)
        self.assertRegex(s["since"], "^%s$" % ISO_S)
        self.assertEqual(s["in_flight"], {"reads": 0, "writes": 0}, s)
        self.assertEqual((s["refused_writes"], s["last_write_boundary"], s["last_write_completed"],
                          s["upstream"]), (0, None, None, None), s)
        self.assertEqual(s["stage_counters"], {"since": s["since"], "requests": 0, "upstream_responses": 0,
                                               "upstream_5xx": 0, "error_rate": 0, "refused_writes": 0}, s)

        # Real traffic moves the counters; `check` fills in the upstream's health.
        before = time.time()
        self.forwarded("POST", "/echo", body=b"a=1")
        self.forwarded("GET", "/status/500")
        after = time.time()
        self.ctl_ok("check")
        s = self.status()
        done = epoch_ms(s["last_write_completed"])
        self.assertTrue(before * 1000 - 1 <= done <= after * 1000, (before, s, after))
        self.assertEqual((s["stage_counters"]["requests"], s["stage_counters"]["upstream_responses"],
                          s["stage_counters"]["upstream_5xx"], s["stage_counters"]["error_rate"]),
                         (2, 2, 1, 0.5), s)
        self.assertEqual((s["upstream"]["healthy"], s["upstream"]["detail"][:7]), (True, "200 in "), s)
        lines = self.ctl_ok("status").splitlines()
        self.assertTrue(any(re.fullmatch(r"upstream    healthy: 200 in \d+ ms \(checked \d+s ago\)", l)
                            for l in lines), lines)
        self.assertIn("this stage  2 request(s), 2 upstream response(s), 1 5xx (50.0%)", lines)
        self.assertTrue(any(re.fullmatch(r"last write  %s" % ISO_MS, l) for l in lines), lines)

    def test_set_mode_with_reason_for_and_until(self):
        out = self.ctl_ok("set", "mode", "read-only", "reason", "schema migration", "for", "45m")
        now = time.time()
        lines = out.splitlines()
        self.assertEqual(lines[0], "mode read-only (was open): schema migration", out)
        m = re.fullmatch(r"expected end (%s) \(in (44m5\ds|45m)\)" % ISO_S, lines[1])
        self.assertIsNotNone(m, out)
        self.assertTrue(abs(epoch_ms(m.group(1)) / 1000 - (now + 45 * 60)) <= 5, out)
        self.assertEqual(len(lines), 2, out)
        s = self.status()
        self.assertEqual((s["mode"], s["reason"], s["until"], s["fenced"]),
                         ("read-only", "schema migration", m.group(1), False), s)
        self.assertRegex(s["set_by"], r"^uid %d pid \d+$" % os.getuid())
        self.assertIn("expected    %s" % m.group(1), self.ctl_ok("status"))
        resp = self.refused("POST", "/echo", "read-only", body=b"x")
        self.assertTrue(2600 <= int(resp.value("retry-after")) <= 2701, resp.describe())

        # until HH:MM: the next such time, UTC.
        at = (int(time.time()) + 7200) // 60 * 60
        out = self.ctl_ok("set", "mode", "read-only", "reason", "clock", "until",
                          time.strftime("%H:%M", time.gmtime(at)))
        self.assertRegex(out.splitlines()[1], r"^expected end %s \(in (1h5\dm(\d+s)?|2h)\)$" % re.escape(iso(at)))
        self.assertEqual(self.status()["until"], iso(at))

        # until, over the raw socket, as JSON; the reason's quotes keep "for" a word.
        until = iso(time.time() + 7200)
        r = self.ask('set mode maintenance reason "wait for it" until %s --json' % until, True)
        self.assertEqual(r, {"ok": True, "mode": "maintenance", "stage": "maintenance",
                             "previous_stage": "read-only", "fenced": False, "reason": "wait for it",
                             "until": until})
        self.refused("GET", "/echo", "maintenance")
        t = self.ask("set mode open")
        self.assertEqual(t.lines, ["mode open (was maintenance)"])
        s = self.status()
        self.assertEqual((s["mode"], s["reason"], s["until"]), ("open", "", None), s)
        self.forwarded("POST", "/echo", body=b"x")

    def test_freeze_and_reopen_text_and_json(self):
        self.forwarded("POST", "/echo", body=b"a=1")
        last = max(r.respond_wall for r in self.up.requests if r.method == "POST")
        out = self.ctl_ok("freeze", "timeout", "10s")
        now = time.time()
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^frozen: no write in flight \(0 drained in \d+ ms\)$", out)
        m = re.fullmatch(r"write boundary (%s) \(the last write finished then\)" % ISO_MS, lines[1])
        self.assertIsNotNone(m, out)
        self.assertEqual(lines[2], "no write reaches the upstream until reopen reaches writes or set mode open",
                         out)
        boundary = epoch_ms(m.group(1))
        self.assertTrue(int(last * 1000) <= boundary <= now * 1000, (last, out, now))
        s = self.status()
        self.assertEqual((s["mode"], s["stage"], s["fenced"], s["last_write_boundary"]),
                         ("read-only", "read-only", True, m.group(1)), s)

        r = self.ask("freeze --json", True)
        self.assertEqual(r["ok"], True, r)
        self.assertEqual((r["mode"], r["fenced"], r["waited_for"], r["pending"], r["write_boundary"]),
                         ("read-only", True, 0, 0, m.group(1)), r)
        self.assertIsInstance(r["waited_ms"], int)

        out = self.ctl_ok("reopen")
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["stage writes (was read-only)", "-> writes"], out)
        self.assertRegex(lines[2], r"^     pass  GET /status/200: 200 in \d+ ms$", out)
        self.assertRegex(lines[3], r"^     pass  front page: 200 in \d+ ms$", out)
        self.assertEqual(len(lines), 4, out)
        self.assertFalse(self.status()["fenced"])

        r = self.ask("json reopen", True)
        self.assertEqual((r["ok"], r["from"], r["stage"], r["mode"]), (True, "writes", "open", "open"), r)
        self.assertEqual(len(r["steps"]), 1, r)
        step = r["steps"][0]
        self.assertEqual((step["stage"], step["advanced"], step["forced"]), ("open", True, False), r)
        self.assertEqual([(c["name"], c["ok"], c["status"]) for c in step["checks"]],
                         [("GET /status/200", True, 200), ("front page", True, 200)], r)
        self.assertTrue(all(isinstance(c["elapsed_ms"], int) and c["detail"].startswith("200 in ")
                            for c in step["checks"]), r)

        # Nothing to reopen: a refusal, exit 1, on stderr.
        code, out, err = self.ctl("reopen")
        self.assertEqual((code, out, err), (1, "", "error: already open; nothing to reopen\nstage stays open\n"))
        r = self.ask("reopen --json", True)
        self.assertEqual(r, {"ok": False, "from": "open", "stage": "open", "mode": "open", "fenced": False,
                             "steps": [], "error": "already open; nothing to reopen"})

    def test_reopen_status_check_history_reload_help(self):
        out = self.ctl_ok("reopen", "status")
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^stage open since %s \(\d+s ago\)$" % ISO_S, out)
        self.assertEqual(lines[1:], ["next        none: open",
                                     "stages      maintenance -> operators -> read-only -> writes -> [open]",
                                     "this stage  0 upstream response(s), 0 5xx (0.0%)",
                                     "checks      not run yet (reopen and check run them)"], out)
        self.ctl_ok("set", "mode", "maintenance")
        r = self.ask("reopen status --json", True)
        self.assertEqual((r["ok"], r["stage"], r["next"], r["upstream_responses"], r["upstream_5xx"],
                          r["error_rate"], r["watch_until"], r["last_step_back"]),
                         (True, "maintenance", "operators", 0, 0, 0, None, ""), r)
        self.assertIn("stages      [maintenance] -> operators -> read-only -> writes -> open",
                      self.ask("reopen status").lines)

        # check: passes, then fails on the smoke check; it never changes anything.
        audit_before = self.audit_lines()
        out = self.ctl_ok("check")
        self.assertRegex(out, r"^pass  GET /status/200: 200 in \d+ ms\npass  front page: 200 in \d+ ms\n$")
        self.up.smoke_status = 500
        code, out, err = self.ctl("check")
        self.assertEqual((code, out), (1, ""), err)
        self.assertRegex(err, r"^error: 1 check\(s\) failed\npass  GET /status/200: 200 in \d+ ms\n"
                              r"FAIL  front page: expected 200, got 500\n$")
        r = self.ask("check --json", True)
        self.assertEqual((r["ok"], r["error"]), (False, "checks failed"), r)
        self.assertEqual([(c["name"], c["ok"], c["status"], c["detail"]) for c in r["checks"]][1],
                         ("front page", False, 500, "expected 200, got 500"), r)
        self.assertEqual(self.audit_lines(), audit_before, "check wrote to the audit log")
        self.assertEqual(self.status()["stage"], "maintenance")

        # history: the audit log's tail, as text and as the JSON lines themselves.
        self.ctl_ok("set", "mode", "read-only", "reason", "history test")
        entries = self.audit_lines()
        self.assertGreaterEqual(len(entries), 2)
        out = self.ctl_ok("history", "2")
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z  uid %d pid \d+  set mode maintenance  "
                                   r"open/open -> maintenance/maintenance  ok$" % os.getuid())
        self.assertRegex(lines[1], r"  set mode read-only reason \"history test\"  "
                                   r"maintenance/maintenance -> read-only/read-only  ok$")
        r = self.ask("history 2 --json", True)
        self.assertEqual(r, {"ok": True, "entries": entries[-2:]})

        # reload: the same file again; the mode stays.
        out = self.ctl_ok("reload")
        self.assertEqual(out, "reloaded %s; mode unchanged (read-only)\n" % self.proxy.config_path)
        r = self.ask("reload --json", True)
        self.assertEqual(r, {"ok": True, "source": self.proxy.config_path, "warnings": []})
        self.assertEqual(self.status()["mode"], "read-only")

        # help: generated from the command table, the same through every path.
        help_text = self.ctl_ok("help")
        self.assertEqual(self.ask("help").text, help_text)
        self.assertEqual(self.ask("help --json", True), {"ok": True, "help": help_text})
        code, out, err = run_cli(["ctl", "--help"])
        self.assertEqual(code, 0, err)
        self.assertTrue(out.endswith(help_text), out)
        for usage in ("help", "status", "set mode open|read-only|maintenance [reason TEXT...] "
                      "[until TIME | for DURATION]", "freeze [timeout DURATION]",
                      "reopen [to STAGE] [--force]", "reopen status", "check", "history [N]", "reload",
                      "spool status", "spool list [N]", "spool show ID", "spool replay [--dry-run]",
                      "spool drop ID", "spool requeue ID"):
            marked = [l for l in help_text.splitlines() if l[2:].startswith(usage + " ") or l[2:] == usage]
            self.assertTrue(marked, "no help line for %r:\n%s" % (usage, help_text))
            want = "* " if usage.startswith(STATE_CHANGING) else "  "
            self.assertTrue(marked[0].startswith(want), "%r in help:\n%s" % (usage, help_text))

    def test_exit_codes(self):
        code, out, err = self.ctl("status")
        self.assertEqual(code, 0, err)
        # -c FILE finds the socket in the configuration.
        code, out, err = run_cli(["ctl", "-c", self.proxy.config_path, "--json", "status"])
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["mode"], "open")
        # 1: refused by the server (a bad command, a refused step), the reply on stderr.
        code, out, err = self.ctl("set", "mode", "sideways")
        self.assertEqual((code, out, err), (1, "", "error: set mode: unknown mode 'sideways'; expected "
                                                   "open, read-only or maintenance\n"))
        code, out, err = self.ctl("--json", "set", "mode", "sideways")
        self.assertEqual(code, 1, err)
        self.assertEqual(json.loads(out), {"ok": False, "error": "set mode: unknown mode 'sideways'; "
                                                                 "expected open, read-only or maintenance"})
        # 2: usage errors, before anything is sent.
        for args in ([], ["--bogus", "status"], ["--socket", self.sock_path, "-c", self.proxy.config_path,
                                                  "status"], ["--timeout", "soon", "status"]):
            with self.subTest(args=args):
                code, out, err = run_cli(["ctl"] + args)
                self.assertEqual(code, 2, "ctl %r: %s %s" % (args, out, err))
        # 3: no socket there, or a socket nobody listens on.
        code, out, err = run_cli(["ctl", "--socket", os.path.join(self.dir, "none.sock"), "status"])
        self.assertEqual(code, 3, err)
        self.assertIn("No such file or directory", err)
        dead = os.path.join(self.dir, "dead.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(dead)
        s.close()
        code, out, err = run_cli(["ctl", "--socket", dead, "status"])
        self.assertEqual(code, 3, err)
        self.assertIn("Connection refused", err)
        self.assertEqual(self.status()["mode"], "open")

    BAD_LINES = [
        ("frobnicate", "unknown command 'frobnicate'; commands: " + COMMAND_LIST),
        ("'status'", "unknown command 'status' (quoted words are never keywords); commands: " + COMMAND_LIST),
        ("", "empty command; 'help' lists the commands"),
        ("status now", "'status' takes no arguments; unexpected 'now'"),
        ("set maintenance", "'set' must be followed by 'mode', not 'maintenance'; usage: set mode "
                            "open|read-only|maintenance [reason TEXT...] [until TIME | for DURATION]"),
        ("set mode", "set mode needs a mode: open, read-only or maintenance"),
        ("set mode sideways", "set mode: unknown mode 'sideways'; expected open, read-only or maintenance"),
        ("set mode maintenance for 0s", "set mode: for 0s: the duration must be more than 0"),
        ("set mode maintenance for soon", "set mode: for 'soon' is not a duration; expected a number with "
                                          "a unit, like 90s, 45m or 1h30m"),
        ("set mode maintenance for 1h until 23:00", "set mode: 'until' and 'for' exclude each other; "
                                                    "give one expected end"),
        ("set mode maintenance reason", "set mode: 'reason' needs text (quote it when it holds the words "
                                        "reason, until or for)"),
        ('set mode maintenance reason "unterminated', "unterminated double quote opened at column 29"),
        ("freeze now", "freeze: unexpected 'now'; expected 'timeout DURATION'"),
        ("freeze timeout forever", "freeze timeout 'forever' is not a duration; expected a number with a "
                                   "unit, like 90s, 45m or 1h30m"),
        ("freeze timeout 2h", "freeze timeout 2h is more than 1h, the limit"),
        ("reopen to nowhere", "reopen: unknown stage 'nowhere'; expected maintenance, operators, read-only, "
                              "writes or open"),
        ("reopen --force --force", "reopen: '--force' given twice"),
        ("history 0", "history: 0 is out of range; expected a number from 1 to 10000"),
        ("history many", "history: 'many' is not a count; expected a number from 1 to 10000"),
        ("reload now", "'reload' takes no arguments; unexpected 'now'"),
    ]

    def test_unknown_and_malformed_commands_change_nothing(self):
        self.ctl_ok("set", "mode", "read-only", "reason", "baseline")
        state_before = read_bytes(self.state_path)
        mtime_before = os.stat(self.state_path).st_mtime_ns
        audit_before = read_bytes(self.audit_path)
        status_before = self.status()
        with AdminConn(self.sock_path) as c:
            for line, error in self.BAD_LINES:
                with self.subTest(line=line):
                    t = c.command(line)
                    self.assertEqual(t.lines, ["error: " + error], line)
                    j = c.command(line + " --json" if line else "json", True)
                    self.assertEqual(j, {"ok": False, "error": error}, line)
            # "until" in the past names now.
            t = c.command("set mode maintenance until 2001-01-01T00:00:00Z")
            self.assertRegex(t.text, r"^error: set mode: until 2001-01-01T00:00:00Z is not after now \(%s\)\n$"
                             % ISO_S)
            # A line over the limit closes the connection after its error.
            c.send_line("status " + "x" * 5000)
            t = c.read_text()
            self.assertEqual(t.lines, ["error: line longer than 4096 bytes; closing"])
        self.assertEqual(read_bytes(self.state_path), state_before)
        self.assertEqual(os.stat(self.state_path).st_mtime_ns, mtime_before, "the state file was rewritten")
        self.assertEqual(read_bytes(self.audit_path), audit_before, "the audit log changed")
        after = self.status()
        for key in ("mode", "stage", "fenced", "since", "set_by", "reason", "until"):
            self.assertEqual(after[key], status_before[key], key)
        self.refused("POST", "/echo", "read-only", body=b"x")

    def test_several_commands_on_one_connection(self):
        with AdminConn(self.sock_path) as c:
            # One write carrying five lines, one with telnet's "\r\n".
            c.send_line(b"status\nset mode read-only reason 'one connection'\njson status\r\n"
                        b"help --json\nstatus --json\n")
            first = c.read_text()
            self.assertEqual(first.lines[0], "mode        open")
            self.assertTrue(first.raw.endswith(b"\n\n") and b"\n\n" not in first.raw[:-2], first.raw)
            second = c.read_text()
            self.assertEqual(second.lines, ["mode read-only (was open): one connection"])
            third = c.read_json()
            self.assertEqual((third["mode"], third["reason"]), ("read-only", "one connection"), third)
            self.assertEqual(set(c.read_json()), {"ok", "help"})
            self.assertEqual(c.read_json()["mode"], "read-only")
            c.assert_nothing_more()
            # The connection is still good for another command.
            self.assertEqual(c.command("set mode open").lines, ["mode open (was read-only)"])
            c.assert_nothing_more()
        self.assertEqual(self.status()["mode"], "open")

    def test_socat(self):
        socat = shutil.which("socat")
        if not socat:
            self.skipTest("socat is not installed")
        p = subprocess.run([socat, "-t", "10", "-", "UNIX-CONNECT:" + self.sock_path],
                           input=b"status\njson status\nset mode maintenance reason via-socat\n",
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        text, rest = p.stdout.split(b"\n\n", 1)
        self.assertTrue(text.startswith(b"mode        open\n"), p.stdout)
        line, rest = rest.split(b"\n", 1)
        self.assertEqual(json.loads(line)["mode"], "open")
        self.assertEqual(rest, b"mode maintenance (was open): via-socat\n\n")
        self.assertEqual((self.status()["mode"], self.status()["reason"]), ("maintenance", "via-socat"))


# ---- 2. the socket file -----------------------------------------------------------------

class SocketFileTest(AdminTestCase):

    def test_default_mode_0600(self):
        p = self.start()
        st = os.lstat(self.sock_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, oct(st.st_mode))
        self.assertEqual(st.st_uid, os.getuid())
        self.assertIsNotNone(p.wait_log(r"admin socket on %s \(mode 0600\)" % re.escape(self.sock_path), 1))
        self.assertEqual(self.status()["mode"], "open")

    def test_configured_mode_and_numeric_group(self):
        # Root may give the socket any group; others only one of their own.
        gid = 4242 if os.getuid() == 0 else ([g for g in os.getgroups() if g != os.getgid()] or [os.getgid()])[0]
        self.start(admin={"socket_mode": "0660", "socket_group": str(gid)})
        st = os.lstat(self.sock_path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660, oct(st.st_mode))
        self.assertEqual(st.st_gid, gid)
        self.assertEqual(self.status()["mode"], "open")

    def test_stale_socket_is_replaced(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.sock_path)
        s.close()  # bound, never listening, closed: what a crash leaves behind
        p = self.start()
        self.assertIsNotNone(p.wait_log(r"removed a stale socket at %s" % re.escape(self.sock_path), 1),
                             p.output())
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock_path).st_mode))
        self.assertEqual(self.status()["mode"], "open")

    def test_live_socket_is_not_stolen(self):
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(other.close)
        other.bind(self.sock_path)
        other.listen(8)
        ino = os.lstat(self.sock_path).st_ino
        code, out = self.start_failing()
        self.assertNotEqual(code, 0, out)
        self.assertIn("admin socket %s is in use by a running process; stop it first" % self.sock_path, out)
        self.assertEqual(os.lstat(self.sock_path).st_ino, ino, "the other process's socket was replaced")
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(self.sock_path)
        c.close()

    def test_regular_file_is_not_replaced(self):
        with open(self.sock_path, "w") as f:
            f.write("not a socket\n")
        code, out = self.start_failing()
        self.assertNotEqual(code, 0, out)
        self.assertIn("admin socket %s exists and is not a socket; not replacing it" % self.sock_path, out)
        with open(self.sock_path) as f:
            self.assertEqual(f.read(), "not a socket\n")

    def test_socket_removed_on_sigterm(self):
        p = self.start(admin={"metrics": "127.0.0.1:0"})
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.sock_path).st_mode))
        self.assertEqual(self.status()["mode"], "open")
        self.assertEqual(p.stop(), 0, p.output())
        self.assertFalse(os.path.lexists(self.sock_path), "the socket file is still there after SIGTERM")


# ---- 3. the write fence under load --------------------------------------------------------

class LoadClient(threading.Thread):
    """Sends POSTs back to back until told to stop (bounded), over one keep-alive
    connection or a new connection per request; some go to /slow/MS. Records
    (target, t_send, t_done, status, mode header) with time.time()."""

    MAX_REQUESTS = 3000

    def __init__(self, port, index, stop, keep_alive):
        super().__init__(daemon=True, name="load-%d" % index)
        self.port, self.index, self.stop_event, self.keep_alive = port, index, stop, keep_alive
        self.records = []
        self.error = None
        self.rng = random.Random(index)

    def run(self):
        conn = None
        try:
            for i in range(self.MAX_REQUESTS):
                if self.stop_event.is_set():
                    break
                if i % 4 == 3:
                    target = "/slow/%d?c=%d&i=%d" % (self.rng.choice((30, 100, 250)), self.index, i)
                else:
                    target = "/echo?c=%d&i=%d" % (self.index, i)
                if conn is None:
                    conn = ClientConn(self.port, timeout=30)
                t_send = time.time()
                resp = conn.request("POST", target, body=b"write=%d" % i)
                t_done = time.time()
                self.records.append((target, t_send, t_done, resp.status, resp.value("x-maintgate-mode")))
                if not self.keep_alive or "close" in resp.tokens("connection"):
                    conn.close()
                    conn = None
        except Exception as e:  # reported by the test
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            if conn is not None:
                conn.close()


class WriteFenceLoadTest(AdminTestCase):
    workers = 2
    ROUNDS = 3
    CLIENTS = 8
    CLIENT_SLACK_MS = 500  # a client thread may see its response late on a loaded machine

    def test_no_write_reaches_the_upstream_after_freeze(self):
        self.start()
        for rnd in range(self.ROUNDS):
            with self.subTest(round=rnd):
                if rnd:
                    self.assertEqual(self.ask("set mode open").lines[0], "mode open (was read-only)")
                self.one_round(rnd)

    def one_round(self, rnd):
        self.up.clear()
        stop = threading.Event()
        clients = [LoadClient(self.proxy.port, rnd * 100 + i, stop, keep_alive=i % 2 == 0)
                   for i in range(self.CLIENTS)]
        drain = {}

        def slow_write():  # one write certainly in flight when the fence goes up
            try:
                drain["resp"] = self.http("POST", "/slow/600?drain=%d" % rnd, body=b"drain")
                drain["done"] = time.time()
            except Exception as e:
                drain["error"] = e

        slow = threading.Thread(target=slow_write, daemon=True)
        try:
            for c in clients:
                c.start()
            poll_until(lambda: sum(1 for c in clients for r in c.records if r[3] == 200) >= 20, 30,
                       what="20 writes through the proxy under load")
            slow.start()
            self.up.wait_for(lambda u: any("drain=" in r.target for r in u.requests), 20, "the draining write")
            with AdminConn(self.sock_path) as admin:
                sent_at = time.time()
                r = admin.command("freeze timeout 10s --json", True)
                replied = admin.replied_at
            # Keep the load on after the freeze: every one of these must be refused.
            time.sleep(0.5)
        finally:
            stop.set()
            for c in clients:
                c.join(30)
            slow.join(30)
        for c in clients:
            self.assertIsNone(c.error, "client %s: %s" % (c.name, c.error))
            self.assertFalse(c.is_alive(), "client %s still running" % c.name)
        self.assertNotIn("error", drain)
        self.assertEqual(drain["resp"].status, 200, drain["resp"].describe())

        self.assertEqual((r["ok"], r["fenced"], r["pending"], r["mode"]), (True, True, 0, "read-only"), r)
        self.assertGreaterEqual(r["waited_for"], 1, r)
        boundary = epoch_ms(r["write_boundary"])

        # The invariant: no write head reached the upstream after freeze answered.
        writes = [x for x in self.up.requests if x.method == "POST"]
        late = [(x.target, x.wall - replied) for x in writes if x.wall > replied]
        self.assertEqual(late, [], "writes reached the upstream after freeze replied (target, seconds late)")

        records = [rec for c in clients for rec in c.records]
        statuses = {rec[3] for rec in records}
        self.assertTrue(statuses <= {200, 503}, statuses)
        after = [rec for rec in records if rec[1] >= replied]
        self.assertGreater(len(after), 0, "no write was sent after the freeze: the check proves nothing")
        wrong = [rec for rec in after if rec[3] != 503 or rec[4] != "read-only"]
        self.assertEqual(wrong, [], "writes sent after the freeze that were not refused")

        # The boundary: after every forwarded write finished, not after the reply.
        self.assertLessEqual(boundary, replied * 1000, (r, replied))
        upstream_last = max(x.respond_wall for x in writes if x.respond_wall is not None)
        self.assertGreaterEqual(boundary, int(upstream_last * 1000),
                                "boundary %s before the upstream answered the last write at %.3f"
                                % (r["write_boundary"], upstream_last))
        client_last = max([rec[2] for rec in records if rec[3] == 200] + [drain["done"]])
        self.assertGreaterEqual(boundary, client_last * 1000 - self.CLIENT_SLACK_MS,
                                "boundary %s, last write seen done by a client at %.3f"
                                % (r["write_boundary"], client_last))
        self.assertGreaterEqual(boundary, sent_at * 1000)  # the drain write was in flight then
        s = self.status()
        self.assertEqual((s["fenced"], s["last_write_boundary"], s["in_flight"]["writes"]),
                         (True, r["write_boundary"], 0), s)


# ---- 4. a freeze that times out --------------------------------------------------------------

class FreezeTimeoutTest(AdminTestCase):

    def test_freeze_times_out_on_a_slow_write_then_succeeds(self):
        self.start()
        result = {}

        def slow_write():
            try:
                result["resp"] = self.http("POST", "/slow/3000", body=b"slow")
            except Exception as e:
                result["error"] = e

        t = threading.Thread(target=slow_write, daemon=True)
        t.start()
        self.addCleanup(t.join, 30)
        self.up.wait_for(lambda u: u.count("/slow/3000") == 1, 20, "the slow write at the upstream")
        # The upstream answers 3 s after it read the head: until then the write is in flight.
        slow_ends = [x for x in self.up.requests if x.path == "/slow/3000"][0].wall + 3.0
        started = time.time()
        code, out, err = self.ctl("freeze", "timeout", "500ms")
        ended = time.time()
        self.assertLess(ended, slow_ends, "the freeze took so long that the slow write ended first: no proof")
        self.assertEqual((code, out), (1, ""), err)
        self.assertEqual(err, "error: freeze timed out after 500ms: 1 write(s) still in flight; "
                              "writes stay refused\n")
        self.assertGreaterEqual(ended - started, 0.5)

        s = self.status()
        self.assertEqual((s["mode"], s["fenced"], s["in_flight"]["writes"], s["last_write_boundary"]),
                         ("read-only", True, 1, None), s)
        self.refused("POST", "/echo", "read-only", body=b"x")
        self.forwarded("GET", "/echo")
        entry = self.audit_lines()[-1]
        self.assertEqual((entry["command"], entry["outcome"], entry["detail"]),
                         ("freeze timeout 500ms", "failed",
                          "timed out after 500ms with 1 write(s) still in flight; the fence stays up"), entry)

        # The same, as JSON, while the write is still in flight; meanwhile the gate says
        # what it is waiting for and refuses another change.
        if time.time() + 1.6 < slow_ends:
            second = {}
            waiter = threading.Thread(target=lambda: second.update(r=self.ask("freeze timeout 1s --json", True)),
                                      daemon=True)
            waiter.start()
            poll_until(lambda: self.status()["in_progress"] != "" or not waiter.is_alive(), 5, 0.01,
                       "freeze in progress")
            busy = "freeze timeout 1s by uid %d pid %d" % (os.getuid(), os.getpid())
            if waiter.is_alive():
                self.assertEqual(self.status()["in_progress"], busy)
                self.assertEqual(self.ask("set mode open").lines, ["error: another change is in progress: " + busy])
            waiter.join(10)
            r = second["r"]
            self.assertEqual((r["ok"], r["fenced"], r["pending"], r["waited_for"], r["write_boundary"],
                              r["error"]),
                             (False, True, 1, 1, None, "freeze timed out after 1s: 1 write(s) still in "
                                                       "flight; writes stay refused"), r)
            self.assertEqual((self.status()["mode"], self.status()["in_progress"]), ("read-only", ""))

        t.join(30)
        self.assertNotIn("error", result)
        self.assertEqual(result["resp"].status, 200, result["resp"].describe())
        out = self.ctl_ok("freeze")
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^frozen: no write in flight \(0 drained in \d+ ms\)$", out)
        m = re.fullmatch(r"write boundary (%s) \(the last write finished then\)" % ISO_MS, lines[1])
        self.assertIsNotNone(m, out)
        boundary = epoch_ms(m.group(1))
        slow_rec = [x for x in self.up.requests if x.path == "/slow/3000"][0]
        self.assertGreaterEqual(boundary, int(slow_rec.respond_wall * 1000))
        self.assertLessEqual(boundary, time.time() * 1000)
        self.assertEqual(self.status()["last_write_boundary"], m.group(1))


# ---- 5. what the fence holds -------------------------------------------------------------------

class FenceSemanticsTest(AdminTestCase):

    def test_fence_holds_exceptions_and_operators(self):
        self.start(gate={"bypass_secret": SECRET},
                   rules=[{"path": "/echo/login", "action": "allow-writes-in-read-only", "reason": "login"},
                          {"path_prefix": "/echo/healthz", "action": "allow", "reason": "load balancer"}])
        # Controls: read-only without the fence lets the exceptions and operators write.
        self.ctl_ok("set", "mode", "read-only")
        self.forwarded("POST", "/echo/login", body=b"user=a")
        self.forwarded("POST", "/echo", BYPASS, body=b"op")
        self.forwarded("POST", "/echo/healthz", body=b"x")
        self.refused("POST", "/echo", "read-only", body=b"x")

        self.ctl_ok("freeze")
        self.refused("POST", "/echo/login", "read-only", body=b"user=a")
        self.refused("POST", "/echo", "read-only", BYPASS, body=b"op")
        self.refused("POST", "/echo/healthz", "read-only", body=b"x")
        self.forwarded("GET", "/echo")
        self.forwarded("GET", "/echo", BYPASS)

        out = self.ctl_ok("set", "mode", "maintenance")
        self.assertEqual(out, "mode maintenance (was read-only)\n"
                              "the write fence stays up until reopen reaches writes or set mode open\n")
        self.assertEqual((self.status()["mode"], self.status()["fenced"]), ("maintenance", True))
        self.refused("POST", "/echo", "maintenance", BYPASS, body=b"op")
        self.forwarded("GET", "/echo", BYPASS)
        self.refused("GET", "/echo", "maintenance")

        self.ctl_ok("set", "mode", "read-only")
        self.assertTrue(self.status()["fenced"])
        self.refused("POST", "/echo/login", "read-only", body=b"user=a")

        self.ctl_ok("set", "mode", "open")
        self.assertFalse(self.status()["fenced"])
        self.forwarded("POST", "/echo", body=b"x")

        self.ctl_ok("freeze")
        self.refused("POST", "/echo/login", "read-only", body=b"user=a")
        r = self.ask("reopen --json", True)
        self.assertEqual((r["ok"], r["stage"]), (True, "writes"), r)
        self.assertFalse(self.status()["fenced"])
        self.forwarded("POST", "/echo", body=b"x")
        self.forwarded("POST", "/echo/login", body=b"user=a")


    def test_fence_holds_until_the_stage_that_lets_writes_in(self):
        # One rule: the write boundary is what a restore point is taken against, so the
        # fence holds through every stage that still refuses writes, for operators too,
        # and lifts at the first stage that lets writes in.
        self.start(gate={"bypass_secret": SECRET})
        self.ctl_ok("freeze")
        self.ctl_ok("set", "mode", "maintenance", "reason", "migration")
        self.refused("POST", "/echo", "maintenance", BYPASS, body=b"op")
        fence_line = "the write fence stays up until reopen reaches writes or set mode open"
        for stage, mode, fenced in (("operators", "maintenance", True), ("read-only", "read-only", True),
                                    ("writes", "open", False), ("open", "open", False)):
            out = self.ctl_ok("reopen")
            self.assertEqual(out.splitlines()[0].split(" (")[0], "stage " + stage, out)
            self.assertEqual(fence_line in out.splitlines(), fenced, out)
            s = self.status()
            self.assertEqual((s["stage"], s["mode"], s["fenced"]), (stage, mode, fenced), s)
            status_text = self.ctl_ok("status").splitlines()[0]
            self.assertEqual(status_text.endswith(", writes fenced"), fenced, status_text)
            if fenced:
                self.refused("POST", "/echo", mode, BYPASS, body=b"op")
            else:
                self.forwarded("POST", "/echo", BYPASS, body=b"op")
                self.forwarded("POST", "/echo", body=b"anyone")
        # reopen's JSON says it too; `set mode open` is the other way to lift it.
        self.ctl_ok("freeze")
        r = self.ask("reopen --json", True)
        self.assertEqual((r["stage"], r["fenced"]), ("writes", False), r)
        self.ctl_ok("freeze")
        self.ctl_ok("set", "mode", "open")
        self.assertFalse(self.status()["fenced"])
        self.forwarded("POST", "/echo", body=b"x")

    def test_set_mode_without_reason_keeps_the_window(self):
        self.start()
        self.ctl_ok("set", "mode", "read-only", "reason", "upgrade to v2", "for", "45m")
        before = self.status()
        out = self.ctl_ok("set", "mode", "maintenance")
        s = self.status()
        self.assertEqual((s["mode"], s["reason"], s["until"]), ("maintenance", "upgrade to v2", before["until"]), s)
        self.assertEqual(out.splitlines()[0], "mode maintenance (was read-only): upgrade to v2", out)
        self.assertTrue(out.splitlines()[1].startswith("expected end "), out)
        self.ctl_ok("set", "mode", "maintenance")
        self.assertEqual(self.status()["reason"], "upgrade to v2")
        # A new reason is a new window: it replaces both.
        self.ctl_ok("set", "mode", "maintenance", "reason", "schema migration")
        s = self.status()
        self.assertEqual((s["reason"], s["until"]), ("schema migration", None), s)
        # Opening ends the window.
        self.ctl_ok("set", "mode", "open")
        self.ctl_ok("set", "mode", "read-only")
        s = self.status()
        self.assertEqual((s["reason"], s["until"]), ("", None), s)


class TunnelTest(AdminTestCase):
    """An upgraded connection can carry writes, so the gate treats an upgrade as a write
    and cuts open tunnels when it closes."""

    WS = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
          ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]

    def open_tunnel(self, headers=()):
        c = ClientConn(self.proxy.port)
        self.addCleanup(c.close)
        c.send(build_request("GET", "/ws", self.WS + list(headers)))
        resp = c.read_final()
        self.assertEqual(resp.status, 101, resp.describe())
        c.send(b"ping")
        got = b""
        deadline = time.monotonic() + 10
        while got != b"ping" and time.monotonic() < deadline:
            got += c.sock.recv(16)
        self.assertEqual(got, b"ping", "no echo through the tunnel")
        return c

    def assert_cut(self, c, what):
        c.sock.settimeout(10)
        try:
            data = c.sock.recv(16)
        except (ConnectionResetError, socket.timeout) as e:
            data = e
        self.assertEqual(data, b"", "%s: the tunnel is still open (%r)" % (what, data))

    def test_tunnels_are_cut_when_the_gate_closes_or_the_fence_rises(self):
        self.start(gate={"bypass_secret": SECRET})
        c = self.open_tunnel()
        self.ctl_ok("set", "mode", "read-only")
        self.assert_cut(c, "set mode read-only")
        self.assertIsNotNone(self.proxy.wait_log(r"gate closed: cut 1 upgraded connection", 10), self.proxy.output())
        # In read-only an upgrade is refused like a write; an operator may still open one...
        self.refused("GET", "/ws", "read-only", self.WS)
        op = self.open_tunnel(BYPASS)
        # ...until the fence rises: then nothing that can write stays open.
        self.ctl_ok("freeze")
        self.assert_cut(op, "freeze")
        self.refused("GET", "/ws", "read-only", self.WS + BYPASS)
        self.ctl_ok("set", "mode", "open")
        self.open_tunnel()

    def test_the_bypass_secret_never_reaches_the_app(self):
        self.start(mode="read-only", gate={"bypass_secret": SECRET})
        self.forwarded("POST", "/echo", BYPASS, body=b"op")
        reqs = [r for r in self.up.requests if r.method == "POST"]
        self.assertTrue(reqs)
        self.assertEqual(reqs[-1].values("x-maintgate-bypass"), [], reqs[-1].headers)


# ---- 6. staged reopen -------------------------------------------------------------------------

class StagedReopenTest(AdminTestCase):

    def setUp(self):
        super().setUp()
        self.start(mode="maintenance", gate={"bypass_secret": SECRET},
                   health={"path": "/status/200", "interval": "0s"},
                   smoke=[{"name": "front page", "path": "/smoke", "body_contains": "Welcome"}],
                   rules=[{"path_prefix": "/echo/hook", "action": "webhook", "reason": "payments"}])

    def assert_stage(self, stage):
        s = self.status()
        self.assertEqual(s["stage"], stage, s)
        return s

    def test_reopen_is_gated_by_checks_stage_by_stage(self):
        # A failing smoke check refuses the step and names the check.
        self.up.smoke_status = 500
        code, out, err = self.ctl("reopen")
        self.assertEqual((code, out), (1, ""), err)
        lines = err.splitlines()
        self.assertEqual(lines[0], "error: not advancing to operators: front page: expected 200, got 500", err)
        self.assertEqual(lines[1], "x  operators", err)
        self.assertRegex(lines[2], r"^     pass  GET /status/200: 200 in \d+ ms$")
        self.assertEqual(lines[3:], ["     FAIL  front page: expected 200, got 500", "stage stays maintenance"])
        self.assert_stage("maintenance")
        entry = self.audit_lines()[-1]
        self.assertEqual((entry["command"], entry["outcome"], entry["old_stage"], entry["new_stage"]),
                         ("reopen", "refused", "maintenance", "maintenance"), entry)
        self.assertIn("front page: expected 200, got 500", entry["detail"])

        # Right status, wrong body: refused too.
        self.up.smoke_status, self.up.smoke_body = 200, b"Under construction\n"
        r = self.ask("reopen --json", True)
        self.assertEqual((r["ok"], r["from"], r["stage"], r["error"]),
                         (False, "maintenance", "maintenance",
                          'not advancing to operators: front page: body does not contain "Welcome"'), r)
        self.assertEqual([(s["stage"], s["advanced"], s["forced"]) for s in r["steps"]],
                         [("operators", False, False)], r)
        self.assertEqual([(c["name"], c["ok"], c["status"], c["detail"]) for c in r["steps"][0]["checks"]][1],
                         ("front page", False, 200, 'body does not contain "Welcome"'), r)
        self.assert_stage("maintenance")
        self.refused("GET", "/echo", "maintenance")

        # Passing: operators. Everyone else still sees the maintenance page.
        self.up.smoke_body = b"Welcome back\n"
        out = self.ctl_ok("reopen")
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["stage operators (was maintenance)", "-> operators"], out)
        self.assertRegex(lines[3], r"^     pass  front page: 200 in \d+ ms$")
        self.assertEqual(self.assert_stage("operators")["mode"], "maintenance")
        self.refused("GET", "/echo", "maintenance")
        self.refused("POST", "/echo", "maintenance", body=b"x")
        resp = self.forwarded("GET", "/echo", BYPASS)
        self.assertEqual((resp.status, resp.value("x-maintgate-mode")), (200, "maintenance"), resp.describe())
        self.forwarded("POST", "/echo", BYPASS, body=b"op")

        # --force past a failing check: read-only, and the audit log says forced.
        self.up.smoke_status = 500
        out = self.ctl_ok("reopen", "--force")
        self.assertEqual(out.splitlines()[:2], ["stage read-only (was operators)",
                                                "-> read-only (forced past failing checks)"], out)
        self.assertIn("     FAIL  front page: expected 200, got 500", out.splitlines())
        entry = self.audit_lines()[-1]
        self.assertEqual((entry["command"], entry["outcome"], entry["old_stage"], entry["new_stage"]),
                         ("reopen --force", "ok", "operators", "read-only"), entry)
        self.assertEqual(entry["detail"], "forced past failing checks: front page: expected 200, got 500")
        self.assert_stage("read-only")
        resp = self.forwarded("GET", "/echo")
        self.assertEqual(resp.value("x-maintgate-mode"), "read-only")
        self.refused("POST", "/echo", "read-only", body=b"x")

        # Backwards is not what reopen does.
        code, out, err = self.ctl("reopen", "to", "operators")
        self.assertEqual((code, err), (1, "error: reopen only moves forward: the gate is at read-only; "
                                          "use set mode to step back\nstage stays read-only\n"), out)

        # writes: writes pass, webhook routes are still held.
        self.up.smoke_status = 200
        self.assertEqual(self.ctl_ok("reopen").splitlines()[0], "stage writes (was read-only)")
        s = self.assert_stage("writes")
        self.assertEqual(s["mode"], "open")
        resp = self.forwarded("POST", "/echo", body=b"x")
        self.assertEqual(resp.values("x-maintgate-mode"), [], resp.describe())
        target = self.unique("/echo/hook/stripe")
        resp = self.http("POST", target, body=b"{}")
        self.assertEqual(resp.status, 503, resp.describe())
        self.assertIsNotNone(resp.value("retry-after"), resp.describe())
        self.assertFalse(any(r.target == target for r in self.up.requests), "a held webhook reached the app")

        # open: the webhook passes.
        self.assertEqual(self.ctl_ok("reopen").splitlines()[0], "stage open (was writes)")
        self.assert_stage("open")
        self.forwarded("POST", "/echo/hook/stripe", body=b"{}")
        code, out, err = self.ctl("reopen")
        self.assertEqual((code, err), (1, "error: already open; nothing to reopen\nstage stays open\n"))

    # Defect: help (generated from the command table in proxy/admin/admin_command.cpp) says
    # `reopen status` shows "the stage, its gate check results and error rate since it
    # began", but the reply (admin_server.cpp, verb::reopen_status) has no check
    # results at all, in text or JSON: after a refused step the operator cannot see
    # there which check failed. Either the reply or the help text is wrong; this test
    # holds them to each other.
    def test_reopen_status_shows_what_help_promises(self):
        summary = [l for l in self.ctl_ok("help").splitlines() if l[2:].startswith("reopen status ")][0]
        self.up.smoke_status = 500
        code, _, err = self.ctl("reopen")
        self.assertEqual(code, 1, err)
        out = self.ctl_ok("reopen", "status")
        r = self.ask("reopen status --json", True)
        if "check" in summary:
            self.assertIn("front page", out, "help: %r\nreopen status:\n%s" % (summary.strip(), out))
            self.assertIn("front page", json.dumps(r), r)

    def test_reopen_to_open_runs_every_step(self):
        # The checks pass twice, then fail: the third step is refused.
        self.up.smoke_passes = 2
        code, out, err = self.ctl("reopen", "to", "open")
        self.assertEqual(code, 1, out + err)
        lines = err.splitlines()
        self.assertEqual(lines[0], "error: not advancing to writes: front page: expected 200, got 500", err)
        self.assertEqual([l for l in lines if not l.startswith("     ")][1:],
                         ["-> operators", "-> read-only", "x  writes", "stage stays read-only"], err)
        self.assert_stage("read-only")
        self.assertEqual(self.up.count("/smoke"), 3)

        self.up.smoke_passes = None
        self.ctl_ok("set", "mode", "maintenance")
        out = self.ctl_ok("reopen", "to", "open")
        lines = out.splitlines()
        self.assertEqual(lines[0], "stage open (was maintenance)", out)
        self.assertEqual([l for l in lines[1:] if not l.startswith("     ")],
                         ["-> operators", "-> read-only", "-> writes", "-> open"], out)
        self.assertEqual(len([l for l in lines if l.startswith("     pass  ")]), 8, out)
        self.assertEqual(self.up.count("/smoke"), 3 + 4)
        self.assertEqual(self.up.count("/status/200"), 3 + 4)
        steps = [(e["old_stage"], e["new_stage"]) for e in self.audit_lines() if e["command"] == "reopen to open"
                 and e["outcome"] == "ok"]
        self.assertEqual(steps, [("maintenance", "operators"), ("operators", "read-only"),
                                 ("maintenance", "operators"), ("operators", "read-only"),
                                 ("read-only", "writes"), ("writes", "open")])
        self.assert_stage("open")


# ---- 7. automatic step back ---------------------------------------------------------------------

class StepBackTest(AdminTestCase):

    def test_error_rate_steps_back(self):
        p = self.start(mode="maintenance",
                       reopen={"watch": "30s", "min_requests": 5, "max_error_rate": 0.2})
        out = self.ctl_ok("reopen", "to", "writes")
        self.assertRegex(out.splitlines()[-1], r"^watching the upstream 5xx rate until %s \(in \d+s\)$" % ISO_S)
        s = self.status()
        self.assertEqual(s["stage"], "writes")
        self.assertTrue(25 <= epoch_ms(s["watch_until"]) / 1000 - time.time() <= 31, s)

        def errors(n):
            c = ClientConn(self.proxy.port)
            try:
                for _ in range(n):
                    resp = c.request("GET", self.unique("/status/500"))
                    self.assertEqual(resp.status, 500, resp.describe())
            finally:
                c.close()

        # Below min_requests the rate does not count yet.
        errors(4)
        time.sleep(2.2)  # the watch looks once a second
        self.assertEqual(self.status()["stage"], "writes", "stepped back before min_requests responses")
        errors(4)
        poll_until(lambda: self.status()["stage"] == "read-only", 10, 0.2, "the automatic step back")

        s = self.status()
        self.assertEqual((s["mode"], s["set_by"], s["watch_until"]), ("read-only", "watch", None), s)
        # The watch looks once a second, so it may act anywhere from the 5th error on.
        m = re.fullmatch(r"%s: stepped back to read-only: (upstream 5xx rate 100\.0%% \((\d+) of \2\) since stage "
                         r"writes began, above 20\.0%%)" % ISO_S, s["last_step_back"])
        self.assertIsNotNone(m, s["last_step_back"])
        self.assertTrue(5 <= int(m.group(2)) <= 8, s["last_step_back"])
        why = m.group(1)
        self.assertIn("step back   " + s["last_step_back"], self.ctl_ok("status").splitlines())
        self.assertIn("step back   " + s["last_step_back"], self.ctl_ok("reopen", "status").splitlines())
        self.assertEqual(self.ask("reopen status --json", True)["last_step_back"], s["last_step_back"])

        entry = self.audit_lines()[-1]
        self.assertEqual({k: entry[k] for k in ("uid", "pid", "actor", "command", "old_mode", "new_mode",
                                                "old_stage", "new_stage", "outcome", "detail")},
                         {"uid": None, "pid": None, "actor": "watch", "command": "step back to read-only",
                          "old_mode": "open", "new_mode": "read-only", "old_stage": "writes",
                          "new_stage": "read-only", "outcome": "ok", "detail": why})
        line = p.wait_log(r"gate: stepping back from writes to read-only: " + re.escape(why), 5)
        self.assertIsNotNone(line, p.output())
        self.assertRegex(line, r"\[warn(ing)?\]")
        self.refused("POST", "/echo", "read-only", body=b"x")
        self.assertEqual(self.read_state()["stage"], "read-only")


# ---- 8. audit -----------------------------------------------------------------------------------

class AuditTest(AdminTestCase):

    def test_audit_lines_record_the_peer(self):
        self.start(smoke=[{"name": "always broken", "path": "/status/500"}])
        t0 = time.time()
        pid1, code, out, err = self.ctl_with_pid("set", "mode", "maintenance", "reason", "db upgrade", "for", "30m")
        self.assertEqual(code, 0, err)
        with AdminConn(self.sock_path) as c:
            self.assertEqual(c.command("set mode read-only reason socket").lines[0],
                             "mode read-only (was maintenance): socket")
            self.assertTrue(c.command("frobnicate").text.startswith("error: "))
            self.assertTrue(c.command("status").ok)
        pid3, code, out, err = self.ctl_with_pid("reopen")
        self.assertEqual(code, 1, out)
        t1 = time.time()

        entries = self.audit_lines()
        self.assertEqual(len(entries), 3, entries)
        for e in entries:
            self.assertEqual(set(e), AUDIT_KEYS, e)
            self.assertRegex(e["time"], "^%s$" % ISO_MS)
            self.assertTrue(t0 * 1000 - 1000 <= epoch_ms(e["time"]) <= t1 * 1000 + 1000, (t0, e, t1))
            self.assertEqual(e["uid"], os.getuid(), e)
            self.assertEqual(e["actor"], "uid %d pid %d" % (e["uid"], e["pid"]), e)
        first, second, third = entries
        self.assertEqual(first["pid"], pid1)
        self.assertRegex(first["command"], r'^set mode maintenance reason "db upgrade" until %s$' % ISO_S)
        self.assertEqual((first["old_mode"], first["new_mode"], first["old_stage"], first["new_stage"],
                          first["reason"], first["outcome"]),
                         ("open", "maintenance", "open", "maintenance", "db upgrade", "ok"), first)
        self.assertEqual(second["pid"], os.getpid())
        self.assertEqual((second["command"], second["old_mode"], second["new_mode"], second["reason"],
                          second["outcome"]),
                         ('set mode read-only reason "socket"', "maintenance", "read-only", "socket", "ok"), second)
        self.assertEqual(third["pid"], pid3)
        self.assertEqual((third["command"], third["old_stage"], third["new_stage"], third["outcome"]),
                         ("reopen", "read-only", "read-only", "refused"), third)
        self.assertEqual(third["detail"], "not advancing to writes: always broken: expected 200, got 500")

        r = self.ask("history 2 --json", True)
        self.assertEqual(r["entries"], entries[-2:])
        lines = self.ctl_ok("history", "2").splitlines()
        self.assertEqual(len(lines), 2)
        self.assertIn("uid %d pid %d  reopen  read-only/read-only -> read-only/read-only  refused" %
                      (os.getuid(), pid3), lines[1])
        self.assertEqual(self.ask("history --json", True)["entries"], entries)

    def test_unwritable_audit_log_refuses_the_change(self):
        os.mkdir(self.audit_path)  # a directory where the file should be
        self.start()
        state = read_bytes(self.state_path)
        for words in (("set", "mode", "maintenance", "reason", "x"), ("freeze",)):
            with self.subTest(command=words):
                code, out, err = self.ctl(*words)
                self.assertEqual((code, out), (1, ""), err)
                self.assertEqual(err, "error: cannot write the audit log: cannot open %s: Is a directory; "
                                      "nothing changed\n" % self.audit_path)
                s = self.status()
                self.assertEqual((s["mode"], s["fenced"]), ("open", False), s)
                self.assertEqual(read_bytes(self.state_path), state, "the state file changed")
                self.forwarded("POST", "/echo", body=b"x")
        code, out, err = self.ctl("history")
        self.assertEqual(code, 1, out)
        self.assertIn(self.audit_path, err)


# ---- 9. metrics ---------------------------------------------------------------------------------

class MetricsTest(AdminTestCase):

    def scrape(self, port):
        resp = self.http("GET", "/metrics", port=port)
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.value("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return parse_metrics(resp.body.decode())

    def test_metrics_follow_requests_and_the_gate(self):
        self.start(admin={"metrics": "127.0.0.1:0"})
        port = self.metrics_port()
        samples, types = self.scrape(port)
        for family, kind in METRIC_FAMILIES.items():
            self.assertEqual(types.get(family), kind, family)
        for absent in ("maintgate_last_write_boundary_timestamp_seconds",
                       "maintgate_last_write_completed_timestamp_seconds"):
            self.assertNotIn(absent, types)
        self.assertEqual(metric(samples, "maintgate_mode", mode="open"), 1)
        self.assertEqual(metric(samples, "maintgate_write_fence"), 0)

        def delta(before, after, name, **labels):
            return metric(after, name, **labels) - metric(before, name, **labels)

        for _ in range(3):
            self.forwarded("GET", "/echo")
        for _ in range(2):
            self.forwarded("POST", "/echo", body=b"x")
        self.forwarded("GET", "/status/500")
        after, types = self.scrape(port)
        self.assertEqual(delta(samples, after, "maintgate_requests_total", mode="open", decision="forward"), 6)
        self.assertEqual(delta(samples, after, "maintgate_upstream_responses_total"), 6)
        self.assertEqual(delta(samples, after, "maintgate_upstream_5xx_responses_total"), 1)
        self.assertEqual(types.get("maintgate_last_write_completed_timestamp_seconds"), "gauge")

        # In flight: one read and one write held by the upstream.
        done = []
        threads = [threading.Thread(target=lambda m=m: done.append(self.http(m, "/slow/1500", body=b"x" if m ==
                                                                              "POST" else None)), daemon=True)
                   for m in ("GET", "POST")]
        for t in threads:
            t.start()
        self.up.wait_for(lambda u: u.count("/slow/1500") == 2, 20, "two slow requests")
        mid, _ = self.scrape(port)
        self.assertEqual(metric(mid, "maintgate_in_flight_requests", kind="read"), 1)
        self.assertEqual(metric(mid, "maintgate_in_flight_requests", kind="write"), 1)
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(r.status for r in done), [200, 200])
        # A request is in flight until its response is written, and the client can have
        # read every byte a moment before the proxy sees its write complete (seen under
        # ASan on a loaded machine): wait for both gauges, within a bound.
        gauges = []
        def none_in_flight():
            after, _ = self.scrape(port)
            gauges[:] = [metric(after, "maintgate_in_flight_requests", kind=k) for k in ("read", "write")]
            return gauges == [0, 0]
        try:
            poll_until(none_in_flight, 10, 0.05, "no request in flight")
        except AssertionError as e:
            self.fail("%s; in flight (read, write): %r" % (e, gauges))

        # read-only: the mode gauge moves, refusals are counted.
        self.ctl_ok("set", "mode", "read-only")
        before, _ = self.scrape(port)
        self.assertEqual([metric(before, "maintgate_mode", mode=m) for m in ("open", "read-only", "maintenance")],
                         [0, 1, 0])
        self.assertEqual(metric(before, "maintgate_stage", stage="read-only"), 1)
        self.refused("POST", "/echo", "read-only", body=b"x")
        self.refused("PUT", "/echo", "read-only", body=b"x")
        self.forwarded("GET", "/echo")
        after, _ = self.scrape(port)
        self.assertEqual(delta(before, after, "maintgate_refused_writes_total"), 2)
        self.assertEqual(delta(before, after, "maintgate_requests_total", mode="read-only",
                               decision="refuse-write"), 2)
        self.assertEqual(delta(before, after, "maintgate_requests_total", mode="read-only", decision="forward"), 1)

        # freeze: the fence gauge and the boundary, which equals freeze's.
        r = self.ask("freeze --json", True)
        self.assertTrue(r["ok"], r)
        after, types = self.scrape(port)
        self.assertEqual(metric(after, "maintgate_write_fence"), 1)
        self.assertEqual(types.get("maintgate_last_write_boundary_timestamp_seconds"), "gauge")
        self.assertEqual(round(metric(after, "maintgate_last_write_boundary_timestamp_seconds") * 1000),
                         epoch_ms(r["write_boundary"]))

        self.ctl_ok("set", "mode", "maintenance")
        before, _ = self.scrape(port)
        self.assertEqual(metric(before, "maintgate_mode", mode="maintenance"), 1)
        self.assertEqual(metric(before, "maintgate_write_fence"), 1)
        self.refused("GET", "/echo", "maintenance")
        after, _ = self.scrape(port)
        self.assertEqual(delta(before, after, "maintgate_requests_total", mode="maintenance",
                               decision="maintenance"), 1)

        for target in ("/", "/other", "/metrics/x"):
            with self.subTest(target=target):
                self.assertEqual(self.http("GET", target, port=port).status, 404)
        self.assertEqual(self.http("GET", "/metrics?x=1", port=port).status, 200)

    # Defect: server.cpp fills metrics_view::last_write_boundary_ms with
    # gate_control::last_boundary_ms() as is, and a freeze with no write since start-up
    # stores a boundary of 0 there. metrics.hpp says the family is omitted while there
    # is none (and status --json says null), but the metrics show
    # "maintgate_last_write_boundary_timestamp_seconds 0.000", a boundary in 1970.
    def test_no_boundary_metric_without_a_write(self):
        self.start(admin={"metrics": "127.0.0.1:0"})
        port = self.metrics_port()
        out = self.ctl_ok("freeze")
        self.assertIn("write boundary: no write since start-up", out.splitlines())
        self.assertIsNone(self.status()["last_write_boundary"])
        samples, types = self.scrape(port)
        self.assertEqual(metric(samples, "maintgate_write_fence"), 1)
        self.assertNotIn("maintgate_last_write_boundary_timestamp_seconds", types,
                         "a boundary metric after a freeze that had no write to bound")


# ---- 10. reload and SIGHUP ----------------------------------------------------------------------

class ReloadBase(AdminTestCase):
    """read-only, retry_after 10m, pages from a copy of maintenance_pages/."""

    watched = True

    def setUp(self):
        super().setUp()
        self.pages = os.path.join(self.dir, "pages")
        os.mkdir(self.pages)
        for name in ("maintenance.html", "read_only.html"):
            shutil.copy(os.path.join(PAGES, name), self.pages)
        self.start(watched=self.watched, mode="read-only", gate={"retry_after": "10m", "pages_dir": self.pages})

    def rewrite(self, cfg=None, text=None):
        with open(self.proxy.config_path, "w") as f:
            f.write(text if text is not None else to_toml(cfg))

    def refusal(self, conn=None, target="/echo"):
        target = self.unique(target)
        if conn is None:
            resp = self.http("POST", target, [("Accept", "text/html")], b"x")
        else:
            resp = conn.request("POST", target, [("Accept", "text/html")], b"x")
        self.assertEqual(resp.status, 503, resp.describe())
        return resp

    def config_errors(self, text):
        found = []
        for line in text.splitlines():
            m = CONFIG_ERROR_RE.match(line)
            if m:
                found.append((m.group("file"), int(m.group("line")), int(m.group("col")), m.group("msg")))
        return found

    def line_of(self, text, needle):
        return [i for i, l in enumerate(text.splitlines(), 1) if needle in l][0]

    def count_log(self, pattern):
        rx = re.compile(pattern)
        return sum(1 for l in self.proxy.lines() if rx.search(l))


class ReloadTest(ReloadBase):

    def test_reload_applies_pages_rules_and_retry_after(self):
        kept = self.connect()
        self.assertEqual(kept.request("GET", "/echo").status, 200)
        old = self.refusal()
        self.assertEqual(old.value("retry-after"), "600")
        self.assertNotIn(b"RELOADED-PAGE", old.body)
        self.refused("POST", "/echo/login", "read-only", body=b"u")
        since = self.status()["since"]

        cfg = merge(self.cfg, {"gate": {"retry_after": "2m"},
                               "rule": [{"path": "/echo/login", "action": "allow-writes-in-read-only",
                                         "reason": "login"}]})
        self.rewrite(cfg)
        path = os.path.join(self.pages, "read_only.html")
        with open(path) as f:
            page = f.read()
        with open(path, "w") as f:
            f.write(page.replace("<title>", "<title>RELOADED-PAGE ", 1))

        out = self.ctl_ok("reload")
        self.assertEqual(out, "reloaded %s; mode unchanged (read-only)\n" % self.proxy.config_path)
        new = self.refusal()
        self.assertEqual(new.value("retry-after"), "120")
        self.assertIn(b"RELOADED-PAGE", new.body)
        self.forwarded("POST", "/echo/login", body=b"u")
        # The connection opened before the reload works, under the new config.
        self.assertEqual(kept.request("GET", "/echo").status, 200)
        self.assertEqual(self.refusal(kept).value("retry-after"), "120")
        s = self.status()
        self.assertEqual((s["mode"], s["stage"], s["since"]), ("read-only", "read-only", since), s)
        entry = self.audit_lines()[-1]
        self.assertEqual((entry["command"], entry["outcome"], entry["old_mode"], entry["new_mode"]),
                         ("reload", "ok", "read-only", "read-only"), entry)

    def test_broken_config_is_refused_and_the_old_one_serves(self):
        path = self.proxy.config_path
        good = merge(self.cfg, {"gate": {"retry_after": "2m"}})
        self.rewrite(good)
        self.ctl_ok("reload")
        self.assertEqual(self.refusal().value("retry-after"), "120")
        audit_before = len(self.audit_lines())

        # A syntax error: one error, with its position.
        text = to_toml(merge(good, {"gate": {"retry_after": "3m"}})).replace('retry_after = "3m"',
                                                                            'retry_after = "3m')
        self.rewrite(text=text)
        code, out, err = self.ctl("reload")
        self.assertEqual((code, out), (1, ""), err)
        lines = err.splitlines()
        self.assertEqual(lines[0], "error: reload refused; the running config stays")
        errors = self.config_errors(err)
        self.assertEqual(len(errors), 1, err)
        self.assertEqual(errors[0][:2], (path, self.line_of(text, 'retry_after = "3m')), err)
        self.assertGreaterEqual(errors[0][2], 1)

        # An unknown key and a bad value: both listed, in the file's order, as JSON too.
        text = to_toml(merge(good, {"gate": {"retry_aftr": "5m", "initial_mode": "sideways"}}))
        self.rewrite(text=text)
        code, out, err = self.ctl("reload")
        self.assertEqual(code, 1, out)
        errors = self.config_errors(err)
        self.assertEqual([(e[0], e[1]) for e in errors],
                         sorted([(path, self.line_of(text, "retry_aftr")), (path, self.line_of(text, "sideways"))],
                                key=lambda e: e[1]), err)
        self.assertIn('unknown key "retry_aftr"', err)
        self.assertEqual(errors[[e[1] for e in errors].index(self.line_of(text, "retry_aftr"))][2], 1, err)
        r = self.ask("reload --json", True)
        self.assertEqual((r["ok"], r["error"]), (False, "reload refused; the running config stays"), r)
        self.assertEqual([self.config_errors(e)[0][:3] for e in r["errors"]], [e[:3] for e in errors], r)

        # The old config still serves, the mode never moved, and the refusals are audited.
        self.assertEqual(self.refusal().value("retry-after"), "120")
        self.assertEqual(self.status()["mode"], "read-only")
        refused = [e for e in self.audit_lines()[audit_before:] if e["command"] == "reload"]
        self.assertEqual([e["outcome"] for e in refused], ["refused"] * 3, refused)

    def test_ctl_with_a_broken_file_reaches_the_server(self):
        # The file being fixed is the one ctl reads its socket from: a broken file must not
        # stop ctl before the server can say why the reload is refused.
        path = self.proxy.config_path
        good = to_toml(self.cfg)
        for broken in (good.replace('retry_after = "10m"', 'retry_after = "10m'),    # not TOML
                       good.replace('retry_after = "10m"', 'retry_after = "ten"')):  # TOML, invalid
            self.rewrite(text=broken)
            code, out, err = run_cli(["ctl", "-c", path, "reload"], timeout=40)
            self.assertEqual((code, out), (1, ""), err)
            self.assertIn("maintgate ctl: %s has 1 error ('maintgate check -c %s' lists them); using its [admin] "
                          "socket %s" % (path, path, self.sock_path), err.splitlines())
            self.assertIn("error: reload refused; the running config stays", err.splitlines())
            self.assertEqual(len(self.config_errors(err)), 1, err)
            code, out, err = run_cli(["ctl", "-c", path, "status"], timeout=40)
            self.assertEqual(code, 0, err)
            self.assertTrue(out.startswith("mode        read-only\n"), out)
        self.assertEqual(self.status()["mode"], "read-only")


    def test_changed_listeners_take_effect_at_restart(self):
        cfg = merge(self.cfg, {"listener": [{"address": "127.0.0.1:0"}, {"address": "127.0.0.1:0"}],
                               "gate": {"retry_after": "2m"}})
        self.rewrite(cfg)
        out = self.ctl_ok("reload")
        lines = out.splitlines()
        self.assertEqual(lines[0], "reloaded %s; mode unchanged (read-only)" % self.proxy.config_path, out)
        self.assertEqual(len(lines), 2, out)
        self.assertRegex(lines[1], r"^warning: listeners\b.* changed; takes effect at the next restart$", out)
        r = self.ask("reload --json", True)
        self.assertEqual(len(r["warnings"]), 1, r)
        self.assertRegex(r["warnings"][0], r"^listeners\b.* changed; takes effect at the next restart$", r)
        # The rest of the file took effect; the old listener still serves.
        self.assertEqual(self.refusal().value("retry-after"), "120")
        self.forwarded("GET", "/echo")


class SighupTest(ReloadBase):
    watched = False  # the defect below kills the process; the test says so itself

    # Defect: the SIGHUP handler in run_server (proxy/net/server.cpp) co_spawns a [&]
    # lambda coroutine that runs after the lambda object is gone, and passes the
    # temporary admin_peer{-1, -1, "SIGHUP"} into co_await gate.reload(...). The reload
    # is done and logged, then destroying that admin_peer frees a pointer that is not
    # the heap's ("munmap_chunk(): invalid pointer"): every SIGHUP aborts maintgate
    # (SIGABRT, exit 134). `ctl reload` takes the same gate_control::reload path
    # without the crash (ReloadTest).
    def test_sighup_reloads_and_refuses_like_reload(self):
        path = self.proxy.config_path
        self.rewrite(merge(self.cfg, {"gate": {"retry_after": "3m"}}))
        self.proxy.send_signal(signal.SIGHUP)
        want = r"reload: config and pages reloaded from %s" % re.escape(path)
        poll_until(lambda: self.count_log(want) == 1, 10, what="the SIGHUP reload in the log")
        time.sleep(0.3)
        self.assertTrue(self.proxy.alive(), "maintgate died after SIGHUP:\n" + self.proxy.output())
        self.assertEqual(self.refusal().value("retry-after"), "180")
        entry = self.audit_lines()[-1]
        self.assertEqual((entry["actor"], entry["uid"], entry["command"], entry["outcome"]),
                         ("SIGHUP", None, "reload", "ok"), entry)

        text = to_toml(merge(self.cfg, {"gate": {"retry_after": "4m", "no_such_key": True}}))
        self.rewrite(text=text)
        self.proxy.send_signal(signal.SIGHUP)
        poll_until(lambda: self.count_log(r"reload refused: 1 error\(s\) in %s; the running config stays"
                                          % re.escape(path)) == 1, 10, what="the refused SIGHUP reload")
        line = self.proxy.wait_log(r"%s:%d:1: unknown key \"no_such_key\"" %
                                   (re.escape(path), self.line_of(text, "no_such_key")), 5)
        self.assertIsNotNone(line, self.proxy.output())
        self.assertEqual(self.refusal().value("retry-after"), "180")
        self.assertEqual(self.status()["mode"], "read-only")
        self.assertTrue(self.proxy.alive(), self.proxy.output())


# ---- 11. restart in the middle of a reopen --------------------------------------------------

class RestartTest(AdminTestCase):

    def start_gate(self, mode="maintenance"):
        return self.start(mode=mode, gate={"bypass_secret": SECRET},
                          rules=[{"path": "/echo/login", "action": "allow-writes-in-read-only", "reason": "login"}])

    def restart(self):
        self.assertEqual(self.proxy.stop(), 0, self.proxy.output())
        self.assertFalse(os.path.lexists(self.sock_path))
        return self.start_gate(mode="open")  # initial_mode must not matter: the state file does

    def test_restart_mid_reopen_keeps_the_stage(self):
        self.start_gate()
        self.ctl_ok("reopen")
        before = self.status()
        self.assertEqual(before["stage"], "operators")
        self.restart()
        s = self.status()
        self.assertEqual((s["mode"], s["stage"], s["fenced"]), ("maintenance", "operators", False), s)
        self.assertEqual((s["since"], s["set_by"]), (before["since"], before["set_by"]), s)
        self.assertTrue(self.ctl_ok("status").startswith("mode        maintenance (stage operators)\n"))
        self.refused("GET", "/echo", "maintenance")
        self.forwarded("GET", "/echo", BYPASS)
        # And the reopen carries on from there.
        self.assertEqual(self.ctl_ok("reopen").splitlines()[0], "stage read-only (was operators)")

    def test_restart_keeps_the_fence(self):
        self.start_gate(mode="open")
        self.forwarded("POST", "/echo", body=b"x")
        r = self.ask("freeze --json", True)
        self.assertTrue(r["ok"], r)
        self.restart()
        s = self.status()
        self.assertEqual((s["mode"], s["stage"], s["fenced"]), ("read-only", "read-only", True), s)
        self.assertTrue(self.ctl_ok("status").startswith("mode        read-only, writes fenced\n"))
        self.refused("POST", "/echo/login", "read-only", body=b"u")
        self.refused("POST", "/echo", "read-only", BYPASS, body=b"op")
        self.forwarded("GET", "/echo")
        self.ctl_ok("set", "mode", "open")
        self.forwarded("POST", "/echo/login", body=b"u")

    def test_restart_in_operators_with_the_fence_up(self):
        self.start_gate()
        self.ctl_ok("reopen")
        self.ctl_ok("freeze")
        self.restart()
        s = self.status()
        self.assertEqual((s["mode"], s["stage"], s["fenced"]), ("maintenance", "operators", True), s)
        self.refused("POST", "/echo", "maintenance", BYPASS, body=b"op")
        self.forwarded("GET", "/echo", BYPASS)
        self.refused("GET", "/echo", "maintenance")


if __name__ == "__main__":
    unittest.main()
