"""Public complaints (投诉举报, workflows/public_complaint.bpmn): the start hook, the functions the BPMN
calls, the complainant's phone verification (SMS code, limits, captcha) and the public lookup.

A complaint from the public page is filed by a system account (role `public`, never able to sign in)
after the complainant's phone has been verified by an SMS code; staff may register one received by
telephone or letter through the ordinary start page or POST /api/v1/cases. The phone and the name
never enter the workflow data or the timeline: the start hook takes them out of the start form and
the `complaint.register` service stores them encrypted on the complaint row."""
from __future__ import annotations

import secrets
from contextvars import ContextVar
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..core.clock import utcnow
from ..core.gm import hmac_sm3_hex
from ..core.models import Equipment, Region, User
from ..core.pii import PiiError, blind_index, mask_phone, normalize_phone, phone_index
from ..core.regions import office_name, region_full_name
from ..engine import hooks
from ..engine.services import ServiceContext, StartContext, case_facts, case_panel, case_row, service, start_hook
from ..errors import DomainError, ValidationFailed
from ..extensions import db
from ..security.ratelimit import RateLimited
from ..sms import services as sms
from .models import Complaint, ComplaintAttempt, ComplaintCaptcha, ComplaintCode

PROCESS_KEY = "public_complaint"
PUBLIC_USERNAME = "public_complaints"
PUBLIC_ROLE = "public"

# Limits (configurable by the same names in the application config).
DEFAULTS = {
    "COMPLAINT_CODE_MINUTES": 10,             # an SMS code is valid this long
    "COMPLAINT_CODE_INTERVAL_SECONDS": 60,    # one code per phone per interval
    "COMPLAINT_CODES_PER_PHONE_HOUR": 5,
    "COMPLAINT_CODES_PER_PHONE_DAY": 10,
    "COMPLAINT_CODES_PER_IP_HOUR": 20,
    "COMPLAINT_CODE_TRIES": 5,                # wrong entries before a code is void
    "COMPLAINT_CAPTCHA_AFTER_FAILURES": 3,    # failures in an hour (by phone or address) → captcha
    "COMPLAINT_FAILURES_PER_IP_HOUR": 30,     # failures in an hour from one address → refused
}
FAILURE_KINDS = ("code_failed", "captcha_failed", "lookup_failed")


def setting(name: str) -> int:
    return int(current_app.config.get(name, DEFAULTS[name]))


# ---------------------------------------------------------------- the public account

def public_account() -> User:
    """The system account that files public submissions: inactive (cannot sign in), no password."""
    account = db.session.scalar(select(User).where(User.username == PUBLIC_USERNAME))
    if account is not None:
        return account
    try:
        with db.session.begin_nested():
            account = User(username=PUBLIC_USERNAME, display_name="社会公众（网上投诉举报）", role=PUBLIC_ROLE,
                           region_code="450000", password_hash="!", is_active_flag=False)
            db.session.add(account)
    except IntegrityError:     # created by a concurrent request
        account = db.session.scalar(select(User).where(User.username == PUBLIC_USERNAME))
    return account


# ---------------------------------------------------------------- location: device or county

def find_device(code: str | None) -> Equipment | None:
    """A registered device by its code or use-registration number (the public may report any device)."""
    code = str(code if code is not None else "").strip()[:40]
    if not code:
        return None
    return db.session.scalar(select(Equipment).where(or_(Equipment.code == code, Equipment.registration_no == code))
                             .order_by(Equipment.id).limit(1))


def county_options() -> list[tuple[str, str]]:
    """Guangxi's counties with their city: [(code, '南宁市兴宁区'), …]."""
    rows = db.session.scalars(select(Region).where(Region.level == "county", Region.code.startswith("45"))
                              .order_by(Region.code))
    return [(r.code, region_full_name(r.code)) for r in rows]


