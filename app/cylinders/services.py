"""Reading and changing the cylinder archive, batches, fillings, units and scales, always within the
caller's scope:

- regulators: rows whose supervising region lies in theirs (a county sees its county's fillers);
- a filler (filling_unit): its own cylinders, fillings, scales and applications;
- a maker (cylinder_maker): the cylinders and batches it made, and the applications it filed as agent.

Services flush; callers commit. Every change writes an audit entry."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..core.clock import DISPLAY_TZ, today_local, utcnow
from ..core.models import Organization, User
from ..core.params import contains, int_arg, region_arg, text_arg
from ..core.scope import in_region
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from .models import (FILLER_TAGS, KIND_LABELS, STATUS_LABELS, TAG_LABELS, Cylinder, CylinderApplication,
                     CylinderApplicationItem, CylinderBatch, CylinderFilling, CylinderUnit, FillingScale)

TRACE_CODE = re.compile(r"^[0-9A-Za-z\-]{6,32}$")
FACTORY_NO = re.compile(r"^[0-9A-Za-z\-/]{1,40}$")


def _audit(summary: str, object_type: str, object_id, detail: dict | None = None, actor=None) -> None:
    from ..security.audit import audit
    audit("record.change", summary, object_type=object_type, object_id=object_id, detail=detail, actor=actor)


# ---------------------------------------------------------------- scope

def is_filler(user: User) -> bool:
    return user.role == "filling_unit" and user.org_id is not None


def is_maker(user: User) -> bool:
    return user.role == "cylinder_maker" and user.org_id is not None


def cylinder_scope(user: User):
    if user.is_regulator:
        return in_region(Cylinder.region_code, user.scope_prefix)
    if is_filler(user):
        return Cylinder.owner_org_id == user.org_id
    if is_maker(user):
        return Cylinder.maker_org_id == user.org_id
    return false()


def batch_scope(user: User):
    if user.is_regulator:
        return in_region(CylinderBatch.region_code, user.scope_prefix)
    if is_maker(user):
        return CylinderBatch.maker_org_id == user.org_id
    if is_filler(user):
        return CylinderBatch.client_org_id == user.org_id
    return false()


def filling_scope(user: User):
    if user.is_regulator:
        return in_region(CylinderFilling.region_code, user.scope_prefix)
    if is_filler(user):
        return CylinderFilling.filler_org_id == user.org_id
    return false()


def application_scope(user: User):
    if user.is_regulator:
        return in_region(CylinderApplication.region_code, user.scope_prefix)
    if is_filler(user):
        return CylinderApplication.filler_org_id == user.org_id
    if is_maker(user):
        return CylinderApplication.agent_org_id == user.org_id
    return false()


def scale_scope(user: User):
    if user.is_regulator:
        return in_region(FillingScale.region_code, user.scope_prefix)
    if is_filler(user):
        return FillingScale.org_id == user.org_id
    return false()


def unit_tag_scope(user: User):
    if user.is_regulator:
        return in_region(CylinderUnit.region_code, user.scope_prefix)
    return false()


def visible_cylinder(user: User, cylinder_id: int) -> Cylinder:
    row = db.session.scalar(select(Cylinder).where(Cylinder.id == cylinder_id, cylinder_scope(user))
                            .options(joinedload(Cylinder.owner)))
    if row is None:
        raise NotFound("气瓶不存在或不在您的查看范围内")
    return row


def find_by_trace_code(user: User, code: str) -> Cylinder | None:
    return db.session.scalar(select(Cylinder).where(Cylinder.trace_code == (code or "").strip(),
                                                    cylinder_scope(user)).options(joinedload(Cylinder.owner)))


def visible_batch(user: User, batch_id: int) -> CylinderBatch:
    row = db.session.scalar(select(CylinderBatch).where(CylinderBatch.id == batch_id, batch_scope(user)))
    if row is None:
        raise NotFound("出厂记录不存在或不在您的查看范围内")
    return row


def visible_application(user: User, application_id: int) -> CylinderApplication:
    row = db.session.scalar(select(CylinderApplication).where(CylinderApplication.id == application_id,
                                                              application_scope(user)))
    if row is None:
        raise NotFound("登记申请不存在或不在您的查看范围内")
    return row


def visible_filling(user: User, filling_id: int) -> CylinderFilling:
    row = db.session.scalar(select(CylinderFilling).where(CylinderFilling.id == filling_id, filling_scope(user)))
    if row is None:
        raise NotFound("充装记录不存在或不在您的查看范围内")
    return row


def visible_scale(user: User, scale_id: int) -> FillingScale:
    row = db.session.scalar(select(FillingScale).where(FillingScale.id == scale_id, scale_scope(user)))
    if row is None:
        raise NotFound("充装秤不存在或不在您的查看范围内")
    return row


# ---------------------------------------------------------------- licence (read through the registry)

def holds_filling_licence(org_id: int | None, on: date | None = None) -> bool:
    from ..registry.services import valid_licences
    return bool(org_id) and bool(valid_licences(org_id, "filling", on or today_local()))


# ---------------------------------------------------------------- archive queries

COUNT_CAP = 100_000       # list totals count up to here: the province's 5 M cylinders are not counted per page


def capped_page(query, page: int, per_page: int, cap: int = COUNT_CAP) -> tuple[list, int, bool]:
    """(items, total, capped): a page and a total counted only up to `cap` (capped: there are more)."""
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique())
    if 0 < len(items) < per_page or (page == 1 and not items):
        return items, (page - 1) * per_page + len(items), False
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).limit(cap + 1).subquery()))
    return items, min(total, cap), total > cap


@dataclass
class CylinderFilter:
    q: str | None = None            # trace code or factory number (exact), or batch number
    kind: str | None = None
    status: str | None = None
    reg_state: str | None = None
    owner: int | None = None        # owner org id (regulators)
    region: str | None = None
    due: str | None = None          # overdue | soon (next inspection)
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "CylinderFilter":
        kind, status, reg_state, due = (args.get("kind"), args.get("status"), args.get("reg_state"),
                                        args.get("due"))
        owner = int_arg(args, "owner", 0, 0, 2**31 - 1)
        return cls(q=text_arg(args, "q", 40), kind=kind if kind in KIND_LABELS else None,
                   status=status if status in STATUS_LABELS else None,
                   reg_state=reg_state if reg_state in ("unregistered", "pending", "registered") else None,
                   owner=owner or None, region=region_arg(args), due=due if due in ("overdue", "soon") else None,
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))

    def active(self) -> int:
        return sum(1 for v in (self.q, self.kind, self.status, self.reg_state, self.owner, self.region, self.due) if v)


def cylinder_query(user: User, f: CylinderFilter):
    query = select(Cylinder).where(cylinder_scope(user))
    if f.q:
        query = query.where(or_(Cylinder.trace_code == f.q, Cylinder.factory_no == f.q, Cylinder.batch_no == f.q))
    if f.kind:
        query = query.where(Cylinder.kind == f.kind)
    if f.status:
        query = query.where(Cylinder.status == f.status)
    if f.reg_state:
        query = query.where(Cylinder.reg_state == f.reg_state)
    if f.owner:
        query = query.where(Cylinder.owner_org_id == f.owner)
    if f.region:
        query = query.where(in_region(Cylinder.region_code, f.region if len(f.region) == 6 and not f.region.endswith("00")
                                      else f.region.rstrip("0")))
    if f.due == "overdue":
        query = query.where(Cylinder.next_inspection_date < today_local(), Cylinder.status.in_(("in_use", "stopped")))
    elif f.due == "soon":
        today = today_local()
        query = query.where(Cylinder.next_inspection_date.between(today, today + timedelta(days=30)))
    return query.options(joinedload(Cylinder.owner)).order_by(Cylinder.id.desc())


# ---------------------------------------------------------------- archive changes

FIELDS = {  # key: (label, required)
    "trace_code": ("溯源码", True), "factory_no": ("出厂编号", True), "maker_name": ("制造单位", False),
    "batch_no": ("生产批号", False), "kind": ("气瓶品种", True), "medium": ("充装介质", True),
    "volume_l": ("公称容积（L）", True), "nominal_pressure_mpa": ("公称工作压力（MPa）", True),
    "manufacture_date": ("制造日期", True), "design_life_years": ("设计使用年限（年）", True),
    "last_inspection_date": ("上次检验日期", False), "next_inspection_date": ("下次检验日期", False),
}


def parse_cylinder_values(raw: dict, *, partial: bool = False) -> tuple[dict, dict]:
    """(values, errors): per-field Chinese errors; nothing is written here."""
    values, errors = {}, {}

    def text(key, limit, pattern=None, message=None):
        value = (str(raw.get(key) or "")).strip()
        if not value:
            if FIELDS[key][1] and not partial:
                errors[key] = "此项为必填项"
            return
        if len(value) > limit:
            errors[key] = f"不能超过 {limit} 个字"
        elif pattern is not None and not pattern.match(value):
            errors[key] = message or "格式不正确"
        else:
            values[key] = value

    def number(key, lo, hi, integer=False):
        value = raw.get(key)
        if value in (None, ""):
            if FIELDS[key][1] and not partial:
                errors[key] = "此项为必填项"
            return
        try:
            parsed = int(value) if integer else float(value)
        except (TypeError, ValueError):
            errors[key] = "请填写整数" if integer else "请填写数字"
            return
        if not (lo <= parsed <= hi):
            errors[key] = f"应在 {lo} 到 {hi} 之间"
        else:
            values[key] = parsed

    def day(key, future_ok=False):
        value = raw.get(key)
        if value in (None, ""):
            if FIELDS[key][1] and not partial:
                errors[key] = "此项为必填项"
            return
        try:
            parsed = value if isinstance(value, date) else date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            errors[key] = "日期格式应为 YYYY-MM-DD"
            return
        if not future_ok and parsed > today_local():
            errors[key] = "日期不能晚于今天"
        elif parsed.year < 1950:
            errors[key] = "日期不能早于 1950 年"
        else:
            values[key] = parsed

    text("trace_code", 32, TRACE_CODE, "溯源码为 6–32 位字母、数字或短横线")
    text("factory_no", 40, FACTORY_NO, "出厂编号为字母、数字、短横线或斜线")
    text("maker_name", 200)
    text("batch_no", 40)
    kind = raw.get("kind")
    if isinstance(kind, str) and kind in KIND_LABELS:
        values["kind"] = kind
    elif kind or not partial:
        errors["kind"] = "请选择有效的选项" if kind else "此项为必填项"
    text("medium", 40)
    number("volume_l", 0.1, 3000)
    number("nominal_pressure_mpa", 0.1, 100)
    day("manufacture_date")
    number("design_life_years", 1, 50, integer=True)
    day("last_inspection_date")
    day("next_inspection_date", future_ok=True)
    if values.get("last_inspection_date") and values.get("manufacture_date") \
            and values["last_inspection_date"] < values["manufacture_date"]:
        errors["last_inspection_date"] = "上次检验日期不能早于制造日期"
    return values, errors


def _trace_code_taken(code: str, exclude_id: int | None = None) -> bool:
    query = select(Cylinder.id).where(Cylinder.trace_code == code)
    if exclude_id:
        query = query.where(Cylinder.id != exclude_id)
    return db.session.scalar(query) is not None


def add_cylinder(user: User, raw: dict, *, owner_org: Organization | None = None,
                 batch: CylinderBatch | None = None, source: str = "web") -> Cylinder:
    """A filler adds a cylinder to its archive; a maker adds one to a batch (owner = the batch's client)."""
    if batch is None and not is_filler(user):
        raise Forbidden("只有气瓶充装单位可以在气瓶档案中新增气瓶")
    values, errors = parse_cylinder_values(raw)
    if "trace_code" in values and _trace_code_taken(values["trace_code"]):
        errors["trace_code"] = "该溯源码已被使用（溯源码终身唯一，报废注销的气瓶也不能重复使用）"
    if errors:
        raise ValidationFailed(errors)
    if batch is not None:
        owner = batch.client
        region = owner.region_code if owner else batch.region_code
        values.update(maker_name=batch.maker.name, batch_no=batch.batch_no)
        cylinder = Cylinder(**values, maker_org_id=batch.maker_org_id, batch_id=batch.id, owner_org_id=batch.client_org_id,
                            region_code=region, reg_state="unregistered", status="in_use")
    else:
        owner = owner_org or db.session.get(Organization, user.org_id)
        cylinder = Cylinder(**values, owner_org_id=owner.id, region_code=owner.region_code,
                            reg_state="unregistered", status="in_use")
    try:
        with db.session.begin_nested():
            db.session.add(cylinder)
    except IntegrityError as err:
        raise ValidationFailed({"trace_code": "该溯源码已被使用（溯源码终身唯一）"}) from err
    _audit(f"新增气瓶 {cylinder.trace_code}（出厂编号 {cylinder.factory_no}）", "cylinder", cylinder.id,
           {"source": source}, actor=user)
    return cylinder


def may_edit_cylinder(user: User, cylinder: Cylinder) -> bool:
    if is_filler(user) and cylinder.owner_org_id == user.org_id:
        return True
    return is_maker(user) and cylinder.maker_org_id == user.org_id and cylinder.reg_state == "unregistered"


def edit_cylinder(user: User, cylinder: Cylinder, raw: dict) -> Cylinder:
    if not may_edit_cylinder(user, cylinder):
        raise Forbidden("您不能修改该气瓶档案")
    values, errors = parse_cylinder_values(raw)
    if cylinder.reg_state != "unregistered":
        # Registered facts are the authority's: only inspection dates may change after registration.
        for key in ("trace_code", "factory_no", "kind", "medium", "volume_l", "nominal_pressure_mpa",
                    "manufacture_date", "design_life_years"):
            if key in values and values[key] != getattr(cylinder, key):
                errors[key] = "已登记（或登记办理中）的气瓶不能修改登记信息，如需更正请办理变更登记"
    elif "trace_code" in values and _trace_code_taken(values["trace_code"], cylinder.id):
        errors["trace_code"] = "该溯源码已被使用（溯源码终身唯一）"
    if errors:
        raise ValidationFailed(errors)
    changed = {}
    for key, value in values.items():
        if getattr(cylinder, key) != value:
            changed[key] = [str(getattr(cylinder, key)), str(value)]
            setattr(cylinder, key, value)
    for key in ("last_inspection_date", "next_inspection_date", "maker_name", "batch_no"):
        if key not in values and getattr(cylinder, key) is not None and not raw.get(key):
            changed[key] = [str(getattr(cylinder, key)), ""]
            setattr(cylinder, key, None)
    if changed:
        cylinder.updated_at = utcnow()
        db.session.flush()
        _audit(f"修改气瓶档案 {cylinder.trace_code}：" + "、".join(FIELDS[k][0] for k in changed), "cylinder",
               cylinder.id, {"changes": changed}, actor=user)
    return cylinder


def delete_cylinder(user: User, cylinder: Cylinder) -> None:
    """Only a cylinder entered by mistake: never registered, never filled, in no application."""
    if not may_edit_cylinder(user, cylinder):
        raise Forbidden("您不能删除该气瓶档案")
    if cylinder.reg_state != "unregistered":
        raise Conflict("已登记或登记办理中的气瓶不能删除；停用、报废请办理相应登记", code="cylinder_registered")
    if db.session.scalar(select(CylinderApplicationItem.id).where(CylinderApplicationItem.cylinder_id == cylinder.id)):
        raise Conflict("该气瓶已列入登记申请，不能删除", code="cylinder_in_application")
    if db.session.scalar(select(CylinderFilling.id).where(CylinderFilling.cylinder_id == cylinder.id).limit(1)):
        raise Conflict("该气瓶已有充装记录，不能删除", code="cylinder_filled")
    _audit(f"删除气瓶档案 {cylinder.trace_code}（录入错误）", "cylinder", cylinder.id, actor=user)
    db.session.delete(cylinder)
    db.session.flush()


def cylinder_json(c: Cylinder) -> dict:
    return {"id": c.id, "trace_code": c.trace_code, "factory_no": c.factory_no, "maker_name": c.maker_name,
            "maker_org_id": c.maker_org_id, "batch_no": c.batch_no, "kind": c.kind, "kind_label": c.kind_label,
            "medium": c.medium, "volume_l": c.volume_l, "nominal_pressure_mpa": c.nominal_pressure_mpa,
            "manufacture_date": _iso(c.manufacture_date), "design_life_years": c.design_life_years,
            "life_end": _iso(c.life_end), "owner_org_id": c.owner_org_id,
            "owner_name": c.owner.name if c.owner else None, "region_code": c.region_code,
            "reg_state": c.reg_state, "reg_state_label": c.reg_state_label, "registration_no": c.registration_no,
            "last_inspection_date": _iso(c.last_inspection_date),
            "next_inspection_date": _iso(c.next_inspection_date), "status": c.status,
            "status_label": c.status_label}


def _iso(value):
    if value is None:
        return None
    return value.isoformat()


def _when(value: datetime | None) -> str | None:
    """A stored time as Beijing time with its offset (SQLite hands back naive UTC)."""
    from ..core.clock import to_local
    local = to_local(value)
    return local.isoformat() if local else None


# ---------------------------------------------------------------- desk (§4.4.3.1–2)

def desk(user: User) -> dict:
    """Counts for a filler's desk: shown only when the unit holds a valid filling licence."""
    org_id = user.org_id
    licensed = holds_filling_licence(org_id)
    result = {"licensed": licensed, "counts": None, "todos": None}
    if not licensed:
        return result
    rows = db.session.execute(select(Cylinder.reg_state, Cylinder.status, func.count())
                              .where(Cylinder.owner_org_id == org_id)
                              .group_by(Cylinder.reg_state, Cylinder.status)).all()
    counts = {"total": 0, "in_use": 0, "stopped": 0, "scrapped": 0, "cancelled": 0, "unregistered": 0}
    for reg_state, status, n in rows:
        counts["total"] += n
        counts[status] = counts.get(status, 0) + n
        if reg_state == "unregistered" and status == "in_use":
            counts["unregistered"] += n
    today = today_local()
    active = Cylinder.status.in_(("in_use", "stopped"))
    due_inspection = db.session.scalar(select(func.count()).where(
        Cylinder.owner_org_id == org_id, active, Cylinder.next_inspection_date <= today + timedelta(days=30)))
    # 待报废: past design life (manufacture date + design life) and not yet scrapped. Computed in Python
    # over the unit's active cylinders' (date, life) pairs grouped in SQL.
    to_scrap = 0
    for made, life, n in db.session.execute(
            select(Cylinder.manufacture_date, Cylinder.design_life_years, func.count())
            .where(Cylinder.owner_org_id == org_id, active)
            .group_by(Cylinder.manufacture_date, Cylinder.design_life_years)):
        try:
            end = made.replace(year=made.year + life)
        except ValueError:
            end = made.replace(year=made.year + life, day=28)
        if end <= today:
            to_scrap += n
    result["counts"] = counts
    result["todos"] = {"unregistered": counts["unregistered"], "inspection": due_inspection, "scrap": to_scrap}
    return result


# ---------------------------------------------------------------- batches (maker, §4.4.2.1)

BATCH_FIELDS = {"batch_no": "生产批号", "product_name": "产品名称", "kind": "气瓶品种", "medium": "充装介质",
                "volume_l": "公称容积（L）", "nominal_pressure_mpa": "公称工作压力（MPa）",
                "manufacture_date": "制造日期", "design_life_years": "设计使用年限（年）",
                "client_uscc": "委托充装单位（统一社会信用代码）", "note": "备注"}


def filler_units_query(user: User, q: str | None = None):
    """Fillers a maker may name as client (or a regulator look up): units tagged as fillers."""
    query = (select(Organization).join(CylinderUnit, CylinderUnit.org_id == Organization.id)
             .where(CylinderUnit.tag.in_(FILLER_TAGS)))
    if user.is_regulator:
        query = query.where(in_region(Organization.region_code, user.scope_prefix))
    elif is_filler(user):
        query = query.where(Organization.id == user.org_id)
    elif not is_maker(user):
        query = query.where(false())
    if q:
        query = query.where(or_(contains(Organization.name, q), Organization.uscc == q.upper()))
    return query.distinct().order_by(Organization.name, Organization.id)


def _batch_values(raw: dict, user: User, batch: CylinderBatch | None) -> dict:
    errors, values = {}, {}
    for key in ("batch_no", "product_name", "medium"):
        value = (str(raw.get(key) or "")).strip()
        limit = 40 if key != "product_name" else 100
        if not value:
            errors[key] = "此项为必填项"
        elif len(value) > limit:
            errors[key] = f"不能超过 {limit} 个字"
        else:
            values[key] = value
    spec, spec_errors = parse_cylinder_values(
        {**{k: raw.get(k) for k in ("kind", "medium", "volume_l", "nominal_pressure_mpa",
                                    "manufacture_date", "design_life_years")}, "trace_code": "XXXXXX", "factory_no": "X"})
    errors.update({k: v for k, v in spec_errors.items() if k not in ("trace_code", "factory_no", "medium")})
    values.update({k: v for k, v in spec.items() if k not in ("trace_code", "factory_no", "medium")})
    client_uscc = (str(raw.get("client_uscc") or "")).strip().upper()
    values["client_org_id"] = None
    if client_uscc:
        client = db.session.scalar(filler_units_query(user).where(Organization.uscc == client_uscc))
        if client is None:
            errors["client_uscc"] = "该单位不是已纳入管理的气瓶充装单位"
        else:
            values["client_org_id"] = client.id
    note = (str(raw.get("note") or "")).strip()
    if len(note) > 500:
        errors["note"] = "不能超过 500 个字"
    values["note"] = note or None
    if "batch_no" in values:
        query = select(CylinderBatch.id).where(CylinderBatch.maker_org_id == user.org_id,
                                               CylinderBatch.batch_no == values["batch_no"])
        if batch is not None:
            query = query.where(CylinderBatch.id != batch.id)
        if db.session.scalar(query):
            errors["batch_no"] = "本单位已有该生产批号的出厂记录"
    if errors:
        raise ValidationFailed(errors)
    return values


def create_batch(user: User, raw: dict) -> CylinderBatch:
    if not is_maker(user):
        raise Forbidden("只有气瓶制造单位可以新增出厂记录")
    values = _batch_values(raw, user, None)
    maker = db.session.get(Organization, user.org_id)
    batch = CylinderBatch(**values, maker_org_id=maker.id, region_code=maker.region_code, certificate_ids="[]",
                          created_by_id=user.id)
    db.session.add(batch)
    db.session.flush()
    _audit(f"新增出厂记录 批号 {batch.batch_no}", "cylinder_batch", batch.id, actor=user)
    return batch


def edit_batch(user: User, batch: CylinderBatch, raw: dict) -> CylinderBatch:
    if not (is_maker(user) and batch.maker_org_id == user.org_id):
        raise Forbidden("只有制造单位本单位可以修改出厂记录")
    values = _batch_values(raw, user, batch)
    registered = db.session.scalar(select(func.count()).where(Cylinder.batch_id == batch.id,
                                                              Cylinder.reg_state != "unregistered"))
    if registered and values["client_org_id"] != batch.client_org_id:
        raise ValidationFailed({"client_uscc": "本批已有气瓶登记或登记办理中，不能更换委托充装单位"})
    for key, value in values.items():
        setattr(batch, key, value)
    batch.updated_at = utcnow()
    # The batch's unregistered cylinders follow the batch's client and maker facts.
    client = db.session.get(Organization, batch.client_org_id) if batch.client_org_id else None
    for c in db.session.scalars(select(Cylinder).where(Cylinder.batch_id == batch.id,
                                                       Cylinder.reg_state == "unregistered")):
        c.owner_org_id = batch.client_org_id
        c.region_code = client.region_code if client else batch.region_code
        c.batch_no = batch.batch_no
    db.session.flush()
    _audit(f"修改出厂记录 批号 {batch.batch_no}", "cylinder_batch", batch.id, actor=user)
    return batch


def batch_certificates(batch: CylinderBatch) -> list:
    from ..core.models import Attachment
    ids = json.loads(batch.certificate_ids or "[]")
    if not ids:
        return []
    return list(db.session.scalars(select(Attachment).where(Attachment.id.in_(ids)).order_by(Attachment.id)))


def add_certificate(user: User, batch: CylinderBatch, upload) -> None:
    if not (is_maker(user) and batch.maker_org_id == user.org_id):
        raise Forbidden("只有制造单位本单位可以上传证书")
    from ..core.storage import save_upload
    att = save_upload(upload, user)
    ids = json.loads(batch.certificate_ids or "[]") + [att.id]
    batch.certificate_ids = json.dumps(ids)
    batch.updated_at = utcnow()
    db.session.flush()
    _audit(f"出厂记录 批号 {batch.batch_no} 上传证书 {att.filename}", "cylinder_batch", batch.id, actor=user)


def batch_json(b: CylinderBatch, count: int | None = None) -> dict:
    return {"id": b.id, "batch_no": b.batch_no, "product_name": b.product_name, "kind": b.kind,
            "kind_label": b.kind_label, "medium": b.medium, "volume_l": b.volume_l,
            "nominal_pressure_mpa": b.nominal_pressure_mpa, "manufacture_date": _iso(b.manufacture_date),
            "design_life_years": b.design_life_years, "maker_org_id": b.maker_org_id,
            "maker_name": b.maker.name, "client_org_id": b.client_org_id,
            "client_name": b.client.name if b.client else None, "region_code": b.region_code,
            "cylinder_count": count, "note": b.note}


def batch_counts(batch_ids: list[int]) -> dict[int, int]:
    if not batch_ids:
        return {}
    return dict(db.session.execute(select(Cylinder.batch_id, func.count()).where(Cylinder.batch_id.in_(batch_ids))
                                   .group_by(Cylinder.batch_id)).all())


# ---------------------------------------------------------------- fillings (§4.4.3.4)

@dataclass
class FillingFilter:
    q: str | None = None           # trace code
    month: str | None = None       # YYYY-MM
    start: date | None = None
    end: date | None = None
    org: int | None = None
    result: str | None = None
    region: str | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "FillingFilter":
        from ..core.params import date_arg
        month = (args.get("month") or "").strip()
        result = args.get("result")
        return cls(q=text_arg(args, "q", 32), month=month if re.match(r"^\d{4}-(0[1-9]|1[0-2])$", month) else None,
                   start=date_arg(args, "start"), end=date_arg(args, "end"),
                   org=int_arg(args, "org", 0, 0, 2**31 - 1) or None,
                   result=result if result in CylinderFilling.RESULT_LABELS else None, region=region_arg(args),
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        if self.month:
            y, m = map(int, self.month.split("-"))
            lo = date(y, m, 1)
            hi = date(y + (m == 12), m % 12 + 1, 1)
            return _local(lo), _local(hi)
        return (_local(self.start) if self.start else None,
                _local(self.end + timedelta(days=1)) if self.end else None)

    def active(self) -> int:
        return sum(1 for v in (self.q, self.month, self.start, self.end, self.org, self.result, self.region) if v)


def _local(day: date) -> datetime:
    """00:00 Beijing time of `day`, in UTC (SQLite compares stored naive UTC text)."""
    return datetime.combine(day, time(0, 0), tzinfo=DISPLAY_TZ).astimezone(timezone.utc)


def filling_query(user: User, f: FillingFilter):
    query = select(CylinderFilling).where(filling_scope(user))
    lo, hi = f.bounds()
    if lo:
        query = query.where(CylinderFilling.filled_at >= lo)
    if hi:
        query = query.where(CylinderFilling.filled_at < hi)
    if f.q:
        query = query.where(CylinderFilling.trace_code == f.q)
    if f.org:
        query = query.where(CylinderFilling.filler_org_id == f.org)
    if f.result:
        query = query.where(CylinderFilling.result == f.result)
    if f.region:
        query = query.where(in_region(CylinderFilling.region_code, f.region))
    return query.order_by(CylinderFilling.filled_at.desc(), CylinderFilling.id.desc())


def record_filling(user: User, raw: dict, source: str = "web") -> CylinderFilling:
    """A filler records one filling of its own cylinder. A locked scale refuses the fill."""
    if not is_filler(user):
        raise Forbidden("只有气瓶充装单位可以录入充装记录")
    errors, values = {}, {}
    code = (str(raw.get("trace_code") or "")).strip()
    cylinder = None
    if not code:
        errors["trace_code"] = "此项为必填项"
    else:
        cylinder = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == code,
                                                            Cylinder.owner_org_id == user.org_id))
        if cylinder is None:
            errors["trace_code"] = "本单位气瓶档案中没有该溯源码"
    operator = (str(raw.get("operator_name") or "")).strip()
    if not operator:
        errors["operator_name"] = "此项为必填项"
    elif len(operator) > 64:
        errors["operator_name"] = "不能超过 64 个字"
    for key in ("pre_check", "post_check"):
        value = raw.get(key) or ""
        value = value if isinstance(value, str) else "?"
        if value not in CylinderFilling.CHECK_LABELS and (key == "pre_check" or value):
            errors[key] = "请选择有效的选项" if value else "此项为必填项"
        values[key] = value or None
    filled_at = raw.get("filled_at")
    try:
        when = datetime.fromisoformat(str(filled_at)) if filled_at else None
    except ValueError:
        when = None
        errors["filled_at"] = "时间格式应为 YYYY-MM-DDTHH:MM"
    if when is None and "filled_at" not in errors:
        errors["filled_at"] = "此项为必填项"
    elif when is not None:
        when = (when if when.tzinfo else when.replace(tzinfo=DISPLAY_TZ)).astimezone(timezone.utc)
        if when > utcnow() + timedelta(minutes=5):
            errors["filled_at"] = "充装时间不能晚于现在"
    for key, lo, hi in (("weight_kg", 0, 1000), ("pressure_mpa", 0, 100)):
        value = raw.get(key)
        if value in (None, ""):
            values[key] = None
            continue
        try:
            values[key] = float(value)
            if not lo <= values[key] <= hi:
                errors[key] = f"应在 {lo} 到 {hi} 之间"
        except (TypeError, ValueError):
            errors[key] = "请填写数字"
    scale = None
    scale_id = raw.get("scale_id")
    if scale_id not in (None, ""):
        try:
            scale = db.session.scalar(select(FillingScale).where(FillingScale.id == int(scale_id),
                                                                 FillingScale.org_id == user.org_id))
        except (TypeError, ValueError):
            scale = None
        if scale is None:
            errors["scale_id"] = "请选择本单位的充装秤"
        elif scale.locked:
            errors["scale_id"] = f"充装秤 {scale.code} 已被监管部门锁定，不能充装（{scale.lock_reason or '未说明原因'}）"
    if cylinder is not None and "trace_code" not in errors:
        refusal = refusal_reason(cylinder)
        if refusal and values.get("pre_check") != "fail":
            errors["pre_check"] = f"该气瓶{refusal}，充装前检查应判为不合格并拒绝充装"
    if errors:
        raise ValidationFailed(errors)
    result = "filled" if values["pre_check"] == "pass" else "refused"
    note = (str(raw.get("note") or "")).strip()[:300] or None
    row = CylinderFilling(filled_at=when, cylinder_id=cylinder.id, trace_code=cylinder.trace_code,
                          filler_org_id=user.org_id, region_code=cylinder.region_code,
                          scale_id=scale.id if scale else None, operator_name=operator, pre_check=values["pre_check"],
                          medium=cylinder.medium, weight_kg=values["weight_kg"], pressure_mpa=values["pressure_mpa"],
                          post_check=values["post_check"] if result == "filled" else None, result=result, note=note,
                          source=source)
    db.session.add(row)
    db.session.flush()
    _audit(f"录入充装记录 气瓶 {cylinder.trace_code}（{CylinderFilling.RESULT_LABELS[result]}）", "cylinder_filling",
           row.id, actor=user)
    return row


