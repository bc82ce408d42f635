"""The gate as clients and the upstream see it: modes (open, read-only, maintenance),
rules, Accept-driven refusal bodies, the status endpoint, operator bypass, the state
file (persistence, corrupt and missing files), Retry-After, upstream_down_page, and
`maintgate check` on bad [gate] and [[rule]] settings.

Until the admin socket exists the mode comes from the state file or initial_mode, so
every test starts its own maintgate with the mode it needs."""

import base64
import calendar
import datetime
import hashlib
import hmac
import json
import os
import re
import tempfile
import time
import unittest

from harness import ProxyTestCase, run_cli
from upstream import refusing_port

SECRET = "it-secret-0123456789abcdef"
OTHER_SECRET = "another-secret-0123456789"
READS = ("GET", "HEAD", "OPTIONS")
STATUS_PATH = "/.well-known/maintgate"
BYPASS_PATH = "/.maintgate/bypass"
ERROR_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


def iso(ts):
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cookie_value(secret, expiry):
    mac = hmac.new(secret.encode(), ("maintgate-bypass:%d" % expiry).encode(), hashlib.sha256)
    return "%d.%s" % (expiry, mac.hexdigest())


class GateTestCase(ProxyTestCase):
    """Starts nothing by itself: each test calls gate() with the mode and rules it needs."""

    start_default = False

    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory(prefix="maintgate-gate-")
        self.addCleanup(self.dir.cleanup)
        self.state_path = os.path.join(self.dir.name, "state.json")
        self.up = None

    # ---- setting up ------------------------------------------------------------------

    def write_state(self, mode, reason="", until=None, set_by="it", since=None):
        rec = {"mode": mode, "reason": reason, "until": iso(until) if until else None,
               "set_by": set_by, "since": iso(since or time.time() - 60)}
        with open(self.state_path, "w") as f:
            json.dump(rec, f)
        return rec

    def gate_config(self, mode="open", gate=None, rules=None, upstream_port=None):
        g = {"initial_mode": mode, "state_file": self.state_path, "retry_after": "10m"}
        g.update(gate or {})
        cfg = {"gate": g}
        if rules:
            cfg["rule"] = rules
        return cfg

    def gate(self, mode="open", gate=None, rules=None, upstream_port=None):
        """An upstream (unless upstream_port is given) and a maintgate in front of it."""
        if upstream_port is None:
            if self.up is None:
                self.up = self.start_upstream()
            upstream_port = self.up.port
        self.proxy = self.start_proxy(upstream_port, self.gate_config(mode, gate, rules))
        return self.proxy

    # ---- requests --------------------------------------------------------------------

    def req(self, method, target, headers=(), body=None, **kw):
        c = self.connect()
        resp = c.request(method, target, headers, body, **kw)
        return c, resp

    def forwarded(self, method, target, headers=(), body=None, **kw):
        """The request reaches the upstream: the response comes from it and the
        upstream recorded exactly this request."""
        before = len(self.up.requests)
        _, resp = self.req(method, target, headers, body, **kw)
        self.assertNotEqual(resp.status, 503, "%s %s was refused by the gate: %s"
                            % (method, target, resp.describe()))
        self.up.wait_requests(before + 1)
        rec = self.up.requests[before]
        self.assertEqual((rec.method, rec.target), (method, target),
                         "the upstream received %r" % self.up.requests)
        return resp, rec

    def assert_refusal(self, resp, mode, what=""):
        """A gate refusal: 503, Retry-After, Cache-Control: no-store, X-Maintgate-Mode."""
        d = "%s: %s" % (what, resp.describe())
        self.assertEqual(resp.status, 503, d)
        ra = resp.value("retry-after")
        self.assertIsNotNone(ra, "no Retry-After: " + d)
        self.assertRegex(ra, r"^[1-9][0-9]*$", d)
        self.assertIn("no-store", resp.tokens("cache-control"), d)
        self.assertEqual(resp.value("x-maintgate-mode"), mode, d)
        self.assertEqual(len(resp.values("content-length")), 1, d)
        self.assertEqual(len(resp.values("date")), 1, "no Date: " + d)
        self.assertTrue(resp.complete, d)

    def refused(self, method, target, mode="read-only", headers=(), body=None, **kw):
        c, resp = self.req(method, target, headers, body, **kw)
        self.assert_refusal(resp, mode, "%s %s" % (method, target))
        return c, resp

    def assert_upstream_saw_only(self, marker_method="GET", marker_target=None, headers=()):
        """Nothing sent so far reached the upstream: a marker request sent now is the
        only thing it ever parsed, and no other byte arrived."""
        self.assertEqual(self.up.requests, [], "the upstream received requests: %r" % self.up.requests)
        marker = marker_target or "/echo?marker=%d" % time.monotonic_ns()
        c = self.connect()
        resp = c.request(marker_method, marker, headers)
        self.assertNotEqual(resp.status, 503, "marker refused: " + resp.describe())
        self.up.wait_requests(1)
        reqs = self.up.requests
        self.assertEqual([r.target for r in reqs], [marker],
                         "the upstream received more than the marker request: %r" % reqs)
        self.assertEqual(self.up.bytes_received, len(reqs[0].raw_head),
                         "the upstream received bytes beyond the marker head")

    def status(self):
        _, resp = self.req("GET", STATUS_PATH)
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertIn("no-store", resp.tokens("cache-control"), resp.describe())
        self.assertIn("application/json", resp.value("content-type") or "", resp.describe())
        return resp, resp.json()