def resolve_location(device_code: str | None, county_code: str | None, address: str | None
                     ) -> tuple[Equipment | None, str | None, dict]:
    """(device, region the complaint goes to, per-field errors). A device routes to its supervising
    county; without one the complainant chooses the county and gives the address."""
    errors: dict[str, str] = {}
    device = find_device(device_code)
    if (device_code or "").strip() and device is None:
        errors["device_code"] = "未找到该设备代码（或使用登记证编号），请核对；不清楚设备代码时可留空，选择所在区县并填写地址"
    if device is not None:
        return device, device.region_code, errors
    region = db.session.get(Region, county_code) if county_code else None
    if not errors:
        if region is None or region.level != "county" or not region.code.startswith("45"):
            errors["county_code"] = "请选择设备所在的区县"
        if not (address or "").strip():
            errors["address"] = "没有设备代码时，请填写设备所在的详细地址"
    return None, region.code if region is not None and not errors else None, errors


# ---------------------------------------------------------------- start hook and BPMN services

# The complainant's phone and name, taken out of the start form by the start hook and stored by the
# register service of the same engine action (they must not enter the workflow data or timeline).
_CONTACT: ContextVar[dict | None] = ContextVar("complaint_contact", default=None)


@start_hook(PROCESS_KEY)
def prepare_complaint(user: User, data: dict) -> StartContext:
    # Taken out of `data` itself: start_case records and runs the same dict after the hook returns.
    phone = data.pop("complainant_phone", None)
    name = data.pop("complainant_name", None)
    device, region_code, errors = resolve_location(data.get("device_code"), data.get("county_code"),
                                                   data.get("address"))
    try:
        phone = normalize_phone(phone or "")
    except PiiError:
        errors["complainant_phone"] = "请输入11位手机号码"
    if errors:
        raise ValidationFailed(errors)
    channel = "web" if user.role == PUBLIC_ROLE else "staff"
    _CONTACT.set({"phone": phone, "name": name, "channel": channel})
    where = f"{device.name}（{device.code}）" if device else (data.get("address") or "")[:60]
    return StartContext(
        title=f"投诉举报：{where}", region_code=region_code, equipment_id=device.id if device else None,
        extra_data={"equipment_id": device.id if device else None, "channel": channel,
                    "device_name": device.name if device else None,
                    "device_address": device.address if device else None,
                    "office_name": office_name(region_code)})


def _complaint(ctx: ServiceContext) -> Complaint:
    return case_row(Complaint, ctx)


def _tell_complainant(complaint: Complaint, template: str, params: dict, step: str) -> None:
    phone = sms.readable_phone(complaint)
    if not phone:
        return
    recipient = sms.Recipient(name=complaint.complainant_name or "投诉举报人", phone=phone, audience="public")
    sms.enqueue(template, {"complaintNo": complaint.complaint_no, "officeName": office_name(complaint.region_code),
                           **params}, [recipient], region_code=complaint.region_code, case_id=complaint.case_id,
                dedup_key=f"complaint:{complaint.id}:{step}")


@service("complaint.register")
def register(ctx: ServiceContext) -> dict:
    data = ctx.task_data
    contact = _CONTACT.get() or {}
    _CONTACT.set(None)
    device = db.session.get(Equipment, data["equipment_id"]) if data.get("equipment_id") else None
    complaint = Complaint(case_id=ctx.case.id, complaint_no=ctx.case.case_no, channel=contact.get("channel", "staff"),
                          equipment_id=device.id if device else None,
                          device_code=device.code if device else data.get("device_code"),   # a registration no. → the code
                          address=data.get("address"), region_code=ctx.case.region_code,
                          description=data["description"], complainant_name=contact.get("name"),
                          status="pending", created_by_id=data["initiator_id"])
    complaint.set_phone(contact.get("phone"))
    db.session.add(complaint)
    db.session.flush()
    _tell_complainant(complaint, "COMPLAINT_RECEIVED", {}, "received")
    return {"complaint_id": complaint.id}


@service("complaint.reject")
def reject(ctx: ServiceContext) -> dict:
    complaint = _complaint(ctx)
    complaint.status = "rejected"
    complaint.reject_reason = ctx.task_data.get("reject_reason")
    complaint.closed_at = utcnow()
    _tell_complainant(complaint, "COMPLAINT_REJECTED", {"reason": complaint.reject_reason or "—"}, "rejected")
    return {"status": complaint.status}


