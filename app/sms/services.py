"""The interface other code calls: recipients, enqueue (inside the caller's transaction) and
dispatch_due (the scheduler job, which commits its own work).

Life of a message: pending → sending → sent → delivered | undelivered (receipt), with
failed (permanent error or attempts used up), suppressed (same text to the same phone within
SMS_DEDUP_HOURS, never sent) and deferred (per-phone hourly limit reached, tried later).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from flask import current_app
from sqlalchemy import bindparam, literal, select, union_all, update
from sqlalchemy.exc import IntegrityError

from ..core.clock import as_utc, utcnow
from ..core.models import OrgContact
from ..core.pii import PiiError, normalize_phone, phone_index
from ..core.tx import savepoint
from ..errors import DomainError, ValidationFailed
from ..extensions import db
from .models import AUDIENCES, SmsMessage
from .providers import ProviderResult, get_provider
from .templates import render, template_snapshot

log = logging.getLogger(__name__)

SOURCES = ("system", "manual")
# Statuses of messages that went, or are going, to the handset: they count for content dedup.
LIVE_STATUSES = ("pending", "sending", "sent", "delivered", "deferred")
# Statuses that record a hand-over to the gateway: they count for the per-phone hourly limit.
HANDED_OVER = ("sent", "delivered", "undelivered")
SENDING_LEASE = timedelta(minutes=10)
BACKOFF_CAP = timedelta(hours=1)


@dataclass
class Recipient:
    name: str
    phone: str            # plain normalised mobile number (only in memory)
    audience: str         # "enterprise" | "regulator"
    org_id: int | None = None
    user_id: int | None = None


# ---------------------------------------------------------------- recipients

@lru_cache(maxsize=64)
def _org_contacts_statement(duties: tuple[str, ...]):
    """An organisation's SMS contacts (parameter org_id), of `duties` when given; built once per duties."""
    query = select(OrgContact).where(OrgContact.org_id == bindparam("org_id"), OrgContact.receives_sms.is_(True),
                                     OrgContact.phone_enc.is_not(None)).order_by(OrgContact.id)
    return query.where(OrgContact.duty.in_(duties)) if duties else query


def recipients_for_org(org_id: int, duties: tuple[str, ...] | None = None) -> list[Recipient]:
    """The organisation's contacts (安全总监/安全员/主要负责人/联系人) who receive SMS and have a phone."""
    recipients = []
    for contact in db.session.scalars(_org_contacts_statement(tuple(duties or ())), {"org_id": org_id}):
        phone = readable_phone(contact)
        if phone:
            recipients.append(Recipient(name=contact.name, phone=phone, audience="enterprise", org_id=org_id))
    return recipients


def recipients_for_users(users) -> list[Recipient]:
    """Active users with a phone; regulators get the 监察 audience, everyone else 企业."""
    recipients = []
    for user in users:
        if user is None or not user.is_active or not user.phone_enc:
            continue
        phone = readable_phone(user)
        if phone:
            regulator = user.is_regulator
            recipients.append(Recipient(name=user.display_name, phone=phone,
                                        audience="regulator" if regulator else "enterprise",
                                        org_id=None if regulator else user.org_id, user_id=user.id))
    return recipients


def readable_phone(row) -> str | None:
    try:
        return row.phone
    except PiiError:
        log.error("cannot decrypt the phone of %s %s; skipped as SMS recipient", row.__tablename__, row.id)
        return None


# ---------------------------------------------------------------- enqueue