def refusal_reason(c: Cylinder) -> str | None:
    """Why a cylinder must not be filled: not in use, not registered, past its inspection date or design life
    (the 充装即公示 / 违法即预警 cases of §4.4; the exact rule set is part 3's warnings)."""
    if c.status != "in_use":
        return f"状态为{c.status_label}"
    if c.reg_state != "registered":
        return "未办理使用登记"
    today = today_local()
    if c.next_inspection_date and c.next_inspection_date < today:
        return "已超过检验有效期"
    if c.life_end and c.life_end <= today:
        return "已超过设计使用年限"
    return None


def filling_json(r: CylinderFilling) -> dict:
    return {"id": r.id, "filled_at": _when(r.filled_at), "cylinder_id": r.cylinder_id,
            "trace_code": r.trace_code, "filler_org_id": r.filler_org_id, "region_code": r.region_code,
            "scale_id": r.scale_id, "operator_name": r.operator_name, "pre_check": r.pre_check,
            "medium": r.medium, "weight_kg": r.weight_kg, "pressure_mpa": r.pressure_mpa,
            "post_check": r.post_check, "result": r.result, "result_label": CylinderFilling.RESULT_LABELS.get(r.result),
            "source": r.source, "note": r.note}


# ---------------------------------------------------------------- units and scales (regulators)

