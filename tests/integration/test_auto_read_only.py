"""Automatic read-only ([auto_read_only]) through the real binary: the app's header (and
that no client sees it), the 5xx share of writes over a window with a minimum volume, a
failing probe; never over an operator's mode, an operator's command ends it; it expires
unless re-confirmed and recovers through the writes stage with its checks; audit actor
"auto"; status and metrics."""

import time
import unittest
import urllib.parse

from harness import ClientConn, poll_until, to_toml
from test_admin import AdminTestCase, parse_metrics, metric

HEADER = "Maintgate-Write-State"


def signal_target(value):
    return "/set-headers?" + urllib.parse.urlencode([(HEADER, value)])


class AutoTestCase(AdminTestCase):
    workers = 2

    def start_auto(self, auto=None, **kw):
        a = {"enabled": True, "ttl": "2s", "recover_after": "1s", "min_writes": 5,
             "error_threshold": 0.5, "window": "10s"}
        a.update(auto or {})
        probe = a.pop("probe", None)
        extra = dict({"auto_read_only": a, "admin": {"socket": self.sock_path, "metrics": "127.0.0.1:0"}},
                     **kw.pop("extra", {}))
        self.cfg = self.config(extra=extra, **kw)
        text = to_toml(self.cfg)
        if probe:  # a nested table, which to_toml does not write
            text += "\n[auto_read_only.probe]\n" + "".join('%s = "%s"\n' % kv for kv in probe.items())
        p = self.start_proxy(self.up.port, toml_text=text)
        if p.wait_log(r"maintgate started", 20) is None:
            self.fail("maintgate did not finish starting:\n" + p.output())
        self.proxy = p
        return p

    def auto(self):
        return self.status()["auto_read_only"]

    def wait_mode(self, mode, timeout=10, stage=None):
        poll_until(lambda: self.status()["mode"] == mode and (stage is None or self.status()["stage"] == stage),
                   timeout, what="mode %s" % mode)
        return self.status()

    def metrics(self):
        c = ClientConn(self.metrics_port())
        try:
            return parse_metrics(c.request("GET", "/metrics").body.decode())[0]
        finally:
            c.close()


class HeaderTest(AutoTestCase):

    def test_the_apps_header_makes_it_read_only_and_is_stripped_then_it_recovers(self):
        self.start_auto()
        resp = self.http("GET", signal_target("read-only; ttl=2"))
        self.assertEqual(resp.status, 200)
        self.assertIsNone(resp.value(HEADER.lower()), resp.describe())
        s = self.wait_mode("read-only")
        self.assertEqual(s["set_by"], "auto", s)
        a = s["auto_read_only"]
        self.assertEqual((a["active"], a["cause"]), (True, "header"), a)
        self.assertIn("the app asked for read-only", a["detail"])
        self.assertIn("automatic   read-only by itself (header)", self.ctl_ok("status"))
        self.refused("POST", "/echo", "read-only", body=b"x")
        self.forwarded("GET", "/echo")
        self.assertEqual(metric(self.metrics(), "maintgate_auto_read_only_entries_total", cause="header"), 1)
        self.assertEqual(metric(self.metrics(), "maintgate_auto_read_only_active"), 1)
        entered = [l for l in self.audit_lines() if l["actor"] == "auto"]
        self.assertEqual((entered[0]["old_mode"], entered[0]["new_mode"]), ("open", "read-only"), entered)
        # Not re-confirmed: it expires, then after recover_after goes writes, then open.
        self.wait_mode("open", 15, stage="open")
        stages = [(l["new_stage"], l["actor"]) for l in self.audit_lines()]
        self.assertIn(("writes", "auto"), stages)
        self.assertEqual(stages[-1], ("open", "auto"))
        poll_until(lambda: not self.auto()["active"], 5, what="the automatic state to end")
        self.forwarded("POST", "/echo", body=b"x")

    def test_re_confirmation_keeps_it_read_only(self):
        self.start_auto({"ttl": "2s", "recover_after": "1s"})
        self.http("GET", signal_target("read-only"))
        self.wait_mode("read-only")
        for _ in range(8):
            time.sleep(0.5)
            self.http("GET", signal_target("read-only; ttl=2"))
        self.assertEqual(self.status()["mode"], "read-only")
        self.wait_mode("open", 15, stage="open")

    def test_other_values_are_stripped_and_ignored(self):
        self.start_auto()
        resp = self.http("GET", signal_target("read-write"))
        self.assertIsNone(resp.value(HEADER.lower()))
        time.sleep(2.0)
        self.assertEqual(self.status()["mode"], "open")


