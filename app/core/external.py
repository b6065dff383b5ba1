"""Calls to external systems: the registration authority (准入一体化平台), face comparison, geocoders,
the business registry, partner platforms.

Every external system is reached through an interface with one real adapter — an HTTP client of a
written contract (the contract lives in docs/, one section per system) — and is tested against a
local fake server that answers as the other side would (tests/fakes.py). Nothing here ever answers
"yes" on the other system's behalf: a development adapter that does not call out must be named as
such and must record what it was asked.

Pieces:
- `JsonHttpClient`: one JSON request/response over HTTP with a timeout, the errors mapped to
  `ExternalError` (retryable or not), and a row in `external_call` per call for the operations page.
- `sign_request` / `verify_request`: the HMAC-SM3 request signature we use both ways — on requests we
  send to systems whose contract we write, and on requests partner platforms send us (the data
  exchange gateway verifies with the same function). Signed: method, path, timestamp, nonce and the
  SM3 digest of the body.
- `register_adapter` / `adapter_for`: adapters per kind of system, chosen by configuration
  (`EXTERNAL_<KIND>_PROVIDER`), with their settings read by `settings_for`.
"""
from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from flask import current_app, has_app_context
from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..errors import DomainError
from ..extensions import db
from . import waits
from .clock import utcnow
from .gm import constant_time_equal, hmac_sm3_hex, sm3_hex

SIGNATURE_ALGORITHM = "HMAC-SM3"
# A signed request older or newer than this is refused (clock skew plus transit).
SIGNATURE_WINDOW_SECONDS = 300


class ExternalError(DomainError):
    """The other system could not be reached or refused the call. `retryable` says whether the same
    call may succeed later (timeouts, 5xx, throttling) or needs a person (4xx, a refusal)."""
    status = 502
    code = "external_error"

    def __init__(self, message: str, *, system: str = "", retryable: bool = False, http_status: int | None = None,
                 body: Any = None, code: str | None = None):
        super().__init__(message, code=code)
        self.system = system
        self.retryable = retryable
        self.http_status = http_status
        self.body = body


class ExternalCall(db.Model):
    """One outbound call: what was asked of which system, how it went and how long it took.
    Written in the caller's transaction (a call inside a rolled-back request leaves no row)."""
    __tablename__ = "external_call"
    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(40), index=True)        # registration_authority, face_compare …
    adapter: Mapped[str] = mapped_column(String(40))
    operation: Mapped[str] = mapped_column(String(80))                 # "POST /v1/registrations"
    reference: Mapped[str | None] = mapped_column(String(80), index=True)   # our business key (case no, code …)
    http_status: Mapped[int | None] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(String(300))
    elapsed_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


# ------------------------------------------------------------------ signatures


def _string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join((method.upper(), path, timestamp, nonce, sm3_hex(body or b"")))


