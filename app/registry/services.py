"""The registry's service layer: every domain finds, reads and changes devices and units here.

- Scope: `device_scope(user)` / `unit_scope(user)` are SQL conditions; `visible_device` / `visible_unit`
  answer 404 outside them. Regulators see their region and below; a use unit its own devices; a
  maintenance unit the devices it maintains; an inspection agency any registered device of Guangxi
  (agencies inspect across units and regions). Inspection agencies are listed to everyone signed in
  (the form fields that name an agency look them up).
- Changes: `change_status` and `edit_device` validate, write one `equipment_change` row per field (who,
  when, old → new, why, from where) and an audit entry, and keep the derived columns — 种类/类别, design-
  life end, due state — consistent. Services flush; the caller commits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable

from sqlalchemy import false, or_, select, true
from sqlalchemy.orm import joinedload

from ..core.clock import today_local, to_local, utcnow
from ..core.models import Equipment, EquipmentChange, Organization, User
from ..core.params import contains, int_arg, region_arg, text_arg
from ..core.regions import region_full_name, region_prefix
from ..core.scope import in_region
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from . import due, life
from .catalogue import category_name, is_device_level, lineage

# ---------------------------------------------------------------- identifiers

# 设备代码 (TSG 08 附件: 设备基本代码 4 + 制造单位代号 5 + 制造年份 4 + 制造顺序号 5, 18 characters; a pinyin
# letter may replace the sequence number's first digit past 99999). Sources: docs/参考数据.md.
DEVICE_CODE = re.compile(r"^(?P<variety>[0-9A-Z]{4})(?P<maker>\d{5})(?P<year>\d{4})(?P<seq>[0-9A-Z]\d{4})$")
REG_CODE = re.compile(r"^[0-9A-Z]{4}\d{16}$")      # 注册代码: 分类码 4 + 区划 6 + 年月 6 + 顺序 4


def device_code_problem(code: str) -> str | None:
    """Why `code` is not a well-formed 设备代码 (None: it is)."""
    code = (code or "").strip()
    m = DEVICE_CODE.match(code)
    if m is None:
        return "设备代码应为18位：设备品种代码4位 + 制造单位代号5位 + 制造年份4位 + 制造顺序号5位"
    if not is_device_level(m["variety"]):
        return f"设备代码前4位 {m['variety']} 不是《特种设备目录》中的品种代码"
    year = int(m["year"])
    if not 1950 <= year <= today_local().year:
        return f"设备代码中的制造年份 {year} 不合理"
    return None


def reg_code_problem(code: str) -> str | None:
    if not REG_CODE.match((code or "").strip()):
        return "注册代码应为20位：设备分类码4位 + 登记机关区划代码6位 + 注册年月6位 + 顺序码4位"
    return None


# ---------------------------------------------------------------- scope

def device_scope(user: User):
    """Devices `user` may look up and read (a SQL condition on Equipment)."""
    if user.is_regulator:
        return in_region(Equipment.region_code, user.scope_prefix)
    if user.role == "inspection_agency" and user.org_id:
        return true()
    if user.is_enterprise and user.org_id:
        return or_(Equipment.use_org_id == user.org_id, Equipment.maintenance_org_id == user.org_id)
    return false()


def visible_device(user: User, device_id: int) -> Equipment:
    device = db.session.scalar(select(Equipment).where(Equipment.id == device_id, device_scope(user))
                               .options(joinedload(Equipment.use_org), joinedload(Equipment.category)))
    if device is None:
        raise NotFound("设备不存在或不在您的查看范围内")
    return device


def find_device(user: User, code: str) -> Equipment | None:
    return db.session.scalar(select(Equipment).where(Equipment.code == (code or "").strip(), device_scope(user)))


def unit_scope(user: User):
    """Units `user` may look up: regulators their region's; everyone their own unit; inspection agencies
    are visible to every signed-in user (form fields name them)."""
    agencies = Organization.kind == "inspection_agency"
    if user.is_regulator:
        return or_(in_region(Organization.region_code, user.scope_prefix), agencies)
    if user.org_id:
        return or_(Organization.id == user.org_id, agencies)
    return agencies


def visible_unit(user: User, org_id: int) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.id == org_id, unit_scope(user)))
    if org is None:
        raise NotFound("单位不存在或不在您的查看范围内")
    return org


def may_change_status(user: User, device: Equipment) -> bool:
    """Registration changes (停用/报废/注销) are the registering authority's: supervisors over the device."""
    return user.is_regulator and device.region_code.startswith(user.scope_prefix)


