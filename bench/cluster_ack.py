#!/usr/bin/env python3
"""The time from `set mode` on one replica to the last replica's acknowledgement.

Starts a real etcd and three maintgate replicas on 127.0.0.1 (the integration tests'
harness), then, ROUNDS times, sends `set mode maintenance|open` on replica r1's admin
socket and polls etcd's JSON gateway (POST /v3/kv/range over <prefix>/acks/) every
millisecond until every replica's ack carries a revision newer than the one before the
command. Prints median, p90 and max in ms, and writes them to bench/results/cluster_ack.md.

  MAINTGATE_BIN=build/maintgate python3 bench/cluster_ack.py [ROUNDS]
"""

import base64
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from admin_client import AdminConn  # noqa: E402
from harness import Proxy  # noqa: E402
from test_cluster import Etcd, replica_config  # noqa: E402
from upstream import Upstream  # noqa: E402

PREFIX = "/mg-test"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def rng(url, key, end=None):
    body = {"key": b64(key)}
    if end:
        body["range_end"] = b64(end)
    req = urllib.request.Request(url + "/v3/kv/range", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def ack_revisions(url):
    out = {}
    for kv in rng(url, PREFIX + "/acks/", PREFIX + "/acks0").get("kvs", []):
        v = json.loads(base64.b64decode(kv["value"]))
        out[v["id"]] = v["revision"]
    return out


def desired_revision(url):
    kvs = rng(url, PREFIX + "/desired").get("kvs", [])
    return int(kvs[0]["mod_revision"]) if kvs else 0


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    tmp = tempfile.TemporaryDirectory(prefix="mg-bench-cluster-")
    up = Upstream().start()
    etcd = Etcd().start()
    replicas = []
    try:
        for name in ("r1", "r2", "r3"):
            p = Proxy(up.port, replica_config(etcd.url, name, up.port, tmp.name))
            p.start()
            replicas.append(p)
        deadline = time.monotonic() + 20
        while len(ack_revisions(etcd.url)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        times = []
        with AdminConn(os.path.join(tmp.name, "r1.sock")) as admin:
            for i in range(rounds):
                before = desired_revision(etcd.url)
                mode = "maintenance" if i % 2 == 0 else "open"
                t0 = time.perf_counter()
                reply = admin.command("set mode %s" % mode)
                assert reply.ok, reply
                while True:
                    revs = ack_revisions(etcd.url)
                    if len(revs) == 3 and all(r > before for r in revs.values()):
                        break
                    if time.perf_counter() - t0 > 10:
                        raise SystemExit("round %d: no ack from every replica within 10 s: %r" % (i, revs))
                    time.sleep(0.001)
                times.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.05)
        times.sort()
        med = statistics.median(times)
        p90 = times[int(len(times) * 0.9) - 1]
        line = ("set mode -> last of 3 replicas acknowledged: median %.1f ms, p90 %.1f ms, max %.1f ms "
                "(%d rounds, etcd %s and 3 replicas on one loopback, keepalive 500ms)"
                % (med, p90, times[-1], rounds, "3.4"))
        print(line)
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        with open(os.path.join(HERE, "results", "cluster_ack.md"), "w") as f:
            f.write("# Cluster: `set mode` to the last replica's acknowledgement\n\n")
            f.write("`bench/cluster_ack.py`, %s UTC, on the shared 2-core build machine\n"
                    "(other builds running alongside).\n\n" % time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
            f.write(line + "\n\nEach round, in ms: " + ", ".join("%.1f" % t for t in times) + "\n")
    finally:
        for p in replicas:
            p.cleanup()
        etcd.cleanup()
        up.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
