"""A real HTTP/1.1 origin server for the integration tests.

It runs as threads inside the test process, so a test can assert on exactly what the
proxy sent it: every request it received, fully or partially, with its raw header
fields in order, the body length and sha256, and whether the body was complete.

Behaviour by path (see the module docstring of each handler below):
  /echo...              200, JSON {method, target, version, headers, trailers, body_len, body_sha256}
  /bytes/N              N pattern bytes with Content-Length
  /chunked/N            N pattern bytes, chunked, chunk sizes varying
  /close/N              N pattern bytes, no Content-Length/Transfer-Encoding, then close
  /upload               consumes the body streaming, JSON {body_len, body_sha256}
  /status/N             status N (204 and 304 without a body)
  /head                 1234 pattern bytes with Content-Length (none for HEAD)
  /set-headers?K=V&..   200 "ok" with the given extra response fields
  /ws                   WebSocket handshake (RFC 6455 accept), then raw echo;
                        the bytes b"__close__" make it close the connection
  /expect               honours Expect: 100-continue, then JSON {body_len, body_sha256}
  /expect-reject        401 at once without reading the body, then close
  /interim              103 Early Hints with a Link field, then 200
  /slow/MS              waits MS milliseconds, then 200 JSON
  /idle-close/MS        200, then closes the connection after MS idle milliseconds
  /fault/hang           reads the request, never answers
  /fault/reset          half of a Content-Length body, then RST (SO_LINGER 0)
  /fault/truncate-cl    Content-Length 1000, 100 bytes, close
  /fault/truncate-chunked  some chunks, close without the last chunk
  /fault/close          reads the request, closes without any response
  /fault/close-once/KEY    like /fault/close the first time KEY is seen, then like /echo
  /fault/garbage        a response that is not HTTP
  /fault/cl-te          a response with both Content-Length and Transfer-Encoding
  /fault/bad-cl         a response with "Content-Length: 5, 6"
  anything else         404
"""

import base64
import hashlib
import json
import select
import socket
import struct
import threading
import time
import urllib.parse

from wire import (BodySink, BufReader, ProtocolError, close_quietly, field_tokens,
                  field_values, pattern_slices, pattern_view, shutdown_quietly, split_field)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK_SIZES = (1, 10, 1000, 65536, 1 << 20, 1 << 20, 1 << 20, 1 << 20)
REASONS = {
    100: "Continue", 101: "Switching Protocols", 103: "Early Hints", 200: "OK",
    204: "No Content", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    404: "Not Found", 417: "Expectation Failed", 500: "Internal Server Error",
}