def may_edit_life(user: User, device: Equipment) -> bool:
    """§4.5.8: supervisors over the device and inspectors (inspection agencies) may correct design life and dates."""
    return may_change_status(user, device) or (user.role == "inspection_agency" and user.org_id is not None)


# ---------------------------------------------------------------- search

@dataclass
class DeviceFilter:
    q: str | None = None                 # 设备代码 / 名称 / 注册代码 / 使用登记证编号 / 使用单位 contains
    kind: str | None = None              # 种类
    klass: str | None = None             # 类别
    category: str | None = None          # 品种
    region: str | None = None            # region code, prefix match
    status: str | None = None
    due_state: str | None = None
    org_id: int | None = None            # 使用单位
    simple: bool | None = None           # 简单压力容器
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "DeviceFilter":
        def code(name, size=4):
            value = (args.get(name) or "").strip().upper()
            return value if len(value) == size else None
        simple = args.get("simple")
        return cls(q=text_arg(args, "q", 50), kind=code("kind"), klass=code("class"), category=code("category"),
                   region=region_arg(args), status=args.get("status") if args.get("status") in Equipment.STATUS_LABELS else None,
                   due_state=args.get("due_state") if args.get("due_state") in due.STATES else None,
                   org_id=int_arg(args, "org_id", 0, 0, 2**31 - 1) or None,
                   simple={"yes": True, "no": False}.get(simple or ""),
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))

    def conditions(self) -> list:
        found = []
        if self.kind:
            found.append(Equipment.kind_code == self.kind)
        if self.klass:
            found.append(Equipment.class_code == self.klass)
        if self.category:
            found.append(Equipment.category_code == self.category)
        if self.region:
            found.append(in_region(Equipment.region_code, region_prefix(self.region)))
        if self.status:
            found.append(Equipment.status == self.status)
        if self.due_state:
            found.append(Equipment.due_state == self.due_state)
        if self.org_id:
            found.append(Equipment.use_org_id == self.org_id)
        if self.simple is not None:
            found.append(Equipment.simple_pressure_vessel.is_(self.simple))
        if self.q:
            q = self.q
            units = select(Organization.id).where(contains(Organization.name, q))
            found.append(or_(contains(Equipment.code, q), contains(Equipment.name, q), Equipment.reg_code == q,
                             Equipment.registration_no == q, Equipment.factory_no == q, Equipment.use_org_id.in_(units)))
        return found


def device_query(user: User, f: DeviceFilter):
    return (select(Equipment).where(device_scope(user), *f.conditions())
            .options(joinedload(Equipment.use_org), joinedload(Equipment.category))
            .order_by(Equipment.code))


@dataclass
class UnitFilter:
    q: str | None = None                 # name contains, or the exact USCC
    kind: str | None = None
    region: str | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "UnitFilter":
        kind = args.get("kind")
        return cls(q=text_arg(args, "q", 100), kind=kind if kind in Organization.KIND_LABELS else None,
                   region=region_arg(args), page=int_arg(args, "page", 1, 1, 100000),
                   per_page=int_arg(args, "per_page", 20, 5, 100))


def unit_query(user: User, f: UnitFilter):
    query = select(Organization).where(unit_scope(user))
    if f.q:
        query = query.where(or_(contains(Organization.name, f.q), Organization.uscc == f.q.upper()))
    if f.kind:
        query = query.where(or_(Organization.kind == f.kind, contains(Organization.kinds, f.kind)))
    if f.region:
        query = query.where(in_region(Organization.region_code, region_prefix(f.region)))
    return query.order_by(Organization.name, Organization.id)


# ---------------------------------------------------------------- changes

