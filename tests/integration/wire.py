"""Byte-level pieces shared by the test upstream and the test client.

A buffered socket reader that can stream large bodies without copying them into
memory, the deterministic body pattern both ends generate and verify, and the
head-field helpers. Standard library only.
"""

import functools
import hashlib
import socket

# Byte i of every generated body is i % 256. The buffer is 1 MiB plus one period, so a
# slice of up to 1 MiB can start at any phase: pattern_view(offset, n) continues a body.
PERIOD = 256
MAX_SLICE = 1 << 20
PATTERN = bytes(range(PERIOD)) * (MAX_SLICE // PERIOD + 1)
_PATTERN_VIEW = memoryview(PATTERN)

RECV_SIZE = 1 << 18


class ProtocolError(Exception):
    """The peer sent bytes that are not the HTTP/1.1 the reader expects."""


def pattern_view(offset, n):
    """The n pattern bytes starting at body offset `offset` (n <= 1 MiB), no copy."""
    if n > MAX_SLICE:
        raise ValueError("pattern slice larger than 1 MiB")
    phase = offset % PERIOD
    return _PATTERN_VIEW[phase:phase + n]


def pattern_slices(n, size=MAX_SLICE):
    """Yields memoryviews that together are the first n pattern bytes."""
    offset = 0
    while offset < n:
        step = min(size, n - offset)
        yield pattern_view(offset, step)
        offset += step


@functools.lru_cache(maxsize=16)
def pattern_sha256(n):
    """sha256 hex digest of the first n pattern bytes (cached: 1 GiB takes ~1 s)."""
    h = hashlib.sha256()
    for view in pattern_slices(n):
        h.update(view)
    return h.hexdigest()


def pattern_bytes(n):
    """The first n pattern bytes as one bytes object (small n only)."""
    return b"".join(bytes(v) for v in pattern_slices(n))


class BodySink:
    """Counts and hashes a body; keeps the first `keep` bytes for assertions."""

    def __init__(self, keep=1 << 16):
        self.len = 0
        self._hash = hashlib.sha256()
        self._keep = keep
        self.head = bytearray()

    def __call__(self, data):
        self.len += len(data)
        self._hash.update(data)
        room = self._keep - len(self.head)
        if room > 0:
            self.head += data[:room]

    @property
    def sha256(self):
        return self._hash.hexdigest()

    @property
    def complete_body(self):
        """The body, when it was short enough to be kept whole; else None."""
        return bytes(self.head) if self.len <= self._keep else None


class BufReader:
    """Reads lines and exact byte counts from a socket.

    Large bodies go straight from the socket into a sink through one reused buffer,
    so a 1 GiB body costs no memory. `on_recv(n)` is called for every received chunk
    (the upstream counts every byte the proxy sent it). ECONNRESET counts as EOF and
    sets `reset`.
    """

    def __init__(self, sock, on_recv=None):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.reset = False
        self._on_recv = on_recv
        self._scratch = bytearray(MAX_SLICE)
        self._scratch_view = memoryview(self._scratch)

    def buffered(self):
        return len(self.buf) - self.pos

    def _note(self, n):
        if self._on_recv is not None and n:
            self._on_recv(n)

    def _recv(self, n):
        try:
            data = self.sock.recv(n)
        except ConnectionResetError:
            self.reset = True
            data = b""
        if not data:
            self.eof = True
        self._note(len(data))
        return data

    def fill(self):
        """Receives more bytes into the buffer; False at EOF."""
        if self.eof:
            return False
        data = self._recv(RECV_SIZE)
        if not data:
            return False
        if self.pos and self.pos >= len(self.buf) // 2:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data
        return True

    def take_buffered(self, n=None):
        """Removes and returns up to n already-buffered bytes (all when n is None)."""
        avail = self.buffered()
        n = avail if n is None else min(n, avail)
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        if self.pos == len(self.buf):
            self.buf.clear()
            self.pos = 0
        return data

    def read_line(self, limit=1 << 16):
        """One line including its terminator (b"\\n"), or what is left at EOF."""
        while True:
            idx = self.buf.find(b"\n", self.pos)
            if idx >= 0:
                return self.take_buffered(idx + 1 - self.pos)
            if self.buffered() > limit:
                raise ProtocolError("line longer than %d bytes" % limit)
            if not self.fill():
                return self.take_buffered()

    def read_exact(self, n):
        """Exactly n bytes, or fewer at EOF."""
        out = bytearray()
        self.read_into(n, out.extend)
        return bytes(out)

    def read_into(self, n, sink):
        """Passes the next n bytes to sink in pieces; returns how many there were (fewer
        only at EOF)."""
        return self.read_to_eof(sink, limit=n)

    def read_to_eof(self, sink, limit=None):
        """Everything until EOF (or until `limit` bytes); returns the count."""
        got = 0
        if self.buffered():
            data = self.take_buffered(limit)
            sink(data)
            got = len(data)
        while not self.eof and (limit is None or got < limit):
            want = MAX_SLICE if limit is None else min(MAX_SLICE, limit - got)
            try:
                k = self.sock.recv_into(self._scratch_view[:want], want)
            except ConnectionResetError:
                self.reset = True
                k = 0
            if k == 0:
                self.eof = True
                break
            self._note(k)
            sink(self._scratch_view[:k])
            got += k
        return got


def split_field(line):
    """b"Name: value" -> (name, value) as str, OWS stripped; raises on a bad line."""
    colon = line.find(b":")
    if colon <= 0:
        raise ProtocolError("field line without a name: %r" % line[:80])
    name = line[:colon]
    if name != name.strip() or b" " in name or b"\t" in name:
        raise ProtocolError("whitespace in field name: %r" % line[:80])
    value = line[colon + 1:].strip(b" \t")
    return name.decode("latin-1"), value.decode("latin-1")


def field_values(fields, name):
    """All values of `name` (case-insensitive) in a [(name, value)] list, in order."""
    lname = name.lower()
    return [v for n, v in fields if n.lower() == lname]


def field_tokens(fields, name):
    """The comma-separated tokens of every `name` field, lower-cased."""
    out = []
    for value in field_values(fields, name):
        out.extend(t.strip().lower() for t in value.split(",") if t.strip())
    return out


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


def shutdown_quietly(sock, how=socket.SHUT_RDWR):
    try:
        sock.shutdown(how)
    except OSError:
        pass