def sign_request(app_key: str, secret: str, method: str, path: str, body: bytes,
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The headers of a signed request. `path` is the request path with its query string as sent."""
    ts = str(int(timestamp if timestamp is not None else time.time()))
    nonce = nonce or uuid.uuid4().hex
    signature = hmac_sm3_hex(secret.encode("utf-8"), _string_to_sign(method, path, ts, nonce, body).encode("utf-8"))
    return {"X-App-Key": app_key, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature-Method": SIGNATURE_ALGORITHM, "X-Signature": signature}


@dataclass
class SignatureCheck:
    ok: bool
    app_key: str = ""
    nonce: str = ""
    reason: str = ""          # Chinese, safe to return to the caller
    code: str = ""            # machine-readable reason (signature_missing, timestamp_invalid …)


def verify_request(headers, method: str, path: str, body: bytes, secret_for: Callable[[str], str | None],
                   now: float | None = None, window: int = SIGNATURE_WINDOW_SECONDS) -> SignatureCheck:
    """Check a signed request. `secret_for(app_key)` gives the caller's secret (None: unknown caller).
    Replay protection needs a nonce store and is the caller's job: a valid check returns the nonce."""
    app_key = headers.get("X-App-Key", "")
    ts, nonce, signature = headers.get("X-Timestamp", ""), headers.get("X-Nonce", ""), headers.get("X-Signature", "")
    if not (app_key and ts and nonce and signature):
        return SignatureCheck(False, app_key, nonce, "缺少签名头：X-App-Key、X-Timestamp、X-Nonce、X-Signature",
                              "signature_missing")
    if headers.get("X-Signature-Method", SIGNATURE_ALGORITHM) != SIGNATURE_ALGORITHM:
        return SignatureCheck(False, app_key, nonce, f"签名算法须为 {SIGNATURE_ALGORITHM}",
                              "signature_method")
    if not ts.isdigit() or abs((now if now is not None else time.time()) - int(ts)) > window:
        return SignatureCheck(False, app_key, nonce, f"时间戳无效或与服务器时间相差超过 {window} 秒",
                              "timestamp_invalid")
    if not (8 <= len(nonce) <= 64):
        return SignatureCheck(False, app_key, nonce, "X-Nonce 长度须为 8–64 个字符", "nonce_invalid")
    secret = secret_for(app_key)
    if not secret:
        return SignatureCheck(False, app_key, nonce, "未知的接入方（X-App-Key）", "unknown_app_key")
    expected = hmac_sm3_hex(secret.encode("utf-8"), _string_to_sign(method, path, ts, nonce, body).encode("utf-8"))
    if not constant_time_equal(expected, signature.lower()):
        return SignatureCheck(False, app_key, nonce, "签名不正确", "signature_invalid")
    return SignatureCheck(True, app_key, nonce)


# ------------------------------------------------------------------ HTTP client


@dataclass
class JsonResponse:
    status: int
    body: Any
    elapsed_ms: int
    headers: dict = field(default_factory=dict)


class JsonHttpClient:
    """JSON over HTTP to one system. `signer(method, path, body) -> headers` adds authentication."""

    def __init__(self, system: str, adapter: str, base_url: str, timeout: float = 10.0,
                 signer: Callable[[str, str, bytes], dict] | None = None):
        if not base_url:
            raise ExternalError(f"未配置外部系统 {system} 的地址（EXTERNAL_{system.upper()}_URL）",
                                system=system, retryable=False)
        self.system, self.adapter = system, adapter
        self.base_url = base_url.rstrip("/")
        self.timeout, self.signer = timeout, signer

    def call(self, method: str, path: str, body: Any = None, query: dict | None = None,
             reference: str | None = None, accept: tuple[int, ...] = (200, 201, 202)) -> JsonResponse:
        """Send one request; a status outside `accept` raises ExternalError with the body it carried."""
        path_qs = path + ("?" + urlencode(query) if query else "")
        data = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if self.signer:
            headers.update(self.signer(method, path_qs, data))
        request = Request(self.base_url + path_qs, data=data if body is not None else None, method=method,
                          headers=headers)
        started = time.perf_counter()
        status, text, response_headers = None, "", {}
        waits.long_wait()           # up to `timeout` seconds without CPU: another request may run meanwhile
        try:
            with urlopen(request, timeout=self.timeout) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
                response_headers = dict(response.headers.items())
        except HTTPError as err:
            status, text = err.code, err.read().decode("utf-8", "replace")
        except (URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
            elapsed = int((time.perf_counter() - started) * 1000)
            reason = getattr(err, "reason", err)
            message = f"{self.system} 连接失败：{type(err).__name__} {reason}"[:300]
            self._log(method, path, reference, None, False, True, message, elapsed)
            raise ExternalError(message, system=self.system, retryable=True) from err
        elapsed = int((time.perf_counter() - started) * 1000)
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            message = f"{self.system} 返回的内容不是 JSON（HTTP {status}）"
            self._log(method, path, reference, status, False, True, message, elapsed)
            raise ExternalError(message, system=self.system, retryable=True, http_status=status)
        if status not in accept:
            retryable = status >= 500 or status == 429
            detail = parsed.get("message") if isinstance(parsed, dict) else None
            message = f"{self.system} 返回 HTTP {status}" + (f"：{detail}" if detail else "")
            self._log(method, path, reference, status, False, retryable, message[:300], elapsed)
            raise ExternalError(message[:300], system=self.system, retryable=retryable, http_status=status,
                                body=parsed)
        self._log(method, path, reference, status, True, False, None, elapsed)
        return JsonResponse(status, parsed, elapsed, response_headers)

    def _log(self, method, path, reference, status, ok, retryable, error, elapsed) -> None:
        if not has_app_context():
            return
        db.session.add(ExternalCall(system=self.system, adapter=self.adapter, operation=f"{method} {path}"[:80],
                                    reference=(reference or None) and str(reference)[:80], http_status=status,
                                    ok=ok, retryable=retryable, error=error, elapsed_ms=elapsed))


# ------------------------------------------------------------------ adapters by kind


@dataclass
class ExternalSettings:
    provider: str
    url: str
    app_key: str
    secret: str
    timeout: float

    def signer(self) -> Callable[[str, str, bytes], dict]:
        return lambda method, path, body: sign_request(self.app_key, self.secret, method, path, body)


_ADAPTERS: dict[str, dict[str, type]] = {}


def register_adapter(kind: str, name: str):
    """Class decorator: `@register_adapter("face_compare", "tencent")`."""
    def wrap(cls):
        _ADAPTERS.setdefault(kind, {})[name] = cls
        cls.kind, cls.name = kind, name
        return cls
    return wrap


def settings_for(kind: str, default_provider: str = "") -> ExternalSettings:
    """EXTERNAL_<KIND>_PROVIDER / _URL / _APP_KEY / _SECRET / _TIMEOUT from the app config, else the
    environment (so deployments configure a new system without a code change)."""
    prefix = f"EXTERNAL_{kind.upper()}_"
    config = current_app.config if has_app_context() else {}

    def get(name: str, default: str = "") -> str:
        value = config.get(prefix + name)
        return str(value) if value is not None else os.environ.get(prefix + name, default)
    return ExternalSettings(provider=get("PROVIDER", default_provider), url=get("URL"), app_key=get("APP_KEY"),
                            secret=get("SECRET"), timeout=float(get("TIMEOUT", "10")))


def adapter_for(kind: str, default_provider: str = ""):
    """An instance of the adapter configured for `kind`, constructed with its settings."""
    settings = settings_for(kind, default_provider)
    choices = _ADAPTERS.get(kind, {})
    if settings.provider not in choices:
        raise ExternalError(f"外部系统 {kind} 未配置可用的接入方式（EXTERNAL_{kind.upper()}_PROVIDER="
                            f"{settings.provider or '空'}；可选：{'、'.join(sorted(choices)) or '无'}）",
                            system=kind, code="external_not_configured")
    return choices[settings.provider](settings)


def adapters(kind: str) -> list[str]:
    return sorted(_ADAPTERS.get(kind, {}))
