"""Maintenance records reported by a maintenance unit's own platform (§4.6.3), and its credentials.

- Credentials: a regulator issues one to a maintenance unit of their region (`issue`: key id + secret,
  the secret returned once) and revokes it (`revoke`); both are audited.
- Requests are signed with HMAC-SM3 (core/external.verify_request: method, path, timestamp, nonce, SM3 of
  the body; ±300 s); `authenticate` adds the credential's state and replay protection (a nonce is
  remembered until its timestamp leaves the window, `platform_nonce`).
- `ingest`: a batch of at most 500 records. Every record is checked with the app's own rule functions
  (elevators/services: validate_checkin, plan_for_visit, validate_results, missing_of, validate_checkout —
  the ones check_in, save_results and finish call), against data read once for the batch (check_record);
  the valid ones are written together in a few statements (write_checked). Records with photos go through
  the app's visit functions one by one (apply_record: check_in, save_results, add_photo, finish, each in a
  savepoint). So the same refusals apply: 100 m from the registered position at check-in and check-out, a
  valid T certificate on the day of the work, photos with capture time and position (decoded and
  watermarked by core/evidence), every item answered, required photos present. The platform did its own
  sign-off, so the order is archived at once (no use-unit confirmation loop here) and the on-submission
  checks run for the batch (elevators.after_submit_many). An idempotency key per unit: a repeat answers
  `duplicate` with the original work order.
"""
from __future__ import annotations

import base64
import logging
import re
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..core.bulk import Writer
from ..core.clock import to_local, utcnow
from ..core.external import SIGNATURE_WINDOW_SECONDS, verify_request
from ..core.gm import sm3_hex
from ..core.models import Organization, User
from ..core.scope import in_region
from ..elevators import services as elevators
from ..elevators.models import WorkOrder
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import EVENT_LABELS, audit, audit_now
from .models import PlatformCredential, PlatformNonce, PlatformRecord

log = logging.getLogger(__name__)

MAX_BATCH = 500
UNIT_ROLES = ("maintenance_unit", "maintenance_quality")      # the unit's people who see its credentials
SOURCE_KEY, SOURCE_LABEL = "platform", "第三方平台"
KEY_PATTERN = re.compile(r"^[0-9A-Za-z_.:-]{8,64}$")
EVENT_LABELS.setdefault("platform.credential", "维保平台接入凭证")
EVENT_LABELS.setdefault("platform.upload", "维保平台数据上报")

elevators.register_record_source(
    SOURCE_KEY, SOURCE_LABEL, lambda: WorkOrder.id.in_(select(PlatformRecord.work_order_id)))


class PlatformAuthError(DomainError):
    status = 401
    code = "signature_invalid"


# ---------------------------------------------------------------- credentials

def may_manage(user: User) -> bool:
    return user.is_regulator and user.role != "approver"


def credentials_query(user: User, q: str | None = None, status: str | None = None):
    """Regulators: credentials of units in their region; a maintenance unit's people: their own."""
    stmt = select(PlatformCredential).join(Organization, Organization.id == PlatformCredential.org_id)
    if user.is_regulator:
        stmt = stmt.where(in_region(PlatformCredential.region_code, user.scope_prefix))
    elif user.role in UNIT_ROLES and user.org_id:
        stmt = stmt.where(PlatformCredential.org_id == user.org_id)
    else:
        stmt = stmt.where(PlatformCredential.id == -1)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Organization.name.like(like), PlatformCredential.platform_name.like(like),
                              PlatformCredential.key_id == q))
    if status == "active":
        stmt = stmt.where(PlatformCredential.revoked_at.is_(None))
    elif status == "revoked":
        stmt = stmt.where(PlatformCredential.revoked_at.is_not(None))
    return stmt.order_by(PlatformCredential.issued_at.desc(), PlatformCredential.id.desc())


def units_for(user: User) -> list[Organization]:
    """Maintenance units a regulator may issue credentials to (their region)."""
    if not may_manage(user):
        return []
    return list(db.session.scalars(select(Organization).where(
        Organization.kind == "maintenance_unit", in_region(Organization.region_code, user.scope_prefix))
        .order_by(Organization.name).limit(500)))


