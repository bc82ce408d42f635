#!/usr/bin/env python3
"""HTTPS termination, by hand: maintgate, nginx and HAProxy with the same certificate,
versions and ciphers (the configs beside this file) in front of one nginx upstream
answering "hello\\n", driven by wrk over TLS:

  keepalive   GET / on 64 keep-alive connections (one handshake each, then requests)
  handshake   GET / with "Connection: close": a new connection and a full handshake
              per request (wrk resumes no sessions)

For each: requests/s, p99, and the proxy's CPU per request (user + system from
/proc/PID/stat, all its processes). Interleaved rounds, as bench.py does.

  bench/tls/compare.py [--maintgate BIN] [--seconds 10] [--rounds 3] [--workers 1]

Meant to be folded into bench/bench.py as the `tls` and `tls-handshake` scenarios;
until then it stands alone (needs wrk, nginx, haproxy, openssl).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = """worker_processes 1;
pid @DIR@/upstream.pid;
error_log @DIR@/upstream.error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:@UPSTREAM_PORT@ backlog=4096;
        location / { default_type text/plain; return 200 "hello\\n"; }
    }
}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def render(template, **values):
    for k, v in values.items():
        template = template.replace("@%s@" % k, str(v))
    return template


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on %d" % port)


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total


def family(pid):
    """pid and its children (nginx's workers)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(p) for p in out]


def wrk(port, seconds, close):
    cmd = ["wrk", "-t1", "-c64", "-d%ds" % seconds, "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    out = subprocess.run(cmd + ["https://127.0.0.1:%d/" % port], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Socket errors: (.*)", out)
    return reqs, rps, float(p99.group(1)) * scale, errors.group(1) if errors else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--maintgate", default=os.environ.get("MAINTGATE_BIN", "build/maintgate"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="mg-bench-tls-")
    procs = []
    try:
        subprocess.run([os.path.join(HERE, "gen-cert.sh"), tmp], check=True)
        up_port = free_port()
        with open(os.path.join(tmp, "upstream.conf"), "w") as f:
            f.write(render(UPSTREAM, DIR=tmp, UPSTREAM_PORT=up_port))
        up = subprocess.Popen(["nginx", "-p", tmp, "-c", os.path.join(tmp, "upstream.conf"), "-g", "daemon off;"])
        procs.append(up)
        wait_port(up_port)

        contenders = {}
        common = dict(DIR=tmp, UPSTREAM_PORT=up_port, WORKERS=args.workers,
                      REUSEPORT=" reuseport" if args.workers > 1 else "")
        for name, conf, cmd in (
                ("maintgate", "maintgate.toml", lambda c: [args.maintgate, "run", "-c", c]),
                ("nginx", "nginx.conf", lambda c: ["nginx", "-p", tmp, "-c", c, "-g", "daemon off;"]),
                ("haproxy", "haproxy.cfg", lambda c: ["haproxy", "-db", "-f", c])):
            port = free_port()
            with open(os.path.join(HERE, conf)) as f:
                text = render(f.read(), PORT=port, **common)
            path = os.path.join(tmp, "tls-" + conf)
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.Popen(cmd(path), stdout=subprocess.DEVNULL, stderr=open(path + ".log", "w"))
            procs.append(p)
            wait_port(port)
            contenders[name] = (port, p)

        tick = os.sysconf("SC_CLK_TCK")
        results = {}
        for scenario, close in (("keepalive", False), ("handshake", True)):
            for name, (port, _) in contenders.items():  # warm-up
                wrk(port, 2, close)
            for r in range(args.rounds):
                for name, (port, p) in contenders.items():
                    pids = family(p.pid)
                    before = cpu_ticks(pids)
                    reqs, rps, p99, errors = wrk(port, args.seconds, close)
                    cpu_us = (cpu_ticks(pids) - before) * 1e6 / tick / max(reqs, 1)
                    results.setdefault((scenario, name), []).append((rps, p99, cpu_us, errors))
        print("| scenario | proxy | requests/s | p99 ms | CPU µs/request | errors |")
        print("|---|---|---|---|---|---|")
        for (scenario, name), runs in results.items():
            runs.sort()
            rps, p99, cpu, errors = runs[len(runs) // 2]
            print("| %s | %s | %.0f | %.2f | %.1f | %s |" % (scenario, name, rps, p99, cpu, errors or "0"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp, True)


if __name__ == "__main__":
    sys.exit(main())
