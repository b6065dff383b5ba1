"""Maintenance records reported by a maintenance unit's own platform (§4.6.3), and its credentials.

- Credentials: a regulator issues one to a maintenance unit of their region (`issue`: key id + secret,
  the secret returned once) and revokes it (`revoke`); both are audited.
- Requests are signed with HMAC-SM3 (core/external.verify_request: method, path, timestamp, nonce, SM3 of
  the body; ±300 s); `authenticate` adds the credential's state and replay protection (a nonce is
  remembered until its timestamp leaves the window, `platform_nonce`).
- `ingest`: a batch of at most 500 records, each in a savepoint of its own. A record becomes a work order
  of the elevator through the app's own visit functions (elevators/services: check_in, save_results,
  add_photo, finish) — so the same refusals apply: 100 m from the registered position at check-in and
  check-out, a valid T certificate on the day of the work, photos with capture time and position
  (decoded and watermarked by core/evidence), every item answered, required photos present. The platform
  did its own sign-off, so the order is archived at once (no use-unit confirmation loop here). An
  idempotency key per unit: a repeat answers `duplicate` with the original work order.
"""
from __future__ import annotations

import base64
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..core.clock import utcnow
from ..core.external import SIGNATURE_WINDOW_SECONDS, verify_request
from ..core.gm import sm3_hex
from ..core.models import Organization, User
from ..core.scope import in_region
from ..elevators import services as elevators
from ..elevators.models import WorkOrder
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import EVENT_LABELS, audit, audit_now
from .models import PlatformCredential, PlatformNonce, PlatformRecord

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


def ingest(cred: PlatformCredential, records, parts: Parts) -> dict:
    """Apply a batch; every record answers created / duplicate / refused (with field reasons)."""
    if not isinstance(records, list) or not records:
        raise ValidationFailed({"records": "须为非空的记录列表"})
    if len(records) > MAX_BATCH:
        raise DomainError(f"一次最多上传 {MAX_BATCH} 条记录（本次 {len(records)} 条），请分批上传",
                          code="batch_too_large", status=422,
                          fields={"records": f"一次最多上传 {MAX_BATCH} 条记录（本次 {len(records)} 条）"})
    batch = Batch.prefetch(cred, records, f"PB{utcnow():%Y%m%d%H%M%S}{secrets.token_hex(3)}")
    results = []
    with elevators.reference_cache():
        for n, record in enumerate(records):
            key = record.get("idempotency_key") if isinstance(record, dict) else None
            try:
                with db.session.begin_nested():
                    order, duplicate = apply_record(cred, record, parts, batch)
                results.append({"index": n, "idempotency_key": key, "status": "duplicate" if duplicate else "created",
                                "work_order_id": order.id, "order_no": order.order_no})
            except IntegrityError:
                # the same key sent concurrently by another request that got there first
                order = db.session.scalar(select(WorkOrder).where(WorkOrder.client_id == _client_id(cred, str(key))))
                results.append({"index": n, "idempotency_key": key, "status": "duplicate", "work_order_id": order.id,
                                "order_no": order.order_no} if order is not None else
                               {"index": n, "idempotency_key": key if isinstance(key, str) else None,
                                "status": "refused", "code": "conflict", "message": "与同时进行的另一次上报冲突，请重试",
                                "fields": {}})
            except DomainError as err:
                results.append({"index": n, "idempotency_key": key if isinstance(key, str) else None,
                                "status": "refused", "code": err.code,
                                "message": "；".join(map(str, err.fields.values())) if err.fields else err.message,
                                "fields": err.fields})
    batch_no = batch.batch_no
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("created", "duplicate", "refused")}
    cred.record_count = (cred.record_count or 0) + counts["created"]
    audit("platform.upload", f"{cred.org.name} 经 {cred.platform_name} 上报维保记录 {len(records)} 条（新增 "
          f"{counts['created']}，重复 {counts['duplicate']}，拒绝 {counts['refused']}）",
          object_type="platform_credential", object_id=cred.id,
          detail={"batch_no": batch_no, "key_id": cred.key_id, **counts})
    return {"batch_no": batch_no, "results": results, **counts}


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


