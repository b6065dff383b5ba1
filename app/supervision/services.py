"""监督检查 (Order 57): the inspected unit's lookup, the draft on the step guide (基本信息 → 单位检查 → 设备检查 →
其他问题), findings per checklist item, hazards raised from findings, and the supervision_inspection process
(start hook, service tasks, the case panel, the 指令书 / 整改通知书 / 检查项目表 documents)."""
from __future__ import annotations

import json
from datetime import date
from typing import Protocol

from flask import current_app
from sqlalchemy import false, func, or_, select, update
from sqlalchemy.orm import joinedload

from ..cases.models import Case
from ..cases.widgets import option_provider
from ..core.clock import DISPLAY_TZ, today_local, utcnow
from ..core.models import Attachment, Equipment, Organization, User
from ..core.params import contains
from ..core.regions import office_name, region_full_name, region_name
from ..core.scope import in_region
from ..core.sequences import next_value
from ..core.validators import is_valid_uscc
from ..engine import runtime
from ..engine.services import ServiceContext, StartContext, case_facts, case_panel, case_row, service, start_hook
from ..core.external import ExternalError
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..registry.catalogue import lineage
from ..registry.services import unit_scope
from ..security.audit import audit
from ..taskops.services import notify_org
from . import business_registry, checklists
from .models import (INSPECTION_CATEGORIES, UNIT_CATEGORIES, ChecklistItem, ChecklistTemplate, Finding,
                     InspectionSection, SupervisionInspection)

PROCESS_KEY = "supervision_inspection"
REVIEWERS = {"inspecting": "检查单位（属地区县局）复核", "supervising": "督办单位（市局）复核"}


MAX_ID = 2 ** 31 - 1


def as_id(value) -> int | None:
    """A row id from user input: a whole number within the column's range, else None (never a DB error)."""
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip()) if isinstance(value, (int, str)) else None
    except ValueError:
        return None
    return number if number is not None and 0 < number <= MAX_ID else None


def as_text(value) -> str:
    """A text field from user input: JSON lists, objects and numbers become '' / their text, never raise."""
    return value if isinstance(value, str) else (str(value) if isinstance(value, (int, float)) else "")


# ---------------------------------------------------------------- the inspected unit

class UnitLookup(Protocol):
    """Where the inspected unit is found (企业工商库 / 数据中台 法人库). Today: the unit registry we hold."""
    def search(self, user: User, q: str, limit: int = 20) -> list[dict]: ...


class RegistryUnitLookup:
    def search(self, user: User, q: str, limit: int = 20) -> list[dict]:
        query = select(Organization).where(unit_scope(user))
        if q:
            query = query.where(or_(contains(Organization.name, q), Organization.uscc == q.upper()))
        rows = db.session.scalars(query.order_by(Organization.name).limit(limit))
        return [{"id": o.id, "name": o.name, "uscc": o.uscc, "region_code": o.region_code,
                 "region": region_full_name(o.region_code), "address": o.address or "", "kind": o.kind_label,
                 "source": "registry"} for o in rows]


LOOKUPS: dict[str, type] = {"registry": RegistryUnitLookup}


def unit_lookup() -> UnitLookup:
    return LOOKUPS[current_app.config.get("SUPERVISION_UNIT_LOOKUP", "registry")]()


def search_units(user: User, q: str, limit: int = 20) -> tuple[list[dict], str | None]:
    """Units for the inspection: the platform's registry first, then (when configured) the business registry's
    enterprises of the user's jurisdiction that the registry does not hold yet (id "ext:<USCC>"; choosing one
    adds it to the registry). A business-registry failure leaves the registry's answer and says why."""
    found = unit_lookup().search(user, q, limit)
    if not q or not business_registry.configured():
        return found, None
    known = {u["uscc"] for u in found}
    try:
        extra = business_registry.registry().search(q, user.scope_prefix, limit)
    except ExternalError as err:
        return found, f"企业工商库暂时无法查询（{err.message}），以下仅为本平台单位库的结果"
    for e in extra:
        if e["uscc"] in known or not e["region_code"].startswith(user.scope_prefix):
            continue
        found.append({"id": f"ext:{e['uscc']}", "name": e["name"], "uscc": e["uscc"], "region_code": e["region_code"],
                      "region": region_full_name(e["region_code"]), "address": e["address"],
                      "kind": "企业工商库（选择后加入单位库）", "source": "business_registry"})
    return found, None