def enqueue(template_code: str, params: dict, recipients: list[Recipient], *, region_code: str | None,
            case_id: int | None = None, dedup_key: str | None = None, source: str = "system",
            created_by_id: int | None = None, own_savepoint: bool = True,
            equipment_id: int | None = None) -> list[SmsMessage]:
    """Queue one message per recipient inside the caller's transaction (flush, never commit,
    never call a provider). Returns the rows created, suppressed ones included; a disabled
    template queues nothing. Raises ValidationFailed for missing variables or bad recipients."""
    template = template_snapshot(template_code)
    content, values = render(template, params)
    if source not in SOURCES:
        raise DomainError(f"短信来源只能是 {'/'.join(SOURCES)}")
    if dedup_key is not None and not (0 < len(dedup_key) <= 120):
        raise DomainError("短信去重键长度应为 1–120 个字符")
    targets = _validated_targets(template, recipients)
    if not template.enabled or not targets:
        return []
    if region_code is None and case_id is not None:
        from ..cases.models import Case
        region_code = db.session.scalar(select(Case.region_code).where(Case.id == case_id))
    now = utcnow()
    done, recent = _earlier_messages(content, dedup_key, [b for b, _, _ in targets], now)
    targets = [t for t in targets if t[0] not in done]
    created = []
    for bidx, phone, recipient in targets:
        message = SmsMessage(template_code=template.code, params=json.dumps(values, ensure_ascii=False),
                             content=content, audience=recipient.audience, recipient_name=recipient.name[:64],
                             org_id=recipient.org_id, user_id=recipient.user_id, region_code=region_code,
                             case_id=case_id, equipment_id=equipment_id, dedup_key=dedup_key, status="pending",
                             attempts=0,
                             next_try_at=now, created_at=now, source=source, created_by_id=created_by_id)
        message.set_phone(phone)
        if bidx in recent:
            message.status, message.next_try_at = "suppressed", None
            message.error = (f"{current_app.config['SMS_DEDUP_HOURS']}小时内已向该号码发送相同内容"
                             f"（短信记录 #{recent[bidx]}），不再重复发送")
        created.append(message)
    if dedup_key is None or not own_savepoint:
        # own_savepoint=False: the caller already runs this in a savepoint of its own (the timer
        # job does, per case); a dedup-key clash then fails that unit of work, which is retried.
        db.session.add_all(created)
        if own_savepoint:
            db.session.flush()
        return created
    return _insert_once(created)


def _validated_targets(template, recipients) -> list[tuple[str, str, Recipient]]:
    """(blind index, normalised phone, recipient) for each distinct phone; all-or-nothing."""
    errors: dict[str, str] = {}
    targets: dict[str, tuple[str, str, Recipient]] = {}
    for n, recipient in enumerate(recipients or []):
        label = f"recipients.{n}"
        if recipient.audience not in AUDIENCES:
            errors[label] = f"收件人“{recipient.name}”的对象类型无效：{recipient.audience}"
            continue
        if template.audience != "all" and recipient.audience != template.audience:
            errors[label] = (f"模板“{template.name}”只发给{AUDIENCES[template.audience]}，"
                             f"收件人“{recipient.name}”属于{AUDIENCES[recipient.audience]}")
            continue
        if not (recipient.name or "").strip():
            errors[label] = "收件人姓名不能为空"
            continue
        try:
            phone = normalize_phone(recipient.phone)
        except PiiError:
            errors[label] = f"收件人“{recipient.name}”的手机号码无效，请输入11位手机号码"
            continue
        bidx = phone_index(phone)
        targets.setdefault(bidx, (bidx, phone, recipient))
    if errors:
        raise ValidationFailed(errors, "短信收件人有误：" + "；".join(errors.values()))
    return list(targets.values())


def _earlier_messages(content: str, dedup_key: str | None, bidxs: list[str],
                      now: datetime) -> tuple[set[str], dict[str, int]]:
    """One query for both checks: phones that already have this dedup key (skip them), and phones
    that got the same text within SMS_DEDUP_HOURS (store as suppressed) → (skip, {phone: message id})."""
    if not bidxs:
        return set(), {}
    since = now - timedelta(hours=current_app.config["SMS_DEDUP_HOURS"])
    # Two index-friendly halves in one round trip ((phone, created_at) and (dedup_key, phone)):
    # an OR of both, or the status in SQL, makes PostgreSQL plan longer and scan more.
    query = select(SmsMessage.phone_bidx, SmsMessage.id, SmsMessage.status, literal("text").label("why")).where(
        SmsMessage.phone_bidx.in_(bidxs), SmsMessage.created_at >= since, SmsMessage.content == content)
    if dedup_key is not None:
        query = union_all(query, select(SmsMessage.phone_bidx, SmsMessage.id, SmsMessage.status,
                                        literal("key").label("why"))
                          .where(SmsMessage.dedup_key == dedup_key, SmsMessage.phone_bidx.in_(bidxs)))
    done: set[str] = set()
    recent: dict[str, int] = {}
    for bidx, message_id, status, why in sorted(db.session.execute(query), key=lambda row: row[1]):
        if why == "key":
            done.add(bidx)
        elif status in LIVE_STATUSES:
            recent.setdefault(bidx, message_id)
    return done, recent


