"""Hold-then-degrade ([hold], `freeze hold`) through the real binary: during a freeze that
holds, reads keep flowing and writes wait in their sessions; when writes open again they
are forwarded in arrival order at release_rate; past max_wait or a quota they get the
normal 503, oldest first; a client that goes away while held is never forwarded; an
upgrade is never held; `freeze` counts the held writes and the boundary stays exact; a
kill -9 while writes are held forwards none of them and keeps the mode.

Most tests run one worker: the release order is per worker (README, "Holding writes")."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import BIN, ClientConn, build_request, poll_until, to_toml
from test_admin import AdminTestCase, parse_metrics, metric


class Held(threading.Thread):
    """One write on its own connection, sent now; .resp (or .error) when it ends."""

    def __init__(self, port, target, body=b"x", headers=()):
        super().__init__(daemon=True)
        self.port, self.target, self.body, self.headers = port, target, body, headers
        self.resp = None
        self.error = None
        self.done_at = None
        self.start()

    def run(self):
        c = ClientConn(self.port, timeout=60)
        try:
            self.resp = c.request("POST", self.target, self.headers, self.body)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.done_at = time.monotonic()
            c.close()


class HoldTestCase(AdminTestCase):
    workers = 1

    def start_hold(self, hold=None, **kw):
        h = {"max_wait": "20s", "release_rate": 5}
        h.update(hold or {})
        return self.start(extra=dict({"hold": h}, **kw.pop("extra", {})), **kw)

    def held_now(self):
        return self.status()["held"]["now"]

    def wait_held(self, n, timeout=10):
        poll_until(lambda: self.held_now() == n, timeout, what="%d held write(s)" % n)

    def at_upstream(self, target):
        return [r for r in self.up.requests if r.target == target]

    def finish(self, threads, timeout=30):
        for t in threads:
            t.join(timeout)
            self.assertFalse(t.is_alive(), "%s did not finish" % t.target)


class ReleaseTest(HoldTestCase):

    def test_held_writes_are_released_in_order_after_the_freeze(self):
        self.start_hold(extra={"admin": {"metrics": "127.0.0.1:0"}})
        r = self.ask("freeze hold --json", True)
        self.assertTrue(r["ok"], r)
        self.assertTrue(r["hold"], r)
        self.assertTrue(self.read_state()["hold"])
        threads = []
        for i in range(4):
            threads.append(Held(self.proxy.port, "/echo?held=%d" % i, body=b"body-%d" % i))
            self.wait_held(i + 1)
        # Reads keep flowing while writes wait.
        self.forwarded("GET", "/echo")
        time.sleep(0.5)
        self.assertEqual([r for r in self.up.requests if r.method == "POST"], [])
        s = self.status()
        self.assertEqual((s["held"]["now"], s["in_flight"]["writes"]), (4, 0), s)
        self.assertIn("held        4 write(s) now (this freeze holds writes)", self.ctl_ok("status"))

        opened = time.monotonic()
        self.ctl_ok("set", "mode", "open")
        self.finish(threads)
        for i, t in enumerate(threads):
            self.assertIsNone(t.error, t.error)
            self.assertEqual(t.resp.status, 200, t.resp.describe())
            self.assertEqual(t.resp.json()["body_len"], len(b"body-%d" % i), t.resp.describe())
        posts = [r.target for r in self.up.requests if r.method == "POST"]
        self.assertEqual(posts, ["/echo?held=%d" % i for i in range(4)])
        # 5 per second on one worker: the last one leaves at least 3 intervals after the first.
        self.assertGreaterEqual(threads[-1].done_at - opened, 0.5)
        s = self.status()
        self.assertEqual((s["held"]["now"], s["held"]["released"], s["hold"]), (0, 4, False), s)
        samples, _ = parse_metrics(self.metrics())
        self.assertEqual(metric(samples, "maintgate_held_released_total"), 4)
        self.assertEqual(metric(samples, "maintgate_held_writes"), 0)

    def metrics(self):
        port = self.metrics_port()
        c = ClientConn(port)
        try:
            return c.request("GET", "/metrics").body.decode()
        finally:
            c.close()

    def test_freeze_counts_held_writes_and_the_boundary_stays_exact(self):
        self.start_hold(extra={"admin": {"metrics": "127.0.0.1:0"}})
        slow = Held(self.proxy.port, "/slow/1500")
        self.up.wait_for(lambda u: any(r.path == "/slow/1500" for r in u.requests), 10, "the slow write")
        result = {}
        fz = threading.Thread(target=lambda: result.update(r=self.ask("freeze hold --json", True)))
        fz.start()
        poll_until(lambda: self.status()["fenced"], 10, what="the fence")
        held = Held(self.proxy.port, "/echo?after-fence")
        fz.join(30)
        r = result["r"]
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["waited_for"], r["pending"], r["held"]), (1, 0, 1), r)
        text_reply = self.ask("status").text
        self.assertIn("held        1 write(s) now", text_reply)
        self.finish([slow])
        self.assertEqual(slow.resp.status, 200)
        # The held write is after the boundary: not in flight, not at the upstream.
        self.assertEqual(self.at_upstream("/echo?after-fence"), [])
        self.assertEqual(self.status()["in_flight"]["writes"], 0)
        self.ctl_ok("reopen", "to", "writes")
        self.finish([held])
        self.assertEqual(held.resp.status, 200, held.resp.describe())
        rec = self.at_upstream("/echo?after-fence")[0]
        slow_rec = [x for x in self.up.requests if x.path == "/slow/1500"][0]
        self.assertGreater(rec.wall, slow_rec.respond_wall)
        self.assertIn("maintgate_held_writes", self.metrics())

    def test_expect_100_continue_gets_its_100_only_on_release(self):
        self.start_hold()
        self.assertTrue(self.ask("freeze hold --json", True)["ok"])
        s = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"POST /expect HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        self.wait_held(1)
        s.settimeout(1.5)
        with self.assertRaises(socket.timeout):
            data = s.recv(100)
            self.fail("got %r while held" % data)
        self.ctl_ok("set", "mode", "open")
        s.settimeout(10)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "closed before the 100")
            got += chunk
        self.assertTrue(got.startswith(b"HTTP/1.1 100 "), got)
        s.sendall(b"0123456789")
        rest = got.split(b"\r\n\r\n", 1)[1]
        while b"body_len" not in rest:
            chunk = s.recv(4096)
            self.assertTrue(chunk)
            rest += chunk
        self.assertIn(b"HTTP/1.1 200 ", rest)
        self.assertIn(b'"body_len": 10', rest.replace(b'"body_len":10', b'"body_len": 10'))


class DegradeTest(HoldTestCase):

    def test_max_wait_gives_the_normal_503_oldest_first(self):
        self.start_hold({"max_wait": "2s"})
        self.assertTrue(self.ask("freeze hold --json", True)["ok"])
        first = Held(self.proxy.port, "/echo?first")
        self.wait_held(1)
        time.sleep(0.5)
        second = Held(self.proxy.port, "/echo?second")
        self.wait_held(2)
        self.finish([first, second])
        for t in (first, second):
            self.assertEqual(t.resp.status, 503, t.resp.describe())
            self.assertEqual(t.resp.value("x-maintgate-mode"), "read-only")
            self.assertRegex(t.resp.value("retry-after") or "", r"^[1-9][0-9]*$")
        self.assertLess(first.done_at, second.done_at)
        self.assertEqual([r for r in self.up.requests if r.method == "POST"], [])
        s = self.status()
        self.assertEqual((s["held"]["timed_out"], s["held"]["now"]), (2, 0), s)

    def test_past_max_held_the_oldest_is_refused(self):
        self.start_hold({"max_held": 2})
        self.assertTrue(self.ask("freeze hold --json", True)["ok"])
        a = Held(self.proxy.port, "/echo?a")
        self.wait_held(1)
        b = Held(self.proxy.port, "/echo?b")
        self.wait_held(2)
        c = Held(self.proxy.port, "/echo?c")
        a.join(10)
        self.assertEqual(a.resp.status, 503, a.resp.describe())
        self.assertTrue(b.is_alive() and c.is_alive())
        s = self.status()
        self.assertEqual((s["held"]["now"], s["held"]["over_quota"]), (2, 1), s)
        self.ctl_ok("set", "mode", "open")
        self.finish([b, c])
        self.assertEqual((b.resp.status, c.resp.status), (200, 200))
        self.assertEqual([r.target for r in self.up.requests if r.method == "POST"], ["/echo?b", "/echo?c"])

    def test_a_client_that_goes_away_is_never_forwarded(self):
        self.start_hold()
        self.assertTrue(self.ask("freeze hold --json", True)["ok"])
        s = socket.create_connection(("127.0.0.1", self.proxy.port), timeout=10)
        s.sendall(build_request("POST", "/echo?gone", body=b"abc"))
        self.wait_held(1)
        s.close()
        poll_until(lambda: self.status()["held"]["dropped"] == 1, 5, what="the drop")
        kept = Held(self.proxy.port, "/echo?kept")
        self.wait_held(1)
        self.ctl_ok("set", "mode", "open")
        self.finish([kept])
        self.assertEqual(kept.resp.status, 200)
        time.sleep(0.5)
        self.assertEqual(self.at_upstream("/echo?gone"), [])

    def test_an_upgrade_is_never_held(self):
        self.start_hold()
        self.assertTrue(self.ask("freeze hold --json", True)["ok"])
        c = ClientConn(self.proxy.port)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        resp = c.request("GET", "/ws", [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                        ("Sec-WebSocket-Version", "13"),
                                        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
        self.assertEqual(resp.status, 503, resp.describe())
        self.assertLess(time.monotonic() - t0, 2)
        self.assertEqual(self.status()["held"]["total"], 0)

    def test_a_freeze_without_hold_refuses_as_before(self):
        self.start_hold()
        r = self.ask("freeze --json", True)
        self.assertFalse(r["hold"], r)
        self.refused("POST", "/echo", "read-only", body=b"x")
        self.assertEqual(self.status()["held"]["total"], 0)

    def test_enabled_holds_every_freeze_and_no_hold_opts_out(self):
        self.start_hold({"enabled": True})
        self.assertTrue(self.ask("freeze --json", True)["hold"])
        self.ctl_ok("set", "mode", "open")
        self.assertFalse(self.ask("freeze no-hold --json", True)["hold"])
        self.refused("POST", "/echo", "read-only", body=b"x")


class KillTest(HoldTestCase):

    def test_kill_9_while_writes_are_held(self):
        self.start_hold()
        self.assertTrue(self.ask("freeze hold timeout 5s --json", True)["ok"])
        threads = [Held(self.proxy.port, "/echo?killed=%d" % i) for i in range(3)]
        self.wait_held(3)
        self.assertEqual(self.proxy.stop(signal.SIGKILL), -signal.SIGKILL)
        self.finish(threads)
        for t in threads:
            self.assertTrue(t.error is not None or t.resp is None or t.resp.status != 200, t.resp)
        self.start_hold()
        s = self.status()
        self.assertEqual((s["mode"], s["fenced"], s["hold"]), ("read-only", True, True), s)
        self.refused_or_held_then_open()
        self.assertEqual([r for r in self.up.requests if "killed" in r.target], [])

    def refused_or_held_then_open(self):
        # After the restart the freeze still holds: a new write waits, then goes.
        t = Held(self.proxy.port, "/echo?after-restart")
        self.wait_held(1)
        self.ctl_ok("set", "mode", "open")
        self.finish([t])
        self.assertEqual(t.resp.status, 200)


class ConfigTest(HoldTestCase):

    def test_check_reports_bad_hold_keys_with_positions(self):
        path = os.path.join(self.dir, "bad.toml")
        cfg = self.config(extra={"hold": {"max_wait": "1h", "release_rate": 0, "body_cap": 1 << 20,
                                          "max_held": 0, "enabled": "yes", "max_wiat": "1s"}})
        with open(path, "w") as f:
            f.write(to_toml(cfg))
        p = subprocess.run([BIN, "check", "-c", path], capture_output=True, timeout=30)
        out = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0, out)
        for want in ("hold.max_wait: must be at most 10m", "hold.release_rate: must be between",
                     "hold.body_cap", "hold.max_held", "hold.enabled", "max_wiat"):
            self.assertRegex(out, r"bad\.toml:\d+:\d+: .*" + want.replace(".", r"\."), out)


if __name__ == "__main__":
    unittest.main()