def issue(user: User, org_id, platform_name: str) -> tuple[PlatformCredential, str]:
    """A new credential for a maintenance unit of the regulator's region; returns it and the secret (shown
    once: only its encrypted form is kept)."""
    if not may_manage(user):
        raise Forbidden("只有监管部门可以签发维保平台接入凭证")
    errors = {}
    org = None
    try:
        org = db.session.get(Organization, int(org_id))
    except (TypeError, ValueError):
        pass
    if org is None or org.kind != "maintenance_unit" or not org.region_code.startswith(user.scope_prefix):
        errors["org_id"] = "请选择本辖区的维保单位"
    name = (platform_name or "").strip()
    if not 2 <= len(name) <= 80:
        errors["platform_name"] = "请填写平台名称（2–80 个字）"
    if errors:
        raise ValidationFailed(errors)
    secret = secrets.token_urlsafe(32)
    cred = PlatformCredential(key_id="gxmp_" + secrets.token_hex(8), org_id=org.id, region_code=org.region_code,
                              platform_name=name, secret_fingerprint=sm3_hex(secret.encode())[:16],
                              issued_by_id=user.id, issued_at=utcnow(), record_count=0)
    cred.set_secret(secret, uuid.uuid4().hex)
    db.session.add(cred)
    db.session.flush()
    audit("platform.credential", f"签发维保平台接入凭证 {cred.key_id}（{org.name}，{name}）",
          object_type="platform_credential", object_id=cred.id, actor=user,
          detail={"key_id": cred.key_id, "org_id": org.id, "platform_name": name,
                  "fingerprint": cred.secret_fingerprint})
    return cred, secret


def visible_credential(user: User, credential_id: int) -> PlatformCredential:
    cred = db.session.scalar(credentials_query(user).where(PlatformCredential.id == credential_id))
    if cred is None:
        raise NotFound("接入凭证不存在或不在您的管辖范围内")
    return cred


def revoke(user: User, cred: PlatformCredential, reason: str) -> None:
    if not may_manage(user):
        raise Forbidden("只有监管部门可以吊销维保平台接入凭证")
    if cred.revoked_at is not None:
        raise DomainError("该凭证已吊销", code="already_revoked", status=409)
    reason = (reason or "").strip()
    if not 2 <= len(reason) <= 200:
        raise ValidationFailed({"reason": "请填写吊销原因（2–200 个字）"})
    cred.revoked_at, cred.revoked_by_id, cred.revoke_reason = utcnow(), user.id, reason
    audit("platform.credential", f"吊销维保平台接入凭证 {cred.key_id}（{cred.org.name}）：{reason}",
          object_type="platform_credential", object_id=cred.id, actor=user,
          detail={"key_id": cred.key_id, "reason": reason})


# ---------------------------------------------------------------- signed requests

def _refuse(code: str, message: str, app_key: str = "") -> PlatformAuthError:
    """The refusal of a request whose signature does not check out, audited; an address that keeps
    failing is throttled (429) before it can fill the audit log."""
    from flask import current_app

    from ..security.ratelimit import limit
    limit("platform_auth", int(current_app.config.get("RATELIMIT_PUBLIC_PER_MINUTE", 60)))
    audit_now("security.denied", f"维保平台请求被拒绝（{code}）：{message}", outcome="denied",
              object_type="platform_credential",
              detail={"app_key": app_key[:40], "code": code})
    return PlatformAuthError(message, code=code)


def authenticate(headers, method: str, path: str, body: bytes, now: float | None = None) -> PlatformCredential:
    """The credential of a correctly signed, fresh, first-seen request; otherwise PlatformAuthError (401)
    with a code and a Chinese reason. The nonce is committed at once: a replay stays refused even if
    the request itself fails later."""
    app_key = headers.get("X-App-Key", "")
    cred = db.session.scalar(select(PlatformCredential).where(PlatformCredential.key_id == app_key[:40])) \
        if app_key else None
    if cred is not None and cred.revoked_at is not None:
        raise _refuse("credential_revoked", "接入凭证已被吊销，请联系监管部门重新签发", app_key)
    check = verify_request(headers, method, path, body, lambda _key: cred.secret if cred else None, now=now)
    if not check.ok:
        raise _refuse(check.code or "signature_invalid", check.reason, app_key)
    at = utcnow()
    expires = datetime.fromtimestamp(int(headers.get("X-Timestamp")) + SIGNATURE_WINDOW_SECONDS, timezone.utc)
    db.session.execute(delete(PlatformNonce).where(PlatformNonce.expires_at < at))
    try:
        with db.session.begin_nested():
            db.session.add(PlatformNonce(credential_id=cred.id, nonce=check.nonce, expires_at=expires))
    except IntegrityError:
        raise _refuse("nonce_replayed", "X-Nonce 已使用过（重放的请求），每次请求须使用新的随机串", app_key) from None
    cred.last_used_at = at
    db.session.commit()
    return cred