STATUS_FLOW = {
    "in_use": ("stopped", "scrapped", "cancelled", "announced_cancelled"),
    "stopped": ("in_use", "scrapped", "cancelled", "announced_cancelled"),
    "scrapped": ("cancelled", "announced_cancelled"),
    "cancelled": (),
    "announced_cancelled": (),
}
SOURCES = ("web", "api", "import", "case", "system")


def _record(device: Equipment, field_name: str, old, new, *, actor: User | None, reason: str | None, source: str,
            case_id: int | None = None) -> EquipmentChange:
    row = EquipmentChange(equipment_id=device.id, at=utcnow(), actor_id=actor.id if actor else None,
                          field=field_name, old_value=_text(old), new_value=_text(new), reason=reason,
                          source=source if source in SOURCES else "system", case_id=case_id)
    db.session.add(row)
    return row


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)[:300]


def _reason(reason) -> str:
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if len(reason) < 2:
        raise ValidationFailed({"reason": "请填写变更原因（至少2个字）"})
    if len(reason) > 500:
        raise ValidationFailed({"reason": "变更原因最多 500 个字"})
    return reason


def refresh_derived(device: Equipment, today: date | None = None) -> None:
    """Kind/class codes, design-life end and due state from the device's own facts."""
    device.kind_code, device.class_code = lineage(device.category_code)
    life.apply(device)
    due.refresh(device, today)


def change_status(device: Equipment, status: str, *, actor: User | None, reason: str, source: str = "web",
                  case_id: int | None = None) -> EquipmentChange:
    """停用 / 重新启用 / 报废 / 注销 / 公告注销, by the flow in STATUS_FLOW. A stopped device whose inspection
    validity has expired is re-enabled only after a new inspection (TSG 08-2026)."""
    reason = _reason(reason)
    if status not in Equipment.STATUS_LABELS:
        raise ValidationFailed({"status": "请选择有效的设备状态"})
    if status == device.status:
        raise Conflict(f"设备 {device.code} 已是{device.status_label}状态", code="status_unchanged")
    if status not in STATUS_FLOW.get(device.status, ()):
        raise Conflict(f"设备 {device.code} 当前为{device.status_label}，不能改为{Equipment.STATUS_LABELS[status]}",
                       code="status_flow")
    if device.status == "stopped" and status == "in_use":
        due_date = device.effective_due_date
        if due_date is None or due_date < today_local():
            raise Conflict(f"设备 {device.code} 停用期间检验有效期已届满（{due_date or '无检验信息'}），"
                           "重新启用前应进行定期检验", code="inspection_required")
    old = device.status
    device.status, device.status_changed_at, device.updated_at = status, utcnow(), utcnow()
    row = _record(device, "status", old, status, actor=actor, reason=reason, source=source, case_id=case_id)
    due.refresh(device)
    from ..security.audit import audit
    audit("record.change", f"设备 {device.code} 状态：{Equipment.STATUS_LABELS[old]} → {Equipment.STATUS_LABELS[status]}",
          object_type="equipment", object_id=device.id, actor=actor,
          detail={"field": "status", "old": old, "new": status, "reason": reason, "source": source})
    db.session.flush()
    return row


