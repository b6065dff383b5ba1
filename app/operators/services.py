"""Operator domain: start hooks and service functions of the three employment processes,
option providers, and the queries behind the personal, employer, staff and public pages.

Processes (docs/作业人员任职与离职.md):
  operator_join   作业人员任职申请  operator applies → the unit approves or declines
  operator_leave  作业人员离职申请  operator applies → the unit approves or declines
  operator_hire   单位聘用作业人员  the unit proposes → the operator confirms or declines
"""
from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from ..cases.models import Case
from ..cases.widgets import option_provider
from ..core.clock import today_local, utcnow
from ..core.models import Attachment, Organization, User
from ..core.pii import PiiError, normalize_phone
from ..core.tx import savepoint
from ..core.validators import is_valid_resident_id, is_valid_uscc
from ..engine.services import (
    ServiceContext,
    StartContext,
    case_panel,
    case_row,
    service,
    start_hook,
)
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from .models import (
    CERT_VALID_YEARS,
    Employment,
    EmploymentRequest,
    Operator,
    OperatorCertificate,
    id_number_index,
)

JOIN, LEAVE, HIRE = "operator_join", "operator_leave", "operator_hire"
PROCESS_KEYS = (JOIN, LEAVE, HIRE)
KIND_BY_PROCESS = {JOIN: "join", LEAVE: "leave", HIRE: "hire"}
EMPLOYER_KINDS = ("use_unit",)   # organisations whose safety administrators approve and propose
_WORK_ITEMS_FILE = Path(__file__).parent / "data" / "work_items.json"


# ---------------------------------------------------------------- reference data

@lru_cache(maxsize=1)
def work_items() -> dict[str, dict]:
    """TSG Z6001-2019 work items (作业项目), code → {code, category, name}; sources in the file."""
    data = json.loads(_WORK_ITEMS_FILE.read_text(encoding="utf-8"))
    return {item["code"]: item for item in data["items"]}


def work_item_label(code: str | None) -> str:
    item = work_items().get(code or "")
    return f"{item['code']} {item['name']}" if item else (code or "")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:          # 29 February
        return day.replace(year=day.year + years, day=28)


def certificate_expiry(issue_date: date) -> date:
    return add_years(issue_date, CERT_VALID_YEARS)


# ---------------------------------------------------------------- identity

def validate_id_number(raw: str | None, field: str = "id_number") -> str:
    """GB 11643 resident ID: 18 characters, a real birth date and the MOD 11-2 check character."""
    number = (raw or "").strip().upper()
    if not number:
        raise ValidationFailed({field: "此项为必填项"})
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValidationFailed({field: "公民身份号码应为18位（前17位为数字，最后一位为数字或X）"})
    if not is_valid_resident_id(number):
        raise ValidationFailed({field: "公民身份号码校验位不正确或出生日期无效，请核对"})
    return number


def create_operator(*, name: str, id_number: str, phone: str | None = None, education: str | None = None,
                    address: str | None = None, user: User | None = None) -> Operator:
    """Add a person to the operator database. Every field is checked before anything is written."""
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not 2 <= len(name) <= 64:
        errors["name"] = "姓名应为 2～64 个字"
    number = None
    try:
        number = validate_id_number(id_number)
    except ValidationFailed as err:
        errors.update(err.fields)
    if number and db.session.scalar(select(Operator.id).where(Operator.id_number_bidx == id_number_index(number))):
        errors["id_number"] = "该公民身份号码已在作业人员库中"
    if phone:
        try:
            normalize_phone(phone)
        except PiiError as err:
            errors["phone"] = str(err)
    if errors:
        raise ValidationFailed(errors)
    operator = Operator(name=name, education=education, address=address, user_id=user.id if user else None)
    operator.set_id_number(number)
    operator.set_phone(phone)
    db.session.add(operator)
    db.session.flush()
    return operator


def operator_for_user(user: User) -> Operator | None:
    if user is None or user.role != "operator":
        return None
    return db.session.scalar(select(Operator).where(Operator.user_id == user.id))


def require_operator(user: User) -> Operator:
    operator = operator_for_user(user)
    if operator is None:
        raise NotFound("未在作业人员基础数据库中找到您的档案，请联系属地监管部门核实")
    return operator