# ---------------------------------------------------------------- records

@dataclass
class Parts:
    """The multipart parts of a request (photos, signatures) by name, read on first use."""
    files: object
    limit: int

    def read(self, name, field: str) -> bytes:
        if not isinstance(name, str) or not name:
            raise ValidationFailed({field: "须为 multipart 部分的名称"})
        upload = self.files.get(name) if self.files is not None else None
        if upload is None:
            raise ValidationFailed({field: f"请求中没有名为 {name[:40]} 的部分"})
        upload.stream.seek(0)
        data = upload.stream.read(self.limit + 1)
        if len(data) > self.limit:
            raise ValidationFailed({field: f"超过 {self.limit // (1024 * 1024)}MB 上限"})
        return data

    def data_url(self, name, field: str, mime: str) -> str:
        return f"data:{mime};base64," + base64.b64encode(self.read(name, field)).decode()


def ingest(cred: PlatformCredential, records, parts: Parts, *, bulk: bool = True) -> dict:
    """Apply a batch; every record answers created / duplicate / refused (with field reasons).

    `bulk` (the default): every record is checked first against data read once for the batch, with the
    app's own rule functions (elevators.validate_checkin, validate_results, missing_of, validate_checkout),
    and the valid ones are written together (write_checked). Records that carry photos or a face photo go
    the per-record way afterwards (apply_record: the app's visit functions, a savepoint each). Should the
    bulk write fail in the database, the whole batch is applied the per-record way instead. Without `bulk`
    every record goes the per-record way (the answers are the same)."""
    if not isinstance(records, list) or not records:
        raise ValidationFailed({"records": "须为非空的记录列表"})
    if len(records) > MAX_BATCH:
        raise DomainError(f"一次最多上传 {MAX_BATCH} 条记录（本次 {len(records)} 条），请分批上传",
                          code="batch_too_large", status=422,
                          fields={"records": f"一次最多上传 {MAX_BATCH} 条记录（本次 {len(records)} 条）"})
    batch_no = f"PB{utcnow():%Y%m%d%H%M%S}{secrets.token_hex(3)}"
    results: list[dict | None] = [None] * len(records)
    bulk_orders: list[str] = []
    with elevators.reference_cache():
        batch = Batch.prefetch(cred, records, batch_no)
        later = range(len(records))
        if bulk:
            try:
                later, bulk_orders = _ingest_bulk(cred, records, parts, batch, results)
            except DBAPIError:
                log.exception("bulk write of platform batch %s failed; applying it record by record", batch_no)
                results = [None] * len(records)
                batch = Batch.prefetch(cred, records, batch_no)
                later, bulk_orders = range(len(records)), []
        for n in later:
            results[n] = _apply_one(cred, n, records[n], parts, batch)
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("created", "duplicate", "refused")}
    cred.record_count = (cred.record_count or 0) + counts["created"]
    audit("platform.upload", f"{cred.org.name} 经 {cred.platform_name} 上报维保记录 {len(records)} 条（新增 "
          f"{counts['created']}，重复 {counts['duplicate']}，拒绝 {counts['refused']}）",
          object_type="platform_credential", object_id=cred.id,
          detail={"batch_no": batch_no, "key_id": cred.key_id, **counts,
                  # orders written together have no check-in entry of their own: they are listed here
                  **({"orders": bulk_orders} if bulk_orders else {})})
    elevators.after_submit_many([r["work_order_id"] for r in results if r["status"] == "created"])
    return {"batch_no": batch_no, "results": results, **counts}


def _refusal(n: int, key, err: DomainError) -> dict:
    return {"index": n, "idempotency_key": key if isinstance(key, str) else None, "status": "refused",
            "code": err.code, "message": "；".join(map(str, err.fields.values())) if err.fields else err.message,
            "fields": err.fields}


def _answer(n: int, key, order_id: int, order_no: str, duplicate: bool) -> dict:
    return {"index": n, "idempotency_key": key, "status": "duplicate" if duplicate else "created",
            "work_order_id": order_id, "order_no": order_no}


