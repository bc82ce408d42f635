"""What a run is told through the environment (bench/README.md lists it)."""

import os

from .common import BenchError, REPO
from .scenarios import KINDS


def _env_int(name, default, minimum=0):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BenchError("%s=%r is not a whole number" % (name, raw))
    if value < minimum:
        raise BenchError("%s=%d is below %d" % (name, value, minimum))
    return value


def _env_words(name, default, allowed):
    words = os.environ.get(name, "").split() or list(default)
    for w in words:
        if w not in allowed:
            raise BenchError("%s: unknown %r (expected some of: %s)" % (name, w, " ".join(allowed)))
    return words


class Settings:
    """Everything a run can be told through the environment (see bench/README.md)."""

    def __init__(self):
        quick = os.environ.get("BENCH_QUICK", "") == "1"
        self.quick = quick
        self.duration = _env_int("BENCH_DURATION", 2 if quick else 10, 1)
        self.rounds = _env_int("BENCH_ROUNDS", 1 if quick else 3, 1)
        self.warmup = _env_int("BENCH_WARMUP", 1 if quick else 2, 0)
        self.connections = _env_int("BENCH_CONNECTIONS", 64, 1)
        # One wrk thread where wrk, the upstream and the proxy share two cores; two where
        # there is room, so that wrk is not what limits the 2-worker runs.
        self.wrk_threads = _env_int("BENCH_WRK_THREADS", 1 if (os.cpu_count() or 1) < 4 else 2, 1)
        self.wrk_threads = min(self.wrk_threads, self.connections)
        self.workers = [int(w) for w in _env_words("BENCH_WORKERS", ["1", "2"], ["1", "2", "3", "4"])]
        self.contenders = _env_words("BENCH_CONTENDERS", KINDS, KINDS)
        self.idle_conns = _env_int("BENCH_IDLE_CONNS", 5000, 1)
        # Connection limits of nginx (worker_connections) and HAProxy (maxconn): room for
        # the idle scenario's connections, plus the upstream side; maintgate's default
        # max_connections (10000) already is.
        self.max_conns = max(4096, self.idle_conns + 1024)
        self.upstream_workers = _env_int("BENCH_UPSTREAM_WORKERS", 1, 1)
        self.flip_interval_ms = _env_int("BENCH_FLIP_INTERVAL_MS", 100, 10)
        # The callgrind figure (scenario ir): two request counts, and how many fresh runs of each.
        counts = os.environ.get("BENCH_IR_REQUESTS", "").split() or ["1000", "2000"]
        try:
            self.ir_counts = sorted(int(c) for c in counts)
        except ValueError:
            raise BenchError("BENCH_IR_REQUESTS=%r: expected two whole numbers" % " ".join(counts))
        if len(self.ir_counts) != 2 or self.ir_counts[0] < 0 or self.ir_counts[0] == self.ir_counts[1]:
            raise BenchError("BENCH_IR_REQUESTS: expected two different counts, e.g. \"1000 2000\" or \"0 1000\"")
        self.ir_repeats = _env_int("BENCH_IR_REPEATS", 1 if quick else 3, 1)
        self.results = os.path.abspath(os.environ.get("BENCH_RESULTS_DIR", os.path.join(REPO, "bench", "results")))
        self.keep_tmp = os.environ.get("KEEP_TMP", "") == "1"
        self.maintgate = os.environ.get("MAINTGATE_BIN", "")
        # TOML appended to maintgate's config (features configured but idle, e.g. [hold]).
        self.maintgate_extra = ""
        if os.environ.get("BENCH_MAINTGATE_EXTRA", ""):
            with open(os.environ["BENCH_MAINTGATE_EXTRA"]) as f:
                self.maintgate_extra = f.read()
        if not self.maintgate:
            raise BenchError("MAINTGATE_BIN is not set (bench/run.sh sets it after building)")
        if not os.access(self.maintgate, os.X_OK):
            raise BenchError("MAINTGATE_BIN=%s is not an executable" % self.maintgate)