def lookup_operator(query: str) -> tuple[Operator | None, str | None]:
    """Exact lookup for employers: an 18-character resident ID (through the blind index) or a
    certificate number. Returns (operator, error message)."""
    q = (query or "").strip().upper()
    if not q:
        return None, None
    if len(q) == 18 and q[:17].isdigit():
        if not is_valid_resident_id(q):
            return None, "公民身份号码校验位不正确或出生日期无效，请核对"
        return db.session.scalar(select(Operator).where(Operator.id_number_bidx == id_number_index(q))), None
    cert = db.session.scalar(select(OperatorCertificate).where(OperatorCertificate.cert_no == q))
    return (cert.operator if cert else None), None


# ---------------------------------------------------------------- employment queries

def active_employment(operator_id: int, org_id: int, work_item: str) -> Employment | None:
    return db.session.scalar(select(Employment).where(
        Employment.operator_id == operator_id, Employment.org_id == org_id,
        Employment.work_item == work_item, Employment.status == "active"))


def pending_request(operator_id: int, org_id: int, work_item: str) -> EmploymentRequest | None:
    return db.session.scalar(select(EmploymentRequest).where(
        EmploymentRequest.operator_id == operator_id, EmploymentRequest.org_id == org_id,
        EmploymentRequest.work_item == work_item, EmploymentRequest.status == "pending")
        .options(joinedload(EmploymentRequest.case)))


def active_employments(operator: Operator) -> list[Employment]:
    return list(db.session.scalars(select(Employment).where(Employment.operator_id == operator.id,
                                                            Employment.status == "active")
                                   .options(joinedload(Employment.org))
                                   .order_by(Employment.started_on, Employment.id)))


def has_employer(user: User) -> bool:
    operator = operator_for_user(user)
    return operator is not None and db.session.scalar(
        select(func.count(Employment.id)).where(Employment.operator_id == operator.id,
                                                Employment.status == "active")) > 0


def colleagues_count(org_id: int, operator_id: int) -> int:
    """Other people with an active employment at the same organisation."""
    return db.session.scalar(select(func.count(func.distinct(Employment.operator_id))).where(
        Employment.org_id == org_id, Employment.status == "active", Employment.operator_id != operator_id)) or 0


def staff(org_id: int, status: str) -> list[Employment]:
    order = (Employment.started_on.desc(),) if status == "active" else (Employment.ended_on.desc(),)
    return list(db.session.scalars(select(Employment).where(Employment.org_id == org_id, Employment.status == status)
                                   .options(joinedload(Employment.operator).selectinload(Operator.certificates))
                                   .order_by(*order, Employment.id.desc())))


def requests_for_operator(operator: Operator) -> list[EmploymentRequest]:
    return list(db.session.scalars(select(EmploymentRequest).where(EmploymentRequest.operator_id == operator.id)
                                   .options(joinedload(EmploymentRequest.org), joinedload(EmploymentRequest.case))
                                   .order_by(EmploymentRequest.created_at.desc(), EmploymentRequest.id.desc())))


def pending_for_org(org_id: int) -> list[EmploymentRequest]:
    return list(db.session.scalars(select(EmploymentRequest).where(EmploymentRequest.org_id == org_id,
                                                                   EmploymentRequest.status == "pending")
                                   .options(joinedload(EmploymentRequest.operator), joinedload(EmploymentRequest.case))
                                   .order_by(EmploymentRequest.created_at.desc())))


def search_employers(q: str, limit: int = 20) -> list[Organization]:
    """Units an operator may apply to, by name or USCC."""
    q = (q or "").strip()[:50]
    if not q:
        return []
    cond = or_(Organization.name.icontains(q, autoescape=True), Organization.uscc == q.upper())
    return list(db.session.scalars(select(Organization).where(Organization.kind.in_(EMPLOYER_KINDS), cond)
                                   .order_by(Organization.name).limit(limit)))


def related_to_org(operator_id: int, org_id: int) -> bool:
    """The organisation employs or employed the operator, or they share an employment case."""
    return bool(db.session.scalar(select(func.count()).select_from(
        select(Employment.id).where(Employment.operator_id == operator_id, Employment.org_id == org_id)
        .union_all(select(EmploymentRequest.id).where(EmploymentRequest.operator_id == operator_id,
                                                      EmploymentRequest.org_id == org_id)).subquery())))


