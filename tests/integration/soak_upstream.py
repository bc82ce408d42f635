"""An asyncio origin server for the soak test (test_soak.py).

upstream.py runs a thread per connection, which is right for the focused tests but too
heavy for hundreds of concurrent upstream connections on a 2-core machine shared with
maintgate. This one runs every connection on one event loop in its own thread and
records only what the soak asserts on:

- every request head it parsed: the tag (`id=` in the query), the method, the path, the
  wall-clock time the head had been read (`arrival`), the time just before the response
  head was written (`respond`, None when it never answered) and whether the whole body
  arrived (`complete`);
- every WebSocket frame it received inside a tunnel: the tag it carries and the time.

Times are time.time(), the clock the test's clients and admin client stamp with.
An arrival stamp is taken after the bytes were read, so it is never earlier than the
real arrival; a respond stamp is taken before the response leaves, so a proxy that saw
the response saw it after that stamp.

Paths:
  /echo...         reads the body, 200 JSON {"id", "method", "body_len"}
  /upload...       reads the body, 200 JSON {"id", "body_len", "crc32"}
  /bytes/N...      reads the body, 200 with N pattern bytes (wire.pattern_view)
  /ws...           RFC 6455 handshake (after delay_ms milliseconds when the query has
                   delay_ms=N), then echoes every data frame unmasked; answers a close
                   frame with a close frame and closes
  anything else    404
Connections stay open until the peer closes them (no idle timeout of its own), so the
proxy's pooled connections are never closed under it while a request is being sent.
"""

import asyncio
import json
import struct
import threading
import time
import urllib.parse
import zlib

from upstream import websocket_accept
from wire import pattern_slices

MAX_HEAD = 64 * 1024
READ_SIZE = 256 * 1024


class Rec:
    """One request as the upstream saw it."""

    __slots__ = ("tag", "method", "path", "arrival", "respond", "complete", "body_len", "conn")

    def __init__(self, tag, method, path, arrival, conn):
        self.tag = tag
        self.method = method
        self.path = path
        self.arrival = arrival
        self.respond = None
        self.complete = False
        self.body_len = 0
        self.conn = conn

    def __repr__(self):
        return "<%s %s tag=%s arrival=%.3f respond=%s complete=%s body=%d>" % (
            self.method, self.path, self.tag, self.arrival,
            "%.3f" % self.respond if self.respond else None, self.complete, self.body_len)


class BadRequest(Exception):
    pass