def adopt_unit(user: User, uscc: str) -> Organization:
    """A business-registry enterprise chosen as the inspected unit joins the unit registry (read again from
    the business registry, never from what the browser sent)."""
    uscc = (uscc or "").strip().upper()
    existing = db.session.scalar(select(Organization).where(Organization.uscc == uscc, unit_scope(user)))
    if existing is not None:
        return existing
    if not business_registry.configured():
        raise ValidationFailed({"org_id": "未接入企业工商库，请从单位库中选择或新增单位"})
    try:
        record = business_registry.registry().get(uscc)
    except ExternalError as err:
        raise ValidationFailed({"org_id": f"企业工商库暂时无法查询：{err.message}"}) from None
    if record is None:
        raise ValidationFailed({"org_id": "企业工商库中没有该单位"})
    return add_unit(user, {"name": record["name"], "uscc": record["uscc"], "region_code": record["region_code"],
                           "address": record["address"], "contact_name": record["legal_representative"]})


def add_unit(user: User, values: dict) -> Organization:
    """新增单位: a unit not in the registry, entered by a regulator within their region."""
    if not user.is_regulator:
        raise Forbidden("只有监察人员可以新增被检查单位")
    errors = {}
    name = as_text(values.get("name")).strip()
    uscc = as_text(values.get("uscc")).strip().upper()
    region = as_text(values.get("region_code")).strip()
    address = as_text(values.get("address")).strip()
    if not name:
        errors["name"] = "此项为必填项"
    elif len(name) > 200:
        errors["name"] = "单位名称不超过200字"
    if not is_valid_uscc(uscc):
        errors["uscc"] = "统一社会信用代码应为18位且校验位正确"
    elif db.session.scalar(select(Organization.id).where(Organization.uscc == uscc)):
        errors["uscc"] = "该统一社会信用代码的单位已在库中，请直接检索选择"
    if not region or len(region) != 6 or not region.startswith(user.scope_prefix) or region.endswith("00"):
        errors["region_code"] = "请选择本辖区内的区县"
    if len(address) > 300:
        errors["address"] = "地址不超过300字"
    if errors:
        raise ValidationFailed(errors)
    org = Organization(uscc=uscc, name=name, kind="use_unit", region_code=region, address=address or None,
                       contact_name=(as_text(values.get("contact_name")).strip()[:64] or None))
    db.session.add(org)
    db.session.flush()
    audit("record.change", f"监督检查新增被检查单位 {name}（{uscc}）", object_type="organization", object_id=org.id)
    return org


# ---------------------------------------------------------------- scope