# ---- modes -------------------------------------------------------------------------------

class ReadOnlyTest(GateTestCase):

    def setUp(self):
        super().setUp()
        self.gate("read-only")

    def test_reads_forwarded_with_mode_header(self):
        for method in READS:
            with self.subTest(method=method):
                resp, rec = self.forwarded(method, "/echo?m=" + method)
                self.assertEqual(resp.status, 200, resp.describe())
                self.assertEqual(resp.value("x-maintgate-mode"), "read-only", resp.describe())

    def test_writes_refused_and_never_reach_the_upstream(self):
        cases = [
            ("POST", b"a=1"), ("PUT", b"{}"), ("PATCH", b"{}"), ("DELETE", None),
            ("post", b"a=1"), ("PURGE", None),
        ]
        for method, body in cases:
            with self.subTest(method=method):
                c, resp = self.refused(method, "/echo", body=body)
                # A modest body is read and dropped, as nginx does, so the connection
                # stays usable: the next request on it is answered too.
                self.assertNotIn("close", resp.tokens("connection"), resp.describe())
                self.assert_refusal(c.request("POST", "/echo", body=b"again"), "read-only", "second request")
        with self.subTest(method="POST + X-HTTP-Method-Override: GET"):
            self.refused("POST", "/echo", headers=[("X-HTTP-Method-Override", "GET")], body=b"x=1")
        with self.subTest(method="POST, chunked body"):
            c, resp = self.refused("POST", "/echo", body=b"hello", chunked=True)
            self.assertNotIn("close", resp.tokens("connection"), resp.describe())
            self.assert_refusal(c.request("DELETE", "/echo"), "read-only", "after the chunked body")
        self.assert_upstream_saw_only()

    def test_refused_large_body_closes_without_reading_it(self):
        # Draining is bounded (1 MiB): a larger declared body is answered, then the
        # connection is closed rather than read to its end.
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5000000\r\n\r\nabc")
        resp = c.read_final(method="POST")
        self.assert_refusal(resp, "read-only", "large POST")
        self.assertIn("close", resp.tokens("connection"), resp.describe())
        c.assert_closed(what="the connection after a refused 5 MB POST")
        self.assert_upstream_saw_only()

    def test_refused_expect_100_continue_answers_at_once_and_closes(self):
        # The client waits for 100 before sending its body; after a final 503 it sends
        # none, so the proxy must not wait for it.
        c = self.connect()
        c.send(b"POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 10\r\n"
               b"Expect: 100-continue\r\n\r\n")
        resp = c.read_final(method="POST")
        self.assert_refusal(resp, "read-only", "Expect POST")
        self.assertEqual(resp.interims, [], "a refused write must not be invited to send its body")
        self.assertIn("close", resp.tokens("connection"), resp.describe())
        c.assert_closed(what="the connection after a refused Expect POST")
        self.assert_upstream_saw_only()

    def test_refusal_values(self):
        _, resp = self.refused("POST", "/echo", body=b"x")
        self.assertEqual(resp.value("retry-after"), "600", resp.describe())  # retry_after = 10m

    def test_trace_refused_always(self):
        _, resp = self.req("TRACE", "/echo")
        self.assertEqual(resp.status, 405, resp.describe())
        self.assert_upstream_saw_only()

    def test_local_errors_carry_the_mode_too(self):
        # Every response says the mode while the gate is not open, framing errors included.
        _, resp = self.roundtrip(b"GET /echo HTTP/1.1\r\n\r\n")  # no Host
        self.assertEqual(resp.status, 400, resp.describe())
        self.assertEqual(resp.value("x-maintgate-mode"), "read-only", resp.describe())