def apply_record(cred: PlatformCredential, record, parts: Parts, batch: Batch) -> tuple[WorkOrder, bool]:
    if not isinstance(record, dict):
        raise ValidationFailed({"record": "记录须为 JSON 对象"})
    key = record.get("idempotency_key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ValidationFailed({"idempotency_key": "缺少或无效的幂等键（8–64 位字母、数字或 _ . : -）"})
    if key in batch.seen:
        return db.session.get(WorkOrder, batch.seen[key]), True
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
    checkin = record.get("checkin") if isinstance(record.get("checkin"), dict) else {}
    checkout = record.get("checkout") if isinstance(record.get("checkout"), dict) else {}
    client_id = _client_id(cred, key)
    payload = {"client_id": client_id, "equipment_id": equipment.id, "kind": record.get("kind") or "maintenance",
               "maint_type": record.get("maint_type") or "HALF", "at": checkin.get("at"), "lat": checkin.get("lat"),
               "lng": checkin.get("lng"), "proof": "code"}
    if checkin.get("face_photo"):
        payload["face_photo"] = parts.data_url(checkin["face_photo"], "checkin.face_photo", "image/jpeg")
    try:
        started = elevators.check_in(person, payload, offline=True, face_required=False)
    except ValidationFailed as err:
        raise _prefixed(err, "checkin.", {"at", "position", "face_photo"}) from None
    order = started.order
    if started.duplicate:
        return order, True
    set_committed_value(order, "results", [])          # a new order has none: no query to find out
    if not record.get("photos") and not payload.get("face_photo"):
        set_committed_value(order, "photos", [])
    _results(person, order, record.get("results"))
    _photos(person, order, record.get("photos"), parts, client_id)
    finish = {"at": checkout.get("at"), "lat": checkout.get("lat"), "lng": checkout.get("lng"),
              "remark": record.get("remark"), "fault_description": record.get("fault_description"),
              "parts": record.get("parts"), "coworker": record.get("coworker_username") or None}
    if record.get("maintainer_signature"):
        finish["maintainer_signature"] = parts.data_url(record["maintainer_signature"], "maintainer_signature",
                                                        "image/png")
    if record.get("coworker_signature"):
        finish["coworker_signature"] = parts.data_url(record["coworker_signature"], "coworker_signature",
                                                      "image/png")
    elevators.finish(person, order, finish, offline=True, submit=False)
    order.status, order.archived_at = "archived", utcnow()
    db.session.add(PlatformRecord(org_id=cred.org_id, credential_id=cred.id, idempotency_key=key,
                                  work_order_id=order.id, batch_no=batch.batch_no, received_at=utcnow()))
    db.session.flush()
    batch.seen[key] = order.id
    return order, False


def _results(person: User, order: WorkOrder, rows) -> None:
    """Item results by TSG T5002 item code (A-1-01 …) → the app's results by item id."""
    if order.kind != "maintenance":
        return
    if not isinstance(rows, list):
        raise ValidationFailed({"results": "须为维保项目结果列表（item_code、result、note）"})
    by_code = {i.code: i.id for i in elevators.order_items(order)}
    converted, errors = [], {}
    for n, row in enumerate(rows):
        code = row.get("item_code") if isinstance(row, dict) else None
        if code not in by_code:
            errors[f"results.{n}.item_code"] = f"维保项目 {str(code)[:16]} 不属于本次维保"
            continue
        converted.append({"item_id": by_code[code], "result": row.get("result"), "note": row.get("note")})
    if errors:
        raise ValidationFailed(errors, message="；".join(errors.values()))
    elevators.save_results(person, order, converted)


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
