"""A client for maintgate's admin socket, for the integration tests.

The wire protocol (proxy/admin/admin_command.hpp): one command per line; a text reply is one
or more non-empty lines followed by one empty line; a JSON reply (`--json` anywhere on
the line, or a leading `json`) is exactly one line holding one JSON object with "ok".
The connection stays open for more commands until the client closes it.

This client reads replies by those rules and nothing else, so a reply that breaks them
(an empty line inside a text reply, a JSON reply spread over lines, bytes after the
end) shows up as a failure instead of being smoothed over. Standard library only.
"""

import json
import socket
import time

ADMIN_TIMEOUT = 30.0  # freeze may wait for its own timeout before it answers


class AdminProtocolError(AssertionError):
    """The server's bytes do not follow the admin wire protocol."""


class TextReply:
    """A text reply: its lines (without the final empty line) and the raw bytes."""

    def __init__(self, raw):
        self.raw = raw
        self.text = raw[:-1].decode("utf-8")  # drops the empty line, keeps the last "\n"
        self.lines = self.text.splitlines()

    @property
    def ok(self):
        return not self.text.startswith("error: ")

    def __repr__(self):
        return "<TextReply %r>" % self.text


class AdminConn:
    """One connection to the admin socket; several commands may share it."""

    def __init__(self, path, timeout=ADMIN_TIMEOUT):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.replied_at = None  # time.time() when the last reply was complete

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_line(self, line):
        data = line if isinstance(line, bytes) else line.encode("utf-8")
        if not data.endswith(b"\n"):
            data += b"\n"
        self.sock.sendall(data)

    def _fill(self, what):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AdminProtocolError("no complete %s within the timeout; got %r" % (what, self.buf[:500]))
        if not data:
            raise AdminProtocolError("the server closed the connection before a complete %s; got %r"
                                     % (what, self.buf[:500]))
        self.buf += data

    def read_text(self):
        """One text reply: lines up to the empty line that ends it."""
        while True:
            if self.buf.startswith(b"\n"):
                raise AdminProtocolError("a text reply that starts with an empty line: %r" % self.buf[:200])
            end = self.buf.find(b"\n\n")
            if end >= 0:
                raw, self.buf = self.buf[:end + 2], self.buf[end + 2:]
                self.replied_at = time.time()
                if raw.lstrip().startswith(b"{"):
                    raise AdminProtocolError("expected a text reply, got JSON: %r" % raw[:200])
                return TextReply(raw)
            self._fill("text reply")

    def read_json(self):
        """One JSON reply: one line, one object with a boolean "ok"."""
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                raw, self.buf = self.buf[:end], self.buf[end + 1:]
                self.replied_at = time.time()
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except ValueError as e:
                    raise AdminProtocolError("a JSON reply that is not one JSON line (%s): %r" % (e, raw[:500]))
                if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
                    raise AdminProtocolError("a JSON reply without a boolean \"ok\": %r" % raw[:500])
                return obj
            self._fill("JSON reply")

    def command(self, line, json_reply=False):
        """Sends one line and reads its reply (a dict for JSON, else a TextReply)."""
        self.send_line(line)
        return self.read_json() if json_reply else self.read_text()

    def assert_nothing_more(self, wait=0.2):
        """No byte follows the last reply within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            data = None
        finally:
            self.sock.settimeout(ADMIN_TIMEOUT)
        if self.buf or data:
            raise AdminProtocolError("bytes after the reply: %r" % ((self.buf + (data or b""))[:200]))


def ask(path, line, json_reply=False, timeout=ADMIN_TIMEOUT):
    """One command on a fresh connection: the reply (dict or TextReply)."""
    with AdminConn(path, timeout) as c:
        return c.command(line, json_reply)