def inspection_scope(user: User):
    if user.is_regulator:
        return in_region(SupervisionInspection.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return (SupervisionInspection.org_id == user.org_id) & (SupervisionInspection.status != "draft")
    return false()


def visible_inspection(user: User, inspection_id: int) -> SupervisionInspection:
    row = db.session.scalar(select(SupervisionInspection).where(SupervisionInspection.id == inspection_id,
                                                                inspection_scope(user)))
    if row is None:
        raise NotFound("监督检查记录不存在或不在您的查看范围内")
    return row


def editable_inspection(user: User, inspection_id: int) -> SupervisionInspection:
    row = visible_inspection(user, inspection_id)
    if row.inspector_id != user.id:
        raise Forbidden("只有录入人可以修改该监督检查记录")
    if row.status != "draft":
        raise ValidationFailed({"status": "检查记录已提交，不能再修改"})
    return row


def inspection_query(user: User, q: str | None = None, status: str | None = None):
    query = select(SupervisionInspection).where(inspection_scope(user)).options(joinedload(SupervisionInspection.org))
    if q:
        orgs = select(Organization.id).where(contains(Organization.name, q))
        query = query.where(or_(SupervisionInspection.inspection_no == q, SupervisionInspection.org_id.in_(orgs)))
    if status in SupervisionInspection.STATUS_LABELS:
        query = query.where(SupervisionInspection.status == status)
    return query.order_by(SupervisionInspection.created_at.desc(), SupervisionInspection.id.desc())


# ---------------------------------------------------------------- draft

def _basic(user: User, values: dict, errors: dict) -> dict:
    out = {}
    category = as_text(values.get("category"))
    if category not in INSPECTION_CATEGORIES:
        errors["category"] = "请选择检查类别"
    out["category"] = category
    cats = values.get("unit_categories") or []
    if isinstance(cats, str):
        cats = [c for c in cats.split(",") if c]
    if not isinstance(cats, list) or not cats or not all(isinstance(c, str) and c in UNIT_CATEGORIES for c in cats):
        errors["unit_categories"] = "请至少选择一个单位类别"
    else:
        out["unit_categories"] = ",".join(c for c in UNIT_CATEGORIES if c in cats)
    try:
        day = date.fromisoformat(as_text(values.get("inspected_on")))
        if day > today_local():
            errors["inspected_on"] = "检查日期不能晚于今天"
        out["inspected_on"] = day
    except ValueError:
        errors["inspected_on"] = "日期格式应为 YYYY-MM-DD"
    inspectors = as_text(values.get("inspectors")).strip()
    if len(inspectors) < 2:
        errors["inspectors"] = "请填写检查人员（至少两名执法人员的姓名）"
    elif len(inspectors) > 200:
        errors["inspectors"] = "不超过200字"
    out["inspectors"] = inspectors
    out["recorder"] = as_text(values.get("recorder")).strip()[:64] or None
    out["unit_contact"] = as_text(values.get("unit_contact")).strip()[:64] or None
    return out


def create_draft(user: User, values: dict) -> SupervisionInspection:
    if not user.is_regulator:
        raise Forbidden("监督检查由市场监管部门录入")
    errors = {}
    org = None
    chosen = as_text(values.get("org_id"))
    if chosen.startswith("ext:"):
        org = adopt_unit(user, chosen[4:])
    else:
        try:
            org = db.session.scalar(select(Organization).where(Organization.id == (as_id(chosen) or 0), unit_scope(user)))
        except (TypeError, ValueError):
            org = None
    if org is None:
        errors["org_id"] = "请从单位库中检索并选择被检查单位（库中没有时先新增单位）"
    basic = _basic(user, values, errors)
    if errors:
        raise ValidationFailed(errors)
    row = SupervisionInspection(status="draft", region_code=org.region_code, org_id=org.id, inspector_id=user.id,
                                **basic)
    db.session.add(row)
    db.session.flush()
    audit("record.change", f"新建监督检查记录（{org.name}）", object_type="sv_inspection", object_id=row.id)
    return row


def update_basic(user: User, row: SupervisionInspection, values: dict) -> None:
    errors = {}
    basic = _basic(user, values, errors)
    if errors:
        raise ValidationFailed(errors)
    for key, value in basic.items():
        setattr(row, key, value)
    audit("record.change", f"修改监督检查基本信息（{row.org.name}）", object_type="sv_inspection", object_id=row.id)


def add_section(user: User, owner, template_id, equipment_id=None, *, campaign: bool = False) -> InspectionSection:
    """Put a checklist on the sheet: a unit check once per template, an equipment check once per device."""
    errors = {}
    template = db.session.get(ChecklistTemplate, as_id(template_id)) if as_id(template_id) else None
    if template is None or not template.is_current or not template.active:
        raise ValidationFailed({"template_id": "请选择有效的检查项目表"})
    if not template.items:
        raise ValidationFailed({"template_id": "该检查项目表尚无检查项目（参考资料未收录），请先由管理员录入"})
    equipment = None
    if template.kind == "equipment":
        equipment = db.session.get(Equipment, as_id(equipment_id)) if as_id(equipment_id) else None
        if equipment is None or equipment.use_org_id != owner.org_id:
            errors["equipment_id"] = "请选择被检查单位的设备"
        elif template.scope and lineage(equipment.category_code)[0] != template.scope:
            errors["template_id"] = f"{template.name}不适用于该设备的种类"
    if errors:
        raise ValidationFailed(errors)
    key = {"campaign_unit_id": owner.id} if campaign else {"inspection_id": owner.id}
    for existing in owner.sections:
        if existing.template.code == template.code and existing.equipment_id == (equipment.id if equipment else None):
            return existing
    section = InspectionSection(template_id=template.id, equipment_id=equipment.id if equipment else None, **key)
    db.session.add(section)
    db.session.flush()
    db.session.refresh(owner)
    return section


def remove_section(owner, section_id: int) -> None:
    section = next((s for s in owner.sections if s.id == section_id), None)
    if section is None:
        raise NotFound("检查表不存在")
    if any(f.hazard_case_id for f in section.findings):
        raise ValidationFailed({"section": "该检查表已有上报的重大事故隐患，不能删除"})
    for f in list(section.findings):
        db.session.delete(f)
    db.session.delete(section)
    db.session.flush()
    db.session.refresh(owner)
    refresh_counts(owner)


def _photo_ids(user: User, raw) -> list[int]:
    if raw in (None, ""):
        return []
    if isinstance(raw, (str, int)):
        raw = [raw]
    if not isinstance(raw, list):
        raise ValidationFailed({"photos": "照片编号无效"})
    ids = []
    for v in raw:
        if as_id(v) is None:
            raise ValidationFailed({"photos": "照片编号无效"})
        ids.append(as_id(v))
    for att_id in ids:
        att = db.session.get(Attachment, att_id)
        if att is None or att.uploaded_by_id != user.id or att.mime not in ("image/jpeg", "image/png"):
            raise ValidationFailed({"photos": "照片须是本人上传的 JPEG/PNG 图片"})
    return ids[:10]


def save_findings(user: User, section: InspectionSection, results: dict) -> list[Finding]:
    """Results of a section's items: {item_id: {"result", "note", "photos"}}. An item may be left blank
    while the draft is open; the rules of each item (note / photo when a problem) apply to what is given."""
    items = {i.id: i for i in section.template.items}
    existing = {f.item_id: f for f in section.findings}
    errors, planned = {}, []
    if not isinstance(results, dict):
        raise ValidationFailed({"results": "检查结果格式不正确"})
    for key, value in results.items():
        item = items.get(as_id(key))
        if item is None:
            errors[f"item_{key}"] = "检查项目不属于该检查表"
            continue
        value = value if isinstance(value, dict) else {"result": value}
        result = as_text(value.get("result")).strip()
        if not result:
            continue
        if result not in item.option_list:
            errors[f"item_{item.id}"] = f"第{item.seq}项：请选择有效的检查结果"
            continue
        problem = result in item.problem_list
        note = as_text(value.get("note")).strip()
        try:
            photos = _photo_ids(user, value.get("photos"))
        except ValidationFailed:
            errors[f"item_{item.id}"] = f"第{item.seq}项：照片须是本人上传的 JPEG/PNG 图片"
            continue
        finding = existing.get(item.id)
        if problem and item.note_rule == "on_problem" and len(note) < 2:
            errors[f"item_{item.id}"] = f"第{item.seq}项：结果为“{result}”时须填写问题说明"
        elif problem and item.photo_rule == "on_problem" and not photos:
            errors[f"item_{item.id}"] = f"第{item.seq}项：结果为“{result}”时须附现场照片"
        elif len(note) > 2000:
            errors[f"item_{item.id}"] = f"第{item.seq}项：说明不超过2000字"
        elif finding is not None and finding.hazard_case_id and not problem:
            errors[f"item_{item.id}"] = f"第{item.seq}项：已据此上报重大事故隐患，结果不能改为“{result}”"
        else:
            planned.append((item, finding, result, problem, note, photos))
    if errors:
        raise ValidationFailed(errors)
    for item, finding, result, problem, note, photos in planned:
        if finding is None:
            finding = Finding(section_id=section.id, item_id=item.id, result=result)
            db.session.add(finding)
        finding.result, finding.is_problem, finding.note = result, problem, note or None
        finding.photo_ids = json.dumps(photos)
        finding.updated_at = utcnow()
    db.session.flush()
    db.session.refresh(section)
    refresh_counts(section.inspection)
    db.session.flush()
    db.session.refresh(section)
    return section.findings


def unanswered(owner) -> list[str]:
    missing = []
    for s in owner.sections:
        answered = {f.item_id for f in s.findings}
        for item in s.template.items:
            if item.id not in answered:
                missing.append(f"{section_title(s)} 第{item.seq}项")
    return missing


def section_title(s: InspectionSection) -> str:
    if s.equipment is not None:
        return f"{s.template.name} · {s.equipment.name}（{s.equipment.code}）"
    return s.template.name


def refresh_counts(owner) -> None:
    """The inspection's problem and hazard counts (lists and totals read these, not the findings)."""
    if isinstance(owner, SupervisionInspection):
        db.session.flush()
        db.session.refresh(owner)
        owner.n_problems = len(problems_of(owner)) + (1 if owner.other_problems else 0)
        owner.n_hazards = hazard_count(owner)


def breakdown(owner) -> list[tuple[str, int]]:
    """The problems of an inspection by kind (the checklist item's group: 严重事故隐患, 重大违法行为 …),
    其他问题, and the major hazards raised — the 操作指引's 各类隐患数量."""
    counts: dict[str, int] = {}
    for f in problems_of(owner):
        label = (f.item.group_name if f.item and f.item.group_name else "其他检查项目")
        counts[label] = counts.get(label, 0) + 1
    rows = sorted(counts.items())
    if getattr(owner, "other_problems", None):
        rows.append(("其他问题", 1))
    rows.append(("已上报重大事故隐患", hazard_count(owner)))
    return rows


def problems_of(owner) -> list[Finding]:
    return [f for s in owner.sections for f in s.findings if f.is_problem]


def hazard_count(owner) -> int:
    return sum(1 for s in owner.sections for f in s.findings if f.hazard_case_id)


def problems_text(row: SupervisionInspection) -> str:
    lines = [f"{n}. {f.item.text if f.item else ''}（{f.result}）{f.note or ''}"
             for n, f in enumerate(problems_of(row), start=1)]
    if row.other_problems:
        lines.append(f"{len(lines) + 1}. {row.other_problems}")
    return "\n".join(lines)


def set_other_problems(user: User, row: SupervisionInspection, text: str) -> None:
    text = (text or "").strip()
    if len(text) > 4000:
        raise ValidationFailed({"other_problems": "不超过4000字"})
    row.other_problems = text or None
    refresh_counts(row)


def finding_owner(finding: Finding):
    return finding.section.inspection or finding.section.campaign_unit


# ---------------------------------------------------------------- hazards raised from findings

def raise_hazard(user: User, finding: Finding, values: dict, *, label: str) -> Case:
    """Start a major_hazard case (the hazard process's own start form and checks) from a finding; the two
    are linked both ways: the finding keeps the case, the hazard's timeline names the inspection."""
    if finding.hazard_case_id:
        raise ValidationFailed({"finding": "该检查项已上报重大事故隐患"})
    if not finding.is_problem:
        raise ValidationFailed({"finding": "只有结果为“不符合”的检查项可以上报重大事故隐患"})
    section = finding.section
    equipment_code = as_text(values.get("equipment_code")) or (section.equipment.code if section.equipment else "")
    description = as_text(values.get("description")).strip() or \
        f"{label}发现：{finding.item.text if finding.item else ''}{finding.note or ''}"
    data = {"equipment_code": equipment_code, "criterion_id": values.get("criterion_id") or "",
            "description": description, "found_on": values.get("found_on") or today_local().isoformat(),
            "rectify_deadline": values.get("rectify_deadline") or "", "photos": finding.photos}
    case = runtime.start_case("major_hazard", user, data)
    finding.hazard_case_id = case.id
    refresh_counts(finding_owner(finding))
    runtime.append_event(case, user, "log", f"由{label}的检查项上报",
                         comment=f"{finding.item.basis if finding.item else ''}：{finding.item.text if finding.item else ''}")
    owner = finding_owner(finding)
    owner_case = getattr(owner, "case", None) or getattr(getattr(owner, "campaign", None), "case", None)
    if owner_case is not None:
        runtime.append_event(owner_case, user, "log", f"检查项上报重大事故隐患 {case.case_no}")
    audit("record.change", f"{label}上报重大事故隐患 {case.case_no}", object_type="sv_finding", object_id=finding.id)
    return case


# ---------------------------------------------------------------- the process

def _own_draft(user: User, value) -> SupervisionInspection | None:
    inspection_id = as_id(value)
    if inspection_id is None:
        return None
    return db.session.scalar(select(SupervisionInspection).where(
        SupervisionInspection.id == inspection_id, SupervisionInspection.inspector_id == user.id,
        SupervisionInspection.status == "draft"))


@start_hook(PROCESS_KEY)
def prepare_submit(user: User, data: dict) -> StartContext:
    row = _own_draft(user, data.get("inspection_id"))
    if row is None:
        raise ValidationFailed({"inspection_id": "请选择本人录入中的监督检查记录"})
    errors = {}
    if not row.sections:
        errors["inspection_id"] = "请至少完成一张单位检查或设备检查表"
    missing = unanswered(row)
    if missing:
        errors["inspection_id"] = "以下检查项目尚未填写结果：" + "、".join(missing[:5]) + ("等" if len(missing) > 5 else "")
    has_problems = bool(problems_of(row) or row.other_problems)
    if has_problems:
        for key, label, size in (("violation_desc", "违反的规定", 2), ("requirements", "整改要求", 5)):
            if len(str(data.get(key) or "").strip()) < size:
                errors[key] = f"检查发现问题，须填写{label}"
        if not data.get("rectify_deadline"):
            errors["rectify_deadline"] = "检查发现问题，须填写整改期限"
        elif data["rectify_deadline"] < row.inspected_on.isoformat():
            errors["rectify_deadline"] = "整改期限不能早于检查日期"
    if errors:
        raise ValidationFailed(errors)
    return StartContext(title=f"{row.org.name} 监督检查（{row.category}）", region_code=row.region_code,
                        org_id=row.org_id,
                        extra_data={"has_problems": has_problems, "problems_text": problems_text(row),
                                    "inspected_unit": row.org.name})


def _inspection(ctx: ServiceContext) -> SupervisionInspection:
    return db.session.get(SupervisionInspection, int(ctx.task_data["inspection_id"]))


@service("supervision.register")
def register(ctx: ServiceContext) -> dict:
    claimed = db.session.execute(update(SupervisionInspection).where(
        SupervisionInspection.id == int(ctx.task_data["inspection_id"]), SupervisionInspection.status == "draft")
        .values(status="submitted").execution_options(synchronize_session=False))
    if claimed.rowcount != 1:       # submitted twice at the same moment: the second start fails whole
        raise Conflict("该监督检查记录已提交")
    row = _inspection(ctx)
    db.session.refresh(row)
    data = ctx.task_data
    row.case_id = ctx.case.id
    row.inspection_no = ctx.case.case_no
    row.status = "submitted"
    row.submitted_at = utcnow()
    row.review_by = data.get("review_by") or "inspecting"
    if data.get("has_problems"):
        row.letter_kind = data.get("letter_kind") or "directive"
        row.violation_desc = data.get("violation_desc")
        row.basis_rule = data.get("basis_rule") or checklists.ORDER57
        row.requirements = data.get("requirements")
        row.rectify_deadline = date.fromisoformat(data["rectify_deadline"])
    photo_ids = [p for f in problems_of(row) for p in f.photos] + \
        [p for s in row.sections for f in s.findings if not f.is_problem for p in f.photos]
    for att in db.session.scalars(select(Attachment).where(Attachment.id.in_(photo_ids or [0]),
                                                           Attachment.case_id.is_(None))):
        att.case_id = ctx.case.id
    return {"inspection_no": row.inspection_no, "hazards": hazard_count(row)}


@service("supervision.issue_letter")
def issue_letter(ctx: ServiceContext) -> dict:
    row = _inspection(ctx)
    year = utcnow().astimezone(DISPLAY_TZ).year
    number = next_value(f"sv-letter:{row.letter_kind}:{row.region_code}", str(year))
    short = region_name(row.region_code)
    row.letter_no = (f"（{short}）市监特令〔{year}〕第{number}号" if row.letter_kind == "directive"
                     else f"（{short}）市监特整〔{year}〕第{number}号")
    row.letter_issued_at = utcnow()
    row.status = "rectifying"
    kind = SupervisionInspection.LETTER_KINDS[row.letter_kind]
    notify_org(row.org_id, "use_unit", "notice",
               f"{kind}{row.letter_no}已下达，请于{row.rectify_deadline.isoformat()}前完成整改并在手机上拍照反馈"
               f"（{ctx.case.case_no}）", case=ctx.case, body=row.requirements, sender=ctx.actor)
    return {"letter_no": row.letter_no}


@service("supervision.set_status")
def set_status(ctx: ServiceContext, status: str) -> dict:
    row = _inspection(ctx)
    if status not in SupervisionInspection.STATUS_LABELS:
        raise ValueError(f"unknown inspection status {status}")
    back = row.status == "reviewing" and status == "rectifying"
    row.status = status
    if back:
        notify_org(row.org_id, "use_unit", "rework", f"整改复核不通过，请继续整改（{ctx.case.case_no}）",
                   case=ctx.case, body=ctx.task_data.get("opinion"), sender=ctx.actor)
    if status in ("closed", "qualified"):
        row.closed_at = utcnow()
    return {"status": status}


@option_provider("sv_draft")
def _draft_widget(user) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(SupervisionInspection).where(SupervisionInspection.inspector_id == user.id,
                                                                  SupervisionInspection.status == "draft")
                              .order_by(SupervisionInspection.id.desc()).limit(50))
    return [(str(r.id), f"{r.org.name} {r.inspected_on.isoformat()}（{r.category}）") for r in rows]