def request_for_case(case: Case) -> EmploymentRequest | None:
    return db.session.scalar(select(EmploymentRequest).where(EmploymentRequest.case_id == case.id)
                             .options(joinedload(EmploymentRequest.operator), joinedload(EmploymentRequest.org),
                                      joinedload(EmploymentRequest.certificate),
                                      joinedload(EmploymentRequest.employment)))


# ---------------------------------------------------------------- certificates (personal page)

CERT_SCHEMA = {
    "title": "作业人员证书",
    "type": "object",
    "required": ["cert_no", "work_item", "issue_date", "issuing_authority"],
    "properties": {
        "cert_no": {"type": "string", "title": "证书编号", "maxLength": 40, "pattern": "^[0-9A-Za-z-]{6,40}$",
                    "x-pattern-message": "证书编号为 6～40 位字母、数字或短横线"},
        "work_item": {"type": "string", "title": "作业项目（TSG Z6001-2019）", "ui:widget": "work_item"},
        "issue_date": {"type": "string", "format": "date", "title": "发证（复审）日期", "ui:widget": "date",
                       "ui:help": "证书有效期 4 年，有效期至按此日期自动计算"},
        "issuing_authority": {"type": "string", "title": "发证机关", "minLength": 2, "maxLength": 100},
        "photo": {"type": "array", "title": "证书照片", "items": {"type": "integer"}, "maxItems": 1,
                  "ui:widget": "files", "ui:accept": "image/jpeg,image/png,application/pdf",
                  "ui:help": "只能上传 1 个文件；修改时不选择文件则保留原照片"},
    },
    "ui": {"order": ["cert_no", "work_item", "issue_date", "issuing_authority", "photo"]},
}

PROFILE_SCHEMA = {
    "title": "联系方式与基本信息",
    "type": "object",
    "properties": {
        "phone": {"type": "string", "title": "移动电话", "maxLength": 20,
                  "ui:help": "留空表示不修改；保存后页面只显示脱敏号码"},
        "education": {"type": "string", "title": "学历", "enum": ["初中", "高中或中专", "大专", "本科", "研究生及以上"],
                      "ui:widget": "select"},
        "address": {"type": "string", "title": "联系地址", "maxLength": 300},
    },
    "ui": {"order": ["phone", "education", "address"]},
}


def _validate(schema: dict, raw: dict) -> dict:
    from ..engine import forms
    data = forms.clean_data(schema, forms.coerce(schema, raw))
    errors = forms.validate(schema, data)
    if errors:
        raise ValidationFailed(errors)
    return data


def update_profile(operator: Operator, raw: dict) -> None:
    data = _validate(PROFILE_SCHEMA, raw)
    if data.get("phone"):
        try:
            normalize_phone(data["phone"])
        except PiiError as err:
            raise ValidationFailed({"phone": str(err)}) from err
        operator.set_phone(data["phone"])
    operator.education = data.get("education")
    operator.address = data.get("address")
    operator.updated_at = utcnow()
    db.session.flush()


def save_certificate(operator: Operator, user: User, raw: dict,
                     cert: OperatorCertificate | None = None) -> OperatorCertificate:
    data = _validate(CERT_SCHEMA, raw)
    errors: dict[str, str] = {}
    cert_no = data["cert_no"].upper()
    clash = db.session.scalar(select(OperatorCertificate.id).where(OperatorCertificate.cert_no == cert_no))
    if clash and (cert is None or clash != cert.id):
        errors["cert_no"] = "该证书编号已登记"
    if data["work_item"] not in work_items():
        errors["work_item"] = "请选择有效的作业项目"
    issue_date = date.fromisoformat(data["issue_date"])
    if issue_date > today_local():
        errors["issue_date"] = "发证日期不能晚于今天"
    photo_ids = data.get("photo") or []
    photo_id = None
    if photo_ids:
        att = db.session.get(Attachment, photo_ids[-1])
        if att is None or att.uploaded_by_id != user.id or att.case_id is not None:
            errors["photo"] = "附件不存在或不属于当前用户"
        else:
            photo_id = att.id
    if cert is not None and cert.work_item != data["work_item"] and pending_uses(cert):
        errors["work_item"] = "该证书正用于办理中的任职申请，不能修改作业项目"
    if errors:
        raise ValidationFailed(errors)
    if cert is None:
        cert = OperatorCertificate(operator_id=operator.id)
        db.session.add(cert)
    cert.cert_no = cert_no
    cert.work_item = data["work_item"]
    cert.issue_date = issue_date
    cert.expiry_date = certificate_expiry(issue_date)
    cert.issuing_authority = data["issuing_authority"]
    if photo_id:
        cert.photo_attachment_id = photo_id
    cert.updated_at = utcnow()
    db.session.flush()
    return cert


