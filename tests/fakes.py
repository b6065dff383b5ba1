"""A local HTTP server that plays an external system in tests (registration authority, face compare,
partner platforms …): routes answer as the other side's contract says, and every request is kept so a
test can check exactly what was sent."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Received:
    method: str
    path: str              # with the query string
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body) if self.body else None


Handler = Callable[[Received], tuple]   # -> (status, json body) or (status, json body, headers)


class FakeServer:
    """`with FakeServer({("POST", "/v1/x"): handler}) as fake: ... fake.url ... fake.received`.
    A route may also be a prefix ending in "*". Unknown routes answer 404 with a JSON error."""

    def __init__(self, routes: dict[tuple[str, str], Handler] | None = None):
        self.routes = dict(routes or {})
        self.received: list[Received] = []
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                req = Received(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                fake.received.append(req)
                handler = fake._route(self.command, self.path)
                answer = handler(req) if handler else (404, {"code": "not_found", "message": "no such route"})
                status, body = answer[0], answer[1]
                extra = answer[2] if len(answer) > 2 else {}
                raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", extra.pop("Content-Type", "application/json; charset=utf-8"))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _route(self, method: str, path: str):
        bare = path.split("?", 1)[0]
        if (method, bare) in self.routes:
            return self.routes[(method, bare)]
        for (m, p), handler in self.routes.items():
            if m == method and p.endswith("*") and bare.startswith(p[:-1]):
                return handler
        return None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