def inspection_for_case(case: Case) -> SupervisionInspection | None:
    return db.session.scalar(select(SupervisionInspection).where(SupervisionInspection.case_id == case.id))


@case_panel(PROCESS_KEY)
def inspection_panel(case: Case) -> dict:
    row = inspection_for_case(case)
    return {"template": "supervision/_case_panel.html", "inspection": row, "breakdown": breakdown(row) if row else [],
            "problems": problems_of(row) if row else [], "hazards": hazard_count(row) if row else 0,
            "section_title": section_title}


@case_facts(PROCESS_KEY)
def inspection_facts(case: Case) -> dict:
    row = inspection_for_case(case)
    if row is None:
        return {}
    return {"docNo": row.letter_no or row.inspection_no,
            "deadline": row.rectify_deadline.isoformat() if row.rectify_deadline else ""}


# ---------------------------------------------------------------- JSON

def finding_json(f: Finding) -> dict:
    return {"id": f.id, "item_id": f.item_id, "result": f.result, "is_problem": f.is_problem, "note": f.note,
            "photos": f.photos, "hazard_case_id": f.hazard_case_id,
            "hazard_case_no": f.hazard_case.case_no if f.hazard_case else None,
            "hazard_status": (f.hazard_case.outcome or f.hazard_case.current_step) if f.hazard_case else None,
            "forwarded_region": f.forwarded_region, "forward_outcome": f.forward_outcome}


