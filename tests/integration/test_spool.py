"""The webhook spool through the real binary (issue 16, "Webhook spool").

While the gate refuses writes, a request on a `spool = true` webhook rule is verified
(GitHub HMAC here), stored on disk with a group-committed fsync, and answered 202 with a
spool id; reopening to the `open` stage replays the events to the upstream FIFO per
order key with the original delivery id and a Maintgate-Spool-Id. Also: an invalid
signature is 401 and not stored, a duplicate delivery id is 202 once stored, a quota is
503 + Retry-After, a 400 is dead-lettered, a 503 is retried, and `kill -9` during
ingest loses no 202'd event and during replay delivers none twice that was marked
done (deliveries are counted at the upstream).

The upstream is a small threaded http.server of this module's own, so each test
scripts its answers and sees every delivery."""

import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

import harness
from harness import Proxy, poll_until, run_cli, to_toml

SECRET = "It's a Secret to Everybody"


class Recorder(http.server.ThreadingHTTPServer):
    """Records every request; `answer(path, headers, body)` gives (status, body)."""

    daemon_threads = True

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []  # (method, path, headers dict lower-case, body)
        self.answer = lambda path, headers, body: (200, b"ok")
        self.delay = 0.0

        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                if recorder.delay:
                    time.sleep(recorder.delay)
                with recorder.lock:
                    recorder.seen.append((self.command, self.path, headers, body))
                status, out = recorder.answer(self.path, headers, body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(out)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def requests(self):
        with self.lock:
            return list(self.seen)

    def handle_error(self, request, client_address):
        pass  # a proxy killed mid-delivery leaves broken pipes; the tests count deliveries

    def stop(self):
        self.shutdown()
        self.server_close()


def github_sig(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(port, path, body, headers=(), timeout=20.0):
    """One POST on its own connection: (status, headers dict, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = "POST %s HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\nConnection: close\r\n" % (
            path, len(body))
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    return status, fields, rest


class SpoolTestCase(unittest.TestCase):
    max_events = 100000
    workers = 2

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mg-spool-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.up = Recorder()
        self.addCleanup(self.up.stop)
        with open(os.path.join(self.dir, "gh.secret"), "w") as f:
            f.write(SECRET + "\n")
        self.sock = os.path.join(self.dir, "admin.sock")
        self.proxy = None

    def config(self, spool=None):
        s = {"dir": os.path.join(self.dir, "spool"), "retry_base": "50ms", "retry_cap": "200ms",
             "rate": 1000, "concurrency": 2, "max_events": self.max_events, "commit_interval": "1ms"}
        s.update(spool or {})
        cfg = {
            "workers": self.workers,
            "listener": [{"address": "127.0.0.1:0"}],
            "upstream": {"url": "http://127.0.0.1:%d" % self.up.port},
            "log": {"level": "info"},
            "gate": {"initial_mode": "read-only", "state_file": os.path.join(self.dir, "state.json"),
                     "audit_log": os.path.join(self.dir, "audit.jsonl")},
            "admin": {"socket": self.sock},
            "rule": [
                {"path_prefix": "/hooks/github", "action": "webhook", "reason": "GitHub deliveries",
                 "spool": True, "dedupe_key": "header:X-GitHub-Delivery", "order_key": "header:X-Repo",
                 "signature": "github", "secret_file": os.path.join(self.dir, "gh.secret")},
                {"path_prefix": "/hooks/plain", "action": "webhook", "reason": "plain deliveries",
                 "spool": True, "dedupe_key": "header:X-Delivery", "order_key": "header:X-Key"},
            ],
            "spool": s,
        }
        return to_toml(cfg)

    def start(self, toml=None):
        self.toml = toml or getattr(self, "toml", None) or self.config()
        p = Proxy(self.up.port, toml_text=self.toml)
        self.addCleanup(p.cleanup)
        p.start()
        if p.wait_log(r"maintgate started", 20) is None:
            self.fail("maintgate did not start:\n" + p.output())
        self.proxy = p
        return p

    def ctl(self, *words):
        code, out, err = run_cli(["ctl", "--socket", self.sock] + list(words), timeout=40)
        self.assertEqual(code, 0, "ctl %s: %s %s" % (" ".join(words), out, err))
        return out

    def ctl_json(self, *words):
        return json.loads(self.ctl(*(list(words) + ["--json"])))

    def status(self):
        return self.ctl_json("spool", "status")

    def plain(self, delivery, key="k", body=None, port=None):
        body = body if body is not None else json.dumps({"delivery": delivery}).encode()
        return post(port or self.proxy.port, "/hooks/plain/x", body,
                    [("X-Delivery", delivery), ("X-Key", key), ("Content-Type", "application/json")])

    def delivered(self, path_prefix="/hooks/"):
        return [r for r in self.up.requests() if r[1].startswith(path_prefix)]


class TestSpool(SpoolTestCase):

    def test_spooled_while_read_only_then_replayed_in_order_with_ids_kept(self):
        self.start()
        ids = {}
        for i in range(12):
            key = "AB"[i % 2]
            status, fields, body = self.plain("d%02d" % i, key)
            self.assertEqual(status, 202, body)
            ids["d%02d" % i] = json.loads(body)["spool_id"]
            self.assertEqual(fields.get("maintgate-spool-id"), ids["d%02d" % i])
        self.assertEqual(len(set(ids.values())), 12)
        time.sleep(0.3)
        self.assertEqual(self.delivered(), [], "nothing reaches the app while read-only")
        st = self.status()
        self.assertEqual(st["pending"], 12)
        self.assertFalse(st["replaying"])
        text = self.ctl("spool", "list", "5")
        self.assertEqual(len(text.strip().splitlines()), 5, text)
        dry = self.ctl_json("spool", "replay", "--dry-run")
        self.assertEqual(len(dry["events"]), 2, "one head per order key")

        # The writes stage still holds webhooks; open releases them.
        self.ctl("reopen", "to", "writes", "--force")
        time.sleep(0.3)
        self.assertEqual(self.delivered(), [])
        self.ctl("reopen", "to", "open", "--force")
        poll_until(lambda: len(self.delivered()) >= 12, 20, what="12 deliveries")
        got = self.delivered()
        self.assertEqual(len(got), 12)
        for key in "AB":
            order = [r[2]["x-delivery"] for r in got if r[2]["x-key"] == key]
            self.assertEqual(order, sorted(order), "FIFO per order key")
        for method, path, headers, body in got:
            self.assertEqual(method, "POST")
            self.assertEqual(path, "/hooks/plain/x")
            self.assertEqual(headers["maintgate-spool-id"], ids[headers["x-delivery"]])
            self.assertEqual(json.loads(body)["delivery"], headers["x-delivery"])
            self.assertEqual(headers["content-type"], "application/json")
        poll_until(lambda: self.status()["pending"] == 0, 10, what="pending 0")
        self.assertEqual(self.status()["delivered"], 12)

    def test_invalid_signature_is_401_and_not_stored(self):
        self.start()
        body = b'{"action":"opened"}'
        status, _, out = post(self.proxy.port, "/hooks/github", body,
                              [("X-GitHub-Delivery", "g1"), ("X-Hub-Signature-256", github_sig(body, "wrong"))])
        self.assertEqual(status, 401, out)
        status, _, out = post(self.proxy.port, "/hooks/github", body, [("X-GitHub-Delivery", "g2")])
        self.assertEqual(status, 401, out)
        status, _, out = post(self.proxy.port, "/hooks/github", body,
                              [("X-GitHub-Delivery", "g3"), ("X-Hub-Signature-256", github_sig(body))])
        self.assertEqual(status, 202, out)
        st = self.status()
        self.assertEqual(st["pending"], 1)
        self.assertEqual(st["rejected"]["signature"], 2)

    def test_duplicate_delivery_is_202_once_stored(self):
        self.start()
        s1, _, b1 = self.plain("same")
        s2, _, b2 = self.plain("same")
        self.assertEqual((s1, s2), (202, 202))
        self.assertEqual(json.loads(b1)["spool_id"], json.loads(b2)["spool_id"])
        self.assertTrue(json.loads(b2).get("duplicate"))
        self.assertEqual(self.status()["pending"], 1)
        self.assertEqual(self.status()["duplicates"], 1)
        self.ctl("reopen", "to", "open", "--force")
        poll_until(lambda: self.status()["pending"] == 0, 10, what="delivered")
        time.sleep(0.2)
        self.assertEqual(len(self.delivered()), 1)

    def test_quota_is_503_with_retry_after_and_drops_nothing(self):
        self.start(self.config({"max_events": 3}))
        for i in range(3):
            self.assertEqual(self.plain("q%d" % i)[0], 202)
        status, fields, body = self.plain("q3")
        self.assertEqual(status, 503, body)
        self.assertIn("retry-after", fields)
        st = self.status()
        self.assertEqual(st["pending"], 3)
        self.assertTrue(st["quota_alert"])
        self.assertEqual(st["rejected"]["quota_events"], 1)

    def test_400_is_dead_lettered_and_503_retried(self):
        self.start()
        flaky = {"n": 0}

        def answer(path, headers, body):
            if headers.get("x-delivery") == "bad":
                return 400, b"no"
            if headers.get("x-delivery") == "flaky":
                flaky["n"] += 1
                if flaky["n"] <= 2:
                    return 503, b"later"
            return 200, b"ok"

        self.up.answer = answer
        bad_id = json.loads(self.plain("bad", "K1")[2])["spool_id"]
        self.assertEqual(self.plain("flaky", "K2")[0], 202)
        self.assertEqual(self.plain("after-flaky", "K2")[0], 202)
        self.ctl("reopen", "to", "open", "--force")
        poll_until(lambda: any(r[2].get("x-delivery") == "after-flaky" for r in self.delivered()), 20,
                   what="the event after the flaky one")
        order = [r[2]["x-delivery"] for r in self.delivered() if r[2]["x-key"] == "K2"]
        self.assertEqual(order, ["flaky", "flaky", "flaky", "after-flaky"], "retried before the next of its key")
        poll_until(lambda: self.status()["dead"] == 1, 10, what="one dead letter")
        st = self.status()
        self.assertEqual(st["pending"], 0)
        self.assertGreaterEqual(st["retried"], 2)
        self.assertEqual(st["dead_lettered"], 1)
        listed = self.ctl_json("spool", "list")["events"]
        self.assertEqual([(e["id"], e["state"], e["last_status"]) for e in listed], [(bad_id, "dead", 400)])
        shown = self.ctl_json("spool", "show", bad_id)["event"]
        self.assertEqual(shown["delivery_id"], "bad")
        # Requeued, it goes again (the app says 200 now); a second requeue is refused.
        self.up.answer = lambda p, h, b: (200, b"ok")
        self.ctl("spool", "requeue", bad_id)
        poll_until(lambda: self.status()["dead"] == 0 and self.status()["pending"] == 0, 10, what="requeued")
        code, out, err = run_cli(["ctl", "--socket", self.sock, "spool", "requeue", bad_id])
        self.assertNotEqual(code, 0)
        with open(os.path.join(self.dir, "audit.jsonl")) as f:
            audit = [json.loads(line) for line in f if "spool" in line]
        self.assertEqual([(a["command"], a["outcome"]) for a in audit],
                         [("spool requeue " + bad_id, "ok"), ("spool requeue " + bad_id, "refused")])

    def test_drop(self):
        self.start()
        sid = json.loads(self.plain("gone")[2])["spool_id"]
        self.ctl("spool", "drop", sid)
        self.assertEqual(self.status()["pending"], 0)
        self.ctl("reopen", "to", "open", "--force")
        time.sleep(0.5)
        self.assertEqual(self.delivered(), [])

    def test_step_back_stops_replay(self):
        self.start()
        self.up.delay = 0.05
        for i in range(40):
            self.assertEqual(self.plain("s%02d" % i, "one-key")[0], 202)
        self.ctl("reopen", "to", "open", "--force")
        poll_until(lambda: len(self.delivered()) >= 3, 10, what="some deliveries")
        self.ctl("set", "mode", "read-only")
        time.sleep(0.3)
        n = len(self.delivered())
        time.sleep(0.6)
        self.assertEqual(len(self.delivered()), n, "no delivery starts once webhooks are held")
        self.assertGreater(self.status()["pending"], 0)


class TestSpoolConfig(SpoolTestCase):

    def check(self, text):
        path = os.path.join(self.dir, "check.toml")
        with open(path, "w") as f:
            f.write(text)
        code, out, err = run_cli(["check", "-c", path])
        return code, out + err

    def test_check_reports_spool_errors_with_positions(self):
        base = ('[upstream]\nurl = "http://127.0.0.1:%d"\n' % self.up.port)
        code, out = self.check(base + '[[rule]]\npath = "/h"\naction = "webhook"\nreason = "r"\nspool = true\n')
        self.assertNotEqual(code, 0)
        self.assertRegex(out, r"check\.toml:3:1: spool = true needs a \[spool\] section with dir")
        code, out = self.check(base + '[[rule]]\npath = "/h"\naction = "webhook"\nreason = "r"\nspool = true\n'
                               'signature = "github"\ndedupe_key = "X-Id"\n[spool]\ndir = "%s"\nrate = -1\n'
                               % os.path.join(self.dir, "s"))
        self.assertNotEqual(code, 0)
        self.assertIn("needs secret_file or secret_env", out)
        self.assertRegex(out, r"check\.toml:9:14: rule\[0\]\.dedupe_key: \"X-Id\" is not a key source")
        self.assertRegex(out, r"check\.toml:\d+:\d+: spool\.rate: expected deliveries per second")
        code, out = self.check(base + '[[rule]]\npath = "/h"\naction = "allow"\nreason = "r"\nspool = true\n')
        self.assertIn('apply to action = \"webhook\" only', out)
        code, out = self.check(base + '[spool]\ndir = "%s"\ncommit_intervall = "1ms"\n' % os.path.join(self.dir, "s"))
        self.assertIn("commit_interval", out)
        # check opens what run will open: the spool's folder must be creatable.
        code, out = self.check(base + '[[listener]]\naddress = "127.0.0.1:0"\n[spool]\ndir = "%s"\n'
                               % os.path.join(self.dir, "missing", "spool"))
        self.assertNotEqual(code, 0)
        self.assertIn("spool.dir: the folder", out)


class TestSpoolKill(SpoolTestCase):

    def test_kill_9_during_ingest_loses_no_accepted_event(self):
        self.start()
        accepted = []
        lock = threading.Lock()
        stop = threading.Event()
        port = self.proxy.port

        def sender(t):
            for i in range(400):
                if stop.is_set():
                    return
                try:
                    status, _, body = self.plain("t%d-%d" % (t, i), "k%d" % t, port=port)
                except (OSError, IndexError, ValueError):
                    return  # the process was killed mid-request: no 202, nothing promised
                if status == 202:
                    with lock:
                        accepted.append(json.loads(body)["spool_id"])

        threads = [threading.Thread(target=sender, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        poll_until(lambda: len(accepted) >= 100, 30, what="100 accepted")
        os.kill(self.proxy.pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(30)
        self.proxy.wait_exit(10)
        with lock:
            acked = set(accepted)
        self.start()
        listed = {e["id"] for e in self.ctl_json("spool", "list", "10000")["events"]}
        self.assertEqual(acked - listed, set(), "every 202'd event is in the spool after kill -9")
        # Nothing half-written counts: what is there is exactly what was stored.
        self.assertGreaterEqual(len(listed), len(acked))

    def test_kill_9_during_replay_delivers_nothing_twice_once_done(self):
        self.start(self.config({"concurrency": 2}))
        n = 60
        for i in range(n):
            self.assertEqual(self.plain("r%02d" % i, "k%d" % (i % 3))[0], 202)
        self.up.delay = 0.03
        self.ctl("set", "mode", "open")
        poll_until(lambda: len(self.delivered()) >= 15, 20, what="15 deliveries")
        os.kill(self.proxy.pid, signal.SIGKILL)
        self.proxy.wait_exit(10)
        self.up.delay = 0.0
        self.start()  # the state file says open: replay resumes by itself
        poll_until(lambda: self.status()["pending"] == 0, 30, what="the rest delivered")
        counts = {}
        for r in self.delivered():
            sid = r[2]["maintgate-spool-id"]
            counts[sid] = counts.get(sid, 0) + 1
        self.assertEqual(len(counts), n, "every event delivered")
        twice = [sid for sid, c in counts.items() if c > 1]
        # Only a delivery in flight at the kill (answered, not yet marked done) may go
        # again: at most `concurrency` of them, each at most twice.
        self.assertLessEqual(len(twice), 2, counts)
        self.assertTrue(all(c <= 2 for c in counts.values()), counts)


if __name__ == "__main__":
    unittest.main()