def _insert_once(messages: list[SmsMessage]) -> list[SmsMessage]:
    """Insert under a savepoint: a concurrent job that queued the same reminder first makes the
    unique constraint fire, and only the clashing rows are given up — never the caller's
    transaction. All rows go in one savepoint (one round trip for the common case); on a clash
    each row is retried in its own."""
    if not messages:
        return []
    try:
        with savepoint():
            db.session.add_all(messages)
        return messages
    except IntegrityError:
        pass
    kept = []
    for message in messages:
        fresh = _detached_copy(message)
        try:
            with savepoint():
                db.session.add(fresh)
            kept.append(fresh)
        except IntegrityError:
            continue
    return kept


def _detached_copy(message: SmsMessage) -> SmsMessage:
    columns = [c.key for c in SmsMessage.__table__.columns if c.key != "id"]
    return SmsMessage(**{key: getattr(message, key) for key in columns})


# ---------------------------------------------------------------- dispatch

def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the 1st, 2nd, 3rd … failed attempt; at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def dispatch_due(now: datetime | None = None, limit: int = 500) -> tuple[int, int]:
    """Send what is due. Returns (handled, failed): handled counts messages sent, deferred,
    rescheduled or failed in this run; failed counts attempts that did not reach the gateway
    (rescheduled or permanently failed). Commits its own work.

    Claiming a message sets it to "sending" with a 10-minute lease in next_try_at and commits,
    before the provider is called; a claim is a compare-and-set on (status, next_try_at), and on
    PostgreSQL candidates are read FOR UPDATE SKIP LOCKED, so two dispatchers never take the
    same message. A dispatcher that crashes mid-send leaves the lease to expire; the message is
    then taken again (the gateway may have accepted it: see docs/短信网关接入.md)."""
    provider = get_provider()   # a misconfigured SMS_PROVIDER fails the run before anything is claimed
    now = now or utcnow()
    claimed, handled = _claim(now, limit)
    failed = 0
    for message_id in claimed:
        ok = _send_one(provider, message_id)
        handled += 1
        failed += 0 if ok else 1
    return handled, failed