def pending_uses(cert: OperatorCertificate) -> int:
    return db.session.scalar(select(func.count(EmploymentRequest.id)).where(
        EmploymentRequest.certificate_id == cert.id, EmploymentRequest.status == "pending")) or 0


def delete_certificate(cert: OperatorCertificate) -> None:
    if pending_uses(cert):
        raise Conflict("该证书正用于办理中的任职申请，办结后才能删除", code="certificate_in_use")
    db.session.delete(cert)
    db.session.flush()


def own_certificate(operator: Operator, cert_id: int) -> OperatorCertificate:
    cert = db.session.scalar(select(OperatorCertificate).where(OperatorCertificate.id == cert_id,
                                                               OperatorCertificate.operator_id == operator.id))
    if cert is None:
        raise NotFound("证书不存在")
    return cert


# ---------------------------------------------------------------- start hooks

def _certificate_error(cert: OperatorCertificate | None, operator: Operator, work_item: str) -> str | None:
    if cert is None or cert.operator_id != operator.id:
        return "请选择您本人登记的作业人员证书"
    if cert.work_item != work_item:
        return f"所选证书的作业项目为 {work_item_label(cert.work_item)}，与任职岗位不一致"
    if not cert.usable:
        return f"所选证书已过期（有效期至 {cert.expiry_date.isoformat()}），不能用于任职"
    return None


def _duplicate_errors(operator: Operator, org: Organization, work_item: str, field: str) -> dict:
    if active_employment(operator.id, org.id, work_item):
        return {field: f"已在 {org.name} 担任 {work_item_label(work_item)}，不能重复任职"}
    pending = pending_request(operator.id, org.id, work_item)
    if pending:
        return {field: f"相同单位、相同岗位已有一件{pending.kind_label}正在办理（{pending.case.case_no}）"}
    return {}


def _employer_by_uscc(raw: str | None) -> tuple[Organization | None, str | None]:
    uscc = (raw or "").strip().upper()
    if not is_valid_uscc(uscc):
        return None, "统一社会信用代码格式或校验位不正确"
    org = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
    if org is None:
        return None, "未找到该统一社会信用代码对应的单位"
    if org.kind not in EMPLOYER_KINDS:
        return None, "该单位不是特种设备使用单位，不能在线办理任职"
    return org, None


def _operator_or_fail(user: User) -> Operator:
    operator = operator_for_user(user)
    if operator is None:
        raise ValidationFailed({"_form": "未在作业人员基础数据库中找到您的档案，请联系属地监管部门核实"})
    return operator


@start_hook(JOIN)
def prepare_join(user: User, data: dict) -> StartContext:
    operator = _operator_or_fail(user)
    errors: dict[str, str] = {}
    org, org_error = _employer_by_uscc(data.get("org_uscc"))
    if org_error:
        errors["org_uscc"] = org_error
    work_item = data.get("work_item", "")
    if work_item not in work_items():
        errors["work_item"] = "请选择有效的作业项目"
    cert = db.session.get(OperatorCertificate, data.get("certificate_id") or 0)
    if "work_item" not in errors:
        cert_error = _certificate_error(cert, operator, work_item)
        if cert_error:
            errors["certificate_id"] = cert_error
    if org and "work_item" not in errors:
        errors.update({k: v for k, v in _duplicate_errors(operator, org, work_item, "work_item").items()
                       if k not in errors})
    if errors:
        raise ValidationFailed(errors)
    return StartContext(
        title=f"{operator.name} 申请到 {org.name} 任职（{work_item_label(work_item)}）",
        region_code=org.region_code, org_id=org.id,
        extra_data={"operator_id": operator.id, "operator_user_id": user.id, "unit_org_id": org.id,
                    "cert_no": cert.cert_no, "work_item_label": work_item_label(work_item)})