@service("complaint.accept")
def accept(ctx: ServiceContext) -> dict:
    complaint = _complaint(ctx)
    complaint.status = "checking"
    complaint.accepted_at = utcnow()
    _tell_complainant(complaint, "COMPLAINT_ACCEPTED", {}, "accepted")
    return {"status": complaint.status}


@service("complaint.record_check")
def record_check(ctx: ServiceContext) -> dict:
    complaint = _complaint(ctx)
    data = ctx.task_data
    complaint.checked_on = date.fromisoformat(data["checked_on"])
    complaint.check_conclusion = data["check_conclusion"]
    complaint.finding = data.get("finding")
    complaint.reply = data.get("reply")
    return {"conclusion": complaint.check_conclusion}


HAZARD_FIELDS = {"equipment_code": "equipment_code", "criterion_id": "criterion_id", "description": "finding",
                 "found_on": "checked_on", "rectify_deadline": "rectify_deadline"}


@service("complaint.start_hazard")
def start_hazard(ctx: ServiceContext) -> dict:
    """现场核查 confirmed a major hazard: start the hazard loop (major_hazard) as the inspector,
    through the engine like the hazard report form, and link the two cases both ways."""
    from ..engine import runtime
    complaint = _complaint(ctx)
    data = ctx.task_data
    report = {"equipment_code": data.get("equipment_code") or "", "criterion_id": data.get("criterion_id") or "",
              "description": f"{data.get('finding') or ''}（来源：公众投诉举报 {complaint.complaint_no}）",
              "found_on": data.get("checked_on"), "rectify_deadline": data.get("rectify_deadline")}
    try:
        hazard_case = runtime.start_case("major_hazard", ctx.actor, report)
    except ValidationFailed as err:
        # The hazard report's fields are this form's fields (description ← finding, found_on ← checked_on).
        raise ValidationFailed({HAZARD_FIELDS.get(k, k): v for k, v in err.fields.items()},
                               "转重大事故隐患失败：" + "；".join(err.fields.values())) from err
    complaint.hazard_case_id = hazard_case.id
    runtime.append_event(hazard_case, ctx.actor, "notified",
                         f"来源：公众投诉举报 {complaint.complaint_no}（现场核查确认存在重大事故隐患）",
                         data={"complaint_case_id": complaint.case_id, "complaint_no": complaint.complaint_no})
    runtime.append_event(ctx.case, ctx.actor, "notified", f"已转入重大事故隐患闭环管理：案件 {hazard_case.case_no}",
                         data={"hazard_case_id": hazard_case.id, "hazard_case_no": hazard_case.case_no})
    return {"hazard_case_id": hazard_case.id, "hazard_case_no": hazard_case.case_no}


@service("complaint.reply")
def reply(ctx: ServiceContext) -> dict:
    complaint = _complaint(ctx)
    complaint.status = "closed"
    complaint.closed_at = utcnow()
    _tell_complainant(complaint, "COMPLAINT_RESULT", {"result": complaint.reply or complaint.conclusion_label},
                      "result")
    return {"status": complaint.status}


@case_panel(PROCESS_KEY)
def complaint_panel(case):
    complaint = db.session.scalar(select(Complaint).where(Complaint.case_id == case.id))
    if complaint is None:
        return None
    same_device = []
    if complaint.equipment_id:    # other complaints about the same device in the last 90 days (duplicates)
        same_device = list(db.session.scalars(
            select(Complaint).where(Complaint.equipment_id == complaint.equipment_id, Complaint.id != complaint.id,
                                    Complaint.created_at >= complaint.created_at - timedelta(days=90))
            .order_by(Complaint.created_at.desc()).limit(10)))
    return {"template": "complaints/_case_panel.html", "complaint": complaint, "same_device": same_device}


@case_facts(PROCESS_KEY)
def complaint_facts(case) -> dict:
    complaint = db.session.scalar(select(Complaint).where(Complaint.case_id == case.id))
    return {"complaintNo": case.case_no, "officeName": office_name(case.region_code),
            "status": complaint.status_label if complaint else ""}