class MaintenanceTest(GateTestCase):

    def setUp(self):
        super().setUp()
        self.write_state("maintenance", reason="schema migration")
        # The allow rule gives the marker request a way through.
        self.gate("open", rules=[{"path": "/marker", "action": "allow", "reason": "test marker"}])

    def test_every_method_gets_the_page_and_upstream_sees_nothing(self):
        for method, body in (("GET", None), ("HEAD", None), ("OPTIONS", None), ("POST", b"a=1"),
                             ("PUT", b"x"), ("PATCH", b"x"), ("DELETE", None), ("post", b"x"),
                             ("PURGE", None)):
            with self.subTest(method=method):
                _, resp = self.refused(method, "/echo", mode="maintenance", body=body)
                if method != "HEAD":
                    self.assertIn(b"schema migration", resp.body, resp.describe())
        self.assert_upstream_saw_only(marker_target="/marker")

    def test_head_is_headers_only_with_the_same_length(self):
        for accept in ("text/html", "application/json", "text/plain"):
            with self.subTest(accept=accept):
                _, get = self.refused("GET", "/page", mode="maintenance", headers=[("Accept", accept)])
                c, head = self.refused("HEAD", "/page", mode="maintenance", headers=[("Accept", accept)])
                self.assertGreater(len(get.body), 0)
                self.assertEqual(head.body, b"")
                self.assertEqual(head.value("content-length"), get.value("content-length"),
                                 "HEAD %s / GET %s" % (head.describe(), get.describe()))
                self.assertEqual(int(get.value("content-length")), len(get.body))
                # Nothing follows the HEAD head on the connection: a second request works.
                again = c.request("GET", "/page", [("Accept", accept)])
                self.assert_refusal(again, "maintenance", "GET after HEAD on the same connection")
        self.assert_upstream_saw_only(marker_target="/marker")


class OpenTest(GateTestCase):

    def setUp(self):
        super().setUp()
        self.gate("open")

    def test_everything_forwarded_without_mode_header(self):
        for method, body in (("GET", None), ("HEAD", None), ("OPTIONS", None), ("POST", b"a=1"),
                             ("PUT", b"x"), ("PATCH", b"x"), ("DELETE", None), ("PURGE", None),
                             ("post", b"x")):
            with self.subTest(method=method):
                resp, rec = self.forwarded(method, "/echo?m=" + method, body=body)
                self.assertEqual(resp.status, 200, resp.describe())
                self.assertEqual(resp.values("x-maintgate-mode"), [], resp.describe())
                self.assertEqual(rec.body_len, len(body or b""))
        with self.subTest(method="POST + X-HTTP-Method-Override"):
            self.forwarded("POST", "/echo", headers=[("X-HTTP-Method-Override", "GET")], body=b"x")


# ---- rules -------------------------------------------------------------------------------

RULES = [
    {"path_prefix": "/healthz", "action": "allow", "reason": "load balancer"},
    {"path": "/search", "methods": ["POST"], "action": "read", "reason": "search form"},
    {"path": "/login", "action": "allow-writes-in-read-only", "reason": "login"},
    {"path_prefix": "/hooks", "action": "webhook", "reason": "stripe"},
    {"path": "/admin-login", "host": "example.com", "action": "allow-writes-in-read-only",
     "reason": "admin login on the admin host"},
    {"path_regex": "^/api/v[0-9]+/search$", "action": "read", "reason": "API search"},
]


