"""Starts the real maintgate binary and talks raw HTTP/1.1 to it.

- Proxy: writes a TOML config into a temp dir, runs `maintgate run -c FILE` with a
  listener on 127.0.0.1:0, waits for `listening on 127.0.0.1:PORT` on stderr, and stops
  it with SIGTERM (killed in cleanup whatever happens).
- ClientConn: a raw socket with a small response parser that handles Content-Length,
  chunked, close-delimited, HEAD and 1xx, and reports what it saw instead of guessing.
- ProxyTestCase: unittest base wiring an Upstream and a Proxy per test.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from upstream import Upstream
from wire import (BodySink, BufReader, ProtocolError, close_quietly, field_tokens,
                  field_values, shutdown_quietly)

BIN = os.environ.get("MAINTGATE_BIN", "/tmp/build-it/maintgate")
START_TIMEOUT = 20.0      # process start to `listening on`
CLIENT_TIMEOUT = 20.0     # any single socket operation against the proxy
STOP_TIMEOUT = 30.0
LISTENING_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


# ---- configuration -------------------------------------------------------------------

def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # [reopen] max_error_rate
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string for our values
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table: [hook] set_env, backup; [reopen] hooks
        return "{ " + ", ".join("%s = %s" % (json.dumps(k), _toml_value(x)) for k, x in v.items()) + " }"
    raise TypeError("no TOML form for %r" % (v,))


def to_toml(cfg):
    """A small TOML writer: scalars, [tables] of scalars, [[arrays of tables]]."""
    out = []
    for k, v in cfg.items():
        if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict)):
            out.append("%s = %s" % (k, _toml_value(v)))
    for k, v in cfg.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                out.append("\n[[%s]]" % k)
                out.extend("%s = %s" % (kk, _toml_value(vv)) for kk, vv in item.items())
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.append("\n[%s]" % k)
            out.extend("%s = %s" % (kk, _toml_value(vv)) for kk, vv in v.items())
    return "\n".join(out) + "\n"


def merge(base, over):
    """Deep merge of config dicts; `over` wins. None in `over` deletes a key."""
    out = dict(base)
    for k, v in (over or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def base_config(upstream_port, listeners=1, workers=2):
    return {
        "workers": workers,
        "listener": [{"address": "127.0.0.1:0"} for _ in range(listeners)],
        "upstream": {"url": "http://127.0.0.1:%d" % upstream_port},
        "log": {"level": "info"},
    }


# ---- the proxy process ---------------------------------------------------------------

class Proxy:
    """One maintgate process. Always call cleanup() (ProxyTestCase does)."""

    def __init__(self, upstream_port, config=None, listeners=1, workers=2, toml_text=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="maintgate-it-")
        self.config_path = os.path.join(self.tmp.name, "maintgate.toml")
        self.listeners = listeners
        if toml_text is None:
            cfg = merge(base_config(upstream_port, listeners, workers), config)
            toml_text = to_toml(cfg)
        self.toml_text = toml_text
        with open(self.config_path, "w") as f:
            f.write(toml_text)
        self.proc = None
        self.ports = []
        self.stopped = False
        self._lines = []
        self._cv = threading.Condition()
        self._readers = []

    @property
    def port(self):
        return self.ports[0]

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=START_TIMEOUT):
        if not os.access(BIN, os.X_OK):
            raise AssertionError("maintgate binary not found at %s (set MAINTGATE_BIN)" % BIN)
        self.proc = subprocess.Popen([BIN, "run", "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=self.tmp.name)
        for stream, name in ((self.proc.stderr, "stderr"), (self.proc.stdout, "stdout")):
            t = threading.Thread(target=self._pump, args=(stream, name), daemon=True)
            t.start()
            self._readers.append(t)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                ports = []
                for line in self._lines:
                    m = LISTENING_RE.search(line)
                    if m and int(m.group(1)) not in ports:
                        ports.append(int(m.group(1)))
                if len(ports) >= self.listeners:
                    self.ports = ports
                    break
                if self.proc.poll() is not None:
                    raise AssertionError("maintgate exited with %s before listening:\n%s\nconfig:\n%s"
                                         % (self.proc.returncode, self.output(), self.toml_text))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("maintgate did not log 'listening on 127.0.0.1:PORT' within "
                                         "%.0fs:\n%s" % (timeout, self.output()))
                self._cv.wait(min(left, 0.2))
        if 0 in self.ports:
            raise AssertionError("maintgate logged port 0: %s" % self.output())
        return self

    def _pump(self, stream, name):
        for raw in iter(stream.readline, b""):
            with self._cv:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cv.notify_all()
        stream.close()

    def output(self, tail=80):
        """The last lines the process wrote (stderr and stdout interleaved)."""
        with self._cv:
            lines = self._lines[-tail:]
        return "\n".join(lines)

    def lines(self):
        with self._cv:
            return list(self._lines)

    def wait_log(self, pattern, timeout=10.0):
        """Waits for a log line matching the regex; returns it or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self._lines:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(min(left, 0.2))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def memory_kib(self):
        """(VmRSS, VmHWM) in KiB from /proc/PID/status."""
        vals = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, rest = line.split(":", 1)
                    vals[key] = int(rest.split()[0])
        return vals["VmRSS"], vals["VmHWM"]

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """The exit code, or None when still running at the deadline."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signals and waits; returns the exit code (AssertionError when it hangs)."""
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.wait_exit(timeout)
        if code is None:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("maintgate did not exit within %.0fs of signal %d:\n%s"
                                 % (timeout, sig, self.output()))
        return code

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(5) is None:
                self.proc.kill()
                self.proc.wait(10)
        for t in self._readers:
            t.join(5)
        self.tmp.cleanup()