@hooks.after_sync
def _tell_when_the_hazard_is_closed(case, wf) -> None:
    """The hazard case a complaint started ends with 销号: the complainant is told (once)."""
    if case.process_key != "major_hazard" or case.status != "running" or not wf.is_completed():
        return
    complaint = complaint_for_hazard_case(case.id)
    if complaint is None:
        return
    from ..hazards.models import Hazard
    if db.session.scalar(select(Hazard.status).where(Hazard.case_id == case.id)) == "closed":
        _tell_complainant(complaint, "COMPLAINT_HAZARD_CLOSED", {}, "hazard-closed")


def complaint_scope(user):
    """Regulators: complaints of their region and below. Nobody else sees complaints (the device's
    use unit is not told who complained)."""
    from ..core.scope import in_region
    if not user.is_regulator:
        return Complaint.id.is_(None)
    return in_region(Complaint.region_code, user.scope_prefix)


_OF_HAZARD_CASE = select(Complaint).where(Complaint.hazard_case_id == bindparam("case_id"))


def complaint_for_hazard_case(case_id: int) -> Complaint | None:
    return db.session.scalar(_OF_HAZARD_CASE, {"case_id": case_id})


# ---------------------------------------------------------------- attempts, limits, captcha

def ip_key(address: str | None) -> str:
    return blind_index(address or "-", purpose="complaint-client")


def _mac(purpose: str, value: str) -> str:
    return hmac_sm3_hex(current_app.config["SECRET_KEY"].encode(), f"{purpose}:{value}".encode())


def record_attempt(kind: str, ip: str, phone_bidx: str | None = None) -> None:
    db.session.add(ComplaintAttempt(kind=kind, phone_bidx=phone_bidx, ip_key=ip, at=utcnow()))


def _count(kinds, since, *, phone_bidx: str | None = None, ip: str | None = None) -> int:
    query = select(func.count()).select_from(ComplaintAttempt).where(ComplaintAttempt.kind.in_(kinds),
                                                                     ComplaintAttempt.at >= since)
    query = query.where(ComplaintAttempt.phone_bidx == phone_bidx) if phone_bidx else query.where(
        ComplaintAttempt.ip_key == ip)
    return db.session.scalar(query) or 0


def captcha_required(ip: str, phone_bidx: str | None = None) -> bool:
    since = utcnow() - timedelta(hours=1)
    limit = setting("COMPLAINT_CAPTCHA_AFTER_FAILURES")
    if _count(FAILURE_KINDS, since, ip=ip) >= limit:
        return True
    return bool(phone_bidx) and _count(FAILURE_KINDS, since, phone_bidx=phone_bidx) >= limit


def refuse_when_failing_too_often(ip: str) -> None:
    if _count(FAILURE_KINDS, utcnow() - timedelta(hours=1), ip=ip) >= setting("COMPLAINT_FAILURES_PER_IP_HOUR"):
        raise RateLimited("错误次数过多，请一小时后再试")


def purge_old_checks(now=None) -> int:
    """Housekeeping: captchas and SMS codes a day past expiry, attempts older than the longest limit
    window (a day) plus a day. Returns the rows deleted; the caller commits."""
    from sqlalchemy import delete
    now = now or utcnow()
    deleted = 0
    for statement in (delete(ComplaintCaptcha).where(ComplaintCaptcha.expires_at < now - timedelta(days=1)),
                      delete(ComplaintCode).where(ComplaintCode.expires_at < now - timedelta(days=1)),
                      delete(ComplaintAttempt).where(ComplaintAttempt.at < now - timedelta(days=2))):
        deleted += db.session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
    return deleted


def new_captcha() -> tuple[str, bytes]:
    """A fresh captcha: (token, PNG image)."""
    from .captcha import random_answer, render_png
    answer = random_answer()
    token = secrets.token_hex(16)
    png = render_png(answer)
    db.session.add(ComplaintCaptcha(token=token, answer_mac=_mac("captcha", f"{token}:{answer}"), image=png,
                                    created_at=utcnow(), expires_at=utcnow() + timedelta(minutes=10)))
    return token, png