class RulesReadOnlyTest(GateTestCase):

    def setUp(self):
        super().setUp()
        self.gate("read-only", rules=RULES)

    def test_allow_rule(self):
        self.forwarded("POST", "/healthz", body=b"x")
        self.forwarded("POST", "/healthz/deep", body=b"x")

    def test_read_rule_and_methods_filter(self):
        self.forwarded("POST", "/search", body=b"q=1")
        self.up.clear()
        self.refused("PUT", "/search", body=b"q=1")  # methods = ["POST"] only
        self.assertEqual(self.up.requests, [])

    def test_allow_writes_in_read_only(self):
        self.forwarded("POST", "/login", body=b"user=a")

    def test_webhook_refused_in_read_only(self):
        self.refused("POST", "/hooks/stripe", body=b"{}")
        self.assert_upstream_saw_only()

    def test_host_filter(self):
        self.forwarded("POST", "/admin-login", body=b"x", host="example.com")
        self.forwarded("POST", "/admin-login", body=b"x", host="EXAMPLE.com:8080")
        self.up.clear()
        self.refused("POST", "/admin-login", body=b"x", host="other.example")
        self.refused("POST", "/admin-login", body=b"x", host="example.com.evil")
        self.assertEqual(self.up.requests, [])

    def test_path_regex(self):
        self.forwarded("POST", "/api/v2/search", body=b"x")
        self.forwarded("POST", "/api/v10/search", body=b"x")
        self.up.clear()
        for target in ("/api/vx/search", "/api/v2/search/more", "/api/v2/searchx"):
            with self.subTest(target=target):
                self.refused("POST", target, body=b"x")
        self.assertEqual(self.up.requests, [])

    def test_prefix_is_segment_bounded(self):
        self.refused("POST", "/healthzX", body=b"x")
        self.assert_upstream_saw_only()

    def test_path_tricks_do_not_match_allow_rule(self):
        for target in ("/healthz/../api/write", "/healthz/%2e%2e/api/write", "/healthz/%2E%2E/api/write",
                       "/healthz%2f..%2fapi", "//healthz/../x", "/healthz/./../api/write"):
            with self.subTest(target=target):
                self.refused("POST", target, body=b"x")
        self.assert_upstream_saw_only()


class RulesMaintenanceTest(GateTestCase):

    def setUp(self):
        super().setUp()
        self.write_state("maintenance", reason="upgrade")
        self.gate("open", rules=RULES)

    def test_allow_rule_forwarded_in_maintenance(self):
        resp, _ = self.forwarded("GET", "/healthz")
        self.assertEqual(resp.value("x-maintgate-mode"), "maintenance", resp.describe())
        self.forwarded("POST", "/healthz/ping", body=b"x")

    def test_other_rules_closed_in_maintenance(self):
        for target in ("/search", "/login", "/hooks/stripe", "/api/v2/search"):
            with self.subTest(target=target):
                self.refused("POST", target, mode="maintenance", body=b"x")
        self.assert_upstream_saw_only(marker_target="/healthz")


# ---- bodies by Accept, and the status endpoint -------------------------------------------

class AcceptTest(GateTestCase):

    def setUp(self):
        super().setUp()
        self.until = int(time.time()) + 1800
        self.write_state("read-only", reason="moving storage", until=self.until)
        self.gate("open")

    def check_formats(self, method, body, mode, headline_mode):
        cases = [("text/html", "text/html"), ("*/*", "text/html"),
                 ("application/json", "application/json"), ("text/plain", "text/plain")]
        for accept, ctype in cases:
            with self.subTest(method=method, accept=accept):
                _, resp = self.refused(method, "/x", mode=mode, headers=[("Accept", accept)], body=body)
                self.assertTrue((resp.value("content-type") or "").startswith(ctype), resp.describe())
                if ctype == "text/html":
                    self.assertIn(b"moving storage", resp.body, resp.describe())
                    self.assertIn(b"<", resp.body)
                elif ctype == "application/json":
                    obj = resp.json()
                    self.assertEqual(obj["mode"], headline_mode, obj)
                    self.assertEqual(obj["reason"], "moving storage", obj)
                    self.assertEqual(obj["until"], iso(self.until), obj)
                    self.assertEqual(str(obj["retry_after"]), resp.value("retry-after"), obj)
                else:
                    self.assertIn(b"moving storage", resp.body, resp.describe())
                    self.assertNotIn(b"<html", resp.body.lower(), resp.describe())

    def test_refusal_body_follows_accept(self):
        self.check_formats("POST", b"x", "read-only", "read-only")
        self.assert_upstream_saw_only()


class AcceptMaintenanceTest(AcceptTest):

    def setUp(self):
        GateTestCase.setUp(self)
        self.until = int(time.time()) + 1800
        self.write_state("maintenance", reason="moving storage", until=self.until)
        self.gate("open")

    def test_refusal_body_follows_accept(self):
        self.check_formats("GET", None, "maintenance", "maintenance")
        self.assertEqual(self.up.requests, [])


