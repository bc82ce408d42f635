"""The maintenance window as one object, through the real binary: plan, start, status,
abort and report over the admin socket; a scheduled window that announces and starts by
itself; the notice in the status JSON; the public feeds (windows.json in the shape of a
hosted status page's scheduled maintenances, windows.ics as RFC 5545); Retry-After spread
past the expected end; [[window]] in the config (and its errors in `check`); kill -9 in
the middle of each phase, then a restart that keeps the window and reports it."""

import calendar
import json
import os
import re
import signal
import threading
import time
import unittest

from harness import ClientConn, poll_until, run_cli, to_toml
from test_admin import AdminTestCase, GateUpstream  # noqa: F401 (the base class only)

STATUS = "/.well-known/maintgate"


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


class WindowTestCase(AdminTestCase):

    def get(self, target, headers=()):
        c = ClientConn(self.proxy.port)
        try:
            return c.request("GET", target, headers)
        finally:
            c.close()

    def window_json(self, line):
        r = self.ask(line + " --json", True)
        return r

    def report(self, wid):
        r = self.ask("window report %s --json" % wid, True)
        self.assertTrue(r["ok"], r)
        return r["report"]

    def kill9(self):
        self.proxy.stopped = True
        self.proxy.proc.send_signal(signal.SIGKILL)
        self.assertEqual(self.proxy.wait_exit(20), -signal.SIGKILL)

    def restart(self, **kw):
        return self.start(**kw)

    def feed(self):
        r = self.get(STATUS + "/windows.json")
        self.assertEqual(r.status, 200, r.describe())
        self.assertEqual(r.value("content-type"), "application/json")
        return json.loads(r.body)

    def ics(self):
        r = self.get(STATUS + "/windows.ics")
        self.assertEqual(r.status, 200, r.describe())
        self.assertTrue(r.value("content-type").startswith("text/calendar"))
        return r.body

    def assert_ics_wellformed(self, raw):
        self.assertTrue(raw.endswith(b"\r\n"), raw[-40:])
        lines = raw.split(b"\r\n")[:-1]
        self.assertEqual(lines[0], b"BEGIN:VCALENDAR")
        self.assertEqual(lines[-1], b"END:VCALENDAR")
        for line in lines:
            self.assertNotIn(b"\n", line)
            self.assertLessEqual(len(line), 75, line)
        # Unfolded: a continuation line starts with one space.
        unfolded = []
        for line in lines:
            if line.startswith(b" "):
                unfolded[-1] += line[1:]
            else:
                unfolded.append(line)
        return [u.decode("utf-8") for u in unfolded]