class ErrorShareTest(AutoTestCase):

    def test_5xx_share_of_writes_with_a_minimum_volume(self):
        self.start_auto({"min_writes": 6, "error_threshold": 0.5, "ttl": "30s"})
        for _ in range(3):
            self.http("POST", "/status/500", body=b"x")
            self.http("POST", "/echo", body=b"x")
        # 3 failed of 6 writes is 50%, at the threshold, with min_writes reached.
        time.sleep(2.0)
        self.assertEqual(self.status()["mode"], "read-only", "6 writes, 3 failed: at the threshold")
        a = self.auto()
        self.assertEqual(a["cause"], "errors", a)
        self.assertRegex(a["detail"], r"5xx on 3 of 6 writes")

    def test_below_the_minimum_volume_nothing_happens(self):
        self.start_auto({"min_writes": 10})
        for _ in range(5):
            self.http("POST", "/status/500", body=b"x")
        for _ in range(20):
            self.http("GET", "/status/500")
        time.sleep(2.5)
        self.assertEqual(self.status()["mode"], "open")
        self.assertFalse(self.auto()["active"])


class ProbeTest(AutoTestCase):

    def test_a_failing_probe_then_recovery_through_the_writes_stage_with_checks(self):
        self.start_auto({"ttl": "1s", "recover_after": "2s", "probe": {"path": "/smoke", "interval": "1s"}},
                        smoke=[{"name": "front page", "path": "/smoke", "body_contains": "Welcome"}])
        time.sleep(1.5)
        self.assertEqual(self.status()["mode"], "open")
        self.up.smoke_status = 500
        s = self.wait_mode("read-only")
        self.assertEqual(s["auto_read_only"]["cause"], "probe", s)
        time.sleep(3.0)
        self.assertEqual(self.status()["mode"], "read-only", "still failing: no recovery")
        self.up.smoke_status = 200
        self.wait_mode("open", 20, stage="open")
        lines = [l for l in self.audit_lines() if l["actor"] == "auto"]
        writes = [l for l in lines if l["new_stage"] == "writes"]
        self.assertTrue(writes, lines)
        self.assertIn("check(s) passed", writes[0]["detail"])


class OperatorTest(AutoTestCase):

    def test_an_operators_mode_is_never_overridden(self):
        self.start_auto()
        self.ctl_ok("set", "mode", "read-only", "reason", "operator's")
        self.http("GET", signal_target("read-only; ttl=1"))
        time.sleep(2.0)
        s = self.status()
        self.assertNotEqual(s["set_by"], "auto", s)
        self.assertFalse(s["auto_read_only"]["active"])
        time.sleep(2.5)
        self.assertEqual(self.status()["mode"], "read-only", "auto must not reopen an operator's mode")

    def test_an_operators_command_ends_the_automatic_state(self):
        self.start_auto({"ttl": "2s"})
        self.http("GET", signal_target("read-only"))
        self.wait_mode("read-only")
        self.ctl_ok("set", "mode", "read-only", "reason", "taking over")
        poll_until(lambda: not self.auto()["active"], 5, what="the automatic state to end")
        time.sleep(4.0)
        s = self.status()
        self.assertEqual((s["mode"], s["reason"]), ("read-only", "taking over"), s)


if __name__ == "__main__":
    unittest.main()