class StatusEndpointTest(GateTestCase):

    def check(self, mode, reason, until):
        resp, obj = self.status()
        for key in ("mode", "reason", "since", "until", "retry_after"):
            self.assertIn(key, obj, obj)
        self.assertEqual(obj["mode"], mode, obj)
        self.assertEqual(obj["reason"], reason, obj)
        self.assertEqual(obj["until"], iso(until) if until else None, obj)
        self.assertIsInstance(obj["retry_after"], int, obj)
        self.assertRegex(obj["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", obj)
        if mode == "open":
            self.assertEqual(resp.values("x-maintgate-mode"), [], resp.describe())
        else:
            self.assertEqual(resp.value("x-maintgate-mode"), mode, resp.describe())
        _, head = self.req("HEAD", STATUS_PATH)
        self.assertEqual(head.status, 200, head.describe())
        self.assertEqual(head.value("content-length"), resp.value("content-length"))
        self.assertEqual(self.up.requests, [], "the status endpoint reached the upstream")

    def test_status_open(self):
        self.gate("open")
        self.check("open", "", None)

    def test_status_read_only(self):
        until = int(time.time()) + 3600
        self.write_state("read-only", reason="backup", until=until, since=time.time() - 120)
        self.gate("open")
        self.check("read-only", "backup", until)
        _, obj = self.status()
        self.assertTrue(3500 <= obj["retry_after"] <= 3610, obj)

    def test_status_maintenance(self):
        self.write_state("maintenance", reason="migration")
        self.gate("open")
        self.check("maintenance", "migration", None)
        _, obj = self.status()
        self.assertEqual(obj["retry_after"], 600, obj)


# ---- operator bypass ---------------------------------------------------------------------

class BypassTest(GateTestCase):

    def setUp(self):
        super().setUp()
        self.write_state("maintenance", reason="migration")
        self.gate("open", gate={"bypass_secret": SECRET, "bypass_header": "X-Maintgate-Bypass",
                                "bypass_path": BYPASS_PATH, "bypass_cookie_ttl": "12h",
                                "bypass_cidrs": ["10.0.0.0/8"]})

    def write_ok(self, headers, what):
        resp, _ = self.forwarded("POST", "/echo?%s" % what, headers=headers, body=b"x")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.value("x-maintgate-mode"), "maintenance", resp.describe())

    def write_refused(self, headers, what):
        before = len(self.up.requests)
        _, resp = self.req("POST", "/echo?%s" % what, headers, b"x")
        self.assert_refusal(resp, "maintenance", what)
        self.assertEqual(len(self.up.requests), before, "%s reached the upstream" % what)

    def test_header_bypass(self):
        self.write_ok([("X-Maintgate-Bypass", SECRET)], "right-secret")
        self.write_ok([("x-maintgate-bypass", SECRET)], "lower-case-name")
        self.write_refused([("X-Maintgate-Bypass", SECRET[:-1] + "X")], "wrong-secret")
        self.write_refused([("X-Maintgate-Bypass", SECRET[:-1])], "short-secret")
        self.write_refused([("X-Maintgate-Bypass", "")], "empty-secret")
        self.write_refused([("X-Other", SECRET)], "secret-in-another-header")

    def test_secret_url_sets_cookie_that_lets_writes_through(self):
        _, resp = self.req("GET", "%s/%s" % (BYPASS_PATH, SECRET))
        self.assertEqual(resp.status, 302, resp.describe())
        self.assertIn("no-store", resp.tokens("cache-control"), resp.describe())
        cookies = resp.values("set-cookie")
        self.assertEqual(len(cookies), 1, resp.describe())
        attrs = [a.strip() for a in cookies[0].split(";")]
        self.assertIn("httponly", [a.lower() for a in attrs], cookies)
        name, _, value = attrs[0].partition("=")
        self.assertEqual(name, "maintgate_bypass", cookies)
        m = re.fullmatch(r"(\d+)\.([0-9a-f]{64})", value)
        self.assertIsNotNone(m, "cookie value %r is not <expiry>.<hex hmac>" % value)
        expiry = int(m.group(1))
        self.assertTrue(abs(expiry - (time.time() + 12 * 3600)) < 120, value)
        self.assertEqual(value, cookie_value(SECRET, expiry),
                         "the cookie is not hmac-sha256(secret, 'maintgate-bypass:<expiry>')")
        self.assertEqual(self.up.requests, [], "the secret URL reached the upstream")
        self.write_ok([("Cookie", "maintgate_bypass=" + value)], "granted-cookie")
        self.write_ok([("Cookie", "a=b; maintgate_bypass=%s; c=d" % value)], "granted-cookie-among-others")

    def test_wrong_secret_url_grants_nothing(self):
        _, resp = self.req("GET", "%s/%s" % (BYPASS_PATH, SECRET[:-1] + "X"))
        self.assert_refusal(resp, "maintenance", "wrong secret URL")
        self.assertEqual(resp.values("set-cookie"), [], resp.describe())

    def test_computed_cookie_accepted(self):
        # Control for the forged cookies below: our own computation is accepted.
        expiry = int(time.time()) + 600
        self.write_ok([("Cookie", "maintgate_bypass=" + cookie_value(SECRET, expiry))], "computed-cookie")

    def test_forged_expired_and_foreign_cookies_refused(self):
        now = int(time.time())
        good = cookie_value(SECRET, now + 600)
        exp, mac = good.split(".")
        flipped_mac = mac[:10] + ("0" if mac[10] != "0" else "1") + mac[11:]
        later = str(int(exp) + 100000)
        cases = {
            "mac-digit-changed": exp + "." + flipped_mac,
            "expiry-digit-changed": later + "." + mac,
            "expired": cookie_value(SECRET, now - 60),
            "other-secret": cookie_value(OTHER_SECRET, now + 600),
            "truncated": good[:-2],
            "no-mac": exp,
            "secret-itself": SECRET,
        }
        for what, value in cases.items():
            with self.subTest(cookie=what):
                self.write_refused([("Cookie", "maintgate_bypass=" + value)], what)
        self.write_refused([("Cookie", "other_cookie=" + good)], "right-value-wrong-name")