def tagged_units_query(user: User, tag: str | None, q: str | None = None):
    query = (select(CylinderUnit).where(unit_tag_scope(user)).join(CylinderUnit.org)
             .options(joinedload(CylinderUnit.org)))
    if tag in TAG_LABELS:
        query = query.where(CylinderUnit.tag == tag)
    if q:
        query = query.where(or_(contains(Organization.name, q), Organization.uscc == q.upper()))
    return query.order_by(Organization.name, CylinderUnit.id)


def tag_unit(user: User, uscc: str, tag: str) -> CylinderUnit:
    """Take a registry unit under cylinder supervision (监管标签)."""
    from ..registry.services import unit_scope
    if not user.is_regulator:
        raise Forbidden("只有监管人员可以管理气瓶单位")
    errors = {}
    if tag not in TAG_LABELS:
        errors["tag"] = "请选择有效的选项"
    uscc = (uscc or "").strip().upper()
    org = db.session.scalar(select(Organization).where(Organization.uscc == uscc, unit_scope(user))) if uscc else None
    if not uscc:
        errors["uscc"] = "此项为必填项"
    elif org is None or not org.region_code.startswith(user.scope_prefix):
        errors["uscc"] = "单位库中没有该统一社会信用代码的本辖区单位，请先在单位名录中登记"
    if errors:
        raise ValidationFailed(errors)
    existing = db.session.scalar(select(CylinderUnit).where(CylinderUnit.org_id == org.id, CylinderUnit.tag == tag))
    if existing:
        raise ValidationFailed({"uscc": f"该单位已是{TAG_LABELS[tag]}"})
    row = CylinderUnit(org_id=org.id, tag=tag, region_code=org.region_code, created_by_id=user.id)
    db.session.add(row)
    db.session.flush()
    _audit(f"{org.name} 纳入气瓶监管：{TAG_LABELS[tag]}", "cylinder_unit", row.id, actor=user)
    return row


