"""``metabench leaderboard serve``: a small HTTP service over a store (127.0.0.1 only).

* ``GET /`` — the rendered page; ``GET /<name>.png`` — its images.
* ``GET /api/entries`` — every entry and the overall table, as JSON.
* ``GET /api/compare?env=ID&a=A&b=B`` — the probability of improvement of A over B.
* ``POST /api/submissions`` — a submission document, with ``Authorization: Bearer TOKEN``;
  at most :data:`~metabench.leaderboard.validate.MAX_BYTES`. 201 when accepted, 422 with the
  problems when rejected, 401 without the token, 411/413 without or over the size limit.

Submissions go through :meth:`Store.submit`, whose file lock serialises concurrent writers
(threads of this server and other processes alike); the page is re-rendered after each.
The standard library's ``ThreadingHTTPServer`` is fine for a local or reverse-proxied board; it is
not a hardened public web server.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from metabench.leaderboard.store import Store, StoreError
from metabench.leaderboard.validate import MAX_BYTES, SubmissionError

__all__ = ["make_server", "serve"]

HOST = "127.0.0.1"
_IMAGE = re.compile(r"^/([A-Za-z0-9][A-Za-z0-9._-]*\.png)$")
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def make_server(
    store: Store, *, token: str, port: int = 0, max_bytes: int = MAX_BYTES
) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1:``port`` (0: any free port); call ``serve_forever``.

    Raises:
        ValueError: an empty token.
    """
    if not token:
        raise ValueError("serve: expected a non-empty submitter token")
    from metabench.leaderboard.render import render

    render_lock = threading.Lock()
    with render_lock:
        render(store)

    class Handler(BaseHTTPRequestHandler):
        server_version = "metabench-leaderboard"

        def log_message(self, format: str, *args: Any) -> None:  # quiet; the CLI prints its own line
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in _HEADERS.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, document: Any) -> None:
            self._send(status, json.dumps(document, indent=1).encode(), "application/json")

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            site = store.root / "site"
            if url.path in ("/", "/index.html"):
                self._send(200, (site / "index.html").read_bytes(), "text/html; charset=utf-8")
            elif (match := _IMAGE.match(url.path)) and (site / match.group(1)).is_file():
                self._send(200, (site / match.group(1)).read_bytes(), "image/png")
            elif url.path == "/api/entries":
                with contextlib.closing(store.connect()) as db:
                    entries = [dict(r) for r in db.execute("SELECT * FROM entries ORDER BY env_id, id")]
                    overall = [dict(r) for r in db.execute("SELECT * FROM overall ORDER BY method")]
                for entry in entries:
                    entry["authors"] = json.loads(entry["authors"])
                self._json(200, {"entries": entries, "overall": overall})
            elif url.path == "/api/compare":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                try:
                    row_a, row_b, estimate = store.improvement(query["env"], query["a"], query["b"])
                except KeyError:
                    self._json(400, {"error": "expected the query parameters env, a and b"})
                    return
                except StoreError as error:
                    self._json(404, {"error": str(error)})
                    return
                self._json(
                    200,
                    {
                        "a": row_a["id"],
                        "b": row_b["id"],
                        "probability_of_improvement": [estimate.point, estimate.low, estimate.high],
                    },
                )
            else:
                self._json(404, {"error": f"no such page: {url.path}"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/api/submissions":
                self._json(404, {"error": "POST submissions to /api/submissions"})
                return
            offered = self.headers.get("Authorization", "")
            if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
                self._json(401, {"error": "a submitter token is required (Authorization: Bearer TOKEN)"})
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length is required"})
                return
            if int(length) > max_bytes:
                self.close_connection = True  # the body is not read
                self._json(413, {"error": f"{int(length):,} bytes; the limit is {max_bytes:,}"})
                return
            body = self.rfile.read(int(length))
            try:
                entry = store.submit(body, where="submission")
            except SubmissionError as error:
                self._json(422, {"error": "rejected", "problems": error.problems})
                return
            except StoreError as error:
                self._json(500, {"error": str(error)})
                return
            with render_lock:
                render(store)
            self._json(201, {"id": entry.id, "path": entry.path.relative_to(store.root).as_posix()})

    return ThreadingHTTPServer((HOST, port), Handler)


def serve(store: Store, *, port: int, token: str, console: Any = None) -> None:
    """Serve ``store`` on 127.0.0.1:``port`` until interrupted."""
    server = make_server(store, token=token, port=port)
    if console is not None:
        console.print(f"serving {store.root} on http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