class CidrBypassTest(GateTestCase):

    def test_cidr_bypass_in_maintenance(self):
        self.write_state("maintenance", reason="migration")
        self.gate("open", gate={"bypass_cidrs": ["10.0.0.0/8", "127.0.0.1/32"]})
        resp, rec = self.forwarded("POST", "/echo", body=b"payload")
        self.assertEqual(resp.status, 200, resp.describe())
        self.assertEqual(resp.value("x-maintgate-mode"), "maintenance", resp.describe())
        self.assertEqual(rec.body_len, 7)
        self.forwarded("GET", "/echo")

    def test_other_cidr_gets_nothing(self):
        self.write_state("maintenance", reason="migration")
        self.gate("open", gate={"bypass_cidrs": ["10.0.0.0/8", "127.0.0.2/32"]})
        self.refused("POST", "/echo", mode="maintenance", body=b"payload")
        self.assertEqual(self.up.requests, [])


# ---- persistence --------------------------------------------------------------------------

class PersistenceTest(GateTestCase):

    def read_state(self):
        with open(self.state_path) as f:
            return json.load(f)

    def test_state_file_overrides_initial_mode(self):
        until = int(time.time()) + 1800
        self.write_state("maintenance", reason="restore from backup", until=until)
        self.gate("open")
        self.refused("GET", "/echo", mode="maintenance")
        _, obj = self.status()
        self.assertEqual((obj["mode"], obj["reason"], obj["until"]),
                         ("maintenance", "restore from backup", iso(until)), obj)
        self.assertEqual(self.up.requests, [])

    def test_restart_keeps_the_mode(self):
        self.assertFalse(os.path.exists(self.state_path))
        first = self.gate("maintenance")
        self.refused("GET", "/echo", mode="maintenance")
        self.assertEqual(first.stop(), 0, first.output())
        self.assertEqual(self.read_state()["mode"], "maintenance")
        # The restarted proxy says initial_mode = open: the state file wins.
        self.gate("open")
        self.refused("GET", "/echo", mode="maintenance")
        self.refused("POST", "/echo", mode="maintenance", body=b"x")
        self.assertEqual(self.up.requests, [])

    def test_missing_state_file_uses_initial_mode_and_creates_it(self):
        self.assertFalse(os.path.exists(self.state_path))
        self.gate("read-only")
        self.refused("POST", "/echo", body=b"x")
        self.forwarded("GET", "/echo")
        self.assertTrue(os.path.exists(self.state_path), "the state file was not created")
        self.assertEqual(self.read_state()["mode"], "read-only")

    def corrupt_case(self, gate, expect_mode):
        garbage = b"\x00{not json at all\xff"
        with open(self.state_path, "wb") as f:
            f.write(garbage)
        st = os.stat(self.state_path)
        p = self.gate("open", gate=gate)
        self.refused("POST", "/echo", mode=expect_mode, body=b"x")
        _, obj = self.status()
        self.assertEqual(obj["mode"], expect_mode, obj)
        line = p.wait_log(r"state file .*unreadable", timeout=10)
        self.assertIsNotNone(line, "no log line about the unreadable state file:\n" + p.output())
        self.assertRegex(line.lower(), r"\berror\b|\berr\b|\[e\]", "not logged as an error: " + line)
        with open(self.state_path, "rb") as f:
            self.assertEqual(f.read(), garbage, "the corrupt state file was changed")
        self.assertEqual(os.stat(self.state_path).st_mtime_ns, st.st_mtime_ns)
        return p

    def test_corrupt_state_file_default_maintenance(self):
        self.corrupt_case({}, "maintenance")
        self.assertEqual(self.up.requests, [])

    def test_corrupt_state_file_read_only(self):
        self.corrupt_case({"corrupt_state_mode": "read-only"}, "read-only")
        self.forwarded("GET", "/echo")

    def test_state_file_with_unknown_mode_is_corrupt(self):
        with open(self.state_path, "w") as f:
            f.write('{"mode":"opened","reason":"","until":null,"set_by":"x","since":"2026-01-01T00:00:00Z"}')
        self.gate("open")
        self.refused("GET", "/echo", mode="maintenance")