def unit_licences(org_ids: list[int]) -> dict[int, list]:
    from ..registry.services import licences_of
    return licences_of(org_ids)


def open_account(user: User, unit: CylinderUnit, username: str, display_name: str) -> tuple[User, str]:
    """Open the unit's enterprise portal account; returns the user and a one-time initial password
    (must be changed at first login)."""
    import secrets

    from ..core.gm import hash_password
    if not (user.is_regulator and unit.region_code.startswith(user.scope_prefix)):
        raise Forbidden("只能为本辖区的气瓶单位开通账户")
    errors = {}
    username = (username or "").strip()
    display_name = (display_name or "").strip()
    if not re.match(r"^[A-Za-z][A-Za-z0-9_]{3,31}$", username):
        errors["username"] = "账号为 4–32 位字母、数字或下划线，以字母开头"
    elif db.session.scalar(select(User.id).where(User.username == username)):
        errors["username"] = "该账号已被使用"
    if not display_name or len(display_name) > 64:
        errors["display_name"] = "请填写使用人姓名（不超过 64 个字）"
    if errors:
        raise ValidationFailed(errors)
    role = "cylinder_maker" if unit.tag == "maker" else "filling_unit"
    password = "Gx" + secrets.token_urlsafe(9) + "9!"
    from flask import current_app
    account = User(username=username, display_name=display_name, role=role, region_code=unit.region_code,
                   org_id=unit.org_id, must_change_password=True,
                   password_hash=hash_password(password, current_app.config.get("PASSWORD_ITERATIONS", 600_000)))
    db.session.add(account)
    db.session.flush()
    _audit(f"为 {unit.org.name} 开通气瓶企业端账户 {username}（{TAG_LABELS[unit.tag]}）", "user_account", account.id,
           actor=user)
    return account, password