@start_hook(LEAVE)
def prepare_leave(user: User, data: dict) -> StartContext:
    operator = _operator_or_fail(user)
    employment = db.session.get(Employment, data.get("employment_id") or 0)
    if employment is None or employment.operator_id != operator.id or employment.status != "active":
        raise ValidationFailed({"employment_id": "只能对本人在职的任职关系申请离职"})
    pending = pending_request(operator.id, employment.org_id, employment.work_item)
    if pending:
        raise ValidationFailed({"employment_id": f"该任职关系已有一件{pending.kind_label}正在办理（{pending.case.case_no}）"})
    org = employment.org
    return StartContext(
        title=f"{operator.name} 申请从 {org.name} 离职（{work_item_label(employment.work_item)}）",
        region_code=org.region_code, org_id=org.id,
        extra_data={"operator_id": operator.id, "operator_user_id": user.id, "unit_org_id": org.id,
                    "work_item": employment.work_item, "work_item_label": work_item_label(employment.work_item)})


@start_hook(HIRE)
def prepare_hire(user: User, data: dict) -> StartContext:
    org = user.org
    if org is None or org.kind not in EMPLOYER_KINDS:
        raise Forbidden("只有使用单位的安全管理员可以发起聘用")
    errors: dict[str, str] = {}
    work_item = data.get("work_item", "")
    if work_item not in work_items():
        errors["work_item"] = "请选择有效的作业项目"
    cert = db.session.scalar(select(OperatorCertificate).where(
        OperatorCertificate.cert_no == (data.get("cert_no") or "").strip().upper()))
    operator = cert.operator if cert else None
    if cert is None:
        errors["cert_no"] = "作业人员库中没有该证书编号"
    elif operator.user_id is None:
        errors["cert_no"] = "该作业人员尚未开通个人账号，无法在线确认聘用"
    elif "work_item" not in errors:
        cert_error = _certificate_error(cert, operator, work_item)
        if cert_error:
            errors["cert_no"] = cert_error.replace("请选择您本人登记的作业人员证书", "证书不存在")
        else:
            errors.update(_duplicate_errors(operator, org, work_item, "work_item"))
    if errors:
        raise ValidationFailed(errors)
    return StartContext(
        title=f"{org.name} 聘用 {operator.name}（{work_item_label(work_item)}）",
        region_code=org.region_code, org_id=org.id,
        extra_data={"operator_id": operator.id, "operator_user_id": operator.user_id, "unit_org_id": org.id,
                    "certificate_id": cert.id, "cert_no": cert.cert_no,
                    "work_item_label": work_item_label(work_item)})


# ---------------------------------------------------------------- service tasks

def _request(ctx: ServiceContext) -> EmploymentRequest:
    return case_row(EmploymentRequest, ctx)


@service("operators.register_request")
def register_request(ctx: ServiceContext) -> dict:
    """登记申请: one pending request per (operator, unit, work item); the partial unique index
    settles a race between two simultaneous starts."""
    data = ctx.task_data
    row = EmploymentRequest(case_id=ctx.case.id, kind=KIND_BY_PROCESS[ctx.case.process_key],
                            operator_id=data["operator_id"], org_id=data["unit_org_id"], work_item=data["work_item"],
                            certificate_id=data.get("certificate_id"), cert_no=data.get("cert_no"),
                            employment_id=data.get("employment_id"), status="pending",
                            requested_by_id=data["initiator_id"])
    try:
        with savepoint():
            db.session.add(row)
            db.session.flush()
    except IntegrityError as err:
        raise ValidationFailed({"work_item": "相同单位、相同岗位已有一件申请正在办理"}) from err
    return {"request_id": row.id}


def _decide(ctx: ServiceContext, row: EmploymentRequest, status: str) -> None:
    row.status = status
    row.reason = ctx.task_data.get("opinion")
    row.decided_by_id = ctx.actor.id if ctx.actor else None
    row.decided_at = utcnow()


