"""Checklist templates as data (检查项目表): the built-in set loaded from the reference data, the current
version of each, and admin edits that write a new version (inspections keep the version they used)."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import audit
from .models import NOTE_RULES, PHOTO_RULES, TEMPLATE_KINDS, ChecklistItem, ChecklistTemplate

REFERENCE = Path(__file__).resolve().parent / "data" / "order57_supervision.json"
ORDER57 = "《特种设备安全监督检查办法》（国家市场监督管理总局令第57号）"
EMPTY_SOURCE = "参考资料未收录该表的检查项目，待管理员依据正式文本录入（不得自行编写法规依据）。"

# Licence kinds of post-license inspection templates (their items are not in the reference data).
LICENCE_KINDS = {"production": "特种设备生产单位", "filling": "移动式压力容器/气瓶充装单位",
                 "inspection": "特种设备检验检测机构"}


def reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _builtin() -> list[dict]:
    ref = reference()
    art25 = ref["serious_accident_hazards_art25"]
    violations = ref["major_violations"]
    templates = [
        {"code": "unit_check", "name": "单位检查（重大违法行为情形）", "kind": "unit", "scope": None,
         "source": f"{ORDER57}“重大违法行为”情形，原文转引自：{violations['source']}。"
                   f"条号未在来源中显示（{violations['article_note']}），依据栏只写情形序号。",
         "items": [{"group": "重大违法行为", "text": it["text"], "basis": f"{ORDER57} 重大违法行为情形{it['no']}",
                    "hazard": False} for it in violations["items"]]},
        {"code": "equipment_check", "name": "设备检查（严重事故隐患情形，各类设备通用）", "kind": "equipment",
         "scope": None,
         "source": f"{ORDER57}第二十五条，原文转引自：{art25['source']}",
         "items": [{"group": "严重事故隐患", "text": it["text"], "basis": f"{ORDER57}第二十五条{it['no']}",
                    "hazard": True} for it in art25["items"]]},
        {"code": "exam_institution", "name": "特种设备作业人员考试机构检查记录表", "kind": "exam_institution",
         "scope": None, "source": EMPTY_SOURCE, "items": []},
    ]
    from ..registry.catalogue import options
    for code, name in options(level="种类"):
        templates.append({"code": f"equipment_{code}", "name": f"设备检查（{name}）", "kind": "equipment",
                          "scope": code, "source": EMPTY_SOURCE, "items": []})
    for key, label in LICENCE_KINDS.items():
        templates.append({"code": f"post_license_{key}", "name": f"证后监督检查（{label}）", "kind": "post_license",
                          "scope": key, "source": EMPTY_SOURCE, "items": []})
    return templates


def ensure_templates() -> int:
    """Create the built-in templates that do not exist yet (never touches an edited one)."""
    created = 0
    for spec in _builtin():
        if db.session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.code == spec["code"])):
            continue
        template = ChecklistTemplate(code=spec["code"], version=1, name=spec["name"], kind=spec["kind"],
                                     scope=spec["scope"], source=spec["source"], note="内置模板", is_current=True)
        db.session.add(template)
        db.session.flush()
        for n, it in enumerate(spec["items"], start=1):
            db.session.add(ChecklistItem(template_id=template.id, seq=n, group_name=it["group"], text=it["text"],
                                         basis=it["basis"], hazard_hint=it["hazard"],
                                         photo_rule="on_problem" if it["hazard"] else "optional"))
        created += 1
    db.session.flush()
    return created


def current_templates(kind: str | None = None, *, with_empty: bool = True) -> list[ChecklistTemplate]:
    query = select(ChecklistTemplate).where(ChecklistTemplate.is_current.is_(True), ChecklistTemplate.active.is_(True))
    if kind:
        query = query.where(ChecklistTemplate.kind == kind)
    rows = list(db.session.scalars(query.order_by(ChecklistTemplate.kind, ChecklistTemplate.code)))
    return rows if with_empty else [t for t in rows if t.items]


def get_template(template_id: int) -> ChecklistTemplate:
    template = db.session.get(ChecklistTemplate, template_id)
    if template is None:
        raise NotFound("检查项目表不存在")
    return template


def versions_of(code: str) -> list[ChecklistTemplate]:
    return list(db.session.scalars(select(ChecklistTemplate).where(ChecklistTemplate.code == code)
                                   .order_by(ChecklistTemplate.version.desc())))


def template_json(t: ChecklistTemplate, items: bool = True) -> dict:
    body = {"id": t.id, "code": t.code, "version": t.version, "name": t.name, "kind": t.kind,
            "kind_label": t.kind_label, "scope": t.scope, "source": t.source, "is_current": t.is_current,
            "item_count": len(t.items)}
    if items:
        body["items"] = [item_json(i) for i in t.items]
    return body


def item_json(i: ChecklistItem) -> dict:
    return {"id": i.id, "seq": i.seq, "group": i.group_name, "text": i.text, "basis": i.basis,
            "options": i.option_list, "problem_options": i.problem_list, "photo_rule": i.photo_rule,
            "note_rule": i.note_rule, "hazard_hint": i.hazard_hint}


def _choices(value, default: list[str]) -> list[str]:
    """Result options from the editor ("符合,不符合") or the API (a list of texts)."""
    if not value:
        value = default
    if isinstance(value, str):
        value = value.replace("，", ",").split(",")
    if not isinstance(value, list):
        return []
    return [o.strip() for o in value if isinstance(o, str) and o.strip() and "," not in o]


def parse_items(rows: list[dict]) -> tuple[list[dict], dict]:
    """Items from the editor (or the API): every item needs its text, options and a legal basis field
    (which may be left empty only by saying so — never invented)."""
    errors, items = {}, []
    if not isinstance(rows, list):
        return [], {"items": "检查项目格式不正确"}
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            errors[f"items.{n}"] = "检查项目格式不正确"
            continue
        text = row.get("text").strip() if isinstance(row.get("text"), str) else ""
        if not text:
            continue
        options = _choices(row.get("options"), ["符合", "不符合", "不适用"])
        problems = _choices(row.get("problem_options"), ["不符合"])
        if len(options) < 2:
            errors[f"items.{n}.options"] = f"第{n + 1}项：结果选项至少两个，用逗号分隔"
        elif len(",".join(options)) > 200 or len(",".join(problems)) > 200:
            errors[f"items.{n}.options"] = f"第{n + 1}项：结果选项合计不超过200字"
        elif not set(problems) <= set(options):
            errors[f"items.{n}.problem_options"] = f"第{n + 1}项：“有问题”的结果必须是结果选项之一"
        if len(text) > 2000:
            errors[f"items.{n}.text"] = f"第{n + 1}项：检查内容不超过2000字"
        photo_rule = row.get("photo_rule") if isinstance(row.get("photo_rule"), str) else "optional"
        note_rule = row.get("note_rule") if isinstance(row.get("note_rule"), str) else "on_problem"
        photo_rule, note_rule = photo_rule or "optional", note_rule or "on_problem"
        if photo_rule not in PHOTO_RULES:
            errors[f"items.{n}.photo_rule"] = f"第{n + 1}项：照片要求无效"
        if note_rule not in NOTE_RULES:
            errors[f"items.{n}.note_rule"] = f"第{n + 1}项：说明要求无效"
        group = row.get("group") if isinstance(row.get("group"), str) else ""
        basis = row.get("basis") if isinstance(row.get("basis"), str) else ""
        items.append({"group": group.strip()[:100] or None, "text": text,
                      "basis": basis.strip()[:1000] or None, "options": ",".join(options),
                      "problems": ",".join(problems), "photo_rule": photo_rule, "note_rule": note_rule,
                      "hazard": bool(row.get("hazard_hint"))})
    return items, errors


def save_version(user, code: str | None, values: dict) -> ChecklistTemplate:
    """A new version of template `code` (or a new template when code is None): the old version stays for
    the inspections that use it."""
    if user.role not in ("sys_admin", "province_supervisor"):
        from ..errors import Forbidden
        raise Forbidden("只有系统管理员或自治区局可以维护检查项目表")
    errors = {}
    name = values.get("name") if isinstance(values.get("name"), str) else ""
    name = name.strip()
    if not name:
        errors["name"] = "此项为必填项"
    elif len(name) > 120:
        errors["name"] = "名称不超过120字"
    kind = values.get("kind") if isinstance(values.get("kind"), str) else None
    previous = None
    if code:
        previous = db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == code,
                                                                     ChecklistTemplate.is_current.is_(True)))
        if previous is None:
            raise NotFound("检查项目表不存在")
        kind = previous.kind
    elif kind not in TEMPLATE_KINDS:
        errors["kind"] = "请选择有效的检查类型"
    items, item_errors = parse_items(values.get("items"))
    errors.update(item_errors)
    if not items and not errors:
        errors["items"] = "至少填写一个检查项目"
    note = (values.get("note") if isinstance(values.get("note"), str) else "").strip()[:500] or None
    if errors:
        raise ValidationFailed(errors)
    if previous is not None:
        previous.is_current = False
        version = previous.version + 1
    else:
        code = f"custom_{db.session.scalar(select(db.func.count(ChecklistTemplate.id))) + 1}"
        version = 1
    template = ChecklistTemplate(code=code, version=version, name=name, kind=kind,
                                 scope=((values.get("scope") if isinstance(values.get("scope"), str) else None)
                                        or (previous.scope if previous else None)),
                                 source=(previous.source if previous else "管理员录入"), note=note, is_current=True,
                                 created_by_id=user.id)
    db.session.add(template)
    db.session.flush()
    for n, it in enumerate(items, start=1):
        db.session.add(ChecklistItem(template_id=template.id, seq=n, group_name=it["group"], text=it["text"],
                                     basis=it["basis"], options=it["options"], problem_options=it["problems"],
                                     photo_rule=it["photo_rule"], note_rule=it["note_rule"], hazard_hint=it["hazard"]))
    db.session.flush()
    db.session.refresh(template)
    audit("config.change", f"检查项目表 {name} 第{version}版（{len(items)}项）", object_type="sv_template",
          object_id=template.id)
    return template