def _apply_one(cred: PlatformCredential, n: int, record, parts: "Parts", batch: "Batch") -> dict:
    """One record the per-record way, in a savepoint of its own."""
    key = record.get("idempotency_key") if isinstance(record, dict) else None
    try:
        with db.session.begin_nested():
            order, duplicate = apply_record(cred, record, parts, batch)
        return _answer(n, key, order.id, order.order_no, duplicate)
    except IntegrityError:
        # the same key sent concurrently by another request that got there first
        order = db.session.scalar(select(WorkOrder).where(WorkOrder.client_id == _client_id(cred, str(key))))
        if order is not None:
            return _answer(n, key, order.id, order.order_no, True)
        return {"index": n, "idempotency_key": key if isinstance(key, str) else None, "status": "refused",
                "code": "conflict", "message": "与同时进行的另一次上报冲突，请重试", "fields": {}}
    except DomainError as err:
        return _refusal(n, key, err)


def _prefixed(err: ValidationFailed, prefix: str, names=None) -> ValidationFailed:
    fields = {(prefix + k if names is None or k in names else k): v for k, v in err.fields.items()}
    return ValidationFailed(fields, message="；".join(map(str, fields.values())))


def _text(record, name: str, limit: int) -> str:
    value = record.get(name) if isinstance(record, dict) else None
    return value.strip()[:limit] if isinstance(value, str) else ""


@dataclass
class Batch:
    """What a batch's records name, read in a few queries before the records are applied one by one:
    the unit's earlier records by idempotency key, the maintainers by certificate number or account,
    the unit's elevators by 设备代码 or 96111 rescue code (other codes fall back to elevators.lookup)."""
    batch_no: str
    seen: dict
    by_cert: dict
    by_username: dict
    lifts: dict

    @classmethod
    def prefetch(cls, cred: PlatformCredential, records: list, batch_no: str) -> "Batch":
        from ..core.models import Equipment
        from ..elevators.models import ElevatorFacts
        from ..operators.models import Operator, OperatorCertificate
        keys = {_text(r, "idempotency_key", 64) for r in records} - {""}
        certs = {_text(r, "maintainer_cert_no", 40).upper() for r in records} - {""}
        names = {_text(r, "maintainer_username", 64) for r in records} - {""}
        codes = {_text(r, "elevator_code", 40) for r in records} - {""}
        seen = dict(db.session.execute(select(PlatformRecord.idempotency_key, PlatformRecord.work_order_id).where(
            PlatformRecord.org_id == cred.org_id, PlatformRecord.idempotency_key.in_(keys))).all()) if keys else {}
        by_cert = dict(db.session.execute(
            select(OperatorCertificate.cert_no, User).join(Operator, OperatorCertificate.operator_id == Operator.id)
            .join(User, Operator.user_id == User.id).where(OperatorCertificate.cert_no.in_(certs))).all()) \
            if certs else {}
        by_username = {u.username: u for u in db.session.scalars(select(User).where(User.username.in_(names)))} \
            if names else {}
        lifts = {}
        if codes:
            for e, f in db.session.execute(select(Equipment, ElevatorFacts).join(
                    ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id).where(
                    Equipment.maintenance_org_id == cred.org_id,
                    or_(Equipment.code.in_(codes), ElevatorFacts.rescue_code.in_(codes)))).all():
                lifts[e.code] = lifts[f.rescue_code] = e
                elevators.prime_cache(("facts", e.id), f)
        return cls(batch_no, seen, by_cert, by_username, lifts)


def maintainer_of(cred: PlatformCredential, record: dict, batch: Batch) -> User:
    """The maintainer named by T certificate number or account; a maintainer of the credential's unit."""
    cert_no = _text(record, "maintainer_cert_no", 40).upper()
    username = _text(record, "maintainer_username", 64)
    if cert_no:
        person, field = batch.by_cert.get(cert_no), "maintainer_cert_no"
    elif username:
        person, field = batch.by_username.get(username), "maintainer_username"
    else:
        raise ValidationFailed({"maintainer_cert_no": "请填写维保人员的作业人员证编号（或平台账号 maintainer_username）"})
    if person is None or person.org_id != cred.org_id or person.role != "elevator_maintainer" \
            or not person.is_active_flag:
        raise ValidationFailed({field: "维保人员未在本系统登记为本单位的电梯维保人员"})
    return person


def _client_id(cred: PlatformCredential, key: str) -> str:
    """The work order's client id: unique per unit and key, in the app's client-id alphabet."""
    return "mp-" + sm3_hex(f"{cred.org_id}:{key}".encode())[:40]