def _date_value(value, label: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as err:
        raise ValidationFailed({label: "日期格式应为 YYYY-MM-DD"}) from err


def _life_years(value, label: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        years = int(value)
    except (TypeError, ValueError) as err:
        raise ValidationFailed({label: "请填写整数年数"}) from err
    if not 1 <= years <= 100:
        raise ValidationFailed({label: "设计使用年限应在 1–100 年之间"})
    return years


# field -> (label, parser) of the facts `edit_device` may change.
EDITABLE: dict[str, tuple[str, Callable]] = {
    "design_life_years": ("设计使用年限", _life_years),
    "commissioning_date": ("投入使用日期", _date_value),
    "manufacture_date": ("制造日期", _date_value),
    "life_assessed_on": ("达到设计年限后的检验/安全评估日期", _date_value),
    "life_registration_changed_on": ("达到设计年限后的使用登记变更日期", _date_value),
}


FIELD_LABELS = {"status": "登记状态", "extended_until": "延期检验至", "next_inspection_date": "下次检验日期",
                **{name: label for name, (label, _parse) in EDITABLE.items()}}
SOURCE_LABELS = {"web": "页面", "api": "接口", "import": "Excel 导入", "case": "案件办理", "system": "系统"}


def edit_device(device: Equipment, values: dict, *, actor: User | None, reason: str, source: str = "web",
                case_id: int | None = None) -> list[EquipmentChange]:
    """Change some of EDITABLE; returns the change rows (empty: nothing changed). Dates may not lie in the
    future; commissioning may not precede manufacture."""
    reason = _reason(reason)
    parsed, errors = {}, {}
    for name, raw in values.items():
        if name not in EDITABLE:
            errors[name] = "该项不能在此修改"
            continue
        label, parse = EDITABLE[name]
        try:
            parsed[name] = parse(raw, name)
        except ValidationFailed as err:
            errors.update(err.fields)
    today = today_local()
    for name, value in parsed.items():
        if isinstance(value, date) and value > today:
            errors[name] = "日期不能晚于今天"
    made = parsed.get("manufacture_date", device.manufacture_date)
    started = parsed.get("commissioning_date", device.commissioning_date)
    if made and started and started < made:
        errors["commissioning_date"] = "投入使用日期不能早于制造日期"
    if errors:
        raise ValidationFailed(errors)
    rows = []
    for name, value in parsed.items():
        old = getattr(device, name)
        if old == value:
            continue
        setattr(device, name, value)
        rows.append(_record(device, name, old, value, actor=actor, reason=reason, source=source, case_id=case_id))
    if not rows:
        return []
    if "design_life_years" in parsed:
        device.design_life_source = "edited" if device.design_life_years is not None else None
    device.updated_at = utcnow()
    refresh_derived(device)
    from ..security.audit import audit
    audit("record.change", f"设备 {device.code} 档案修正：" + "、".join(EDITABLE[r.field][0] for r in rows),
          object_type="equipment", object_id=device.id, actor=actor,
          detail={"changes": {r.field: [r.old_value, r.new_value] for r in rows}, "reason": reason, "source": source})
    db.session.flush()
    return rows


def changes_of(device: Equipment, limit: int = 100) -> list[EquipmentChange]:
    return list(db.session.scalars(select(EquipmentChange).where(EquipmentChange.equipment_id == device.id)
                                   .options(joinedload(EquipmentChange.actor))
                                   .order_by(EquipmentChange.at.desc(), EquipmentChange.id.desc()).limit(limit)))


# ---------------------------------------------------------------- tags (profile, lists)

@dataclass
class Tag:
    label: str
    tone: str = "info"            # info | warn | danger | ok
    title: str = ""


_TAGGERS: list[Callable[[Equipment], list[Tag]]] = []


def device_tagger(fn: Callable[[Equipment], list[Tag]]):
    """Register a function device -> [Tag] (a domain adds its own marks to every device page)."""
    _TAGGERS.append(fn)
    return fn


def device_tags(device: Equipment) -> list[Tag]:
    tags = [tag for fn in _TAGGERS for tag in fn(device)]
    return tags


@device_tagger
def _registry_tags(e: Equipment) -> list[Tag]:
    tags = []
    if e.status != "in_use":
        tags.append(Tag(e.status_label, "warn"))
    state = e.due_state
    if state == "overdue":
        tags.append(Tag("超期未检", "danger", f"下次检验日期 {e.effective_due_date}"))
    elif state in ("due_1m", "due_2m", "due_3m"):
        tags.append(Tag(due.STATES[state], "warn"))
    if e.extended_until:
        tags.append(Tag(f"延期检验至 {e.extended_until.isoformat()}", "info"))
    if e.simple_pressure_vessel:
        tags.append(Tag("简单压力容器"))
    if e.movable:
        tags.append(Tag("流动作业设备"))
    band = life.band_of(e.design_life_end)
    if band == "past":
        tags.append(Tag("超设计使用年限", "danger", f"设计使用年限至 {e.design_life_end}"))
        tags.append(Tag("已办理使用登记变更" if life.registration_changed(e) else "未办理使用登记变更",
                        "ok" if life.registration_changed(e) else "danger"))
    elif band:
        tags.append(Tag(f"临近设计使用年限（{life.BANDS[band]}）", "warn"))
    if e.last_conclusion and e.last_conclusion in FAILING_CONCLUSIONS:
        tags.append(Tag(f"最近检验结论：{e.last_conclusion}", "danger"))
    return tags


# Failing conclusions (GB 45067-2024 4.2–4.10); app/inspections/conclusions.py lists them per 种类.
FAILING_CONCLUSIONS = ("不合格", "不符合要求", "不允许使用", "复检不合格")


# ---------------------------------------------------------------- JSON

def _iso(value):
    if isinstance(value, datetime):
        local = to_local(value)
        return local.isoformat() if local else None
    return value.isoformat() if value else None


def unit_ref(org: Organization | None) -> dict | None:
    return {"id": org.id, "name": org.name, "uscc": org.uscc} if org else None


def device_json(e: Equipment, detail: bool = False) -> dict:
    body = {"id": e.id, "code": e.code, "name": e.name, "registration_no": e.registration_no, "reg_code": e.reg_code,
            "category_code": e.category_code, "category_name": category_name(e.category_code),
            "kind_code": e.kind_code, "class_code": e.class_code,
            "use_org": unit_ref(e.use_org), "region_code": e.region_code, "region_name": region_full_name(e.region_code),
            "status": e.status, "status_label": e.status_label, "next_inspection_date": _iso(e.next_inspection_date),
            "extended_until": _iso(e.extended_until), "due_state": e.due_state, "due_state_label": due.STATES.get(e.due_state),
            "simple_pressure_vessel": bool(e.simple_pressure_vessel), "movable": bool(e.movable)}
    if detail:
        body.update({
            "factory_no": e.factory_no, "model": e.model, "maker_name": e.maker_name, "designer_name": e.designer_name,
            "maintenance_org": unit_ref(e.maintenance_org), "registered_region_code": e.registered_region_code,
            "address": e.address, "lat": e.lat, "lng": e.lng, "manufacture_date": _iso(e.manufacture_date),
            "commissioning_date": _iso(e.commissioning_date), "design_life_years": e.design_life_years,
            "design_life_source": e.design_life_source, "design_life_end": _iso(e.design_life_end),
            "life_assessed_on": _iso(e.life_assessed_on),
            "life_registration_changed_on": _iso(e.life_registration_changed_on),
            "last_inspected_on": _iso(e.last_inspected_on), "last_conclusion": e.last_conclusion,
            "status_changed_at": _iso(e.status_changed_at),
            "tags": [{"label": t.label, "tone": t.tone} for t in device_tags(e)],
        })
    return body


def unit_json(o: Organization) -> dict:
    return {"id": o.id, "uscc": o.uscc, "name": o.name, "kind": o.kind, "kind_label": o.kind_label,
            "kinds": sorted(o.kind_set), "region_code": o.region_code, "region_name": region_full_name(o.region_code),
            "address": o.address, "lat": o.lat, "lng": o.lng}


def change_json(c: EquipmentChange) -> dict:
    return {"id": c.id, "at": _iso(c.at), "field": c.field, "old_value": c.old_value, "new_value": c.new_value,
            "reason": c.reason, "source": c.source, "actor": c.actor.display_name if c.actor else None,
            "case_id": c.case_id}


# ---------------------------------------------------------------- licences

def valid_licences(org_id: int, kind: str, on: date) -> list:
    """The unit's licences of `kind` (UnitLicence.KIND_LABELS) valid on `on` (expiry on or after it)."""
    from .models import UnitLicence
    return list(db.session.scalars(select(UnitLicence).where(UnitLicence.org_id == org_id, UnitLicence.kind == kind,
                                                             UnitLicence.expiry_date >= on)
                                   .order_by(UnitLicence.expiry_date.desc())))


def licences_of(org_ids: list[int]) -> dict[int, list]:
    """Every licence of the given units, by unit (list pages show them beside each unit)."""
    from .models import UnitLicence
    found: dict[int, list] = {}
    if org_ids:
        for row in db.session.scalars(select(UnitLicence).where(UnitLicence.org_id.in_(org_ids))
                                      .order_by(UnitLicence.org_id, UnitLicence.expiry_date)):
            found.setdefault(row.org_id, []).append(row)
    return found