def unit_accounts(org_ids: list[int]) -> dict[int, list[User]]:
    found: dict[int, list[User]] = {}
    if org_ids:
        for u in db.session.scalars(select(User).where(User.org_id.in_(org_ids),
                                                       User.role.in_(("cylinder_maker", "filling_unit")))
                                    .order_by(User.id)):
            found.setdefault(u.org_id, []).append(u)
    return found


def add_scale(user: User, raw: dict) -> FillingScale:
    if not user.is_regulator:
        raise Forbidden("只有监管人员可以登记充装秤")
    errors = {}
    code = (str(raw.get("code") or "")).strip()
    name = (str(raw.get("name") or "")).strip()
    uscc = (str(raw.get("uscc") or "")).strip().upper()
    org = db.session.scalar(filler_units_query(user).where(Organization.uscc == uscc)) if uscc else None
    if not code or len(code) > 40:
        errors["code"] = "请填写充装秤编号（不超过 40 个字）"
    elif db.session.scalar(select(FillingScale.id).where(FillingScale.code == code)):
        errors["code"] = "该编号已登记"
    if not name or len(name) > 100:
        errors["name"] = "请填写名称（不超过 100 个字）"
    if org is None:
        errors["uscc"] = "请填写本辖区已纳入管理的充装单位的统一社会信用代码"
    if errors:
        raise ValidationFailed(errors)
    scale = FillingScale(org_id=org.id, code=code, name=name, region_code=org.region_code, locked=False)
    db.session.add(scale)
    db.session.flush()
    _audit(f"登记充装秤 {code}（{org.name}）", "cylinder_scale", scale.id, actor=user)
    return scale


def lock_scale(user: User, scale: FillingScale, lock: bool, reason: str) -> FillingScale:
    if not user.is_regulator:
        raise Forbidden("只有监管人员可以锁定充装秤")
    reason = (reason or "").strip()
    if lock and len(reason) < 2:
        raise ValidationFailed({"reason": "锁定须填写原因"})
    if scale.locked == lock:
        raise Conflict("充装秤已锁定" if lock else "充装秤未锁定", code="scale_state")
    scale.locked = lock
    scale.lock_reason = reason[:300] if lock else None
    scale.locked_at = utcnow() if lock else None
    scale.locked_by_id = user.id if lock else None
    db.session.flush()
    _audit(f"{'锁定' if lock else '解锁'}充装秤 {scale.code}" + (f"：{reason}" if reason else ""), "cylinder_scale",
           scale.id, actor=user)
    return scale
