"""Third-party maintenance platforms: signed upload API, credentials (see docs/维保数据接入规范.md)."""
from __future__ import annotations

import io

API_PREFIX = "/api/v1/maintenance-platform/"
RAW_BODY = "maintenance_platform.raw_body"


class RawBodyCapture:
    """WSGI middleware keeping the exact bytes of a platform request's body: the signature covers them,
    and the input guard parses multipart forms (consuming the stream) before any handler runs. Only
    requests under API_PREFIX with a Content-Length within the upload limit are read; others pass."""

    def __init__(self, wsgi_app, limit: int):
        self.wsgi_app, self.limit = wsgi_app, limit

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(API_PREFIX) and environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if 0 < length <= self.limit:
                data = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(data)
                environ[RAW_BODY] = data
        return self.wsgi_app(environ, start_response)


def blueprints(app) -> None:
    from ..extensions import csrf
    from .api import bp as api_bp
    from .views import bp as views_bp
    app.register_blueprint(views_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # requests are signed (HMAC-SM3), not session-bound
    app.wsgi_app = RawBodyCapture(app.wsgi_app, int(app.config.get("MAX_CONTENT_LENGTH") or 60 * 1024 * 1024))
