"""The deterministic figure: instructions per request under callgrind.

Wall-clock figures on a shared 2-core machine move by tens of percent between runs; the
number of instructions a proxy executes for one small GET does not. Each contender (1
worker, the read-only rule, as in `small`) runs under `valgrind --tool=callgrind` as a
fresh process, serves exactly N GET / from a bounded client (8 keep-alive connections,
each response checked), and is stopped; callgrind's total Ir of the whole process (all
threads, start-up and shutdown included) is read from its output file. Start-up, the
first upstream connections and shutdown are the same at every N, so

    Ir per request = (Ir at N_hi - Ir at N_lo) / (N_hi - N_lo)

with N_lo = 0 being "N requests minus a zero-request baseline". Only the proxy runs under
callgrind; the upstream nginx and the client run natively.
"""

import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import time

from .common import BenchError, START_TIMEOUT, log, median_min_max

IR_KINDS = ["maintgate", "nginx", "haproxy"]
IR_CONNECTIONS = 8
IR_CLIENT_TIMEOUT = 300.0  # the whole bounded client run, even under valgrind
IR_STOP_TIMEOUT = 120.0    # SIGTERM to exit under valgrind (callgrind writes its file then)
VALGRIND = ["valgrind", "--tool=callgrind", "--dump-instr=no", "--collect-systime=no"]
TOTALS = re.compile(r"^(?:summary|totals):\s*(\d+)", re.M)


def have_valgrind():
    return shutil.which("valgrind") is not None


def callgrind_argv(out_file):
    """The prefix that runs a contender under callgrind, writing its totals to out_file."""
    return VALGRIND + ["--callgrind-out-file=" + out_file]


def read_total_ir(out_file):
    try:
        with open(out_file) as f:
            text = f.read()
    except OSError:
        raise BenchError("callgrind wrote no %s (did the proxy exit on SIGTERM?)" % out_file)
    m = TOTALS.search(text)
    if not m:
        raise BenchError("no totals line in %s" % out_file)
    return int(m.group(1))


def exact_gets(port, n, body, conns=IR_CONNECTIONS, timeout=IR_CLIENT_TIMEOUT):
    """Sends exactly n `GET /` over `conns` keep-alive connections (one request in flight
    per connection) and checks that each answer is a 200 with `body`. Bounded in count
    (n) and in time (timeout); the connections are closed at the end."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: maintbench-ir\r\nAccept: */*\r\n\r\n" % port
    if n == 0:
        return
    sel = selectors.DefaultSelector()
    socks = []
    sent = done = 0
    bufs = {}
    deadline = time.monotonic() + timeout
    try:
        for _ in range(min(conns, n)):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.setblocking(False)
            socks.append(s)
            bufs[s] = bytearray()
            s.sendall(request)
            sent += 1
            sel.register(s, selectors.EVENT_READ)
        while done < n:
            if time.monotonic() > deadline:
                raise BenchError("ir: %d of %d GETs answered within %.0f s" % (done, n, timeout))
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                chunk = s.recv(65536)
                if not chunk:
                    raise BenchError("ir: the proxy closed a keep-alive connection after %d answers" % done)
                buf = bufs[s]
                buf += chunk
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(buf[:end]).decode("latin-1").split("\r\n")
                if not head[0].startswith("HTTP/1.1 200"):
                    raise BenchError("ir: expected 200, got %r" % head[0])
                length = None
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    raise BenchError("ir: an answer without Content-Length: %r" % head)
                if len(buf) < end + 4 + length:
                    continue
                got = bytes(buf[end + 4:end + 4 + length])
                if got != body or len(buf) != end + 4 + length:
                    raise BenchError("ir: unexpected body %r (or bytes after it)" % bytes(buf[end + 4:])[:100])
                buf.clear()
                done += 1
                if sent < n:
                    s.sendall(request)  # well under the socket buffer: never blocks
                    sent += 1
                else:
                    sel.unregister(s)
    finally:
        sel.close()
        for s in socks:
            s.close()


def stop_and_wait(contender):
    """SIGTERM, then wait (longer than the usual stop) for callgrind to write its file."""
    proc = contender.service.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(IR_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            contender.stop()
            raise BenchError("ir: %s did not exit within %.0f s of SIGTERM under callgrind"
                             % (contender.id, IR_STOP_TIMEOUT))
    contender.stop()


def one_run(bench, kind, n, out_file, body):
    """Total Ir of one fresh contender process that served exactly n GETs (plus the one
    GET that tells it answers, the same at every n)."""
    c = bench.start(kind, 1, "ro", wrap=callgrind_argv(out_file), start_timeout=4 * START_TIMEOUT)
    try:
        exact_gets(c.port, n, body)
        # A moment for the last close to be seen, so every run ends in the same state.
        time.sleep(0.5)
        stop_and_wait(c)
    finally:
        bench.stop(c)
    return read_total_ir(out_file)


def measure(bench, kinds, counts, repeats, body):
    """Rows of {contender, kind, repeat, n, ir}: each (repeat, kind, n) a fresh process,
    interleaved like the wall-clock rounds."""
    rows = []
    for rnd in range(1, repeats + 1):
        for kind in kinds:
            for n in counts:
                out = os.path.join(bench.tmp, "callgrind.%s.%d.%d" % (kind, n, rnd))
                t0 = time.monotonic()
                ir = one_run(bench, kind, n, out, body)
                log("ir: round %d/%d: %s-1, %d GETs: %s Ir (%.0f s)"
                    % (rnd, repeats, kind, n, "{:,}".format(ir), time.monotonic() - t0))
                rows.append({"contender": "%s-1" % kind, "kind": kind, "round": rnd, "requests": n, "ir": ir})
    return rows


def per_request(rows, contender, counts):
    """median [min, max] of (Ir at counts[1] - Ir at counts[0]) / (counts[1] - counts[0]) per round."""
    lo, hi = counts
    by_round = {}
    for r in rows:
        if r["contender"] == contender:
            by_round.setdefault(r["round"], {})[r["requests"]] = r["ir"]
    values = [(v[hi] - v[lo]) / (hi - lo) for v in by_round.values() if lo in v and hi in v]
    return median_min_max(values), len(values)