class RetryAfterTest(GateTestCase):

    def test_retry_after_follows_until(self):
        until = int(time.time()) + 1800
        self.write_state("read-only", reason="migration", until=until)
        self.gate("open", gate={"retry_after": "10m"})
        _, resp = self.refused("POST", "/echo", headers=[("Accept", "application/json")], body=b"x")
        ra = int(resp.value("retry-after"))
        # Rendered when the config is loaded: allow for start-up time, never more than 1800.
        self.assertTrue(1500 <= ra <= 1801, "Retry-After %d, expected about 1800" % ra)
        obj = resp.json()
        self.assertEqual(obj["until"], iso(until), obj)
        self.assertEqual(obj["retry_after"], ra, obj)

    def test_retry_after_default_without_until(self):
        self.write_state("read-only", reason="migration")
        self.gate("open", gate={"retry_after": "2m"})
        _, resp = self.refused("POST", "/echo", body=b"x")
        self.assertEqual(resp.value("retry-after"), "120", resp.describe())


    def test_retry_after_counts_down_by_the_second(self):
        # Re-rendered once a second: two refusals 3 s apart differ by about 3, not by a
        # 15-second step or nothing.
        self.write_state("read-only", reason="migration", until=int(time.time()) + 1800)
        self.gate("open")
        _, first = self.refused("POST", "/echo", body=b"x")
        time.sleep(3.2)
        _, second = self.refused("POST", "/echo", body=b"x")
        drop = int(first.value("retry-after")) - int(second.value("retry-after"))
        self.assertTrue(2 <= drop <= 5, "Retry-After went from %s to %s in 3.2 s"
                        % (first.value("retry-after"), second.value("retry-after")))


class PageTextTest(GateTestCase):

    def page(self):
        _, resp = self.refused("GET", "/", mode="maintenance", headers=[("Accept", "text/html")])
        return resp.body.decode()

    def test_the_end_in_local_time_and_minutes_with_a_hash_allowed_script(self):
        self.write_state("maintenance", reason="migration", until=int(time.time()) + 45 * 60 + 30)
        self.gate("open")
        html = self.page()
        self.assertIn('data-until>', html)
        self.assertRegex(html, r"<span data-until-in>\(in 4[56] min\)</span>")
        # The one script's hash is the one maintenance_pages/README.md gives for a strict CSP.
        scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
        self.assertEqual(len(scripts), 1, html)
        digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "maintenance_pages",
                               "README.md")) as f:
            self.assertIn("script-src 'sha256-%s'" % digest, f.read())
        self.assertNotIn("No end time", html)

    def test_without_an_end_the_page_links_the_status_endpoint(self):
        self.write_state("maintenance", reason="migration")
        self.gate("open")
        html = self.page()
        self.assertNotIn("data-until", html.split("<script>")[0])
        self.assertIn('The current status is at <a href="%s">%s</a>.' % (STATUS_PATH, STATUS_PATH), html)

class UpstreamDownTest(GateTestCase):

    def test_upstream_down_page(self):
        self.gate("open", gate={"upstream_down_page": True}, upstream_port=refusing_port())
        _, resp = self.req("GET", "/echo", [("Accept", "text/html")])
        self.assertEqual(resp.status, 503, resp.describe())
        self.assertTrue((resp.value("content-type") or "").startswith("text/html"), resp.describe())
        self.assertIsNotNone(resp.value("retry-after"), resp.describe())
        self.assertIn("no-store", resp.tokens("cache-control"), resp.describe())

    def test_without_upstream_down_page_502(self):
        self.gate("open", upstream_port=refusing_port())
        _, resp = self.req("GET", "/echo")
        self.assertEqual(resp.status, 502, resp.describe())