def websocket_accept(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


class RecordedRequest:
    """One request as the upstream received it. Fields are updated while the body
    arrives; read them after waiting on Upstream.wait_for()."""

    def __init__(self, conn_id, method, target, version, headers, raw_head):
        self.conn_id = conn_id
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers          # [(name, value)] exactly as received, in order
        self.raw_head = raw_head
        self.arrival = time.monotonic()
        self.framing = "none"           # "none", "content-length" or "chunked"
        self.body_len = 0
        self.body_sha256 = hashlib.sha256(b"").hexdigest()
        self.body = b""                 # the body when <= 64 KiB
        self.trailers = []
        self.complete = False           # the whole message, body included, was received
        self.body_read = False          # the handler tried to read the body

    def values(self, name):
        return field_values(self.headers, name)

    def value(self, name):
        """The single value of `name`; None when absent; AssertionError when repeated."""
        vals = self.values(name)
        if len(vals) > 1:
            raise AssertionError("field %s repeated upstream: %r" % (name, vals))
        return vals[0] if vals else None

    def tokens(self, name):
        return field_tokens(self.headers, name)

    @property
    def path(self):
        return urllib.parse.urlsplit(self.target).path if self.target.startswith("/") else self.target

    def __repr__(self):
        return "<%s %s %s conn=%d body=%d%s>" % (
            self.method, self.target, self.version, self.conn_id, self.body_len,
            "" if self.complete else " INCOMPLETE")


class _Conn:
    def __init__(self, conn_id, sock):
        self.id = conn_id
        self.sock = sock
        self.bytes_in = 0
        self.closed = False
        self.leftover = b""             # unparsed bytes at close (a partial head)


class _Close(Exception):
    """Ends the connection without treating it as an error."""


class Upstream:
    """A threaded raw-socket HTTP/1.1 server on 127.0.0.1:0."""

    def __init__(self, io_timeout=60.0):
        self.io_timeout = io_timeout
        self._cv = threading.Condition()
        self._requests = []
        self._conns = []
        self._errors = []
        self._threads = []
        self._once = set()
        self._stop = threading.Event()
        self._listener = None
        self.port = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(128)
        ls.settimeout(0.2)
        self._listener = ls
        self.port = ls.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="upstream-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        with self._cv:
            conns = list(self._conns)
        for c in conns:
            shutdown_quietly(c.sock)
        deadline = time.monotonic() + 10
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            close_quietly(self._listener)
        for c in conns:
            close_quietly(c.sock)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- what the tests look at ------------------------------------------------------

    @property
    def requests(self):
        with self._cv:
            return list(self._requests)

    @property
    def complete_requests(self):
        with self._cv:
            return [r for r in self._requests if r.complete]

    @property
    def connections(self):
        """Connections accepted so far."""
        with self._cv:
            return len(self._conns)

    @property
    def closed_connections(self):
        with self._cv:
            return sum(1 for c in self._conns if c.closed)

    def is_closed(self, conn_id):
        """True once the upstream has closed its side of connection conn_id."""
        with self._cv:
            return any(c.closed for c in self._conns if c.id == conn_id)

    @property
    def bytes_received(self):
        with self._cv:
            return sum(c.bytes_in for c in self._conns)

    @property
    def errors(self):
        with self._cv:
            return list(self._errors)

    def clear(self):
        """Forgets the requests and errors recorded so far (connections stay counted)."""
        with self._cv:
            self._requests.clear()
            self._errors.clear()

    def wait_for(self, predicate, timeout=20.0, what="condition"):
        """Waits until predicate(self) is true; AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                # predicate reads properties that take the (re-entrant) condition lock.
                if predicate(self):
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("upstream: timed out waiting for %s; requests=%r errors=%r"
                                         % (what, self._requests, self._errors))
                self._cv.wait(min(left, 0.2))

    def wait_requests(self, n, timeout=20.0, complete=True):
        if complete:
            self.wait_for(lambda u: len(u.complete_requests) >= n, timeout,
                          "%d complete requests" % n)
        else:
            self.wait_for(lambda u: len(u.requests) >= n, timeout, "%d requests" % n)

    def _notify(self):
        with self._cv:
            self._cv.notify_all()

    # ---- connections -----------------------------------------------------------------

    def _accept_loop(self):
        next_id = 1
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conn = _Conn(next_id, sock)
            next_id += 1
            with self._cv:
                self._conns.append(conn)
                self._cv.notify_all()
            t = threading.Thread(target=self._serve, args=(conn,),
                                 name="upstream-conn-%d" % conn.id, daemon=True)
            self._threads.append(t)
            t.start()

    def _count(self, conn):
        def on_recv(n):
            conn.bytes_in += n
        return on_recv

    def _serve(self, conn):
        sock = conn.sock
        sock.settimeout(self.io_timeout)
        reader = BufReader(sock, self._count(conn))
        idle_close = None
        try:
            while not self._stop.is_set():
                if idle_close is not None:
                    sock.settimeout(idle_close)
                try:
                    head = self._read_head(reader, conn)
                except socket.timeout:
                    if idle_close is not None:
                        break  # /idle-close: the idle period ended
                    raise
                finally:
                    sock.settimeout(self.io_timeout)
                idle_close = None
                if head is None:
                    break
                rec = self._parse_head(conn, head)
                with self._cv:
                    self._requests.append(rec)
                    self._cv.notify_all()
                keep, idle_close = self._dispatch(conn, reader, rec)
                self._notify()
                if not keep:
                    break
        except _Close:
            pass
        except (OSError, ProtocolError) as e:
            if not self._stop.is_set():
                with self._cv:
                    self._errors.append("conn %d: %s: %s" % (conn.id, type(e).__name__, e))
        finally:
            close_quietly(sock)
            with self._cv:
                conn.closed = True
                self._cv.notify_all()

    def _read_head(self, reader, conn):
        """The head's lines (terminators removed), or None at a clean EOF."""
        lines = []
        size = 0
        first = True
        while True:
            line = reader.read_line()
            if not line.endswith(b"\n"):
                if first and not line and not lines:
                    return None
                conn.leftover = b"".join(l + b"\r\n" for l in lines) + line
                raise ProtocolError("EOF inside a request head after %d bytes" % (size + len(line)))
            first = False
            size += len(line)
            if size > 1 << 20:
                raise ProtocolError("request head over 1 MiB")
            if not line.endswith(b"\r\n"):
                raise ProtocolError("bare LF in a head line: %r" % line[:120])
            line = line[:-2]
            if b"\r" in line:
                raise ProtocolError("bare CR in a head line: %r" % line[:120])
            if not line:
                if not lines:
                    raise ProtocolError("empty line before a request line")
                return lines
            lines.append(line)

    def _parse_head(self, conn, lines):
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            raise ProtocolError("bad request line %r" % lines[0][:120])
        method, target, version = (p.decode("latin-1") for p in parts)
        headers = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t"):
                raise ProtocolError("obs-fold received: %r" % line[:120])
            headers.append(split_field(line))
        raw = b"\r\n".join(lines) + b"\r\n\r\n"
        return RecordedRequest(conn.id, method, target, version, headers, raw)

    # ---- bodies and responses --------------------------------------------------------

    def _body_framing(self, rec):
        te = rec.tokens("transfer-encoding")
        if te:
            if te[-1] != "chunked":
                raise ProtocolError("request Transfer-Encoding not ending in chunked: %r" % te)
            if rec.values("content-length"):
                raise ProtocolError("request with both Content-Length and Transfer-Encoding")
            return "chunked", None
        cls = rec.values("content-length")
        if not cls:
            return "none", 0
        if len(cls) > 1 or not cls[0].isdigit():
            raise ProtocolError("bad request Content-Length %r" % cls)
        return "content-length", int(cls[0])

    def _read_body(self, reader, rec, keep=True):
        """Reads the request body into rec (length, sha256, first 64 KiB when keep)."""
        rec.body_read = True
        framing, length = self._body_framing(rec)
        rec.framing = framing
        sink = BodySink(keep=(1 << 16) if keep else 0)

        def feed(data):
            sink(data)
            rec.body_len = sink.len

        if framing == "content-length":
            got = reader.read_into(length, feed)
            rec.body_sha256 = sink.sha256
            if got < length:
                raise ProtocolError("EOF after %d of %d body bytes" % (got, length))
        elif framing == "chunked":
            while True:
                line = reader.read_line()
                if not line.endswith(b"\r\n"):
                    rec.body_sha256 = sink.sha256
                    raise ProtocolError("EOF or bare LF in a chunk-size line: %r" % line[:80])
                size_text = line[:-2].split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ProtocolError("bad chunk size %r" % line[:80])
                if size == 0:
                    break
                got = reader.read_into(size, feed)
                crlf = reader.read_exact(2)
                if got < size or crlf != b"\r\n":
                    rec.body_sha256 = sink.sha256
                    raise ProtocolError("EOF or missing CRLF inside a chunk")
            while True:
                line = reader.read_line()
                if not line.endswith(b"\r\n"):
                    raise ProtocolError("EOF or bare LF in the trailer section")
                if line == b"\r\n":
                    break
                rec.trailers.append(split_field(line[:-2]))
        rec.body_sha256 = sink.sha256
        if keep:
            rec.body = sink.complete_body or b""
        rec.complete = True
        self._notify()

    @staticmethod
    def _wants_close(rec):
        conn = rec.tokens("connection")
        if "close" in conn:
            return True
        return rec.version == "HTTP/1.0" and "keep-alive" not in conn

    def _send_head(self, sock, status, fields, reason=None):
        reason = reason if reason is not None else REASONS.get(status, "Whatever")
        head = "HTTP/1.1 %d %s\r\n" % (status, reason)
        head += "".join("%s: %s\r\n" % (n, v) for n, v in fields)
        sock.sendall(head.encode("latin-1") + b"\r\n")

    def _respond(self, sock, rec, status, body=b"", fields=(), close=False):
        """A complete response with Content-Length (no body for HEAD, 1xx, 204, 304)."""
        close = close or self._wants_close(rec)
        out = list(fields)
        bodiless = status in (204, 304)
        if not bodiless:
            out.append(("Content-Length", str(len(body))))
        if close:
            out.append(("Connection", "close"))
        self._send_head(sock, status, out)
        if body and rec.method != "HEAD" and not bodiless:
            sock.sendall(body)
        return not close

    def _json(self, sock, rec, obj, status=200):
        body = json.dumps(obj).encode()
        return self._respond(sock, rec, status, body, [("Content-Type", "application/json")])

    def _echo_obj(self, rec):
        return {
            "method": rec.method, "target": rec.target, "version": rec.version,
            "headers": [[n, v] for n, v in rec.headers], "trailers": [[n, v] for n, v in rec.trailers],
            "body_len": rec.body_len, "body_sha256": rec.body_sha256,
        }

    def _send_chunked(self, sock, n, trailer=False):
        offset = 0
        i = 0
        while offset < n:
            size = min(CHUNK_SIZES[i % len(CHUNK_SIZES)], n - offset)
            i += 1
            sock.sendall(b"%x\r\n" % size)
            sock.sendall(pattern_view(offset, size))
            sock.sendall(b"\r\n")
            offset += size
        sock.sendall(b"0\r\n" + (b"X-Trailer: yes\r\n" if trailer else b"") + b"\r\n")

    def _linger_close(self, sock, reader):
        """Half-closes, then drains what the peer still sends (bounded) before closing,
        so that unread request bytes do not turn the close into a reset."""
        shutdown_quietly(sock, socket.SHUT_WR)
        sock.settimeout(0.5)
        deadline = time.monotonic() + 3
        try:
            while time.monotonic() < deadline and not self._stop.is_set():
                if not reader.fill():
                    break
                reader.take_buffered()
        except OSError:
            pass
        raise _Close()

    def _wait_peer_close(self, sock, reader, limit=300.0):
        """Never answers: waits until the peer closes or the upstream stops."""
        sock.settimeout(0.5)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                if not reader.fill():
                    break
                reader.take_buffered()
            except socket.timeout:
                continue
            except OSError:
                break
        raise _Close()

    # ---- routing ---------------------------------------------------------------------

    def _dispatch(self, conn, reader, rec):
        """Answers one request. Returns (keep_alive, idle_close_seconds_or_None)."""
        sock = conn.sock
        split = urllib.parse.urlsplit(rec.target)
        path = split.path if rec.target.startswith("/") else rec.target
        parts = path.strip("/").split("/")

        def number(i, default=0):
            try:
                return int(parts[i])
            except (IndexError, ValueError):
                return default

        if path == "/upload":
            self._read_body(reader, rec, keep=False)
            return self._json(sock, rec, {"body_len": rec.body_len, "body_sha256": rec.body_sha256}), None

        if path == "/expect-reject":
            # The final status at once; the body is never read.
            self._respond(sock, rec, 401, b"no\n",
                          [("WWW-Authenticate", 'Basic realm="test"')], close=True)
            self._linger_close(sock, reader)

        if path == "/expect":
            if "100-continue" in rec.tokens("expect"):
                self._send_head(sock, 100, [])
            self._read_body(reader, rec)
            return self._json(sock, rec, {"body_len": rec.body_len,
                                          "body_sha256": rec.body_sha256,
                                          "expect": rec.values("expect")}), None

        if path == "/ws":
            return self._websocket(conn, reader, rec), None

        if path == "/fault/close":
            self._read_body(reader, rec)
            raise _Close()

        if path.startswith("/fault/close-once/"):
            self._read_body(reader, rec)
            with self._cv:
                first = path not in self._once
                self._once.add(path)
            if first:
                raise _Close()
            return self._json(sock, rec, self._echo_obj(rec)), None

        # Every other handler reads the whole body first.
        self._read_body(reader, rec)

        if path.startswith("/echo"):
            return self._json(sock, rec, self._echo_obj(rec)), None

        if parts[0] == "bytes":
            n = number(1)
            close = self._wants_close(rec)
            fields = [("Content-Length", str(n)), ("Content-Type", "application/octet-stream")]
            if close:
                fields.append(("Connection", "close"))
            self._send_head(sock, 200, fields)
            if rec.method != "HEAD":
                for view in pattern_slices(n):
                    sock.sendall(view)
            return not close, None

        if parts[0] == "chunked":
            n = number(1)
            close = self._wants_close(rec)
            fields = [("Transfer-Encoding", "chunked"), ("Content-Type", "application/octet-stream")]
            if close:
                fields.append(("Connection", "close"))
            self._send_head(sock, 200, fields)
            if rec.method != "HEAD":
                self._send_chunked(sock, n, trailer="trailer" in split.query)
            return not close, None

        if parts[0] == "close":
            n = number(1)
            self._send_head(sock, 200, [("Content-Type", "application/octet-stream"),
                                        ("Connection", "close")])
            if rec.method != "HEAD":
                for view in pattern_slices(n):
                    sock.sendall(view)
            return False, None

        if parts[0] == "status":
            status = number(1, 200)
            body = b"" if status in (204, 304) else b"status %d\n" % status
            return self._respond(sock, rec, status, body), None

        if path == "/head":
            return self._respond(sock, rec, 200, b"".join(bytes(v) for v in pattern_slices(1234))), None

        if path == "/set-headers":
            fields = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
            return self._respond(sock, rec, 200, b"ok\n", fields), None

        if path == "/interim":
            self._send_head(sock, 103, [("Link", "</style.css>; rel=preload; as=style")])
            return self._respond(sock, rec, 200, b"final\n"), None

        if parts[0] == "slow":
            self._stop.wait(number(1) / 1000.0)
            return self._json(sock, rec, self._echo_obj(rec)), None

        if parts[0] == "idle-close":
            keep = self._respond(sock, rec, 200, b"ok\n")
            return keep, number(1, 200) / 1000.0

        if path == "/fault/hang":
            self._wait_peer_close(sock, reader)

        if path == "/fault/reset":
            self._send_head(sock, 200, [("Content-Length", "100000")])
            for view in pattern_slices(50000):
                sock.sendall(view)
            self._stop.wait(0.3)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            raise _Close()

        if path == "/fault/truncate-cl":
            self._send_head(sock, 200, [("Content-Length", "1000")])
            sock.sendall(pattern_view(0, 100))
            self._linger_close(sock, reader)

        if path == "/fault/truncate-chunked":
            self._send_head(sock, 200, [("Transfer-Encoding", "chunked")])
            for size in (100, 200, 300):
                sock.sendall(b"%x\r\n" % size + bytes(pattern_view(0, size)) + b"\r\n")
            self._linger_close(sock, reader)

        if path == "/fault/garbage":
            sock.sendall(b"HELLO THIS IS NOT HTTP\r\n\r\n")
            self._linger_close(sock, reader)

        if path == "/fault/cl-te":
            self._send_head(sock, 200, [("Content-Length", "5"), ("Transfer-Encoding", "chunked")])
            sock.sendall(b"5\r\nhello\r\n0\r\n\r\n")
            self._linger_close(sock, reader)

        if path == "/fault/bad-cl":
            self._send_head(sock, 200, [("Content-Length", "5, 6")])
            sock.sendall(b"hello!")
            self._linger_close(sock, reader)

        return self._respond(sock, rec, 404, b"no such path\n"), None

    def _websocket(self, conn, reader, rec):
        sock = conn.sock
        key = rec.value("sec-websocket-key")
        if "websocket" not in rec.tokens("upgrade") or "upgrade" not in rec.tokens("connection") or not key:
            return self._respond(sock, rec, 400, b"not a websocket handshake\n")
        self._send_head(sock, 101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                    ("Sec-WebSocket-Accept", websocket_accept(key))])
        rec.complete = True
        self._notify()
        # Raw echo until EOF; b"__close__" in the stream closes the connection.
        token = b"__close__"
        tail = b""
        sock.settimeout(0.5)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not self._stop.is_set():
            if reader.buffered():
                data = reader.take_buffered()
            else:
                try:
                    if not reader.fill():
                        break
                except socket.timeout:
                    continue
                data = reader.take_buffered()
            sock.sendall(data)
            window = tail + data
            if token in window:
                break
            tail = window[-len(token):]
        raise _Close()