def captcha_error(token: str | None, answer: str | None) -> str | None:
    """None when the captcha was solved; the Chinese message otherwise. A captcha is good for one try."""
    answer = str(answer if answer is not None else "").strip()[:16]
    if not token or not answer:
        return "请输入图片中的字符"
    row = db.session.scalar(select(ComplaintCaptcha).where(ComplaintCaptcha.token == str(token)[:32]))
    if row is None or row.used_at is not None or _aware(row.expires_at) < utcnow():
        return "图片验证码已失效，请看新的图片重新输入"
    row.used_at = utcnow()
    if row.answer_mac != _mac("captcha", f"{row.token}:{answer.upper()}"):
        return "图片验证码不正确"
    return None


def _aware(value):
    from ..core.clock import as_utc
    return as_utc(value)


class CaptchaRequired(ValidationFailed):
    code = "captcha_required"


def _phone(raw: str | None, field: str = "phone") -> str:
    try:
        return normalize_phone(raw or "")
    except PiiError as err:
        raise ValidationFailed({field: "请输入11位手机号码"}) from err


def send_code(raw_phone: str | None, client_ip: str | None, captcha_token: str | None = None,
              captcha_answer: str | None = None, field: str = "phone") -> dict:
    """Send an SMS verification code to a complainant's phone (COMPLAINT_VERIFY_CODE). Limits per phone
    and per client address; a captcha once the phone or address has failed too often. Commits."""
    ip = ip_key(client_ip)
    refuse_when_failing_too_often(ip)
    phone = _phone(raw_phone, field)
    bidx = phone_index(phone)
    if captcha_required(ip, bidx):
        problem = captcha_error(captcha_token, captcha_answer)
        if problem:
            record_attempt("captcha_failed", ip, bidx)
            db.session.commit()
            raise CaptchaRequired({"captcha": problem}, "请先输入图片验证码")
    now = utcnow()
    last = db.session.scalar(select(func.max(ComplaintAttempt.at)).where(
        ComplaintAttempt.kind == "code_sent", ComplaintAttempt.phone_bidx == bidx))
    interval = setting("COMPLAINT_CODE_INTERVAL_SECONDS")
    if last is not None and (now - _aware(last)).total_seconds() < interval:
        wait = interval - int((now - _aware(last)).total_seconds())
        raise RateLimited(f"验证码已发送，请 {wait} 秒后再重新获取")
    if _count(("code_sent",), now - timedelta(hours=1), phone_bidx=bidx) >= setting("COMPLAINT_CODES_PER_PHONE_HOUR") \
            or _count(("code_sent",), now - timedelta(days=1), phone_bidx=bidx) >= setting("COMPLAINT_CODES_PER_PHONE_DAY"):
        raise RateLimited("该手机号获取验证码次数过多，请稍后再试")
    if _count(("code_sent",), now - timedelta(hours=1), ip=ip) >= setting("COMPLAINT_CODES_PER_IP_HOUR"):
        raise RateLimited("本网络获取验证码次数过多，请一小时后再试")
    code = f"{secrets.randbelow(10 ** 6):06d}"
    minutes = setting("COMPLAINT_CODE_MINUTES")
    db.session.add(ComplaintCode(phone_bidx=bidx, code_mac=_mac("sms-code", f"{bidx}:{code}"), created_at=now,
                                 expires_at=now + timedelta(minutes=minutes), tries=0))
    record_attempt("code_sent", ip, bidx)
    queued = sms.enqueue("COMPLAINT_VERIFY_CODE", {"code": code, "minutes": str(minutes)},
                         [sms.Recipient(name="投诉举报人", phone=phone, audience="public")], region_code=None)
    if not queued:     # the template was switched off by the administrator
        db.session.rollback()
        raise DomainError("短信验证码暂时无法发送，请稍后再试", code="sms_unavailable", status=503)
    db.session.commit()
    return {"sent": True, "phone_masked": mask_phone(phone), "expires_in_minutes": minutes,
            "retry_after_seconds": interval}