def run_cli(args, timeout=30.0, cwd=None):
    """Runs the binary to completion: (exit code, stdout, stderr); killed at the timeout."""
    try:
        p = subprocess.run([BIN] + list(args), capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("maintgate %s did not finish within %.0fs; output: %r %r"
                             % (" ".join(args), timeout, e.stdout, e.stderr))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def curl(*args, timeout=120.0):
    """Runs curl: (exit code, stdout bytes, stderr text); killed at the timeout."""
    try:
        p = subprocess.run(["curl", "-sS", "--max-time", "%d" % int(timeout - 10)] + list(args),
                           capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("curl %s did not finish: %r" % (" ".join(args), e.stderr))
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


# ---- requests and responses ----------------------------------------------------------

def build_request(method, target, headers=(), body=None, host="test.local",
                  version="HTTP/1.1", chunked=False):
    """Bytes of one request. Host first (unless None); Content-Length added for a body
    unless chunked or already given; chunked bodies are sent as one chunk."""
    fields = []
    if host is not None:
        fields.append(("Host", host))
    fields.extend(headers)
    names = {n.lower() for n, _ in fields}
    if chunked:
        if "transfer-encoding" not in names:
            fields.append(("Transfer-Encoding", "chunked"))
    elif body is not None and "content-length" not in names:
        fields.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, target, version)
    head += "".join("%s: %s\r\n" % (n, v) for n, v in fields)
    out = head.encode("latin-1") + b"\r\n"
    if body:
        out += (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if chunked else body
    elif chunked:
        out += b"0\r\n\r\n"
    return out


class NoResponse(AssertionError):
    """The connection closed (or reset) before any response byte."""


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []
        self.trailers = []
        self.raw_head = b""
        self.framing = None      # "content-length", "chunked", "close", "none"
        self.body = None         # bytes when kept (<= 64 KiB), else None
        self.body_len = 0
        self.body_sha256 = None
        self.complete = False
        self.reset = False       # ECONNRESET ended the read
        self.problems = []       # framing or syntax faults the parser saw
        self.interims = []       # 1xx responses before this one (read_final)

    def values(self, name):
        return field_values(self.headers, name)

    def value(self, name):
        vals = self.values(name)
        if len(vals) > 1:
            raise AssertionError("response field %s repeated: %r" % (name, vals))
        return vals[0] if vals else None

    def tokens(self, name):
        return field_tokens(self.headers, name)

    def json(self):
        return json.loads(self.body)

    def describe(self):
        body = self.body if self.body is not None else b"<%d bytes>" % self.body_len
        return ("status=%s framing=%s complete=%s reset=%s problems=%r\nhead=%r\nbody=%r"
                % (self.status, self.framing, self.complete, self.reset, self.problems,
                   self.raw_head, body[:500]))

    def __repr__(self):
        return "<Response %s %s>" % (self.status, self.describe())


class ClientConn:
    """A raw client connection to the proxy."""

    def __init__(self, port, timeout=CLIENT_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = BufReader(self.sock)
        self.timeout = timeout
        self._senders = []

    def close(self):
        close_quietly(self.sock)
        for t in self._senders:
            t.join(5)

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        shutdown_quietly(self.sock, socket.SHUT_WR)

    def request(self, method, target, headers=(), body=None, **kw):
        """Sends one request and returns the final response, which must be complete and
        well-formed (AssertionError otherwise)."""
        self.send(build_request(method, target, headers, body, **kw))
        return self.read_final(method=method)

    def read_final(self, method="GET", require_complete=True, keep_body=True, max_interims=10):
        """Reads 1xx responses (into .interims) and the final response."""
        interims = []
        for _ in range(max_interims + 1):
            resp = self.read_response(method, require_complete, keep_body)
            if resp.status is None or not 100 <= resp.status < 200 or resp.status == 101:
                resp.interims = interims
                return resp
            interims.append(resp)
        raise AssertionError("more than %d interim responses" % max_interims)

    def read_response(self, method="GET", require_complete=True, keep_body=True):
        """One response (a 1xx counts as one). With require_complete, AssertionError when
        it is cut short or malformed; otherwise the Response says what arrived."""
        resp = Response()
        try:
            self._read_response(resp, method, keep_body)
        except socket.timeout:
            resp.problems.append("timed out after %.0fs" % self.timeout)
        except ProtocolError as e:
            resp.problems.append(str(e))
        resp.reset = self.reader.reset
        if resp.status is None and not resp.raw_head and not resp.problems:
            raise NoResponse("connection %s before any response byte"
                             % ("reset" if resp.reset else "closed"))
        if require_complete and (not resp.complete or resp.problems):
            raise AssertionError("incomplete or malformed response: " + resp.describe())
        return resp

    def _read_response(self, resp, method, keep_body):
        r = self.reader
        line = r.read_line()
        resp.raw_head += line
        if not line:
            return
        if not line.endswith(b"\n"):
            resp.problems.append("EOF inside the status line")
            return
        if not line.endswith(b"\r\n"):
            resp.problems.append("bare LF after the status line")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3}) ?([^\r\n]*)\r?\n$", line)
        if not m:
            resp.problems.append("bad status line %r" % line[:100])
            return
        resp.version = m.group(1).decode()
        resp.status = int(m.group(2))
        resp.reason = m.group(3).decode("latin-1")
        while True:
            line = r.read_line()
            resp.raw_head += line
            if not line.endswith(b"\n"):
                resp.problems.append("EOF inside the response head")
                return
            if not line.endswith(b"\r\n"):
                resp.problems.append("bare LF in the response head: %r" % line[:100])
            text = line.rstrip(b"\r\n")
            if not text:
                break
            if text[:1] in (b" ", b"\t"):
                resp.problems.append("obs-fold in the response head")
                continue
            resp.headers.append(split_field_lenient(text, resp))
        self._read_body(resp, method, keep_body)

    def _read_body(self, resp, method, keep_body):
        r = self.reader
        status = resp.status
        te = resp.tokens("transfer-encoding")
        cls = resp.values("content-length")
        if te and cls:
            resp.problems.append("both Transfer-Encoding and Content-Length")
        if len(cls) > 1:
            resp.problems.append("several Content-Length fields: %r" % cls)
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            resp.framing = "none"
            if status in (204, 304) and (te or (cls and cls != ["0"] and status == 204)):
                resp.problems.append("%d with body framing fields" % status)
            resp.complete = True
            resp.body = b""
            return
        sink = BodySink(keep=(1 << 16) if keep_body else 0)
        if te:
            if te[-1] != "chunked":
                resp.framing = "close"
                r.read_to_eof(sink)
                resp.complete = True  # close-delimited: complete by definition at EOF
            else:
                resp.framing = "chunked"
                self._read_chunked(resp, sink)
        elif cls:
            resp.framing = "content-length"
            try:
                length = int(cls[0])
            except ValueError:
                resp.problems.append("bad Content-Length %r" % cls[0])
                return
            got = r.read_into(length, sink)
            resp.complete = got == length
        else:
            resp.framing = "close"
            r.read_to_eof(sink)
            # A close-delimited body is complete only when the connection ended with a
            # FIN, not a reset.
            resp.complete = not r.reset
        resp.body_len = sink.len
        resp.body_sha256 = sink.sha256
        if keep_body:
            resp.body = sink.complete_body

    def _read_chunked(self, resp, sink):
        r = self.reader
        for _ in range(1 << 24):
            line = r.read_line()
            if not line.endswith(b"\n"):
                return
            if not line.endswith(b"\r\n"):
                resp.problems.append("bare LF after a chunk size")
            size_text = line.rstrip(b"\r\n").split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9a-fA-F]+", size_text):
                resp.problems.append("bad chunk size line %r" % line[:80])
                return
            size = int(size_text, 16)
            if size == 0:
                break
            got = r.read_into(size, sink)
            if got < size:
                return
            crlf = r.read_exact(2)
            if crlf != b"\r\n":
                if len(crlf) == 2:
                    resp.problems.append("chunk data not followed by CRLF")
                return
        else:
            resp.problems.append("too many chunks")
            return
        for _ in range(1000):
            line = r.read_line()
            if not line.endswith(b"\n"):
                return
            if line in (b"\r\n", b"\n"):
                resp.complete = True
                return
            resp.trailers.append(split_field_lenient(line.rstrip(b"\r\n"), resp))

    # ---- closing ---------------------------------------------------------------------

    def wait_closed(self, timeout=CLIENT_TIMEOUT):
        """Reads until EOF/reset or the deadline: (closed, bytes received, seconds)."""
        start = time.monotonic()
        got = bytearray(self.reader.take_buffered())
        deadline = start + timeout
        while not self.reader.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, bytes(got), time.monotonic() - start
            self.sock.settimeout(min(left, 1.0))
            try:
                if self.reader.fill():
                    got += self.reader.take_buffered()
            except socket.timeout:
                continue
            finally:
                self.sock.settimeout(self.timeout)
        return True, bytes(got), time.monotonic() - start

    def assert_closed(self, timeout=CLIENT_TIMEOUT, what="the connection"):
        """The peer closes (FIN or RST) without sending anything more."""
        closed, data, _ = self.wait_closed(timeout)
        if data:
            raise AssertionError("%s: unexpected bytes after the response: %r" % (what, data[:500]))
        if not closed:
            raise AssertionError("%s was not closed within %.0fs" % (what, timeout))

    def assert_open(self, wait=0.3):
        """Nothing arrives and no EOF within `wait` seconds (used after a keep-alive reply)."""
        if self.reader.buffered():
            raise AssertionError("unexpected buffered bytes: %r" % self.reader.take_buffered()[:200])
        readable, _, _ = select.select([self.sock], [], [], wait)
        if readable:
            data = b""
            try:
                data = self.sock.recv(1024)
            except OSError as e:
                raise AssertionError("connection failed: %s" % e)
            raise AssertionError("expected an open idle connection, got %r" % (data or "EOF"))

    # ---- streaming senders -----------------------------------------------------------

    def start_sender(self, pieces):
        """Sends the pieces from a thread (so a response can be read meanwhile). The
        returned thread has .sent and .error; it stops at the first send error."""
        t = _Sender(self.sock, pieces)
        self._senders.append(t)
        t.start()
        return t