class SoakUpstream:
    """start() returns once listening; stop() closes everything and joins the thread."""

    def __init__(self):
        self.port = None
        self._lock = threading.Lock()
        self._recs = []
        self._frames = []       # (tag, arrival)
        self._errors = []
        self._conns = 0
        self._open = 0
        self._peak_open = 0
        self._last = {}         # open connection -> its last request (None before the first)
        self._loop = None
        self._server = None
        self._thread = None
        self._ready = threading.Event()
        self._tasks = set()

    # ---- what the test reads ---------------------------------------------------------

    @property
    def records(self):
        with self._lock:
            return list(self._recs)

    @property
    def frames(self):
        with self._lock:
            return list(self._frames)

    @property
    def errors(self):
        with self._lock:
            return list(self._errors)

    def open_connections(self):
        """{connection number: its last request (None before the first)} for every
        connection still open."""
        with self._lock:
            return dict(self._last)

    @property
    def connections(self):
        """(accepted so far, open now, most open at once)."""
        with self._lock:
            return self._conns, self._open, self._peak_open

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, timeout=10.0):
        self._thread = threading.Thread(target=self._run, name="soak-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self.port is None:
            raise AssertionError("the soak upstream did not start")
        return self

    def _run(self):
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def serve():
            # The backlog matters: maintgate opens many upstream connections at once
            # when a burst of requests misses its pool, and a dropped SYN is a 1 s stall.
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096,
                                                      limit=MAX_HEAD)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        try:
            loop.run_until_complete(serve())
            loop.run_forever()
        finally:
            self._ready.set()
            loop.close()

    def stop(self):
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def shutdown():
            if self._server is not None:
                self._server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.sleep(0)
            loop.stop()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        except RuntimeError:
            return
        self._thread.join(10)

    def _error(self, text):
        with self._lock:
            if len(self._errors) < 100:
                self._errors.append(text)

    # ---- one connection --------------------------------------------------------------

    async def _handle(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        with self._lock:
            self._conns += 1
            conn = self._conns
            self._open += 1
            self._peak_open = max(self._peak_open, self._open)
            self._last[conn] = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as e:
                    if e.partial:
                        self._error("conn %d: EOF inside a request head: %r" % (conn, e.partial[:200]))
                    return
                except asyncio.LimitOverrunError:
                    self._error("conn %d: request head over %d bytes" % (conn, MAX_HEAD))
                    return
                if not await self._request(conn, head, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, BadRequest) as e:
            # The proxy cutting a connection mid-body (its client went away) lands here.
            if isinstance(e, BadRequest):
                self._error("conn %d: %s" % (conn, e))
        except asyncio.CancelledError:
            pass
        finally:
            with self._lock:
                self._open -= 1
                self._last.pop(conn, None)
            self._tasks.discard(task)
            try:
                writer.close()
            except Exception:
                pass

    async def _request(self, conn, head, reader, writer):
        """Serves one request; False when the connection must end."""
        arrival = time.time()
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            raise BadRequest("bad request line %r" % lines[0][:200])
        method, target = parts[0].decode("latin-1"), parts[1].decode("latin-1")
        fields = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise BadRequest("bad field line %r" % line[:200])
            fields.setdefault(name.strip().lower().decode("latin-1"), []).append(
                value.strip().decode("latin-1"))
        split = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(split.query)
        tag = query.get("id", [None])[0]
        rec = Rec(tag, method, split.path, arrival, conn)
        with self._lock:
            self._recs.append(rec)
            self._last[conn] = rec

        if split.path.startswith("/ws"):
            await self._websocket(rec, fields, reader, writer, int(query.get("delay_ms", ["0"])[0]))
            return False

        crc = 0
        te = ",".join(fields.get("transfer-encoding", [])).lower()
        if te:
            if not te.replace(" ", "").endswith("chunked"):
                raise BadRequest("Transfer-Encoding %r" % te)
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line[:-2].split(b";", 1)[0], 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                left = size
                while left:
                    data = await reader.read(min(left, READ_SIZE))
                    if not data:
                        raise asyncio.IncompleteReadError(b"", left)
                    left -= len(data)
                    rec.body_len += len(data)
                    crc = zlib.crc32(data, crc)
                if await reader.readexactly(2) != b"\r\n":
                    raise BadRequest("chunk data not followed by CRLF")
        else:
            cl = fields.get("content-length", ["0"])
            if len(cl) != 1 or not cl[0].isdigit():
                raise BadRequest("Content-Length %r" % cl)
            left = int(cl[0])
            while left:
                data = await reader.read(min(left, READ_SIZE))
                if not data:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(data)
                rec.body_len += len(data)
                crc = zlib.crc32(data, crc)
        rec.complete = True

        if split.path.startswith("/echo"):
            body = json.dumps({"id": tag, "method": method, "body_len": rec.body_len}).encode()
            await self._respond(rec, writer, 200, [("Content-Type", "application/json")], [body], len(body))
        elif split.path.startswith("/upload"):
            body = json.dumps({"id": tag, "body_len": rec.body_len, "crc32": crc}).encode()
            await self._respond(rec, writer, 200, [("Content-Type", "application/json")], [body], len(body))
        elif split.path.startswith("/bytes/"):
            n = int(split.path.split("/")[2])
            await self._respond(rec, writer, 200, [("Content-Type", "application/octet-stream")],
                                pattern_slices(n, 64 * 1024), n)
        else:
            await self._respond(rec, writer, 404, [], [b"no such path\n"], 13)
        return True

    async def _respond(self, rec, writer, status, fields, pieces, length):
        rec.respond = time.time()
        head = "HTTP/1.1 %d %s\r\n" % (status, "OK" if status == 200 else "Not Found")
        head += "".join("%s: %s\r\n" % f for f in fields)
        head += "Content-Length: %d\r\n\r\n" % length
        writer.write(head.encode("latin-1"))
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        await writer.drain()

    async def _websocket(self, rec, fields, reader, writer, delay_ms=0):
        key = fields.get("sec-websocket-key", [""])[0]
        if not key:
            raise BadRequest("WebSocket handshake without a key")
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000.0)
        rec.complete = True
        rec.respond = time.time()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n" % websocket_accept(key)).encode("latin-1"))
        await writer.drain()
        while True:
            try:
                b0, b1 = await reader.readexactly(2)
            except asyncio.IncompleteReadError:
                return  # the proxy cut the tunnel, or the client closed without a close frame
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            if not b1 & 0x80:
                raise BadRequest("unmasked client frame in tunnel %s" % rec.tag)
            mask = await reader.readexactly(4)
            payload = unmask(await reader.readexactly(n), mask)
            now = time.time()
            if opcode == 0x8:
                writer.write(frame(0x8, payload[:2]))
                await writer.drain()
                return
            with self._lock:
                self._frames.append((payload.split(b" ", 1)[0].decode("latin-1"), now))
            writer.write(frame(opcode, payload))
            await writer.drain()


def unmask(data, mask):
    """XOR with the repeating 4-byte key, as one big-integer operation (fast enough for
    the few-KiB frames of the soak)."""
    if not data:
        return data
    key = (mask * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


def frame(opcode, payload, mask=None):
    """One final frame; masked (client to server) when mask is 4 bytes."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + mask + unmask(payload, mask)
    return head + payload
