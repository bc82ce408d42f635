"""The load shapes: what each scenario sends and which contenders run it."""

from .common import FILE_SIZES, REFUSED_BODY, SMALL_BODY


KINDS = ["direct", "maintgate", "nginx", "haproxy"]


class Scenario:
    """One load shape. `variant` says how the proxies are configured for it:
    ro (read-only rule: reads through, writes 503), open (no rule), page (every request
    gets the maintenance page), flip (maintgate only, read-only, with its admin socket)."""

    def __init__(self, name, title, what, path, variant, kinds, method="GET", body=None,
                 body_file=False, headers=(), expect=200, body_size=None, timeout=5):
        self.name = name
        self.title = title
        self.what = what
        self.path = path
        self.variant = variant
        self.kinds = kinds
        self.method = method
        self.body = body
        self.body_file = body_file
        self.headers = list(headers)
        self.expect = expect
        self.body_size = body_size
        self.timeout = timeout


SCENARIOS = [
    Scenario("small", "Small GET, keep-alive",
             "GET / answered by the upstream with a 6-byte body, over keep-alive connections. "
             "The proxies apply the read-only rule (reads pass).",
             "/", "ro", KINDS, body_size=len(SMALL_BODY)),
    Scenario("64k", "64 KiB responses",
             "GET of a 64 KiB file from the upstream, keep-alive; read-only rule.",
             "/files/64k", "ro", KINDS, body_size=FILE_SIZES["64k"]),
    Scenario("upload", "1 MiB uploads",
             "POST of a 1 MiB body, keep-alive; the upstream reads the whole body before it "
             "answers 200. Every contender must let the POST through, so in this scenario only "
             "maintgate runs in open mode and nginx and HAProxy have no rule. nginx keeps its "
             "defaults: it reads the whole body before it forwards it (proxy_request_buffering on), "
             "into a temporary file past client_body_buffer_size (16 KiB).",
             "/upload", "open", KINDS, method="POST", body_file=True,
             headers=["Content-Type: application/octet-stream"], timeout=30),
    Scenario("16m", "16 MiB downloads",
             "GET of a 16 MiB file from the upstream, keep-alive; read-only rule. "
             "Throughput is the bytes wrk received per second.",
             "/files/16m", "ro", KINDS, body_size=FILE_SIZES["16m"], timeout=60),
    Scenario("close", "New connection per request",
             "GET / with `Connection: close`: every request opens a new client connection "
             "(the proxies keep theirs to the upstream); read-only rule.",
             "/", "ro", KINDS, headers=["Connection: close"], body_size=len(SMALL_BODY)),
    Scenario("page", "Maintenance page",
             "GET / with `Accept: text/html`: maintgate in maintenance mode serves its page; "
             "nginx answers `return 503` with the same bytes through `error_page 503` from a "
             "file; HAProxy answers `http-request return status 503 ... file` (loaded at start). "
             "No request reaches the upstream.",
             "/", "page", ["maintgate", "nginx", "haproxy"], headers=["Accept: text/html"],
             expect=503),
    Scenario("refuse", "Refused writes",
             "POST / with a small JSON body and `Accept: application/json` to read-only gates: "
             "every one is refused with 503 and the same JSON body from each contender.",
             "/", "ro", ["maintgate", "nginx", "haproxy"], method="POST", body=REFUSED_BODY,
             headers=["Content-Type: application/json", "Accept: application/json"], expect=503),
    Scenario("flip", "Mode flips under load",
             "GET / load on maintgate while its mode is flipped read-only <-> open every "
             "BENCH_FLIP_INTERVAL_MS through the admin socket (`maintgate ctl --socket PATH set "
             "mode ...`). Reads pass in both modes, so every response must be a 2xx.",
             "/", "flip", ["maintgate"], body_size=len(SMALL_BODY)),
]
SCENARIO_NAMES = [s.name for s in SCENARIOS] + ["idle", "ir"]
IR_WHAT = ("Instructions per small GET / under callgrind: each proxy (1 worker, read-only rule, as in "
           "`small`) runs as a fresh process under `valgrind --tool=callgrind`, serves exactly N GETs from "
           "a bounded client (8 keep-alive connections, each answer checked) and is stopped; Ir per request "
           "is (Ir at N_HI - Ir at N_LO) / (N_HI - N_LO), so start-up and shutdown cancel out. Unlike the "
           "wall-clock figures it barely moves with the load on the machine.")
IDLE_WHAT = ("N idle keep-alive connections that have each completed one GET / are held open "
             "against a freshly started proxy (warmed up first); the growth of the proxy "
             "processes' RSS divided by N. Read-only rule configured.")