@service("operators.start_employment")
def start_employment(ctx: ServiceContext) -> dict:
    """建立任职关系 (join approved by the unit, or hire confirmed by the operator)."""
    row = _request(ctx)
    cert = row.certificate
    if cert is None or not cert.usable:
        raise ValidationFailed({"decision": "作业人员证书已删除或已过期，不能建立任职关系，请选择不同意并说明原因"})
    if active_employment(row.operator_id, row.org_id, row.work_item):
        raise ValidationFailed({"decision": "该作业人员已在本单位担任此岗位，不能重复任职，请选择不同意并说明原因"})
    employment = Employment(operator_id=row.operator_id, org_id=row.org_id, work_item=row.work_item,
                            status="active", started_on=today_local(), start_case_id=ctx.case.id)
    try:
        with savepoint():
            db.session.add(employment)
            db.session.flush()
    except IntegrityError as err:
        raise ValidationFailed({"decision": "该作业人员已在本单位担任此岗位，不能重复任职"}) from err
    row.employment_id = employment.id
    _decide(ctx, row, "approved")
    return {"employment_id": employment.id, "started_on": employment.started_on.isoformat()}


@service("operators.end_employment")
def end_employment(ctx: ServiceContext) -> dict:
    """解除任职关系 (leave approved by the unit)."""
    row = _request(ctx)
    employment = db.session.scalar(select(Employment).where(Employment.id == row.employment_id)
                                   .with_for_update())
    if employment is None or employment.status != "active":
        raise ValidationFailed({"decision": "该任职关系已解除，无需重复办理"})
    employment.status = "ended"
    employment.ended_on = today_local()
    employment.end_case_id = ctx.case.id
    _decide(ctx, row, "approved")
    return {"employment_id": employment.id, "ended_on": employment.ended_on.isoformat()}


@service("operators.decline")
def decline(ctx: ServiceContext) -> dict:
    """不同意: the reason (opinion) is kept on the request and shown on the timeline."""
    row = _request(ctx)
    _decide(ctx, row, "declined")
    return {"declined": True}


# ---------------------------------------------------------------- option providers

@option_provider("work_item")
def _work_item_widget(_user) -> list[tuple[str, str]]:
    return [(code, f"{code} {item['name']}（{item['category']}）") for code, item in work_items().items()]


@option_provider("my_certificate")
def _my_certificate_widget(user) -> list[tuple[str, str]]:
    operator = operator_for_user(user)
    if operator is None:
        return []
    return [(str(c.id), (f"{c.cert_no} · {work_item_label(c.work_item)} · "
                         f"有效期至 {c.expiry_date.isoformat()}（{c.status_label}）")) for c in operator.certificates]


@option_provider("my_employment")
def _my_employment_widget(user) -> list[tuple[str, str]]:
    operator = operator_for_user(user)
    if operator is None:
        return []
    return [(str(e.id), f"{e.org.name} · {work_item_label(e.work_item)} · {e.started_on.isoformat()} 起")
            for e in active_employments(operator)]


# ---------------------------------------------------------------- public lookup (§4.5.7.8)

def public_search(cert_no: str | None, employer: str | None, page: int, per_page: int):
    """Operators matching an exact certificate number and/or a current employer's name.
    Callers render masked data only."""
    conds = []
    if cert_no:
        conds.append(Operator.id.in_(select(OperatorCertificate.operator_id).where(
            OperatorCertificate.cert_no == cert_no.strip().upper())))
    if employer:
        conds.append(Operator.id.in_(
            select(Employment.operator_id).join(Organization, Employment.org_id == Organization.id)
            .where(Employment.status == "active", Organization.name.icontains(employer.strip(), autoescape=True))))
    query = select(Operator).where(*conds).order_by(Operator.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(db.session.scalars(query.options(selectinload(Operator.certificates))
                                    .limit(per_page).offset((page - 1) * per_page)))
    return items, total


def current_employers(operator_ids: list[int]) -> dict[int, list[Employment]]:
    rows: dict[int, list[Employment]] = {i: [] for i in operator_ids}
    if operator_ids:
        for e in db.session.scalars(select(Employment).where(Employment.operator_id.in_(operator_ids),
                                                             Employment.status == "active")
                                    .options(joinedload(Employment.org)).order_by(Employment.started_on)):
            rows[e.operator_id].append(e)
    return rows


def public_operator(public_id: str) -> Operator | None:
    if not public_id or len(public_id) > 24:
        return None
    return db.session.scalar(select(Operator).where(Operator.public_id == public_id)
                             .options(selectinload(Operator.certificates)))


@case_panel(*PROCESS_KEYS)
def employment_panel(case: Case) -> dict:
    return {"template": "operators/_case_panel.html", "request": request_for_case(case),
            "work_item_label": work_item_label}