def refusing_port():
    """A loopback port with nothing listening: connects to it are refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Blackhole:
    """Accepts connections and never reads from them nor answers."""

    def __init__(self):
        self._stop = threading.Event()
        self._socks = []
        self._lock = threading.Lock()
        self.port = None
        self._listener = None
        self._thread = None

    @property
    def connections(self):
        with self._lock:
            return len(self._socks)

    def start(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(("127.0.0.1", 0))
        ls.listen(64)
        ls.settimeout(0.2)
        self._listener = ls
        self.port = ls.getsockname()[1]
        self._thread = threading.Thread(target=self._loop, name="blackhole", daemon=True)
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            try:
                s, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self._lock:
                self._socks.append(s)

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        close_quietly(self._listener)
        with self._lock:
            for s in self._socks:
                close_quietly(s)


class FullBacklog:
    """A listening socket whose accept queue is full, so new connects never complete.

    Linux drops a SYN aimed at a listener whose accept queue is full
    (tcp_conn_request: sk_acceptq_is_full -> drop; net.ipv4.tcp_abort_on_overflow is 0 by
    default), and the client keeps retransmitting it: connect() hangs until its own
    timeout. That holds on loopback too. The queue is filled with our own connects,
    never accepted. `ok` is False when the kernel completed every probe connect (then the
    connect-timeout test cannot be made and skips, saying why).
    """

    def __init__(self, max_fill=64):
        self._listener = None
        self._fillers = []
        self.port = None
        self.ok = False
        self._max_fill = max_fill

    def start(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        self._listener = ls
        self.port = ls.getsockname()[1]
        for _ in range(self._max_fill):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            self._fillers.append(s)
            s.connect_ex(("127.0.0.1", self.port))
            # A connect that completes quickly was queued; one that does not means full.
            _, w, _ = select.select([], [s], [], 0.5)
            if not w:
                self.ok = True
                break
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                break
        return self

    def stop(self):
        for s in self._fillers:
            close_quietly(s)
        close_quietly(self._listener)
