"""[cluster]: three maintgate replicas share one gate through a real etcd on loopback.

Each test starts its own etcd (Debian's etcd-server: a temp data dir, free ports) and
three replicas in front of one upstream:
- freeze under write load through every replica: after freeze returns, no write
  reaches the app through any of them;
- a replica paused with SIGSTOP during a freeze: freeze names it and exits 1;
- etcd killed (-9) and restarted: the replicas fence themselves, then recover;
- compaction of the watched revision (etcdctl compact): the watch reads again;
- a replica joining late takes the shared state at once;
- a maintenance window run on one replica is in the desired state: every replica's
  status shows it and its phase, and no other replica starts one over it;
- a replica started without etcd serves its own state fenced, says so in the log, status
  and metrics; per-replica metrics on the others.
Skipped, with the reason, only when etcd is not installed.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN, Proxy, run_cli
from upstream import Upstream

ETCD = shutil.which("etcd")
ETCDCTL = shutil.which("etcdctl")
TTL = "4s"
KEEPALIVE = "500ms"     # fences 3 s after the last keep-alive
FENCE_AFTER = 3.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


class Etcd:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="maintgate-etcd-")
        self.client = free_port()
        self.peer = free_port()
        self.url = "http://127.0.0.1:%d" % self.client
        self.proc = None
        self.log = open(os.path.join(self.tmp.name, "etcd.log"), "ab")

    def start(self):
        self.proc = subprocess.Popen(
            [ETCD, "--name", "t", "--data-dir", os.path.join(self.tmp.name, "data"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-cluster", "t=http://127.0.0.1:%d" % self.peer,
             "--log-level", "error"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.ctl("endpoint", "health", check=False)[0] == 0:
                return self
            time.sleep(0.1)
        raise AssertionError("etcd did not become healthy within 20 s")

    def ctl(self, *args, check=True):
        p = subprocess.run([ETCDCTL, "--endpoints", self.url] + list(args), capture_output=True,
                           timeout=20, env=dict(os.environ, ETCDCTL_API="3"))
        if check and p.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (" ".join(args), p.stderr.decode()))
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self):
        self.kill()
        self.log.close()
        self.tmp.cleanup()


class Relay:
    """A TCP relay to etcd on loopback. hold: bytes from etcd are kept back; cut(): every
    open connection is closed (what was held is dropped) and new ones pass again."""

    def __init__(self, target_port):
        self.target = target_port
        self.hold = False
        self.lock = threading.Lock()
        self.socks = []
        self.stopped = False
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, True), daemon=True).start()

    def _pump(self, src, dst, from_etcd):
        src.settimeout(None)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while from_etcd and self.hold and not self.stopped:
                    time.sleep(0.01)
                    if src.fileno() < 0:
                        return
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.hold = False

    def stop(self):
        self.stopped = True
        self.cut()
        self.listener.close()


def replica_config(etcd_url, name, upstream_port, tmp):
    return {
        "gate": {"state_file": os.path.join(tmp, name + ".state"),
                 "audit_log": os.path.join(tmp, name + ".audit")},
        "admin": {"socket": os.path.join(tmp, name + ".sock")},
        "reopen": {"freeze_timeout": "5s"},
        "cluster": {"etcd": [etcd_url], "prefix": "/mg-test", "replica_id": name,
                    "lease_ttl": TTL, "keepalive": KEEPALIVE},
    }


@unittest.skipUnless(ETCD and ETCDCTL, "etcd is not installed (Debian: apt-get install etcd-server "
                                       "etcd-client; scripts/install-deps.sh test installs them)")
class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="maintgate-cluster-")
        self.addCleanup(self.tmp.cleanup)
        self.upstream = Upstream().start()
        self.addCleanup(self.upstream.stop)
        self.etcd = Etcd().start()
        self.addCleanup(self.etcd.cleanup)
        self.replicas = {}
        for name in ("r1", "r2", "r3"):
            self.start_replica(name)
        self.wait_all_at_same_revision()

    def start_replica(self, name, etcd_url=None, metrics=False):
        cfg = replica_config(etcd_url or self.etcd.url, name, self.upstream.port, self.tmp.name)
        if metrics:
            cfg["admin"]["metrics"] = "127.0.0.1:0"
        p = Proxy(self.upstream.port, cfg)
        self.addCleanup(p.cleanup)
        p.start()
        self.replicas[name] = p
        self.assertTrue(p.wait_log(r"cluster: .*|gate: ", 10), p.output())
        return p

    def sock(self, name):
        return os.path.join(self.tmp.name, name + ".sock")

    def ctl(self, name, *words, timeout=30):
        return run_cli(["ctl", "--socket", self.sock(name)] + list(words), timeout=timeout)

    def status(self, name):
        code, out, err = self.ctl(name, "--json", "status")
        self.assertEqual(code, 0, out + err)
        return json.loads(out)

    def wait_for(self, what, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (AssertionError, ValueError, OSError) as e:
                last = e
            time.sleep(0.1)
        self.fail("%s: not within %.0f s (last: %r)\n%s" % (what, timeout, last,
                  "\n".join(p.output(30) for p in self.replicas.values())))

    def wait_all_at_same_revision(self, names=None, mode=None):
        names = names or list(self.replicas)

        def same():
            st = [self.status(n) for n in names]
            revs = {s["cluster"]["applied_revision"] for s in st}
            modes = {s["mode"] for s in st}
            ok = (len(revs) == 1 and 0 not in revs and all(s["cluster"]["connected"] for s in st)
                  and (mode is None or modes == {mode}))
            return st if ok else None
        return self.wait_for("every replica at one revision", same)

    # ---- load ------------------------------------------------------------------------

    def write_load(self, stop, results):
        """POSTs through every replica in turn until stop is set (bounded: 20 s, 5000)."""
        ports = [p.port for p in self.replicas.values()]
        deadline = time.monotonic() + 20
        n = 0
        while not stop.is_set() and time.monotonic() < deadline and n < 5000:
            port = ports[n % len(ports)]
            n += 1
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                              b"Connection: close\r\n\r\nok")
                    data = s.recv(64)
                    results.append(data[:12])
            except OSError:
                results.append(b"error")

    # ---- the tests -------------------------------------------------------------------

    def test_set_mode_on_one_replica_reaches_every_replica_and_status_lists_them(self):
        code, out, err = self.ctl("r2", "set", "mode", "maintenance", "reason", "db work")
        self.assertEqual(code, 0, out + err)
        self.wait_all_at_same_revision(mode="maintenance")
        # The replica list is refreshed once per keep-alive interval.
        st = self.wait_for("r1 lists every replica at the revision", lambda: (lambda s: s if (
            sorted(r["id"] for r in s["cluster"]["replicas"]) == ["r1", "r2", "r3"] and
            all(r["applied_revision"] == s["cluster"]["applied_revision"] for r in s["cluster"]["replicas"]))
            else None)(self.status("r1")))
        st = [st]
        for r in st[0]["cluster"]["replicas"]:
            self.assertTrue(r["live"])
            self.assertEqual(r["applied_revision"], st[0]["cluster"]["applied_revision"])
        code, out, err = self.ctl("r1", "status")
        self.assertIn("cluster     replica r1", out)
        self.assertIn("  replica   r3: revision", out)
        # The audit line on another replica names the cluster revision and the replica.
        with open(os.path.join(self.tmp.name, "r3.audit")) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        last = lines[-1]
        self.assertTrue(last["actor"].startswith("cluster rev "), last)
        self.assertEqual(last["replica"], "r3")
        self.assertIn("on replica r2", last["detail"])
        self.assertEqual(last["new_mode"], "maintenance")
        # Metrics per replica are on the metrics listener; the state file followed too.
        with open(os.path.join(self.tmp.name, "r1.state")) as f:
            self.assertEqual(json.load(f)["mode"], "maintenance")
        code, out, err = self.ctl("r3", "set", "mode", "open")
        self.assertEqual(code, 0, out + err)
        self.wait_all_at_same_revision(mode="open")

    def test_freeze_under_load_no_write_reaches_the_app_after_it_returns(self):
        stop = threading.Event()
        results = []
        threads = [threading.Thread(target=self.write_load, args=(stop, results)) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            self.upstream.wait_for(lambda u: sum(1 for r in u.requests
                                               if r.method == "POST") >= 30, 20, "writes before the freeze")
            code, out, err = self.ctl("r1", "--json", "freeze", "timeout", "5s")
            returned = time.monotonic()
            self.assertEqual(code, 0, out + err)
            reply = json.loads(out)
            self.assertTrue(reply["ok"], reply)
            self.assertEqual(sorted(r["id"] for r in reply["replicas"]), ["r1", "r2", "r3"])
            self.assertTrue(all(r["state"] == "done" for r in reply["replicas"]), reply)
            time.sleep(1.0)  # the load keeps going against all three
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        late = [r for r in self.upstream.requests if r.method == "POST" and r.arrival > returned]
        self.assertEqual(late, [], "writes reached the app after freeze returned")
        self.assertIn(b"HTTP/1.1 503", results)
        code, out, err = self.ctl("r2", "freeze")  # the text form names each boundary
        self.assertEqual(code, 0, out + err)
        for name in ("r1", "r2", "r3"):
            self.assertIn("  %s: write boundary" % name, out)

    def test_a_stopped_replica_is_named_by_freeze_which_exits_1(self):
        r3 = self.replicas["r3"]
        os.kill(r3.pid, signal.SIGSTOP)
        try:
            code, out, err = self.ctl("r1", "freeze", "timeout", "1500ms")
            self.assertEqual(code, 1, out + err)
            self.assertIn("silent: r3", out + err)
            self.assertNotIn("r1", (out + err).split("silent:")[1])
        finally:
            os.kill(r3.pid, signal.SIGCONT)
        # Once it runs again it catches up and acknowledges the freeze.
        st = self.wait_all_at_same_revision(mode="read-only")
        self.assertTrue(all(s["fenced"] for s in st))

    def test_etcd_killed_replicas_fence_then_recover_after_restart(self):
        code, out, err = self.ctl("r1", "set", "mode", "open")
        self.assertEqual(code, 0, out + err)
        self.etcd.kill()
        killed = time.monotonic()
        for name in ("r1", "r2", "r3"):
            self.wait_for(name + " fences itself",
                          lambda n=name: self.status(n)["cluster"]["self_fenced"], timeout=FENCE_AFTER + 6)
        self.assertGreaterEqual(time.monotonic() - killed, 1.0)
        st = self.status("r2")
        self.assertEqual(st["mode"], "read-only")
        self.assertIn("lost etcd", st["cluster"]["fence_reason"])
        code, out, err = self.ctl("r2", "status")
        self.assertIn("FENCED ITSELF", out)
        # A change cannot be made without etcd, and says why.
        code, out, err = self.ctl("r2", "set", "mode", "maintenance")
        self.assertEqual(code, 1, out + err)
        self.assertIn("has no etcd", out + err)
        self.etcd.start()
        st = self.wait_all_at_same_revision(mode="open")
        self.assertFalse(any(s["cluster"]["self_fenced"] for s in st))
        self.assertTrue(self.replicas["r3"].wait_log(r"fence lifted", 5))

    def test_compaction_during_a_watch_reads_again_and_keeps_following(self):
        # r4 talks to etcd through a relay the test can hold and cut: its watch misses
        # changes, etcd compacts past them, and the watch it starts again from where it
        # was is cancelled with compact_revision. It must read again and follow.
        relay = Relay(self.etcd.client).start()
        self.addCleanup(relay.stop)
        self.start_replica("r4", etcd_url="http://127.0.0.1:%d" % relay.port)
        self.wait_all_at_same_revision()
        relay.hold = True
        for i in range(3):
            code, out, err = self.ctl("r1", "set", "mode", "maintenance" if i % 2 == 0 else "read-only",
                                      "reason", "step %d" % i)
            self.assertEqual(code, 0, out + err)
        code, out, _ = self.etcd.ctl("endpoint", "status", "-w", "json")
        rev = json.loads(out)[0]["Status"]["header"]["revision"]
        self.etcd.ctl("compact", str(rev))
        relay.cut()  # every connection through the relay, the watch too; new ones pass
        st = self.wait_all_at_same_revision(mode="maintenance")
        self.assertEqual(st[-1]["reason"], "step 2")
        self.assertTrue(self.replicas["r4"].wait_log(r"compacted at \d+\); reading again", 5),
                        self.replicas["r4"].output())
        # And it keeps following the watch it started from that read.
        code, out, err = self.ctl("r2", "set", "mode", "open")
        self.assertEqual(code, 0, out + err)
        self.wait_all_at_same_revision(mode="open")

    def test_a_replica_started_without_etcd_serves_its_state_fenced_and_says_so(self):
        dead = "http://127.0.0.1:%d" % free_port()
        p = self.start_replica("lonely", etcd_url=dead, metrics=True)
        st = self.wait_for("lonely fences itself", lambda: (lambda s: s if s["cluster"]["self_fenced"] else None)(
            self.status("lonely")))
        self.assertEqual(st["mode"], "read-only")
        self.assertIn("etcd unreachable at start-up", st["cluster"]["fence_reason"])
        self.assertTrue(p.wait_log(r"etcd unreachable at start-up.*fences itself", 5), p.output())
        line = p.wait_log(r"metrics listening on 127\.0\.0\.1:\d+", 5)
        port = int(line.rsplit(":", 1)[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        text = data.decode()
        self.assertIn("maintgate_cluster_self_fenced 1", text)
        self.assertIn("maintgate_cluster_fences_total 1", text)
        # The other replicas' metrics name every replica.
        p1 = self.start_replica("m1", metrics=True)
        line = p1.wait_log(r"metrics listening on 127\.0\.0\.1:\d+", 5)
        port = int(line.rsplit(":", 1)[1].split()[0])

        def scrape():
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
                out = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            t = out.decode()
            return t if 'maintgate_cluster_replica_applied_revision{replica="r3"}' in t and \
                'maintgate_cluster_replica_ack_age_seconds{replica="m1"}' in t else None
        self.wait_for("per-replica metrics", scrape)

    def test_a_window_run_on_one_replica_shows_in_every_replicas_status(self):
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time()) + 3600))
        code, out, err = self.ctl("r1", "window", "plan", "w1", "start", "manual", "end", end,
                                  "mode", "maintenance", "reason", "db upgrade")
        self.assertEqual(code, 0, out + err)
        # A plan is r1's own: the shared state carries a window once it holds the gate.
        self.assertIsNone(self.status("r2")["window"])
        self.assertIsNone(self.status("r2")["cluster"]["window"])
        code, out, err = self.ctl("r1", "window", "start", "w1")
        self.assertEqual(code, 0, out + err)

        def shown(name, phase):
            s = self.status(name)
            w = s["window"]
            return s if (w and w["id"] == "w1" and w["phase"] == phase and s["mode"] == "maintenance") else None
        for name in ("r2", "r3"):
            st = self.wait_for(name + " shows w1 active", lambda n=name: shown(n, "active"), timeout=5)
            w = st["window"]
            self.assertEqual((w["replica"], w["mode"], w["ends"], w["reason"]), ("r1", "maintenance", end,
                                                                                  "db upgrade"))
            self.assertEqual(st["cluster"]["window"]["phase"], "active")
        self.assertEqual(self.status("r1")["cluster"]["window"]["replica"], "r1")
        code, out, err = self.ctl("r2", "status")
        self.assertIn("window      w1  active  maintenance  by hand .. %s  db upgrade  (run by replica r1)" % end,
                      out)
        self.assertIn("  window    w1 active (run by replica r1)", out)
        code, out, err = self.ctl("r2", "window", "status")
        self.assertIn("under way  on replica r1: w1  active  maintenance", out)
        code, out, err = self.ctl("r2", "--json", "window", "status")
        ws = json.loads(out)
        self.assertIsNone(ws["current"])  # r2's own window object runs none
        self.assertEqual((ws["elsewhere"]["id"], ws["elsewhere"]["replica"]), ("w1", "r1"))
        # A replica joining now shows it too, and its metrics say so.
        m = self.start_replica("m1", metrics=True)
        self.wait_for("m1 shows w1 active", lambda: shown("m1", "active"), timeout=5)
        line = m.wait_log(r"metrics listening on 127\.0\.0\.1:\d+", 5)
        text = scrape(int(line.rsplit(":", 1)[1].split()[0]))
        self.assertIn("maintgate_cluster_window_in_progress 1", text)
        self.assertIn('maintgate_cluster_window_info{window="w1",phase="active",replica="r1"} 1', text)
        # One window at a time across the cluster: r2 cannot start its own over it.
        code, out, err = self.ctl("r2", "window", "plan", "w2", "start", "manual", "end", end)
        self.assertEqual(code, 0, out + err)
        code, out, err = self.ctl("r2", "window", "start", "w2")
        self.assertEqual(code, 1, out + err)
        self.assertIn("window w1 is active on replica r1; one window at a time across the cluster", out + err)
        # The reopen asked on r2 moves r1's window on (it follows the gate); its phases
        # written meanwhile do not make r2's steps fail.
        code, out, err = self.ctl("r2", "reopen", "to", "open")
        self.assertEqual(code, 0, out + err)
        st = self.wait_for("r3 sees w1 completed", lambda: (lambda s: s if (
            s["cluster"]["window"] and s["cluster"]["window"]["phase"] == "completed") else None)(
            self.status("r3")), timeout=10)
        self.assertEqual(st["mode"], "open")
        self.assertIsNone(st["window"])  # nothing holds the gate; r3 plans none
        code, out, err = self.ctl("r1", "--json", "window", "report", "w1")
        self.assertEqual(json.loads(out)["report"]["phase"], "completed", out)
        # Each other replica's audit log says under which window it served.
        with open(os.path.join(self.tmp.name, "r3.audit")) as f:
            details = [json.loads(l)["detail"] for l in f if l.strip()]
        for phase in ("freezing", "active", "completed"):
            self.assertTrue(any(("window w1 is %s on replica r1" % phase) in d for d in details), details)
        # And r2 may run its window now.
        code, out, err = self.ctl("r2", "window", "start", "w2")
        self.assertEqual(code, 0, out + err)
        self.wait_for("r1 shows w2 active", lambda: (lambda w: w and w["id"] == "w2" and w["replica"] == "r2")(
            self.status("r1")["window"]), timeout=5)
        # A replica that is gone holds no window: once r2's lease expires, the others no
        # longer show w2 as under way, and r1 may start a window over it.
        self.replicas["r2"].stop(signal.SIGKILL)
        st = self.wait_for("r1 sees r2's window as held by nobody", lambda: (lambda s: s if (
            s["window"] is None and s["cluster"]["window"]["id"] == "w2" and not s["cluster"]["window"]["held"])
            else None)(self.status("r1")), timeout=10)
        code, out, err = self.ctl("r1", "status")
        self.assertIn("  window    w2 active (run by replica r2, whose lease is gone: it holds nothing)", out)
        code, out, err = self.ctl("r1", "window", "plan", "w3", "start", "manual", "end", end)
        self.assertEqual(code, 0, out + err)
        code, out, err = self.ctl("r1", "window", "start", "w3")
        self.assertEqual(code, 0, out + err)
        self.wait_for("r3 shows w3 active", lambda: (lambda w: w and (w["id"], w["phase"], w["replica"]) == (
            "w3", "active", "r1"))(self.status("r3")["window"]), timeout=5)

    def test_a_replica_joining_late_takes_the_shared_state(self):
        code, out, err = self.ctl("r1", "set", "mode", "maintenance", "reason", "late joiner")
        self.assertEqual(code, 0, out + err)
        self.wait_all_at_same_revision(mode="maintenance")
        self.start_replica("r4")
        st = self.wait_all_at_same_revision(mode="maintenance")
        self.assertEqual(st[-1]["reason"], "late joiner")
        # The others list it once their replica list is refreshed (each keep-alive).
        self.wait_for("r1 lists r4", lambda: len(self.status("r1")["cluster"]["replicas"]) == 4)


if __name__ == "__main__":
    unittest.main()
