"""Load generators: wrk runs and held idle connections."""

import os
import re
import selectors
import socket
import subprocess
import time

from .common import BenchError, LUA


BENCH_LINE = re.compile(r"^BENCH (.*)$", re.M)


def run_wrk(bench, scenario, port, seconds, out_path):
    """wrk against one contender; the parsed BENCH line of bench/lua/bench.lua."""
    s = bench.settings
    env = dict(os.environ, BENCH_METHOD=scenario.method, BENCH_HEADERS="\n".join(scenario.headers),
               BENCH_BODY=scenario.body or "", BENCH_BODY_FILE=bench.upload_file if scenario.body_file else "")
    argv = ["wrk", "-t%d" % s.wrk_threads, "-c%d" % s.connections, "-d%ds" % seconds,
            "--timeout", "%ds" % scenario.timeout, "-s", LUA, "http://127.0.0.1:%d%s" % (port, scenario.path)]
    try:
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + scenario.timeout + 30)
    except subprocess.TimeoutExpired:
        raise BenchError("wrk did not finish: %s" % " ".join(argv))
    with open(out_path, "w") as f:
        f.write("$ %s\n%s\n%s" % (" ".join(argv), r.stdout, r.stderr))
    m = BENCH_LINE.search(r.stdout)
    if r.returncode != 0 or not m:
        raise BenchError("wrk failed (exit %d): %s\n%s" % (r.returncode, " ".join(argv), r.stderr.strip()))
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


# ---- idle keep-alive connections -------------------------------------------------------

def hold_idle_connections(port, n, batch=64, batch_timeout=20.0):
    """Opens n connections to port, completes one GET / on each, and returns the open
    sockets. Done in batches so that no listen backlog overflows."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/plain\r\n\r\n" % port
    held = []
    pending = {}
    sel = selectors.DefaultSelector()
    try:
        for start in range(0, n, batch):
            for _ in range(min(batch, n - start)):
                s = socket.socket()
                pending[s] = bytearray()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
            deadline = time.monotonic() + batch_timeout
            while pending:
                if time.monotonic() > deadline:
                    raise BenchError("idle: %d connections of a batch did not complete a request in %.0f s"
                                     % (len(pending), batch_timeout))
                for key, events in sel.select(timeout=1.0):
                    s = key.fileobj
                    if events & selectors.EVENT_WRITE:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise BenchError("idle: connect failed: %s" % os.strerror(err))
                        s.send(request)  # a few dozen bytes: one send on a fresh socket
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    chunk = s.recv(65536)
                    if not chunk:
                        raise BenchError("idle: the proxy closed a connection before answering")
                    buf = pending[s]
                    buf += chunk
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
                    if not head[0].startswith("HTTP/1.1 200"):
                        raise BenchError("idle: expected 200, got %r" % head[0])
                    length = 0
                    for line in head[1:]:
                        name, _, value = line.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                    if len(buf) >= end + 4 + length:
                        sel.unregister(s)
                        del pending[s]
                        held.append(s)
    except BaseException:
        for s in held + list(pending):
            s.close()
        raise
    finally:
        sel.close()
    return held


def count_still_open(socks):
    """How many sockets have neither data nor EOF waiting: the proxy still holds them."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    ready = len(sel.select(timeout=0))
    sel.close()
    return len(socks) - ready