class _Sender(threading.Thread):
    def __init__(self, sock, pieces):
        super().__init__(daemon=True, name="client-sender")
        self.sock = sock
        self.pieces = pieces
        self.sent = 0
        self.error = None

    def run(self):
        try:
            for piece in self.pieces:
                self.sock.sendall(piece)
                self.sent += len(piece)
        except OSError as e:
            self.error = e


def split_field_lenient(line, resp):
    colon = line.find(b":")
    if colon <= 0:
        resp.problems.append("field line without a name: %r" % line[:100])
        return (line.decode("latin-1"), "")
    name = line[:colon].decode("latin-1")
    if name != name.strip():
        resp.problems.append("whitespace around a field name: %r" % line[:100])
    return name.strip(), line[colon + 1:].strip(b" \t").decode("latin-1")


def connect_refused(port, timeout=2.0):
    """True when a connect to the port is refused right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        close_quietly(s)


def poll_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until true; AssertionError with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- the test base class -------------------------------------------------------------

class ProxyTestCase(unittest.TestCase):
    """Each test gets a fresh Upstream and a fresh maintgate configured with
    `config` (merged over the base config). Set start_default = False to do it yourself."""

    config = {}
    workers = 2
    start_default = True

    def setUp(self):
        self._proxies = []
        if self.start_default:
            self.up = self.start_upstream()
            self.proxy = self.start_proxy(self.up.port, self.config, workers=self.workers)

    def tearDown(self):
        for p in self._proxies:
            if not p.stopped and p.proc is not None and p.proc.poll() is not None:
                self.fail("maintgate exited unexpectedly with %s during the test:\n%s"
                          % (p.proc.returncode, p.output()))

    def start_upstream(self, factory=Upstream):
        up = factory()
        self.addCleanup(up.stop)
        up.start()
        return up

    def start_proxy(self, upstream_port, config=None, listeners=1, workers=None, toml_text=None):
        p = Proxy(upstream_port, config, listeners=listeners,
                  workers=self.workers if workers is None else workers, toml_text=toml_text)
        self.addCleanup(p.cleanup)
        self._proxies.append(p)
        p.start()
        return p

    def connect(self, proxy=None, port=None, timeout=CLIENT_TIMEOUT):
        c = ClientConn(port or (proxy or self.proxy).port, timeout)
        self.addCleanup(c.close)
        return c

    def roundtrip(self, raw, proxy=None, method="GET", require_complete=True):
        """Sends raw bytes on a new connection; returns (conn, final response)."""
        c = self.connect(proxy)
        c.send(raw)
        return c, c.read_final(method=method, require_complete=require_complete)

    def assert_local_error(self, resp, status, conn=None):
        """A local error reply: the exact status, a complete HTTP/1.1 response with
        Content-Length and Connection: close, and the connection closed after it."""
        self.assertEqual(resp.status, status, "expected %d, got %s" % (status, resp.describe()))
        self.assertEqual(resp.version, "HTTP/1.1", resp.describe())
        self.assertTrue(resp.complete, resp.describe())
        self.assertEqual(resp.problems, [], resp.describe())
        self.assertEqual(len(resp.values("content-length")), 1,
                         "local reply without Content-Length: " + resp.describe())
        self.assertEqual(resp.values("transfer-encoding"), [], resp.describe())
        self.assertIn("close", resp.tokens("connection"),
                      "local reply without Connection: close: " + resp.describe())
        self.assertRegex(resp.value("date") or "", r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$",
                         "local reply without a valid Date: " + resp.describe())
        if conn is not None:
            conn.assert_closed(what="the connection after a %d reply" % status)

    def assert_upstream_untouched(self, up=None, proxy=None):
        """Nothing of the earlier requests reached the upstream: a marker request sent
        afterwards is the only thing the upstream ever parsed, and nothing else (no
        partial head, no stray bytes) arrived on any connection."""
        up = up or self.up
        before = up.requests
        self.assertEqual(before, [], "the upstream received requests: %r" % before)
        marker = "/echo?marker=%d" % time.monotonic_ns()
        c = self.connect(proxy)
        resp = c.request("GET", marker)
        self.assertEqual(resp.status, 200, resp.describe())
        up.wait_requests(1)
        reqs = up.requests
        self.assertEqual([r.target for r in reqs], [marker],
                         "the upstream received more than the marker request: %r" % reqs)
        self.assertEqual(up.errors, [], "the upstream saw broken input")
        marker_bytes = len(reqs[0].raw_head)
        self.assertEqual(up.bytes_received, marker_bytes,
                         "the upstream received %d bytes, the marker head is %d"
                         % (up.bytes_received, marker_bytes))