def code_error(phone: str, code: str | None) -> tuple[str | None, ComplaintCode | None]:
    """(None, the code row) when `code` is the phone's latest live code; (message, None) otherwise.
    A wrong entry counts against the code (void after COMPLAINT_CODE_TRIES)."""
    bidx = phone_index(phone)
    row = db.session.scalar(select(ComplaintCode).where(ComplaintCode.phone_bidx == bidx)
                            .order_by(ComplaintCode.created_at.desc(), ComplaintCode.id.desc()).limit(1))
    code = str(code if code is not None else "").strip()[:12]
    if not code:
        return "请输入短信验证码", None
    if row is None or row.used_at is not None or _aware(row.expires_at) < utcnow():
        return "短信验证码已失效，请重新获取", None
    # Every entry takes one of the code's tries first, atomically (the row stays locked to the end of
    # the transaction on PostgreSQL): parallel guesses cannot together exceed COMPLAINT_CODE_TRIES.
    taken = db.session.execute(update(ComplaintCode).where(
        ComplaintCode.id == row.id, ComplaintCode.used_at.is_(None),
        ComplaintCode.tries < setting("COMPLAINT_CODE_TRIES")).values(tries=ComplaintCode.tries + 1)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        return "短信验证码错误次数过多，请重新获取", None
    if row.code_mac != _mac("sms-code", f"{bidx}:{code}"):
        return "短信验证码不正确", None
    return None, row


def use_code(row: ComplaintCode) -> bool:
    """Mark a verified code used, once: a second submission racing with the same code loses."""
    return db.session.execute(update(ComplaintCode).where(ComplaintCode.id == row.id, ComplaintCode.used_at.is_(None))
                              .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount == 1


# ---------------------------------------------------------------- public submission and lookup

def submit_public(raw: dict, client_ip: str | None, captcha_token: str | None = None,
                  captcha_answer: str | None = None, extra_errors: dict | None = None) -> Complaint:
    """File a complaint from the public page or the public API: the start form's rules, the location,
    the captcha when required and the SMS code, all reported together by field; then the case is
    started by the public account. Failures are recorded and committed before the error is raised."""
    from ..engine import runtime
    from ..engine.registry import latest_version
    ip = ip_key(client_ip)
    refuse_when_failing_too_often(ip)
    version = latest_version(PROCESS_KEY)
    if version is None:
        raise DomainError("投诉举报流程尚未部署", code="not_deployed", status=503)
    account = public_account()
    errors: dict[str, str] = dict(extra_errors or {})
    try:
        data, _ = runtime.validate_form(runtime.start_form_schema(version), raw, account, None)
    except ValidationFailed as err:
        errors.update({k: v for k, v in err.fields.items() if k not in errors})
        data = raw
    if not errors.get("device_code") and not errors.get("county_code"):
        errors.update({k: v for k, v in resolve_location(data.get("device_code"), data.get("county_code"),
                                                         data.get("address"))[2].items() if k not in errors})
    phone = None
    try:
        phone = normalize_phone(raw.get("complainant_phone") or "")
    except PiiError:
        errors["complainant_phone"] = "请输入11位手机号码"
    bidx = phone_index(phone) if phone else None
    failures = []
    if captcha_required(ip, bidx):
        problem = captcha_error(captcha_token, captcha_answer)
        if problem:
            errors["captcha"] = problem
            failures.append("captcha_failed")
    code_row = None
    if phone and "captcha" not in errors:     # the captcha guards the code: no try is spent without it
        problem, code_row = code_error(phone, raw.get("sms_code"))
        if problem:
            errors["sms_code"] = problem
            if problem == "短信验证码不正确":
                failures.append("code_failed")
    if errors:
        if code_row is not None:    # the right code, other fields wrong: its try is given back
            db.session.execute(update(ComplaintCode).where(ComplaintCode.id == code_row.id)
                               .values(tries=ComplaintCode.tries - 1).execution_options(synchronize_session=False))
        for kind in failures:
            record_attempt(kind, ip, bidx)
        db.session.commit()
        error = CaptchaRequired(errors) if "captcha" in errors else ValidationFailed(errors)
        raise error
    if not use_code(code_row):
        raise ValidationFailed({"sms_code": "短信验证码已失效，请重新获取"})
    case = runtime.start_case(PROCESS_KEY, account, {k: v for k, v in raw.items() if k != "sms_code"})
    return db.session.scalar(select(Complaint).where(Complaint.case_id == case.id))


def lookup(complaint_no: str | None, raw_phone: str | None, client_ip: str | None,
           captcha_token: str | None = None, captcha_answer: str | None = None) -> Complaint:
    """The complaint with this number filed with this phone. A miss counts as a failure (captcha after
    a few, refusal after many); both fields are checked together so a miss never tells which was wrong."""
    ip = ip_key(client_ip)
    refuse_when_failing_too_often(ip)
    errors = {}
    number = str(complaint_no if complaint_no is not None else "").strip().upper()[:32]
    if not number:
        errors["complaint_no"] = "请输入投诉举报编号"
    try:
        phone = normalize_phone(raw_phone or "")
    except PiiError:
        phone = None
        errors["phone"] = "请输入提交时填写的11位手机号码"
    if captcha_required(ip):
        problem = captcha_error(captcha_token, captcha_answer)
        if problem:
            errors["captcha"] = problem
            record_attempt("captcha_failed", ip)
            db.session.commit()
            raise CaptchaRequired(errors)
    if errors:
        raise ValidationFailed(errors)
    complaint = db.session.scalar(select(Complaint).where(Complaint.complaint_no == number,
                                                          Complaint.phone_bidx == phone_index(phone)))
    if complaint is None:
        record_attempt("lookup_failed", ip, phone_index(phone))
        db.session.commit()
        raise ValidationFailed({"complaint_no": "编号与手机号码不匹配，或没有该投诉举报"}, "没有找到该投诉举报")
    return complaint


def progress(complaint: Complaint) -> dict:
    """What the complainant may see: the steps with dates, the office, the outcome — no names of
    officials or units, the phone and name masked."""
    from ..core.clock import to_local
    steps = [{"step": "提交", "done": True, "at": to_local(complaint.created_at).strftime("%Y-%m-%d %H:%M")}]
    if complaint.status == "rejected":
        steps.append({"step": "不予受理", "done": True,
                      "at": to_local(complaint.closed_at).strftime("%Y-%m-%d %H:%M") if complaint.closed_at else None})
    else:
        steps.append({"step": "受理", "done": complaint.accepted_at is not None,
                      "at": to_local(complaint.accepted_at).strftime("%Y-%m-%d %H:%M") if complaint.accepted_at else None})
        steps.append({"step": "现场核查", "done": complaint.checked_on is not None,
                      "at": complaint.checked_on.isoformat() if complaint.checked_on else None})
        steps.append({"step": "办结", "done": complaint.status == "closed",
                      "at": to_local(complaint.closed_at).strftime("%Y-%m-%d %H:%M") if complaint.closed_at else None})
        hazard = complaint.hazard_case
        if hazard is not None:    # the major hazard it revealed: rectified and closed (销号) yet?
            done = hazard.status == "closed" and hazard.outcome == "已销号"
            steps.append({"step": "隐患整改销号", "done": done,
                          "at": to_local(hazard.closed_at).strftime("%Y-%m-%d %H:%M") if done else None})
    name = complaint.complainant_name or ""
    return {"complaint_no": complaint.complaint_no, "status": complaint.status, "status_label": complaint.status_label,
            "office": office_name(complaint.region_code),
            "device_code": complaint.device_code or (complaint.equipment.code if complaint.equipment else None),
            "submitted_at": steps[0]["at"], "phone_masked": complaint.phone_masked,
            "complainant": (name[0] + "*" * (len(name) - 1)) if name else None,
            "steps": steps, "reject_reason": complaint.reject_reason if complaint.status == "rejected" else None,
            "result": (complaint.reply or complaint.conclusion_label) if complaint.status == "closed" else None,
            "hazard_confirmed": complaint.hazard_case_id is not None}
