"""One benchmark run: setup, checks, interleaved rounds, idle connections, mode flips."""

import datetime
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time

from . import callgrind
from .common import BenchError, CLK_TCK, MIB, REFUSED_BODY, SMALL_BODY, UPLOAD_SIZE, _read, log
from .scenarios import SCENARIOS
from .procs import cpu_ticks, headers_dict, http_request, status_kib
from .contenders import Contender, Upstream, maintgate_has_ctl
from .load import count_still_open, hold_idle_connections, run_wrk


class Bench:
    def __init__(self, settings, scenario_names):
        self.settings = settings
        self.scenario_names = scenario_names
        self.tmp = tempfile.mkdtemp(prefix="maintgate-bench.")
        self.seq = 0
        self.runs = []        # one dict per wrk run
        self.idle = []        # one dict per idle measurement
        self.notes = {}       # scenario -> list of notes (skips, observations)
        self.peak_rss = {}    # (scenario, contender id) -> KiB
        self.services = []    # contenders alive right now, stopped in cleanup
        self.upstream = None
        self.failures = []
        self.ir = []          # one dict per callgrind run

    # -- setup --

    def setup(self):
        s = self.settings
        self.upload_file = os.path.join(self.tmp, "upload.bin")
        with open(self.upload_file, "wb") as f:
            f.write(bytes(range(256)) * (UPLOAD_SIZE // 256))
        self.upstream = Upstream(self.tmp, s.upstream_workers, s.max_conns)
        log("upstream nginx on 127.0.0.1:%d (%d worker%s)"
            % (self.upstream.port, s.upstream_workers, "" if s.upstream_workers == 1 else "s"))
        # maintgate's own page and JSON refusal: nginx and HAProxy answer the same bytes.
        page = self.start("maintgate", 1, "page")
        status, headers, self.page = http_request(page.port, "GET", "/", headers={"Accept": "text/html"})
        self.stop(page)
        if status != 503 or not self.page:
            raise BenchError("maintgate in maintenance mode answered %d to GET /, expected its 503 page" % status)
        self.retry_after = headers.get("retry-after", "")
        if not self.retry_after.isdigit():
            raise BenchError("maintgate's page has no numeric Retry-After (%r)" % self.retry_after)
        ro = self.start("maintgate", 1, "ro")
        status, _, self.refusal = http_request(ro.port, "POST", "/", body=REFUSED_BODY,
                                               headers={"Content-Type": "application/json",
                                                        "Accept": "application/json"})
        self.stop(ro)
        if status != 503:
            raise BenchError("maintgate in read-only mode answered %d to POST, expected 503" % status)

    def stop_all(self):
        """Stops every server still running: the contenders, then their upstream."""
        for c in self.services:
            c.stop()
        self.services = []
        if self.upstream:
            self.upstream.service.stop()
            self.upstream = None

    def remove_tmp(self):
        if self.settings.keep_tmp:
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, kind, workers, variant, **how):
        c = Contender(kind, workers, variant, self, self.upstream, **how)
        if kind != "direct":
            self.services.append(c)
        return c

    def stop(self, c):
        c.stop()
        if c in self.services:
            self.services.remove(c)

    def contender_plan(self, kinds):
        """(kind, workers) in the interleaving order: direct once, then each proxy per worker count."""
        plan = []
        if "direct" in kinds and "direct" in self.settings.contenders:
            plan.append(("direct", 1))
        for w in self.settings.workers:
            for kind in ("maintgate", "nginx", "haproxy"):
                if kind in kinds and kind in self.settings.contenders:
                    plan.append((kind, w))
        return plan

    # -- checks: each contender answers the way the scenario needs, before any load --

    def check(self, sc, c):
        hdrs = headers_dict(sc.headers)
        what = "%s / %s" % (sc.name, c.id)
        body = sc.body
        if sc.body_file:
            with open(self.upload_file, "rb") as f:
                body = f.read()
            hdrs["X-Bench-Check"] = "1"
        before = len(self.upstream.upload_log())
        status, rh, data = http_request(c.port, sc.method, sc.path, body=body, headers=hdrs)
        if status != sc.expect:
            raise BenchError("%s: %s %s answered %d, expected %d" % (what, sc.method, sc.path, status, sc.expect))
        if sc.body_size is not None and len(data) != sc.body_size:
            raise BenchError("%s: body of %d bytes, expected %d" % (what, len(data), sc.body_size))
        if sc.name == "page" and data != self.page:
            raise BenchError("%s: the page differs from maintgate's (%d bytes, expected %d)"
                             % (what, len(data), len(self.page)))
        if sc.name == "refuse" and data != self.refusal:
            raise BenchError("%s: the refusal differs from maintgate's: %r" % (what, data[:200]))
        if sc.body_file:
            # The upstream logs $request_length for checked uploads: the whole body arrived.
            lines = self.upstream.upload_log()[before:]
            if len(lines) != 1 or int(lines[0].split()[0]) < UPLOAD_SIZE:
                raise BenchError("%s: the upstream did not log one request of at least %d bytes: %r"
                                 % (what, UPLOAD_SIZE, lines))
        if sc.variant in ("ro", "flip") and c.kind != "direct":
            # The read-only rule is really there: a write is refused.
            status, _, _ = http_request(c.port, "POST", "/", body=REFUSED_BODY,
                                        headers={"Content-Type": "application/json"})
            if status != 503:
                raise BenchError("%s: POST / answered %d; the read-only rule should refuse it" % (what, status))
        if sc.name == "close" and "close" not in rh.get("connection", "").lower():
            raise BenchError("%s: no `Connection: close` in the reply to a request that asked for it" % what)
        return rh

    # -- one scenario --

    def run_scenario(self, sc):
        s = self.settings
        plan = self.contender_plan(sc.kinds)
        notes = self.notes.setdefault(sc.name, [])
        if not plan:
            notes.append("skipped: none of its contenders is in BENCH_CONTENDERS")
            return
        if sc.variant == "flip" and not maintgate_has_ctl(s.maintgate):
            msg = ("skipped: this maintgate has no `ctl` command yet (`%s --help` does not list it), "
                   "so its mode cannot be flipped at run time" % s.maintgate)
            log("flip: " + msg)
            notes.append(msg)
            return
        log("%s: starting %s" % (sc.name, ", ".join("%s-%d" % p for p in plan)))
        contenders = [self.start(kind, w, sc.variant) for kind, w in plan]
        try:
            conn_headers = []
            for c in contenders:
                rh = self.check(sc, c)
                conn_headers.append("%s `%s`" % (c.label, rh.get("connection", "(none: keep-alive)")))
            if sc.name == "refuse":
                # Whether a refusal costs the client its connection changes what the row means.
                notes.append("Connection header on a refused POST: %s." % "; ".join(conn_headers))
            if sc.variant == "flip":
                for c in contenders:
                    self.check_flips(c)
            for c in contenders:
                if s.warmup:
                    run_wrk(self, sc, c.port, s.warmup, os.path.join(self.tmp, "warmup-%s-%s.txt" % (sc.name, c.id)))
            for rnd in range(1, s.rounds + 1):
                for c in contenders:
                    self.measure(sc, c, rnd)
            for c in contenders:
                if c.kind != "direct":
                    self.peak_rss[(sc.name, c.id)] = status_kib(c.pids, "VmHWM")
        finally:
            for c in contenders:
                self.stop(c)

    def check_flips(self, c):
        """ctl works on this build, and each mode does what it says to a write."""
        for mode, expect in (("open", 200), ("read-only", 503)):
            ok, out = c.ctl(self, "set", "mode", mode)
            if not ok:
                raise BenchError("flip: `maintgate ctl --socket %s set mode %s` failed: %s"
                                 % (c.admin_socket, mode, out))
            status, _, _ = http_request(c.port, "POST", "/", body=REFUSED_BODY,
                                        headers={"Content-Type": "application/json"})
            if status != expect:
                raise BenchError("flip: after `set mode %s`, POST / answered %d, expected %d"
                                 % (mode, status, expect))

    def measure(self, sc, c, rnd):
        s = self.settings
        log("%s: round %d/%d: %s" % (sc.name, rnd, s.rounds, c.id))
        flipper = Flipper(self, c) if sc.variant == "flip" else None
        up_before = cpu_ticks(self.upstream.service.pids)
        before = cpu_ticks(c.pids)
        if flipper:
            flipper.start()
        try:
            r = run_wrk(self, sc, c.port, s.duration,
                        os.path.join(self.tmp, "wrk-%s-%s-%d.txt" % (sc.name, c.id, rnd)))
        finally:
            if flipper:
                flipper.finish()
        after = cpu_ticks(c.pids)
        up_after = cpu_ticks(self.upstream.service.pids)
        n = r["requests"]
        secs = r["duration_us"] / 1e6
        # Bodies moved: what wrk received, or for uploads what it sent in completed requests.
        mib = (n * UPLOAD_SIZE if sc.body_file else r["bytes"]) / MIB
        cpu_us = (after - before) * 1e6 / CLK_TCK
        # wrk's percentiles are 0 when no request completed (a short run of 16 MiB downloads).
        pct = (lambda key: r[key] if n else None)
        if sc.expect < 400:
            unexpected = r["status"]          # wrk counts responses >= 400
        else:
            unexpected = n - r["status"]      # every response should be the 503
        row = {
            "scenario": sc.name, "contender": c.id, "kind": c.kind,
            "workers": 0 if c.kind == "direct" else c.workers, "round": rnd,
            "requests": int(n), "seconds": round(secs, 3),
            "rps": n / secs if secs else 0.0,
            "mib_s": mib / secs if secs else 0.0,
            "p50_us": pct("p50"), "p90_us": pct("p90"), "p99_us": pct("p99"), "p999_us": pct("p999"),
            "max_us": pct("max"),
            "cpu_us_per_req": cpu_us / n if c.pids and n else None,
            "cpu_us_per_mib": cpu_us / mib if c.pids and mib else None,
            "upstream_cpu_us_per_req": (up_after - up_before) * 1e6 / CLK_TCK / n if n else None,
            "rss_kib": status_kib(c.pids, "VmRSS") if c.pids else None,
            "socket_errors": int(r["connect"] + r["read"] + r["write"] + r["timeout"]),
            "unexpected_status": int(unexpected),
            "flips": flipper.done if flipper else None,
            "flip_failures": flipper.failed if flipper else None,
        }
        if flipper and flipper.first_error:
            self.notes[sc.name].append("%s round %d: a flip failed: %s" % (c.id, rnd, flipper.first_error))
        if row["socket_errors"] or row["unexpected_status"] or (flipper and flipper.failed):
            self.failures.append("%s / %s round %d: %d socket errors, %d unexpected statuses%s"
                                 % (sc.name, c.id, rnd, row["socket_errors"], row["unexpected_status"],
                                    ", %d failed flips" % flipper.failed if flipper and flipper.failed else ""))
        self.runs.append(row)

    # -- idle keep-alive connections --

    def run_idle(self):
        s = self.settings
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = s.idle_conns + 256
        if soft < need and hard >= need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        elif soft < need:
            raise BenchError("idle: %d connections need %d file descriptors; the limit is %d (ulimit -n)"
                             % (s.idle_conns, need, hard))
        small = next(sc for sc in SCENARIOS if sc.name == "small")
        plan = [p for p in self.contender_plan(["maintgate", "nginx", "haproxy"])]
        self.notes.setdefault("idle", [])
        if not plan:
            self.notes["idle"].append("skipped: none of its contenders is in BENCH_CONTENDERS")
            return
        for rnd in range(1, s.rounds + 1):
            for kind, w in plan:
                c = self.start(kind, w, "ro")
                try:
                    log("idle: round %d/%d: %s, %d connections" % (rnd, s.rounds, c.id, s.idle_conns))
                    self.check(small, c)
                    # Served traffic first, so that the baseline is a working process.
                    run_wrk(self, small, c.port, max(1, s.warmup),
                            os.path.join(self.tmp, "warmup-idle-%s-%d.txt" % (c.id, rnd)))
                    time.sleep(0.5)
                    rss0 = status_kib(c.pids, "VmRSS")
                    socks = hold_idle_connections(c.port, s.idle_conns)
                    try:
                        time.sleep(1.0)
                        rss1 = status_kib(c.pids, "VmRSS")
                        still = count_still_open(socks)
                    finally:
                        for sock in socks:
                            sock.close()
                    if still != s.idle_conns:
                        self.failures.append("idle / %s round %d: the proxy closed %d of %d idle connections"
                                             % (c.id, rnd, s.idle_conns - still, s.idle_conns))
                    self.idle.append({
                        "contender": c.id, "kind": kind, "workers": w, "round": rnd,
                        "connections": s.idle_conns, "still_open": still,
                        "rss_before_kib": rss0, "rss_after_kib": rss1,
                        "bytes_per_conn": (rss1 - rss0) * 1024 / s.idle_conns,
                    })
                finally:
                    self.stop(c)

    # -- instructions per request (callgrind) --

    def run_ir(self):
        s = self.settings
        self.notes.setdefault("ir", [])
        kinds = [k for k in callgrind.IR_KINDS if k in s.contenders]
        if not kinds:
            self.notes["ir"].append("skipped: none of its contenders is in BENCH_CONTENDERS")
            return
        if not callgrind.have_valgrind():
            msg = "skipped: valgrind is not installed (scripts/install-deps.sh bench installs it)"
            log("ir: " + msg)
            self.notes["ir"].append(msg)
            return
        log("ir: %s under callgrind, %s GETs, %d round%s"
            % (", ".join(kinds), " and ".join(map(str, s.ir_counts)), s.ir_repeats, "" if s.ir_repeats == 1 else "s"))
        self.ir = callgrind.measure(self, kinds, s.ir_counts, s.ir_repeats, SMALL_BODY)

    # -- the whole run --

    def run(self):
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.load_before = _read("/proc/loadavg").split()[:3]
        self.setup()
        for sc in SCENARIOS:
            if sc.name in self.scenario_names:
                self.run_scenario(sc)
        if "idle" in self.scenario_names:
            self.run_idle()
        if "ir" in self.scenario_names:
            self.run_ir()
        self.load_after = _read("/proc/loadavg").split()[:3]
        self.finished = datetime.datetime.now(datetime.timezone.utc)


class Flipper:
    """Flips maintgate's mode read-only <-> open every interval while wrk runs, through
    the admin socket, on a schedule that does not drift with the time each ctl takes."""

    def __init__(self, bench, contender):
        self.bench = bench
        self.c = contender
        self.interval = bench.settings.flip_interval_ms / 1000.0
        self.done = 0
        self.failed = 0
        self.first_error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()

    def _loop(self):
        modes = ("open", "read-only")
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            k += 1
            try:
                ok, out = self.c.ctl(self.bench, "set", "mode", modes[k % 2])
            except subprocess.TimeoutExpired:
                ok, out = False, "timed out"
            self.done += 1
            if not ok:
                self.failed += 1
                self.first_error = self.first_error or out
            self._stop.wait(max(0.0, t0 + k * self.interval - time.monotonic()))

    def finish(self):
        self._stop.set()
        self._thread.join()
        # Back to where the next round expects it.
        ok, out = self.c.ctl(self.bench, "set", "mode", "read-only")
        if not ok:
            raise BenchError("flip: could not set the mode back to read-only: %s" % out)
