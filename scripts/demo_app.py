#!/usr/bin/env python3
"""A small notes app to put behind maintgate (Python 3 standard library only).

    python3 scripts/demo_app.py [HOST:PORT]      (default 127.0.0.1:3000)

It makes the difference between reads and writes visible, which is what maintgate's
gate is about:

    GET  /                 HTML page: the notes, a form to add one, a login form   (read)
    POST /notes            add a note from the form, then 303 back to /              (write)
    GET  /api/notes        the notes as JSON                                         (read)
    POST /api/notes        add a note: {"text": "...", "author": "..."} -> 201 JSON  (write)
    DELETE /api/notes/ID   remove a note -> 204                                      (write)
    POST /login            accepts any name, sets a cookie, 303 back to /            (write
                           by method, yet one a site wants working in read-only mode)
    GET  /healthz          "ok"                                                      (read)

HTTP/1.1 with keep-alive: every response carries an exact Content-Length, and request
bodies are read in full (Content-Length or chunked) so the connection stays usable.
Notes live in memory only.
"""

import html
import json
import socket
import sys
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

MAX_BODY = 64 * 1024   # a note is short; anything bigger is refused (413)
MAX_NOTES = 200        # oldest notes are dropped past this, so memory stays flat
MAX_TEXT = 500


class BodyError(Exception):
    """The request body cannot be read; the connection is closed after the reply."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Notes:
    """The guestbook: a bounded, thread-safe list (the server runs a thread per connection)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._notes = []
        self._next_id = 1

    def add(self, text, author):
        text = " ".join(str(text).split())[:MAX_TEXT]
        author = " ".join(str(author or "anonymous").split())[:60] or "anonymous"
        if not text:
            raise ValueError("a note needs some text")
        with self._lock:
            note = {
                "id": self._next_id,
                "text": text,
                "author": author,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            self._next_id += 1
            self._notes.append(note)
            del self._notes[:-MAX_NOTES]
            return dict(note)

    def delete(self, note_id):
        with self._lock:
            for i, note in enumerate(self._notes):
                if note["id"] == note_id:
                    del self._notes[i]
                    return True
            return False

    def all(self):
        with self._lock:
            return [dict(n) for n in self._notes]


NOTES = Notes()
NOTES.add("Reading this page is a GET: a read. It keeps working while the gate is read-only.",
          "maintgate")
NOTES.add("Adding a note is a POST: a write. During a migration the gate holds writes back.",
          "maintgate")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo notes &middot; maintgate</title>
<style>
  :root {{ --ink:#1d2433; --muted:#5b6478; --line:#dde2ec; --accent:#2f6fde;
          --read:#1f8a4c; --write:#c2571a; --bg:#f6f7fb; }}
  * {{ box-sizing:border-box; }}
  body {{ margin:0; font:16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
         color:var(--ink); background:var(--bg); }}
  main {{ max-width:46rem; margin:0 auto; padding:2rem 1.25rem 3rem; }}
  h1 {{ margin:0 0 .25rem; font-size:1.6rem; }}
  h2 {{ font-size:1.05rem; margin:0 0 .75rem; }}
  .sub {{ color:var(--muted); margin:0 0 1.5rem; }}
  .card {{ background:#fff; border:1px solid var(--line); border-radius:10px;
          padding:1rem 1.25rem; margin-bottom:1rem; }}
  .tag {{ display:inline-block; font-size:.72rem; font-weight:600; letter-spacing:.03em;
         padding:.05rem .45rem; border-radius:999px; color:#fff; vertical-align:middle; }}
  .read {{ background:var(--read); }} .write {{ background:var(--write); }}
  ul.notes {{ list-style:none; margin:0; padding:0; }}
  ul.notes li {{ padding:.6rem 0; border-top:1px solid var(--line); overflow-wrap:anywhere; }}
  ul.notes li:first-child {{ border-top:0; }}
  .meta {{ color:var(--muted); font-size:.82rem; }}
  form {{ display:flex; gap:.5rem; flex-wrap:wrap; margin:0; }}
  input[type=text] {{ flex:1 1 12rem; padding:.5rem .6rem; font:inherit;
                     border:1px solid var(--line); border-radius:6px; }}
  button {{ padding:.5rem .9rem; font:inherit; border:0; border-radius:6px;
           background:var(--accent); color:#fff; cursor:pointer; }}
  code {{ font-size:.88em; background:#eef1f7; padding:.05rem .3rem; border-radius:4px; }}
  table {{ border-collapse:collapse; width:100%; font-size:.9rem; }}
  td {{ padding:.2rem .5rem .2rem 0; vertical-align:top; }}
  td:first-child {{ color:var(--muted); white-space:nowrap; width:9rem; }}
</style>
</head>
<body>
<main>
  <h1>Demo notes</h1>
  <p class="sub">{greeting} A tiny app to put behind maintgate.</p>

  <section class="card">
    <h2>Notes <span class="tag read">GET &middot; read</span></h2>
    <ul class="notes">{notes}</ul>
  </section>

  <section class="card">
    <h2>Add a note <span class="tag write">POST &middot; write</span></h2>
    <form method="post" action="/notes">
      <input type="text" name="text" maxlength="{max_text}" placeholder="Say something" required>
      <input type="text" name="author" maxlength="60" placeholder="Your name" value="{user}">
      <button type="submit">Post</button>
    </form>
  </section>

  <section class="card">
    <h2>Log in <span class="tag write">POST &middot; write</span></h2>
    <form method="post" action="/login">
      <input type="text" name="name" maxlength="60" placeholder="Any name will do" required>
      <button type="submit">Log in</button>
    </form>
    <p class="meta">A login is a POST too, yet a site usually wants it to keep working while
      writes are frozen: the kind of exception maintgate's rules are for.</p>
  </section>

  <section class="card">
    <h2>This request</h2>
    <table>
      <tr><td>served to</td><td><code>{peer}</code></td></tr>
      <tr><td>Via</td><td><code>{via}</code></td></tr>
      <tr><td>X-Forwarded-For</td><td><code>{xff}</code></td></tr>
      <tr><td>X-Forwarded-Proto</td><td><code>{xfp}</code></td></tr>
    </table>
    <p class="meta">Through maintgate, <code>Via</code> says <code>1.1 maintgate</code>.
      The JSON API: <code>GET /api/notes</code>, <code>POST /api/notes</code>.</p>
  </section>
</main>
</body>
</html>
"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive; hence an exact Content-Length everywhere
    server_version = "maintgate-demo/1"
    timeout = 120                   # an idle keep-alive connection does not pin a thread forever

    # ---- routing ---------------------------------------------------------------

    def do_GET(self):
        self._get(head=False)

    def do_HEAD(self):
        self._get(head=True)

    def do_OPTIONS(self):
        self._drain_body()
        self._send(HTTPStatus.NO_CONTENT, b"", extra={"Allow": "GET, HEAD, OPTIONS, POST, DELETE"})

    def do_POST(self):
        try:
            body = self._read_body()
        except BodyError as e:
            self.close_connection = True
            return self._send_text(e.status, e.message + "\n")
        path = self._path()
        if path == "/notes":
            return self._post_form_note(body)
        if path == "/api/notes":
            return self._post_api_note(body)
        if path == "/login":
            return self._login(body)
        self._send_text(HTTPStatus.NOT_FOUND, "not found\n")

    def do_DELETE(self):
        if not self._drain_body():
            return
        path = self._path()
        prefix = "/api/notes/"
        if path.startswith(prefix) and path[len(prefix):].isdigit():
            if NOTES.delete(int(path[len(prefix):])):
                return self._send(HTTPStatus.NO_CONTENT, b"")
        self._send_json(HTTPStatus.NOT_FOUND, {"error": "no such note"})

    def _get(self, head):
        if not self._drain_body():
            return
        path = self._path()
        if path == "/":
            return self._send(HTTPStatus.OK, self._page().encode(), "text/html; charset=utf-8",
                              head=head, extra={"Cache-Control": "no-store"})
        if path == "/api/notes":
            return self._send_json(HTTPStatus.OK, {"notes": NOTES.all()}, head=head)
        if path == "/healthz":
            return self._send_text(HTTPStatus.OK, "ok\n", head=head)
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", head=head)
        self._send_text(HTTPStatus.NOT_FOUND, "not found\n", head=head)

    # ---- writes ----------------------------------------------------------------

    def _post_form_note(self, body):
        form = parse_qs(body.decode("utf-8", "replace"))
        try:
            NOTES.add(form.get("text", [""])[0], form.get("author", [""])[0] or self._user())
        except ValueError as e:
            return self._send_text(HTTPStatus.BAD_REQUEST, f"{e}\n")
        # 303: the browser follows with a GET, so a reload does not post twice.
        self._redirect("/")

    def _post_api_note(self, body):
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            note = NOTES.add(data.get("text", ""), data.get("author") or self._user())
        except ValueError as e:   # json.JSONDecodeError is a ValueError
            return self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        self._send_json(HTTPStatus.CREATED, note, extra={"Location": f"/api/notes/{note['id']}"})

    def _login(self, body):
        form = parse_qs(body.decode("utf-8", "replace"))
        name = " ".join(form.get("name", ["someone"])[0].split())[:60] or "someone"
        cookie = SimpleCookie()
        cookie["demo_user"] = name
        cookie["demo_user"]["path"] = "/"
        cookie["demo_user"]["httponly"] = True
        cookie["demo_user"]["samesite"] = "Lax"
        self._redirect("/", extra={"Set-Cookie": cookie["demo_user"].OutputString()})

    # ---- helpers ---------------------------------------------------------------

    def _path(self):
        # Query strings play no part in routing here.
        return self.path.split("?", 1)[0]

    def _user(self):
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie", ""))
        except Exception:
            return ""
        return cookie["demo_user"].value if "demo_user" in cookie else ""

    def _page(self):
        notes = NOTES.all()
        items = "".join(
            f'<li>{html.escape(n["text"])}<div class="meta">{html.escape(n["author"])}'
            f' &middot; {html.escape(n["created"])}</div></li>'
            for n in reversed(notes)
        ) or '<li class="meta">No notes yet.</li>'
        user = self._user()
        greeting = f"Hello, {html.escape(user)}." if user else "Hello."
        return PAGE.format(
            greeting=greeting,
            notes=items,
            max_text=MAX_TEXT,
            user=html.escape(user, quote=True),
            peer=html.escape(self.client_address[0]),
            via=html.escape(self.headers.get("Via", "(none: a direct request)")),
            xff=html.escape(self.headers.get("X-Forwarded-For", "(none)")),
            xfp=html.escape(self.headers.get("X-Forwarded-Proto", "(none)")),
        )

    def _read_body(self):
        """The whole request body, from Content-Length or chunked framing (bounded)."""
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                raise BodyError(HTTPStatus.NOT_IMPLEMENTED, "only chunked transfer coding is supported")
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise BodyError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        n = int(length)
        if n > MAX_BODY:
            raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        data = self.rfile.read(n)
        if len(data) != n:
            raise BodyError(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
        return data

    def _read_chunked(self):
        data = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BodyError(HTTPStatus.BAD_REQUEST, "bad chunk size") from None
            if size == 0:
                break
            if len(data) + size > MAX_BODY:
                raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BodyError(HTTPStatus.BAD_REQUEST, "truncated chunk")
            data += chunk
        # Trailer fields, up to the blank line that ends the message.
        for _ in range(100):
            line = self.rfile.readline(8192)
            if line in (b"\r\n", b"\n", b""):
                return bytes(data)
        raise BodyError(HTTPStatus.BAD_REQUEST, "too many trailer fields")

    def _drain_body(self):
        """Reads and drops a body sent with a GET/HEAD/DELETE, so the next request parses."""
        try:
            self._read_body()
            return True
        except BodyError as e:
            self.close_connection = True
            self._send_text(e.status, e.message + "\n")
            return False

    def _redirect(self, location, extra=None):
        headers = {"Location": location}
        headers.update(extra or {})
        self._send(HTTPStatus.SEE_OTHER, f"See {location}\n".encode(), "text/plain; charset=utf-8",
                   extra=headers)

    def _send_text(self, status, text, head=False):
        self._send(status, text.encode(), "text/plain; charset=utf-8", head=head)

    def _send_json(self, status, obj, head=False, extra=None):
        body = (json.dumps(obj, indent=2) + "\n").encode()
        self._send(status, body, "application/json", head=head, extra=extra)

    def _send(self, status, body, content_type=None, head=False, extra=None):
        self.send_response(status)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        # 204 carries no Content-Length; everything else gets the exact length, HEAD too.
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head and status != HTTPStatus.NO_CONTENT:
            self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write("demo_app: %s %s\n" % (self.address_string(), format % args))


def parse_address(text):
    """"HOST:PORT", "[V6]:PORT" or ":PORT" -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    try:
        host, port = parse_address(argv[1] if len(argv) == 2 else "127.0.0.1:3000")
    except ValueError as e:
        print(f"demo_app: {e}", file=sys.stderr)
        return 2

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True   # open keep-alive connections do not hold up exit

    try:
        server = Server((host, port), Handler)
    except OSError as e:
        print(f"demo_app: cannot listen on {host}:{port}: {e}", file=sys.stderr)
        return 1
    shown = f"[{host}]" if ":" in host else host
    print(f"demo_app: listening on http://{shown}:{server.server_address[1]}/", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