def _claim(now: datetime, limit: int) -> tuple[list[int], int]:
    """Claim due messages and defer those over the per-phone hourly limit; commits."""
    query = (select(SmsMessage.id, SmsMessage.status, SmsMessage.next_try_at, SmsMessage.phone_bidx)
             .where(SmsMessage.status.in_(("pending", "deferred", "sending")), SmsMessage.next_try_at <= now)
             .order_by(SmsMessage.next_try_at, SmsMessage.id).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = db.session.execute(query).all()
    if not rows:
        db.session.commit()
        return [], 0
    rate = current_app.config["SMS_RATE_PER_PHONE_HOUR"]
    window = _handed_over_since(now - timedelta(hours=1), {r.phone_bidx for r in rows})
    claimed, deferred = [], 0
    for row in rows:
        times = window.setdefault(row.phone_bidx, [])
        if len(times) >= rate:
            # The next send is allowed when the oldest send still counted leaves the hour window.
            retry_at = sorted(times)[len(times) - rate] + timedelta(hours=1, seconds=1)
            changed = _compare_and_set(row, status="deferred", next_try_at=retry_at,
                                       error=f"同一号码1小时内已发送{len(times)}条（上限{rate}条），顺延发送")
            deferred += changed
            continue
        if _compare_and_set(row, status="sending", next_try_at=now + SENDING_LEASE,
                            attempts=SmsMessage.attempts + 1):
            claimed.append(row.id)
            times.append(now)
    db.session.commit()
    return claimed, deferred


def _compare_and_set(row, **values) -> int:
    result = db.session.execute(update(SmsMessage).where(
        SmsMessage.id == row.id, SmsMessage.status == row.status, SmsMessage.next_try_at == row.next_try_at)
        .values(**values).execution_options(synchronize_session=False))
    return result.rowcount


def _handed_over_since(since: datetime, bidxs: set[str]) -> dict[str, list[datetime]]:
    window: dict[str, list[datetime]] = {}
    rows = db.session.execute(select(SmsMessage.phone_bidx, SmsMessage.sent_at).where(
        SmsMessage.phone_bidx.in_(bidxs), SmsMessage.status.in_(HANDED_OVER), SmsMessage.sent_at >= since))
    for bidx, sent_at in rows:
        window.setdefault(bidx, []).append(as_utc(sent_at))
    return window


def _send_one(provider, message_id: int) -> bool:
    """Call the provider for one claimed message and record the outcome; commits."""
    message = db.session.get(SmsMessage, message_id, populate_existing=True)
    try:
        phone = message.phone
    except PiiError as err:
        result = ProviderResult(ok=False, error=f"手机号解密失败：{err}", retryable=False)
    else:
        try:
            result = provider.send(message, phone, message.content, message.param_values)
        except Exception as err:
            log.exception("SMS provider %s raised for message %s", provider.name, message_id)
            result = ProviderResult(ok=False, error=f"{type(err).__name__}: {err}", retryable=True)
    finished = utcnow()
    message.provider = provider.name
    if result.ok:
        message.status, message.sent_at, message.next_try_at = "sent", finished, None
        message.provider_msg_id, message.error = result.message_id, None
    elif result.retryable and message.attempts < current_app.config["SMS_MAX_ATTEMPTS"]:
        message.status, message.next_try_at = "pending", finished + backoff(message.attempts)
        message.error = f"第{message.attempts}次发送失败，将于稍后重试：{result.error}"[:500]
    else:
        message.status, message.next_try_at = "failed", None
        message.error = f"发送失败（共尝试{message.attempts}次）：{result.error}"[:500]
    db.session.commit()
    return result.ok


# ---------------------------------------------------------------- receipts

def apply_receipts(reports: list) -> dict[str, int]:
    """Delivery reports in Alibaba Cloud's HTTP push format (SmsReport: a JSON array of
    {phone_number, send_time, report_time, success, err_code, err_msg, biz_id, out_id}).
    Matched by out_id (our message id) or biz_id, and checked against the phone; flushes only.
    A report also stops retries of a message whose send response was lost (timeout)."""
    updated = ignored = 0
    for report in reports:
        message = _message_for_report(report) if isinstance(report, dict) else None
        if message is None or message.status == "suppressed":
            ignored += 1
            continue
        success = report.get("success") in (True, "true", "True", 1, "1")
        reported_at = _report_time(report.get("report_time")) or utcnow()
        if message.sent_at is None:
            message.sent_at = _report_time(report.get("send_time")) or reported_at
        if not message.provider_msg_id and report.get("biz_id"):
            message.provider_msg_id = str(report["biz_id"])[:64]
        message.next_try_at = None
        if success:
            message.status, message.delivered_at, message.error = "delivered", reported_at, None
        else:
            message.status, message.delivered_at = "undelivered", None
            message.error = f"运营商回执：{report.get('err_code') or ''} {report.get('err_msg') or ''}".strip()[:500]
        updated += 1
    db.session.flush()
    return {"updated": updated, "ignored": ignored}


def _message_for_report(report: dict) -> SmsMessage | None:
    out_id, biz_id = str(report.get("out_id") or "").strip(), str(report.get("biz_id") or "").strip()
    message = None
    if out_id.isdigit():
        message = db.session.get(SmsMessage, int(out_id))
        if message is not None and biz_id and message.provider_msg_id and message.provider_msg_id != biz_id:
            return None
    elif biz_id:
        message = db.session.scalar(select(SmsMessage).where(SmsMessage.provider_msg_id == biz_id))
    if message is None:
        return None
    try:
        if phone_index(str(report.get("phone_number") or "")) != message.phone_bidx:
            return None
    except PiiError:
        pass  # no usable number in the report (some test consoles mask it): rely on the ids
    return message


def _report_time(value) -> datetime | None:
    """Report times are Beijing time, 'YYYY-MM-DD HH:MM:SS'."""
    from ..core.clock import DISPLAY_TZ
    try:
        local = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=DISPLAY_TZ)
    except (TypeError, ValueError):
        return None
    return local.astimezone(timezone.utc)   # stored as UTC: SQLite keeps no offset