class WindowRoundTrip(WindowTestCase):

    def test_plan_start_status_reopen_report(self):
        self.start(reopen={"watch": "0s"})
        now = time.time()
        end = iso(now + 3600)
        out = self.ctl_ok("window", "plan", "db-1", "start", "manual", "end", end, "mode", "maintenance",
                          "reason", "database upgrade")
        self.assertIn("planned db-1", out)
        st = self.ask("window status --json", True)
        self.assertTrue(st["ok"], st)
        self.assertIsNone(st["current"])
        self.assertEqual([w["id"] for w in st["planned"]], ["db-1"])
        self.assertIn(st["planned"][0]["phase"], ("planned", "announced"))

        # Announced at once (no announce time): the notice is in the status JSON.
        poll_until(lambda: json.loads(self.get(STATUS).body).get("window"), 5, what="the notice")
        w = json.loads(self.get(STATUS).body)["window"]
        self.assertEqual((w["id"], w["phase"], w["ends"]), ("db-1", "announced", end))
        self.assertEqual(self.get("/echo/x").status, 200)  # announced: still open
        poll_until(lambda: self.report("db-1")["phase"] == "announced", 5, what="announced by the timer")

        started = self.ask("window start db-1 --json", True)
        self.assertTrue(started["ok"], started)
        self.assertEqual(started["window"]["phase"], "active")
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"], s["until"], s["reason"]),
                         ("maintenance", True, end, "database upgrade"))
        self.assertEqual(s["window"]["id"], "db-1")
        page = self.get("/echo/page")
        self.assertEqual(page.status, 503)
        ra = int(page.value("retry-after"))
        left = int(calendar.timegm(time.strptime(end, "%Y-%m-%dT%H:%M:%SZ")) - time.time())
        self.assertGreaterEqual(ra, left - 5)
        self.assertLessEqual(ra, left + 60 + 5)
        sj = json.loads(self.get(STATUS).body)
        self.assertEqual(sj["window"]["phase"], "active")

        # A second start, and an abort of a window that is not live, are refused.
        again = self.ask("window start db-1 --json", True)
        self.assertFalse(again["ok"])

        # Reopen through the normal path; the window records each stage.
        self.ctl_ok("reopen", "to", "read-only")
        c = ClientConn(self.proxy.port)
        for _ in range(3):
            r = c.request("POST", "/echo/orders", (), b"x")
            self.assertEqual(r.status, 503)
        c.close()
        self.ctl_ok("reopen", "to", "open")
        poll_until(lambda: self.report("db-1")["phase"] == "completed", 10, what="completed")
        rep = self.report("db-1")
        self.assertEqual([s["stage"] for s in rep["stages"]], ["operators", "read-only", "writes", "open"])
        self.assertEqual(rep["refused_writes"]["total"], 3, rep)
        self.assertEqual(rep["refused_writes"]["by_route"], {"(no rule)": 3})
        self.assertIsNotNone(rep["write_boundary"])
        self.assertRegex(rep["started_by"], r"^uid \d+ pid \d+$")
        phases = [e["what"] for e in rep["timeline"] if e["what"].startswith("phase ")]
        self.assertEqual(phases, ["phase planned", "phase announced", "phase freezing", "phase active",
                                  "phase reopening", "phase verifying", "phase completed"])
        text = self.ctl_ok("window", "report", "db-1")
        for needle in ("window      db-1 (completed)", "boundary", "stage       open", "refused     3 write(s)",
                       "(no rule): 3", "timeline"):
            self.assertIn(needle, text)
        md = self.ctl_ok("window", "report", "db-1", "--markdown")
        self.assertIn("# Maintenance window db-1", md)
        self.assertIn("| Route | Refused |", md)
        hist = self.ask("window history --json", True)
        self.assertEqual(hist["windows"][0]["phase"], "completed")
        # Every transition is in the audit log with its actor.
        with open(self.audit_path) as f:
            audit = [json.loads(l) for l in f]
        lines = [a["detail"] for a in audit if a["detail"].startswith("window db-1: ")]
        self.assertTrue(any("announced -> freezing" in d for d in lines), lines)
        self.assertTrue(any("verifying -> completed" in d for d in lines), lines)
        # The feed lists it as completed.
        f = self.feed()
        self.assertEqual([(m["id"], m["status"]) for m in f["scheduled_maintenances"]], [("db-1", "completed")])

    def test_abort_goes_back_to_open(self):
        self.start()
        self.ctl_ok("window", "plan", "w2", "start", "manual", "end", iso(time.time() + 600))
        self.assertTrue(self.ask("window start --json", True)["ok"])
        self.assertEqual(self.status()["mode"], "maintenance")
        out = self.ctl_ok("window", "abort")
        self.assertIn("aborted w2", out)
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"]), ("open", False))
        self.assertEqual(self.report("w2")["phase"], "aborted")
        self.assertEqual(self.get("/echo/x").status, 200)
        self.assertIsNone(json.loads(self.get(STATUS).body)["window"])

    def test_bad_plans_are_refused_with_the_reason(self):
        self.start()
        for line, msg in (("window plan", "needs an id"),
                          ("window plan bad/id start manual end 23:59", "only letters"),
                          ("window plan w start manual", "'end TIME' is required"),
                          ("window plan w start soon end 23:59", "is not a time"),
                          ("window plan w start manual end 23:59 mode open", "read-only or maintenance"),
                          ("window plan w start %s end %s" % (iso(time.time() + 7200), iso(time.time() + 3600)),
                           "end must be after the start"),
                          ("window report", "needs a window id"),
                          ("window report nope", "no window nope")):
            r = self.ask(line + " --json", True)
            self.assertFalse(r["ok"], line)
            self.assertIn(msg, r["error"], line)