# ---- maintgate check ----------------------------------------------------------------------

CHECK_BASE = """\
workers = 1

[[listener]]
address = "127.0.0.1:0"

[upstream]
url = "http://127.0.0.1:3000"

[gate]
initial_mode = "open"
%s
"""


class CheckTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="maintgate-gatecheck-")
        self.addCleanup(self.tmp.cleanup)

    def check(self, extra):
        text = CHECK_BASE % extra
        path = os.path.join(self.tmp.name, "c.toml")
        with open(path, "w") as f:
            f.write(text)
        code, out, err = run_cli(["check", "-c", path])
        errors = []
        for line in (out + err).splitlines():
            m = ERROR_RE.match(line)
            if m and m.group("file") == path:
                errors.append((int(m.group("line")), int(m.group("col")), m.group("msg")))
        return text, code, out + err, errors

    def line_of(self, text, needle):
        for i, line in enumerate(text.splitlines(), 1):
            if needle in line:
                return i, line
        raise AssertionError(needle)

    def test_valid_gate_config_passes(self):
        _, code, out, errors = self.check(
            'state_file = "/tmp/x/state.json"\ncorrupt_state_mode = "read-only"\n'
            'bypass_secret = "%s"\nbypass_cidrs = ["10.0.0.0/8"]\n\n'
            '[[rule]]\npath_regex = "^/api/v[0-9]+/search$"\nmethods = ["POST"]\n'
            'action = "read"\nreason = "search"\n' % SECRET)
        self.assertEqual(code, 0, out)
        self.assertEqual(errors, [], out)

    def test_rule_without_reason(self):
        text, code, out, errors = self.check('\n[[rule]]\npath = "/login"\naction = "allow"\n')
        self.assertNotEqual(code, 0, out)
        self.assertEqual(len(errors), 1, out)
        line, col, msg = errors[0]
        first, _ = self.line_of(text, "[[rule]]")
        self.assertTrue(first <= line <= first + 2, "line %d: %s" % (line, out))
        self.assertGreaterEqual(col, 1)
        self.assertIn("reason", msg)

    def test_bad_path_regex_position(self):
        pattern = "^/api/v[0-9]+*/search$"  # '*' after '+': nothing to repeat
        text, code, out, errors = self.check(
            '\n[[rule]]\npath_regex = "%s"\naction = "read"\nreason = "search"\n' % pattern)
        self.assertNotEqual(code, 0, out)
        self.assertEqual(len(errors), 1, out)
        line, col, msg = errors[0]
        want_line, src = self.line_of(text, "path_regex")
        want_col = src.index('"') + 2 + pattern.index("*")
        self.assertEqual((line, col), (want_line, want_col),
                         "expected the '*' at %d:%d: %s" % (want_line, want_col, out))
        self.assertIn("path_regex", msg)

    def test_corrupt_state_mode_open_rejected(self):
        text, code, out, errors = self.check('corrupt_state_mode = "open"\n')
        self.assertNotEqual(code, 0, out)
        self.assertEqual(len(errors), 1, out)
        line, col, msg = errors[0]
        want_line, src = self.line_of(text, "corrupt_state_mode")
        self.assertEqual(line, want_line, out)
        self.assertIn(col, (1, src.index('"') + 1), out)
        self.assertIn("corrupt_state_mode", msg)

    def test_short_bypass_secret_rejected(self):
        text, code, out, errors = self.check('bypass_secret = "too-short"\n')
        self.assertNotEqual(code, 0, out)
        self.assertEqual(len(errors), 1, out)
        line, col, msg = errors[0]
        want_line, src = self.line_of(text, "bypass_secret")
        self.assertEqual(line, want_line, out)
        self.assertIn(col, (1, src.index('"') + 1), out)
        self.assertIn("bypass_secret", msg)

    def test_all_errors_reported_together(self):
        _, code, out, errors = self.check(
            'corrupt_state_mode = "open"\nbypass_secret = "short"\n\n[[rule]]\npath = "/x"\naction = "allow"\n')
        self.assertNotEqual(code, 0, out)
        self.assertEqual(len(errors), 3, out)


if __name__ == "__main__":
    unittest.main()
