#!/usr/bin/env python3
"""Webhook spool ingest rate: events/s stored with fsync (group commit), and latency.

Starts maintgate in read-only mode with a `spool = true` webhook rule on 127.0.0.1,
points wrk at it with a POST of a small JSON body (a distinct delivery id per request,
so none is a duplicate), and reports events/s, latency percentiles and how many events
the spool holds afterwards (every 202 is an event on disk). Bounded: DURATION seconds
per run (default 8), CONNECTIONS connections (default 32), one run per commit_interval.

  MAINTGATE_BIN=build/maintgate python3 bench/spool_ingest.py [--out bench/results/spool_ingest.md]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from maintbench.procs import free_port

LUA = r"""
-- Each wrk thread runs its own copy of this script: a thread number keeps ids distinct.
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
counter = 0
request = function()
  counter = counter + 1
  local id = string.format("%d-%d", tid, counter)
  local body = '{"event":"push","n":' .. counter .. '}'
  return wrk.format("POST", "/hooks/bench", {["X-Delivery"] = id, ["X-Key"] = "k" .. (counter % 16),
                    ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.errors.status,
           latency:percentile(50), latency:percentile(99), latency.max, summary.duration))
end
"""


def run(binary, workdir, commit_interval, duration, connections, threads):
    spool_dir = os.path.join(workdir, "spool-" + commit_interval)
    sock = os.path.join(workdir, "admin.sock")
    cfg = os.path.join(workdir, "bench.toml")
    with open(cfg, "w") as f:
        f.write("""workers = 2
[[listener]]
address = "127.0.0.1:0"
[upstream]
url = "http://127.0.0.1:%d"
[log]
level = "info"
[gate]
initial_mode = "read-only"
[admin]
socket = "%s"
[[rule]]
path_prefix = "/hooks/"
action = "webhook"
reason = "bench"
spool = true
dedupe_key = "header:X-Delivery"
order_key = "header:X-Key"
[spool]
dir = "%s"
commit_interval = "%s"
max_events = 100000000
max_bytes = 17179869184
""" % (free_port(), sock, spool_dir, commit_interval))
    proc = subprocess.Popen([binary, "run", "-c", cfg], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise SystemExit("maintgate did not start")
        lua = os.path.join(workdir, "spool.lua")
        with open(lua, "w") as f:
            f.write(LUA)
        out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration,
                              "--latency", "-s", lua, "http://127.0.0.1:%d/" % port],
                             capture_output=True, text=True, timeout=duration + 60).stdout
        m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
        if not m:
            raise SystemExit("wrk gave no result:\n" + out)
        reqs, bad, p50, p99, mx, dur_us = map(int, m.groups())
        st = json.loads(subprocess.run([binary, "ctl", "--socket", sock, "spool", "status", "--json"],
                                       capture_output=True, text=True, timeout=30).stdout)
        return {"commit_interval": commit_interval, "requests": reqs, "non_202": bad,
                "events_per_s": reqs / (dur_us / 1e6), "p50_ms": p50 / 1000, "p99_ms": p99 / 1000,
                "max_ms": mx / 1000, "stored": st["pending"], "bytes": st["bytes"], "duplicates": st["duplicates"]}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--intervals", default="0s,2ms")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    binary = os.environ.get("MAINTGATE_BIN", "build/maintgate")
    workdir = tempfile.mkdtemp(prefix="mg-spool-bench-", dir=os.environ.get("BENCH_DIR"))
    try:
        rows = [run(binary, workdir, ci, args.duration, args.connections, args.threads)
                for ci in args.intervals.split(",")]
    finally:
        shutil.rmtree(workdir, True)
    fs = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    lines = ["# Webhook spool ingest (bench/spool_ingest.py)", "",
             "maintgate read-only, 2 workers, one `spool = true` webhook rule; wrk -t%d -c%d, %d s per run, "
             "a distinct delivery id per request; every 202 is fsynced (group commit) before it is sent. "
             "Spool folder on %s. Shared 2-core machine under other builds: compare rows, not machines."
             % (args.threads, args.connections, args.duration, fs), "",
             "| commit_interval | events/s | p50 ms | p99 ms | max ms | non-202 | duplicates | stored after | bytes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.0f | %.2f | %.2f | %.1f | %d | %d | %d | %d |" % (
            r["commit_interval"], r["events_per_s"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["non_202"],
            r["duplicates"], r["stored"], r["bytes"]))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