class ScheduledWindow(WindowTestCase):

    def test_a_scheduled_window_announces_starts_by_itself_and_feeds_follow(self):
        self.start()
        now = time.time()
        start, end = iso(now + 4), iso(now + 1800)
        self.ctl_ok("window", "plan", "sched", "start", start, "end", end, "announce", iso(now + 1),
                    "mode", "read-only", "reason", "schema, migration; v2")
        f = self.feed()
        (m,) = f["scheduled_maintenances"]
        self.assertEqual((m["id"], m["status"], m["scheduled_for"], m["scheduled_until"]),
                         ("sched", "scheduled", start, end))
        for key in ("name", "created_at", "updated_at", "incident_updates", "impact"):
            self.assertIn(key, m)
        lines = self.assert_ics_wellformed(self.ics())
        self.assertIn("UID:sched@maintgate", lines)
        self.assertIn("DTSTART:" + start.replace("-", "").replace(":", ""), lines)
        self.assertIn("SUMMARY:schema\\, migration\\; v2", lines)

        # The start freezes first (read-only at once, no end yet), then sets the window's
        # mode with its reason and end: wait for the second.
        poll_until(lambda: self.status()["until"] == end, 15, what="the scheduled start")
        s = self.status()
        self.assertEqual(s["mode"], "read-only")
        self.assertEqual((s["fenced"], s["until"], s["set_by"]), (True, end, "schedule"))
        poll_until(lambda: self.feed()["scheduled_maintenances"][0]["status"] == "in_progress", 5,
                   what="in_progress in the feed")
        rep = self.report("sched")
        self.assertEqual(rep["started_by"], "schedule")
        self.assertEqual(rep["phase"], "active")
        # Reads pass, writes are refused with a Retry-After spread over the clients.
        self.assertEqual(self.get("/echo/r").status, 200)
        c = ClientConn(self.proxy.port)
        r = c.request("POST", "/echo/w", (), b"x")
        c.close()
        self.assertEqual(r.status, 503)
        ra = int(r.value("retry-after"))
        self.assertGreater(ra, 1700)
        self.assertLessEqual(ra, 1800 + 60)

    def test_config_windows_are_planned_and_checked(self):
        now = time.time()
        self.start(extra={"window": [{"id": "cfg-1", "start": iso(now + 3600), "end": iso(now + 7200),
                                      "mode": "read-only", "reason": "from the config"}]})
        st = self.ask("window status --json", True)
        self.assertEqual([(w["id"], w["source"]) for w in st["planned"]], [("cfg-1", "config")])
        # Taken out of the config before it started, it ends with the reason; a window
        # planned with ctl is not the config's to drop.
        self.ctl_ok("window", "plan", "by-hand", "start", "manual", "end", "+2h")
        without = dict(self.cfg)
        del without["window"]
        with open(self.proxy.config_path, "w") as f:
            f.write(to_toml(without))
        self.ctl_ok("reload")
        # The schedule's next tick (within a second) merges the reloaded [[window]] tables.
        poll_until(lambda: [w["id"] for w in self.ask("window status --json", True)["planned"]] == ["by-hand"], 10,
                   what="only the window planned with ctl to stay planned")
        gone = self.ask("window report cfg-1 --json", True)["report"]
        self.assertEqual((gone["phase"], gone["outcome"]), ("aborted", "removed from the config before it started"))
        self.assertTrue(any(re.fullmatch(r"window cfg-1: (planned|announced) -> aborted; removed from the config "
                                         r"before it started", e.get("detail") or "") for e in self.audit_lines()),
                        self.audit_lines()[-3:])
        # check reports a bad [[window]] with file:line:column.
        bad = os.path.join(self.dir, "bad.toml")
        cfg = dict(self.cfg)
        cfg["window"] = [{"id": "x y", "start": "tomorrow", "end": iso(now + 60), "mode": "open", "typo": 1}]
        with open(bad, "w") as f:
            f.write(to_toml(cfg))
        code, out, err = run_cli(["check", "-c", bad])
        self.assertNotEqual(code, 0)
        text = out + err
        for msg in ("window[0].id", "window[0].start", "window[0].mode", "typo"):
            self.assertRegex(text, re.escape(bad) + r":\d+:\d+: .*" + re.escape(msg), text)


class KillNineWindow(WindowTestCase):

    def test_kill9_when_announced_active_and_reopening(self):
        self.start()
        self.ctl_ok("window", "plan", "k9", "start", "manual", "end", iso(time.time() + 3600),
                    "reason", "kill test")
        poll_until(lambda: self.report("k9")["phase"] == "announced", 5, what="announced")
        self.kill9()
        self.restart()
        self.assertEqual(self.report("k9")["phase"], "announced")
        self.assertEqual(self.status()["mode"], "open")

        self.assertTrue(self.ask("window start k9 --json", True)["ok"])
        self.kill9()
        self.restart()
        rep = self.report("k9")
        self.assertEqual(rep["phase"], "active")
        self.assertIn("restart", [e["what"] for e in rep["timeline"]])
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"]), ("maintenance", True))
        self.assertEqual(self.get("/echo/x").status, 503)

        self.ctl_ok("reopen")
        self.kill9()
        self.restart()
        rep = self.report("k9")
        self.assertEqual(rep["phase"], "reopening")
        self.assertEqual(self.status()["stage"], "operators")  # never silently reopened
        self.ctl_ok("reopen", "to", "open")
        poll_until(lambda: self.report("k9")["phase"] == "completed", 10, what="completed")

    def test_kill9_while_freezing_is_reported_not_redone(self):
        self.start(reopen={"freeze_timeout": "20s"})
        self.ctl_ok("window", "plan", "fz", "start", "manual", "end", iso(time.time() + 3600))
        hung = ClientConn(self.proxy.port)
        hung.send(b"POST /fault/hang HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx")
        self.up.wait_requests(1)
        t = threading.Thread(target=lambda: self.ctl("window", "start", "fz"), daemon=True)
        t.start()
        poll_until(lambda: self.report("fz")["phase"] == "freezing", 10, what="freezing")
        self.kill9()
        hung.close()
        self.restart()
        rep = self.report("fz")
        self.assertEqual(rep["phase"], "freezing")
        self.assertIn("stopped while the window was freezing", rep["interrupted"])
        self.assertIn("INTERRUPTED", self.ctl_ok("window", "status"))
        self.assertNotEqual(self.status()["mode"], "open")
        # The operator decides: start resumes the phase.
        r = self.ask("window start fz --json", True)
        self.assertTrue(r["ok"], r)
        self.assertEqual(self.report("fz")["phase"], "active")
        self.assertEqual(self.report("fz")["interrupted"], "")


if __name__ == "__main__":
    unittest.main()
