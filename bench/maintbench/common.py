"""Paths, constants and helpers that every part of the bench shares."""

import math
import os
import statistics
import sys

# bench/maintbench/common.py: three levels below the repository root.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LUA = os.path.join(REPO, "bench", "lua", "bench.lua")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
MIB = 1024 * 1024
START_TIMEOUT = 15.0    # a server we started must answer within this
STOP_TIMEOUT = 15.0     # SIGTERM to exit; then SIGKILL
UPLOAD_SIZE = MIB
FILE_SIZES = {"64k": 64 * 1024, "16m": 16 * MIB}
SMALL_BODY = b"hello\n"
# The refused write: a small JSON document, asking for a JSON reply.
REFUSED_BODY = '{"title":"hello","text":"a small note"}'


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A problem that makes the figures meaningless: reported, and the run stops."""


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


# ---- medians ---------------------------------------------------------------------------


def median_min_max(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)
