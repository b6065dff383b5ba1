"""The use-registration authority (使用登记机关 / 准入一体化平台) learns of each 公告注销: the result is
recorded in `authority_message` in the case's transaction, and the scheduler sends it through the adapter
of kind `registration_authority` (app/core/external.py; EXTERNAL_REGISTRATION_AUTHORITY_PROVIDER).

- `http`: our written contract (docs/超期未检专项整治.md §6) —
    POST {EXTERNAL_REGISTRATION_AUTHORITY_URL}/v1/cancellations, the message payload as JSON body, signed
    with the platform's HMAC-SM3 request signature (X-App-Key, X-Timestamp, X-Nonce, X-Signature) and an
    Idempotency-Key "authority-message-{id}" (a resend after a lost answer is recognised); answer 200/201
    {"receipt_no": "…"}. 4xx is a refusal needing a person; 5xx, 429 and network errors are retried with
    back-off (1, 2, 4 … minutes, at most an hour, 8 attempts). Every call is logged in external_call.
- `local` (development only, the default): calls nothing; appends the message to
  <INSTANCE_DIR>/authority_outbox.log and answers with a receipt marked LOCAL.

The same adapters file gas-cylinder use registrations (app/cylinders/registration.py; contract in
docs/气瓶追溯.md §5): `submit_registration` — POST /v1/cylinder-registrations (Idempotency-Key
"cylinder-application-{id}-{n}") answered registered / rejected / accepted — and `registration_status`
— GET /v1/cylinder-registrations/{receipt_no}. The local adapter records the request and answers
"accepted" only: it never registers anything.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ..core.clock import utcnow
from ..core.external import ExternalError, ExternalSettings, JsonHttpClient, adapter_for, register_adapter
from ..extensions import db
from .models import AuthorityMessage

log = logging.getLogger(__name__)
KIND = "registration_authority"
MAX_ATTEMPTS = 8


class RegistrationAuthority:
    """What we ask of the registration authority: record a 公告注销 (returns its receipt number)."""

    def __init__(self, settings: ExternalSettings):
        self.settings = settings

    def record_cancellation(self, message: AuthorityMessage, payload: dict) -> str:
        raise NotImplementedError

    # Gas-cylinder use registration (app/cylinders/authority.py; contract in docs/气瓶追溯.md §5).
    def submit_registration(self, payload: dict, idempotency_key: str) -> dict:
        """File one application; the answer's `result` is registered / rejected (decided at once) or
        accepted (decided later: a signed callback, or `registration_status`)."""
        raise NotImplementedError

    def registration_status(self, receipt_no: str) -> dict:
        raise NotImplementedError


@register_adapter(KIND, "http")
class HttpRegistrationAuthority(RegistrationAuthority):
    def record_cancellation(self, message, payload):
        client = JsonHttpClient(KIND, "http", self.settings.url, self.settings.timeout, signer=self._signer(message))
        answer = client.call("POST", "/v1/cancellations", payload, reference=payload.get("announcement_no"))
        receipt = answer.body.get("receipt_no") if isinstance(answer.body, dict) else None
        if not receipt:
            raise ExternalError("使用登记机关的应答缺少受理编号 receipt_no", system=KIND, retryable=True)
        return str(receipt)[:64]

    def _signer(self, message):
        sign = self.settings.signer()
        return lambda method, path, body: {**sign(method, path, body),
                                           "Idempotency-Key": f"authority-message-{message.id}"}

    def submit_registration(self, payload, idempotency_key):
        sign = self.settings.signer()
        client = JsonHttpClient(KIND, "http", self.settings.url, self.settings.timeout,
                                signer=lambda method, path, body: {**sign(method, path, body),
                                                                   "Idempotency-Key": idempotency_key})
        answer = client.call("POST", "/v1/cylinder-registrations", payload, reference=payload.get("application_no"))
        return _answer_body(answer.body)

    def registration_status(self, receipt_no):
        client = JsonHttpClient(KIND, "http", self.settings.url, self.settings.timeout, signer=self.settings.signer())
        answer = client.call("GET", f"/v1/cylinder-registrations/{receipt_no}", reference=receipt_no)
        return _answer_body(answer.body)


def _answer_body(body) -> dict:
    if not isinstance(body, dict) or body.get("result") not in ("accepted", "registered", "rejected") \
            or not body.get("receipt_no"):
        raise ExternalError("准入一体化平台的应答不符合接口约定（缺少 result 或 receipt_no）", system=KIND,
                            retryable=True)
    return body


@register_adapter(KIND, "local")
class LocalRegistrationAuthority(RegistrationAuthority):
    """Development only: nothing is sent; the message is recorded in authority_outbox.log."""

    def record_cancellation(self, message, payload):
        path = os.path.join(current_app.config["INSTANCE_DIR"], "authority_outbox.log")
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": utcnow().isoformat(timespec="seconds"), "id": message.id, "body": payload},
                                ensure_ascii=False) + "\n")
        return f"LOCAL-{message.id}"

    def submit_registration(self, payload, idempotency_key):
        """Nothing is decided here: the application stays 待办理 until a (simulated) callback arrives
        (`flask cylinders authority-callback`, development only)."""
        path = os.path.join(current_app.config["INSTANCE_DIR"], "authority_outbox.log")
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"at": utcnow().isoformat(timespec="seconds"), "key": idempotency_key,
                                 "body": payload}, ensure_ascii=False) + "\n")
        return {"result": "accepted", "receipt_no": f"LOCAL-{payload.get('application_no')}"}

    def registration_status(self, receipt_no):
        return {"result": "accepted", "receipt_no": receipt_no}


def backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=1))


def send_pending(limit: int = 100) -> tuple[int, int]:
    """Send due messages one by one, each committed with its outcome. Returns (sent, failed attempts)."""
    authority = adapter_for(KIND, "local")
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
            receipt = authority.record_cancellation(message, json.loads(message.payload))
        except ExternalError as err:
            failed += 1
            message.error = err.message[:1000]
            if err.retryable and message.attempts < MAX_ATTEMPTS:
                message.next_try_at = utcnow() + backoff(message.attempts)
            else:
                message.status, message.next_try_at = "failed", None
        else:
            message.status, message.receipt, message.sent_at, message.error = "sent", receipt, utcnow(), None
            message.next_try_at = None
            sent += 1
        db.session.commit()
    return sent, failed