def _identify(cred: PlatformCredential, record, batch: "Batch") -> tuple[str, User | None, object]:
    """The record's idempotency key, maintainer and elevator; (key, None, None) for a key already seen."""
    if not isinstance(record, dict):
        raise ValidationFailed({"record": "记录须为 JSON 对象"})
    key = record.get("idempotency_key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValidationFailed({"idempotency_key": "缺少或无效的幂等键（8–64 位字母、数字或 _ . : -）"})
    if key in batch.seen:
        return key, None, None
    person = maintainer_of(cred, record, batch)
    equipment = batch.lifts.get(_text(record, "elevator_code", 40))
    if equipment is None:
        try:
            equipment, _facts = elevators.lookup(person, str(record.get("elevator_code") or ""))
        except (NotFound, ValidationFailed) as err:
            raise ValidationFailed({"elevator_code": err.fields.get("code") if getattr(err, "fields", None)
                                    else err.message}) from None
    if equipment.maintenance_org_id != cred.org_id:
        raise ValidationFailed({"elevator_code": "该电梯登记的维保单位不是本单位"})
    return key, person, equipment


def _checkin_payload(record: dict, client_id: str, equipment) -> dict:
    checkin = record.get("checkin") if isinstance(record.get("checkin"), dict) else {}
    return {"client_id": client_id, "equipment_id": equipment.id, "kind": record.get("kind") or "maintenance",
            "maint_type": record.get("maint_type") or "HALF", "at": checkin.get("at"), "lat": checkin.get("lat"),
            "lng": checkin.get("lng"), "proof": "code"}


def _finish_payload(record: dict, parts: "Parts") -> dict:
    checkout = record.get("checkout") if isinstance(record.get("checkout"), dict) else {}
    finish = {"at": checkout.get("at"), "lat": checkout.get("lat"), "lng": checkout.get("lng"),
              "remark": record.get("remark"), "fault_description": record.get("fault_description"),
              "parts": record.get("parts"), "coworker": record.get("coworker_username") or None}
    if record.get("maintainer_signature"):
        finish["maintainer_signature"] = parts.data_url(record["maintainer_signature"], "maintainer_signature",
                                                        "image/png")
    if record.get("coworker_signature"):
        finish["coworker_signature"] = parts.data_url(record["coworker_signature"], "coworker_signature",
                                                      "image/png")
    return finish


def _checkin_refusal(err: ValidationFailed) -> ValidationFailed:
    return _prefixed(err, "checkin.", {"at", "position", "face_photo"})


def apply_record(cred: PlatformCredential, record, parts: Parts, batch: Batch) -> tuple[WorkOrder, bool]:
    key, person, equipment = _identify(cred, record, batch)
    if person is None:
        return db.session.get(WorkOrder, batch.seen[key]), True
    checkin = record.get("checkin") if isinstance(record.get("checkin"), dict) else {}
    client_id = _client_id(cred, key)
    payload = _checkin_payload(record, client_id, equipment)
    if checkin.get("face_photo"):
        payload["face_photo"] = parts.data_url(checkin["face_photo"], "checkin.face_photo", "image/jpeg")
    try:
        started = elevators.check_in(person, payload, offline=True, face_required=False)
    except ValidationFailed as err:
        raise _checkin_refusal(err) from None
    order = started.order
    if started.duplicate:
        return order, True
    set_committed_value(order, "results", [])          # a new order has none: no query to find out
    if not record.get("photos") and not payload.get("face_photo"):
        set_committed_value(order, "photos", [])
    _results(person, order, record.get("results"))
    _photos(person, order, record.get("photos"), parts, client_id)
    elevators.finish(person, order, _finish_payload(record, parts), offline=True, submit=False)
    order.status, order.archived_at = "archived", utcnow()
    db.session.add(PlatformRecord(org_id=cred.org_id, credential_id=cred.id, idempotency_key=key,
                                  work_order_id=order.id, batch_no=batch.batch_no, received_at=utcnow()))
    db.session.flush()
    batch.seen[key] = order.id
    return order, False


def _converted_results(items, rows) -> list[dict]:
    """Item results by TSG T5002 item code (A-1-01 …) → the app's results by item id."""
    if not isinstance(rows, list):
        raise ValidationFailed({"results": "须为维保项目结果列表（item_code、result、note）"})
    by_code = {i.code: i.id for i in items}
    converted, errors = [], {}
    for n, row in enumerate(rows):
        code = row.get("item_code") if isinstance(row, dict) else None
        if code not in by_code:
            errors[f"results.{n}.item_code"] = f"维保项目 {str(code)[:16]} 不属于本次维保"
            continue
        converted.append({"item_id": by_code[code], "result": row.get("result"), "note": row.get("note")})
    if errors:
        raise ValidationFailed(errors, message="；".join(errors.values()))
    return converted


def _results(person: User, order: WorkOrder, rows) -> None:
    if order.kind != "maintenance":
        return
    elevators.save_results(person, order, _converted_results(elevators.order_items(order), rows))


def _photos(person: User, order: WorkOrder, photos, parts: Parts, client_id: str) -> None:
    if photos is None:
        return
    if not isinstance(photos, list):
        raise ValidationFailed({"photos": "须为照片列表"})
    items = {i.code: i.id for i in elevators.order_items(order)}
    for n, meta in enumerate(photos):
        field = f"photos.{n}"
        if not isinstance(meta, dict):
            raise ValidationFailed({field: "照片说明须为 JSON 对象"})
        data = parts.read(meta.get("part"), f"{field}.part")
        code = meta.get("item_code")
        info = {"client_id": f"{client_id}-{n}", "taken_at": meta.get("taken_at"), "lat": meta.get("lat"),
                "lng": meta.get("lng"), "purpose": "item" if code else ("repair" if order.kind == "repair" else "item"),
                "item_id": items.get(code, -1) if code else None}
        try:
            elevators.add_photo(person, order, data, info, offline=True)
        except ValidationFailed as err:
            raise _prefixed(err, field + ".") from None


# ---------------------------------------------------------------- the bulk way

@dataclass
class Checked:
    """A record that passed every rule, to be written with the batch's other valid records."""
    index: int
    key: str
    client_id: str
    person: User
    equipment: object
    arrival: elevators.Arrival
    departure: elevators.Departure
    plan_id: int | None
    use_org_id: int
    results: dict                       # item id → (result, note)
    texts: dict                         # remark, fault description, parts
    order_id: int | None = None
    order_no: str | None = None


@dataclass
class Reference:
    """What the bulk checks read once per batch: the earlier work orders of the records' client ids, the
    planned visits of their elevators (the first few of each, in the order they fall due), their contracts."""
    orders: dict                        # client id → (id, order_no, maintainer_id)
    plans: dict                         # equipment id → [(plan id, due_on, maint_type)], earliest first
    contracts: dict                     # equipment id → [(id, starts_on, ends_on, use_org_id)], newest first

    @classmethod
    def load(cls, cred: PlatformCredential, records: list, batch: "Batch") -> "Reference":
        from sqlalchemy import func

        from ..elevators.models import MaintenanceContract, MaintenancePlan
        keys = {_text(r, "idempotency_key", 64) for r in records} - {""}
        client_ids = [_client_id(cred, k) for k in keys]
        orders = {c: (i, no, m) for c, i, no, m in db.session.execute(
            select(WorkOrder.client_id, WorkOrder.id, WorkOrder.order_no, WorkOrder.maintainer_id)
            .where(WorkOrder.client_id.in_(client_ids)))} if client_ids else {}
        visits = Counter(e.id for e in (batch.lifts.get(_text(r, "elevator_code", 40)) for r in records) if e)
        plans = {eid: [] for eid in visits}
        contracts = {eid: [] for eid in visits}
        if visits:
            rank = func.row_number().over(partition_by=MaintenancePlan.equipment_id,
                                          order_by=(MaintenancePlan.due_on, MaintenancePlan.id)).label("rank")
            ranked = (select(MaintenancePlan.id, MaintenancePlan.equipment_id, MaintenancePlan.due_on,
                             MaintenancePlan.maint_type, rank)
                      .where(MaintenancePlan.equipment_id.in_(list(visits)), MaintenancePlan.status == "planned")
                      .subquery())
            for pid, eid, due, mt, _rank in db.session.execute(
                    select(ranked).where(ranked.c.rank <= max(visits.values()))
                    .order_by(ranked.c.equipment_id, ranked.c.rank)):
                plans[eid].append((pid, due, mt))
            for cid, eid, starts, ends, use_org in db.session.execute(
                    select(MaintenanceContract.id, MaintenanceContract.equipment_id, MaintenanceContract.starts_on,
                           MaintenanceContract.ends_on, MaintenanceContract.use_org_id)
                    .where(MaintenanceContract.equipment_id.in_(list(visits)))
                    .order_by(MaintenanceContract.id.desc())):
                contracts[eid].append((cid, starts, ends, use_org))
        return cls(orders, plans, contracts)

    def next_plan(self, equipment_id: int):
        """The elevator's earliest planned visit not yet taken by a record of this batch (as next_plan)."""
        from types import SimpleNamespace

        from ..elevators.models import MaintenancePlan
        if equipment_id not in self.plans:                  # an elevator named by another of its codes
            self.plans[equipment_id] = [tuple(r) for r in db.session.execute(
                select(MaintenancePlan.id, MaintenancePlan.due_on, MaintenancePlan.maint_type)
                .where(MaintenancePlan.equipment_id == equipment_id, MaintenancePlan.status == "planned")
                .order_by(MaintenancePlan.due_on, MaintenancePlan.id).limit(MAX_BATCH))]
        rows = self.plans[equipment_id]
        return SimpleNamespace(id=rows[0][0], due_on=rows[0][1], maint_type=rows[0][2]) if rows else None

    def take_plan(self, equipment_id: int, plan_id: int) -> None:
        rows = self.plans.get(equipment_id)
        if rows and rows[0][0] == plan_id:
            rows.pop(0)

    def use_org(self, equipment, day) -> int:
        """The use unit of the elevator's contract on the day (as active_contract), else the registry's."""
        if equipment.id not in self.contracts:
            contract = elevators.active_contract(equipment.id, day)
            return contract.use_org_id if contract else equipment.use_org_id
        for _cid, starts, ends, use_org in self.contracts[equipment.id]:
            if starts <= day <= ends:
                return use_org
        return equipment.use_org_id


def _per_record_only(record) -> bool:
    """Records with photos or a face photo: stored, watermarked and compared one by one anyway."""
    if not isinstance(record, dict):
        return False
    checkin = record.get("checkin") if isinstance(record.get("checkin"), dict) else {}
    return not (record.get("photos") is None or record.get("photos") == []) or bool(checkin.get("face_photo"))


def check_record(cred: PlatformCredential, record, parts: "Parts", batch: "Batch", ref: Reference):
    """One record through the same rules as apply_record, without writing: a Checked, or (key, order id,
    order no) for a duplicate, or a DomainError raised with the same fields and messages."""
    key, person, equipment = _identify(cred, record, batch)
    if person is None:
        return key, batch.seen[key], None
    client_id = _client_id(cred, key)
    known = ref.orders.get(client_id)
    if known is not None:
        if known[2] != person.id:
            raise Conflict("客户端编号已被使用", code="client_id_taken")
        return key, known[0], known[1]
    payload = _checkin_payload(record, client_id, equipment)
    try:
        arrival = elevators.validate_checkin(person, equipment, payload, offline=True)
    except ValidationFailed as err:
        raise _checkin_refusal(err) from None
    plan = elevators.plan_for_visit(ref.next_plan(equipment.id), arrival.maint_type, arrival.at) \
        if arrival.kind == "maintenance" else None
    items = elevators.visit_items(arrival.kind, equipment.id, arrival.maint_type)
    results = {}
    if arrival.kind == "maintenance":
        results = elevators.validate_results(items, _converted_results(items, record.get("results")))
    finish = _finish_payload(record, parts)
    texts = elevators.visit_texts(arrival.kind, finish)
    lacking = elevators.missing_of(arrival.kind, items, {i: r for i, (r, _n) in results.items()}, set(), False,
                                   texts.get("fault_description"))
    departure = elevators.validate_checkout(person, equipment, arrival.at, finish, offline=True, lacking=lacking)
    if plan is not None:
        ref.take_plan(equipment.id, plan.id)
    return Checked(index=-1, key=key, client_id=client_id, person=person, equipment=equipment, arrival=arrival,
                   departure=departure, plan_id=plan.id if plan else None,
                   use_org_id=ref.use_org(equipment, to_local(arrival.at).date()), results=results, texts=texts)


def _ingest_bulk(cred: PlatformCredential, records: list, parts: "Parts", batch: "Batch",
                 results: list) -> tuple[list[int], list[str]]:
    """Check every record without photos, write the valid ones together; fills `results` for them and
    returns the indexes left for the per-record way and the numbers of the orders written."""
    ref = Reference.load(cred, records, batch)
    later, checked, repeats = [], [], []
    for n, record in enumerate(records):
        if _per_record_only(record):
            later.append(n)
            continue
        key = record.get("idempotency_key") if isinstance(record, dict) else None
        try:
            outcome = check_record(cred, record, parts, batch, ref)
        except DomainError as err:
            results[n] = _refusal(n, key, err)
            continue
        if isinstance(outcome, Checked):
            outcome.index = n
            checked.append(outcome)
            batch.seen[outcome.key] = outcome          # a repeat of the key later in the batch is a duplicate
        elif isinstance(outcome[1], Checked):
            repeats.append((n, outcome[0], outcome[1]))
        else:
            results[n] = (n, outcome)
    missing_nos = [v[1][1] for v in results if isinstance(v, tuple) and v[1][2] is None]
    numbers = dict(db.session.execute(select(WorkOrder.id, WorkOrder.order_no)
                                      .where(WorkOrder.id.in_(missing_nos))).all()) if missing_nos else {}
    for n, value in enumerate(results):
        if isinstance(value, tuple):
            _n, (key, order_id, order_no) = value
            results[n] = _answer(n, key, order_id, order_no or numbers.get(order_id), True)
    with db.session.begin_nested():
        write_checked(cred, batch, checked)
    for c in checked:
        batch.seen[c.key] = c.order_id
        results[c.index] = _answer(c.index, c.key, c.order_id, c.order_no, False)
    for n, key, first in repeats:
        results[n] = _answer(n, key, first.order_id, first.order_no, True)
    return later, [c.order_no for c in checked]


def write_checked(cred: PlatformCredential, batch: "Batch", checked: list[Checked]) -> None:
    """The checked records as archived work orders, in a few statements: order numbers in one counter step
    per kind, each distinct signature stored once, the orders (ids drawn from their sequence in one query),
    their item results and the platform records (COPY on PostgreSQL), the plans they fulfil."""
    from sqlalchemy import bindparam, update

    from ..elevators.models import MaintenancePlan
    if not checked:
        return
    now = utcnow()
    for kind in ("maintenance", "repair"):
        mine = [c for c in checked if c.arrival.kind == kind]
        for c, number in zip(mine, elevators.order_numbers(kind, len(mine)) if mine else ()):
            c.order_no = number
    stored: dict[tuple, int] = {}

    def signature(c: Checked, field: str) -> int | None:
        png = c.departure.signatures.get(field)
        if png is None:
            return None
        key = (c.person.id, field, sm3_hex(png))
        if key not in stored:
            stored[key] = elevators.save_signature(png, c.person, field).id
        return stored[key]
    rows = []
    for c in checked:
        a, d = c.arrival, c.departure
        rows.append({
            "client_id": c.client_id, "order_no": c.order_no, "kind": a.kind, "equipment_id": c.equipment.id,
            "plan_id": c.plan_id, "maintenance_org_id": c.person.org_id, "use_org_id": c.use_org_id,
            "region_code": c.equipment.region_code, "maint_type": a.maint_type, "maintainer_id": c.person.id,
            "coworker_id": d.coworker.id if d.coworker else None, "status": "archived", "checkin_at": a.at,
            "checkin_lat": a.lat, "checkin_lng": a.lng, "checkin_distance": a.metres, "checkin_proof": "code",
            "checkout_at": d.at, "checkout_lat": d.lat, "checkout_lng": d.lng, "checkout_distance": d.metres,
            "maintainer_signature_id": signature(c, "maintainer_signature"),
            "coworker_signature_id": signature(c, "coworker_signature"),
            "fault_description": c.texts.get("fault_description"), "parts": c.texts.get("parts"),
            "remark": c.texts.get("remark"), "offline": True, "returned_count": 0, "archived_at": now,
            "created_at": now})
    writer = Writer()              # COPY on PostgreSQL, executemany on SQLite, ids from the tables' sequences
    for c, row, order_id in zip(checked, rows, writer.ids("elevator_work_order", len(rows))):
        c.order_id = row["id"] = order_id
    writer.write("elevator_work_order", rows)
    items = [{"work_order_id": c.order_id, "item_id": item_id, "result": result, "note": note}
             for c in checked for item_id, (result, note) in c.results.items()]
    writer.write("elevator_work_item", items, columns=["work_order_id", "item_id", "result", "note"])
    plans = [{"b_id": c.plan_id, "b_day": to_local(c.departure.at).date(), "b_order": c.order_id}
             for c in checked if c.plan_id and c.arrival.kind == "maintenance"]
    if plans:
        plan = MaintenancePlan.__table__
        db.session.execute(update(plan).where(plan.c.id == bindparam("b_id"), plan.c.status == "planned")
                           .values(status="done", done_on=bindparam("b_day"), work_order_id=bindparam("b_order")),
                           plans)
    received = [{"org_id": cred.org_id, "credential_id": cred.id, "idempotency_key": c.key,
                 "work_order_id": c.order_id, "batch_no": batch.batch_no, "received_at": now} for c in checked]
    writer.write("platform_record", received, columns=list(received[0]))
