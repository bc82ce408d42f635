"""The command line: bench/bench.py [SCENARIO...]."""

import os
import signal
import sys

from .common import BenchError, log
from .settings import Settings
from .scenarios import SCENARIO_NAMES
from .runner import Bench
from .report import Report


USAGE = """usage: bench/run.sh [SCENARIO...]

scenarios (default: all, in this order):
  small   small GET over keep-alive                   64k     64 KiB responses
  upload  1 MiB uploads (proxies let POST through)    16m     16 MiB downloads
  close   a new connection per request                page    maintenance page (503)
  refuse  a flood of refused writes (503)             flip    GETs while the mode flips
  idle    memory per idle keep-alive connection      ir      instructions per GET (callgrind)

environment: BENCH_QUICK=1 (2 s runs, 1 round), BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP,
BENCH_CONNECTIONS, BENCH_WRK_THREADS, BENCH_WORKERS ("1 2"), BENCH_CONTENDERS
("direct maintgate nginx haproxy"), BENCH_IDLE_CONNS, BENCH_UPSTREAM_WORKERS,
BENCH_FLIP_INTERVAL_MS, BENCH_IR_REQUESTS ("1000 2000"), BENCH_IR_REPEATS, BENCH_RESULTS_DIR,
BUILD_DIR, MAINTGATE_BIN, KEEP_TMP=1.
See bench/README.md.
"""


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    names = argv or list(SCENARIO_NAMES)
    for n in names:
        if n not in SCENARIO_NAMES:
            sys.stderr.write("bench: unknown scenario %r\n\n%s" % (n, USAGE))
            return 2
    names = [n for n in SCENARIO_NAMES if n in names]
    # SIGTERM ends the run through the same cleanup as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        settings = Settings()
        os.makedirs(settings.results, exist_ok=True)
        bench = Bench(settings, names)
    except BenchError as e:
        log(str(e))
        return 1
    try:
        try:
            bench.run()
        finally:
            bench.stop_all()
        report = Report(bench)
        report.clear()
        report.write_csv()
        try:
            pngs = report.plot()
        except BenchError as e:
            log(str(e))
            pngs = None
        text = report.write(pngs or [])
    except BenchError as e:
        log("stopped: %s" % e)
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        bench.remove_tmp()
    print(text)
    log("wrote %s" % os.path.join(settings.results, "report.md"))
    if pngs is None:
        return 1
    if bench.failures:
        log("some runs saw errors:\n  " + "\n  ".join(bench.failures))
        return 1
    return 0
