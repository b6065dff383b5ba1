"""Messages to the use-registration authority (使用登记机关): a 公告注销 result is recorded in
`authority_message` in the case's transaction, then the scheduler sends it through the adapter named by
REGISTRATION_AUTHORITY_PROVIDER.

- `local` (development): appends the message to <INSTANCE_DIR>/authority_outbox.log; the receipt says LOCAL.
- `http`: the written contract of docs/超期未检专项整治.md §6 —
    POST {REGISTRATION_AUTHORITY_URL}/cancellations, JSON body = the message payload, headers
      X-App-Id: REGISTRATION_AUTHORITY_APP_ID
      X-Timestamp: seconds since the epoch, X-Nonce: 32 hex characters
      X-Signature: hex HMAC-SM3(REGISTRATION_AUTHORITY_SECRET, "{timestamp}\\n{nonce}\\n{body}")
      Idempotency-Key: "authority-message-{id}" (a resend after a lost answer is recognised)
    answer 200 {"code": 0, "receipt_no": "…"}; {"code": <non-zero>, "message": "…"} is refused for good;
    5xx and network errors are retried with back-off (1, 2, 4 … minutes, at most an hour, 8 attempts).
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from flask import current_app
from sqlalchemy import select

from ..core.clock import utcnow
from ..core.gm import hmac_sm3_hex
from ..errors import DomainError
from ..extensions import db
from .models import AuthorityMessage

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


@dataclass
class Result:
    ok: bool
    receipt: str | None = None
    error: str | None = None
    retryable: bool = False


class Adapter:
    name = ""

    def send(self, message: AuthorityMessage, body: str) -> Result:
        raise NotImplementedError


ADAPTERS: dict[str, type[Adapter]] = {}


def register_adapter(cls):
    ADAPTERS[cls.name] = cls
    return cls


def get_adapter() -> Adapter:
    name = current_app.config.get("REGISTRATION_AUTHORITY_PROVIDER", "local")
    if name not in ADAPTERS:
        raise DomainError(f"未知的使用登记机关接口 REGISTRATION_AUTHORITY_PROVIDER={name}", code="authority_provider")
    return ADAPTERS[name]()


@register_adapter
class LocalAdapter(Adapter):
    name = "local"

    def send(self, message, body):
        path = os.path.join(current_app.config["INSTANCE_DIR"], "authority_outbox.log")
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": utcnow().isoformat(timespec="seconds"), "id": message.id,
                                 "body": json.loads(body)}, ensure_ascii=False) + "\n")
        return Result(ok=True, receipt=f"LOCAL-{message.id}")


def signature(secret: str, timestamp: str, nonce: str, body: str) -> str:
    return hmac_sm3_hex(secret.encode("utf-8"), f"{timestamp}\n{nonce}\n{body}".encode("utf-8"))


@register_adapter
class HttpAdapter(Adapter):
    name = "http"

    def send(self, message, body):
        cfg = current_app.config
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        request = Request(cfg["REGISTRATION_AUTHORITY_URL"].rstrip("/") + "/cancellations", data=body.encode("utf-8"),
                          method="POST", headers={
                              "Content-Type": "application/json; charset=utf-8",
                              "X-App-Id": cfg["REGISTRATION_AUTHORITY_APP_ID"], "X-Timestamp": timestamp,
                              "X-Nonce": nonce, "Idempotency-Key": f"authority-message-{message.id}",
                              "X-Signature": signature(cfg["REGISTRATION_AUTHORITY_SECRET"], timestamp, nonce, body)})
        try:
            with urlopen(request, timeout=cfg.get("REGISTRATION_AUTHORITY_TIMEOUT", 10)) as resp:
                answer = json.loads(resp.read().decode("utf-8") or "{}")
        except HTTPError as err:
            return Result(ok=False, error=f"HTTP {err.code}", retryable=err.code >= 500 or err.code == 429)
        except (URLError, TimeoutError, OSError) as err:
            return Result(ok=False, error=f"{type(err).__name__}: {err}", retryable=True)
        except ValueError:
            return Result(ok=False, error="应答不是 JSON", retryable=True)
        if answer.get("code") == 0 and answer.get("receipt_no"):
            return Result(ok=True, receipt=str(answer["receipt_no"])[:64])
        return Result(ok=False, error=f"登记机关拒收：{answer.get('code')} {answer.get('message') or ''}".strip(),
                      retryable=False)


def backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=1))


def send_pending(limit: int = 100) -> tuple[int, int]:
    """Send due messages one by one, each committed with its outcome. Returns (sent, failed attempts)."""
    adapter = get_adapter()
    now = utcnow()
    query = (select(AuthorityMessage.id).where(AuthorityMessage.status == "pending", AuthorityMessage.next_try_at <= now)
             .order_by(AuthorityMessage.id).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query))
    db.session.commit()
    sent = failed = 0
    for message_id in ids:
        message = db.session.get(AuthorityMessage, message_id, populate_existing=True)
        if message.status != "pending":
            continue
        message.attempts += 1
        try:
            result = adapter.send(message, message.payload)
        except Exception as err:  # noqa: BLE001 - recorded on the message, retried
            log.exception("authority message %s", message_id)
            result = Result(ok=False, error=f"{type(err).__name__}: {err}", retryable=True)
        if result.ok:
            message.status, message.receipt, message.sent_at, message.error = "sent", result.receipt, utcnow(), None
            message.next_try_at = None
            sent += 1
        else:
            failed += 1
            message.error = result.error[:1000] if result.error else None
            if result.retryable and message.attempts < MAX_ATTEMPTS:
                message.next_try_at = utcnow() + backoff(message.attempts)
            else:
                message.status, message.next_try_at = "failed", None
        db.session.commit()
    return sent, failed
