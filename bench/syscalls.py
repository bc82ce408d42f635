"""System calls per request, by call, for maintgate and nginx doing the same job.

    python3 bench/syscalls.py [--maintgate BIN ...] [--requests N] [--out FILE.md]

Each proxy (1 worker, in front of an nginx upstream with keep-alive, as in bench/run.sh)
runs under `strace -f -c` twice: serving N requests, and serving none; the difference,
divided by N, is what one request costs. Two shapes: `close` (N sequential connections,
each one `GET /` with `Connection: close`) and `keep-alive` (one connection, N GETs).
Unlike wall-clock figures these are counts: they do not move with the machine's load.
Several --maintgate binaries (before and after a change) run side by side, each labelled
by its path. Everything listens on 127.0.0.1; everything started is stopped by pid.
"""

import argparse
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from maintbench.procs import free_port  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: syscalls\r\n%s\r\n"


def wait_port(port, proc, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit("exited early: %r" % proc.args)
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("port %d never opened" % port)


def read_response(f):
    """Reads one response with a Content-Length body from file object f; returns the head."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.readline()
        if not line:
            raise SystemExit("connection closed mid-response")
        head += line
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    f.read(int(m.group(1)) if m else 0)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit("unexpected response: %r" % head[:80])
    return head


def drive(port, shape, n):
    if shape == "close":
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", port), 5) as s:
                s.sendall(REQUEST % b"Connection: close\r\n")
                with s.makefile("rb") as f:
                    read_response(f)
                    if f.read(1):
                        raise SystemExit("bytes after a Connection: close response")
    else:
        with socket.create_connection(("127.0.0.1", port), 5) as s, s.makefile("rb") as f:
            for _ in range(n):
                s.sendall(REQUEST % b"")
                read_response(f)


def parse_strace(path):
    """{syscall: calls} from strace -c's table."""
    calls = collections.Counter()
    with open(path) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                calls[parts[-1]] += int(parts[3])
    return calls


def run_proxy(argv, port, shape, n, tmp):
    out = os.path.join(tmp, "strace.out")
    proc = subprocess.Popen(["strace", "-f", "-c", "-o", out] + argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, proc)
        drive(port, "keep-alive", 1)  # the warm-up, in both runs: cancels out
        drive(port, shape, n)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.2)
    return parse_strace(out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--maintgate", action="append", default=[])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    if not a.maintgate:
        a.maintgate = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "maintgate")]
    tmp = tempfile.mkdtemp(prefix="mg-syscalls-")
    up_port = free_port()
    with open(os.path.join(tmp, "upstream.conf"), "w") as f:
        f.write("daemon off; master_process off; worker_processes 1; error_log %s/up.err; pid %s/up.pid;\n"
                "events { worker_connections 1024; }\nhttp { access_log off; server { listen 127.0.0.1:%d;"
                " location / { return 200 \"hello\\n\"; } } }\n" % (tmp, tmp, up_port))
    upstream = subprocess.Popen(["nginx", "-c", os.path.join(tmp, "upstream.conf"), "-p", tmp],
                                stderr=subprocess.DEVNULL, start_new_session=True)
    rows = collections.OrderedDict()
    try:
        wait_port(up_port, upstream)
        contenders = []
        for i, binary in enumerate(a.maintgate):
            port = free_port()
            conf = os.path.join(tmp, "mg%d.toml" % i)
            with open(conf, "w") as f:
                f.write("workers = 1\n\n[[listener]]\naddress = \"127.0.0.1:%d\"\n\n[upstream]\n"
                        "url = \"http://127.0.0.1:%d\"\n\n[gate]\ninitial_mode = \"read-only\"\n"
                        "state_file = \"%s/mg%d.state\"\n" % (port, up_port, tmp, i))
            contenders.append(("maintgate " + binary, [binary, "run", "-c", conf], port))
        port = free_port()
        with open(os.path.join(tmp, "proxy.conf"), "w") as f:
            f.write("daemon off; master_process off; worker_processes 1; error_log %s/px.err; pid %s/px.pid;\n"
                    "events { worker_connections 1024; }\nhttp { access_log off;\n"
                    "upstream up { server 127.0.0.1:%d; keepalive 64; }\n"
                    "server { listen 127.0.0.1:%d; location / { proxy_pass http://up;"
                    " proxy_http_version 1.1; proxy_set_header Connection \"\";"
                    " proxy_set_header X-Forwarded-For $remote_addr; } } }\n" % (tmp, tmp, up_port, port))
        contenders.append(("nginx " + subprocess.run(["nginx", "-v"], capture_output=True, text=True)
                           .stderr.strip().split("/")[-1], ["nginx", "-c", os.path.join(tmp, "proxy.conf"),
                                                            "-p", tmp], port))
        for shape in ("close", "keep-alive"):
            for label, cmd, port in contenders:
                base = run_proxy(cmd, port, shape, 0, tmp)
                full = run_proxy(cmd, port, shape, a.requests, tmp)
                rows[(shape, label)] = {k: (full[k] - base.get(k, 0)) / a.requests for k in full}
    finally:
        os.killpg(upstream.pid, signal.SIGTERM)
        upstream.wait()
    lines = []
    for shape in ("close", "keep-alive"):
        labels = [lbl for (s, lbl) in rows if s == shape]
        names = sorted({k for (s, _), v in rows.items() if s == shape for k, x in v.items() if abs(x) >= 0.05})
        lines.append("### `%s`, %d requests\n" % (shape, a.requests))
        lines.append("| call | " + " | ".join(labels) + " |")
        lines.append("|---|" + "---:|" * len(labels))
        for k in names:
            lines.append("| %s | " % k + " | ".join("%.2f" % rows[(shape, lbl)].get(k, 0.0) for lbl in labels) + " |")
        lines.append("| **total** | " + " | ".join(
            "**%.2f**" % sum(v for v in rows[(shape, lbl)].values()) for lbl in labels) + " |\n")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