def section_json(s: InspectionSection) -> dict:
    return {"id": s.id, "title": section_title(s), "template": checklists.template_json(s.template),
            "equipment_id": s.equipment_id, "findings": [finding_json(f) for f in s.findings]}


def inspection_json(row: SupervisionInspection, detail: bool = False) -> dict:
    body = {"id": row.id, "inspection_no": row.inspection_no, "status": row.status, "status_label": row.status_label,
            "org": {"id": row.org.id, "name": row.org.name, "uscc": row.org.uscc}, "region_code": row.region_code,
            "category": row.category, "unit_categories": [c for c in row.unit_categories.split(",") if c],
            "inspected_on": row.inspected_on.isoformat(), "inspectors": row.inspectors, "recorder": row.recorder,
            "case_id": row.case_id, "letter_kind": row.letter_kind, "letter_no": row.letter_no,
            "rectify_deadline": row.rectify_deadline.isoformat() if row.rectify_deadline else None,
            "problem_count": row.n_problems, "hazard_count": row.n_hazards}
    if detail:
        body["other_problems"] = row.other_problems
        body["sections"] = [section_json(s) for s in row.sections]
    return body


def hazard_totals(user: User) -> dict:
    """Problems and hazards of the inspections in the user's scope (the 操作指引's 隐患数量汇总)."""
    problems, hazards = db.session.execute(
        select(func.coalesce(func.sum(SupervisionInspection.n_problems), 0),
               func.coalesce(func.sum(SupervisionInspection.n_hazards), 0)).where(inspection_scope(user))).one()
    return {"hazards": int(hazards), "problems": int(problems)}


def letter_sections(row: SupervisionInspection) -> list:
    return [(section_title(s), [(f.item, f) for f in s.findings]) for s in row.sections]


def issuer_of(row: SupervisionInspection) -> str:
    return office_name(row.region_code)


def items_of(template_id: int) -> list[ChecklistItem]:
    return checklists.get_template(template_id).items
