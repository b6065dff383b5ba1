"""Reference data for form fields, for callers that have nothing but the API (docs/接口说明.md 表单取值).

A form field that takes reference data names its widget (`ui:widget`). The choices of a widget
come from one of two places:

- an option provider (app/cases/widgets.option_provider): the whole list for the user — the pages
  use it for their select boxes;
- a lookup registered here with @lookup(name): searched by `q` in the database, for lists too long
  to send whole (devices).

When the API serves a form (GET /api/v1/processes/<key>, GET /api/v1/tasks/<id>), `annotate` gives
each such field its choices: `enum` + `ui:enumNames` when the caller has at most ENUM_MAX of them,
otherwise `x-lookup`: "/api/v1/lookups/<widget>?q=" — a list answering {"items": [{"value",
"label"}], "total"}, scoped to the caller like the page's select box. A field that already names
its own `x-lookup` (another documented list path) keeps it; `x-lookup-value` / `x-lookup-label`
then name the fields of that list's items that hold the value and the label."""
from __future__ import annotations

import copy
from typing import Callable

ENUM_MAX = 30
LOOKUP_PATH = "/api/v1/lookups/{name}?q="

# name → (title, fn(user, q, limit) -> (items [{"value", "label"}], total))
_LOOKUPS: dict[str, tuple[str, Callable]] = {}
# Titles of option-provider widgets (the lookup list names them).
_TITLES: dict[str, str] = {
    "hazard_criterion": "重大事故隐患判定标准条款（GB 45067）", "work_item": "特种设备作业项目（TSG Z6001）",
    "my_certificate": "本人的作业人员证书", "my_employment": "本人当前的任职", "inspection_agency": "检验机构",
    "transfer_equipment": "可申请迁移的本单位移动式设备", "county_region": "广西县级行政区（迁入地）",
    "exempt_elevator": "可申请无需无纸化维保的本单位在用电梯",
}


def lookup(name: str, title: str):
    """Register a searched lookup: fn(user, q, limit) -> (items, total)."""
    def register(fn):
        _LOOKUPS[name] = (title, fn)
        return fn
    return register


def _providers() -> dict:
    from ..cases.widgets import _PROVIDERS
    return _PROVIDERS


def names() -> list[dict]:
    known = {name: title for name, (title, _fn) in _LOOKUPS.items()}
    for widget in _providers():
        known.setdefault(widget, _TITLES.get(widget, widget))
    return [{"name": n, "title": t, "path": LOOKUP_PATH.format(name=n)} for n, t in sorted(known.items())]


def exists(name: str) -> bool:
    return name in _LOOKUPS or name in _providers()


def _provider_items(name: str, user) -> list[dict]:
    """A provider's (value, label[, group]) options as lookup items; the group (e.g. the equipment
    class a hazard criterion applies to) narrows a choice that depends on another field."""
    items = []
    for option in _providers()[name](user):
        item = {"value": str(option[0]), "label": str(option[1])}
        if len(option) > 2 and option[2]:
            item["group"] = str(option[2])
        items.append(item)
    return items


def search(name: str, user, q: str = "", limit: int = 20, offset: int = 0) -> dict:
    """{"items": [{"value", "label"}], "total"}: the caller's choices matching `q` (value or label)."""
    q = (q or "").strip()
    if name in _LOOKUPS:
        _title, fn = _LOOKUPS[name]
        items, total = fn(user, q, limit + offset)
        return {"items": items[offset:offset + limit], "total": total}
    items = _provider_items(name, user)
    if q:
        needle = q.lower()
        items = [i for i in items if needle in i["label"].lower() or needle in i["value"].lower()]
    return {"items": items[offset:offset + limit], "total": len(items)}


def _fields(node):
    """Every field of a form schema: its properties, theirs in turn, and those of allOf/anyOf/oneOf
    and if/then/else branches."""
    if not isinstance(node, dict):
        return
    for prop in (node.get("properties") or {}).values():
        if isinstance(prop, dict):
            yield prop
            yield from _fields(prop)
    for key in ("allOf", "anyOf", "oneOf"):
        for part in node.get(key, []) or []:
            yield from _fields(part)
    for key in ("if", "then", "else"):
        yield from _fields(node.get(key))


def _unfilled(prop: dict):
    """(widget, the schema that takes the enum) of a reference field without its choices yet, else None."""
    widget = prop.get("ui:widget")
    target = prop["items"] if prop.get("type") == "array" and isinstance(prop.get("items"), dict) else prop
    if not widget or not exists(widget) or "enum" in target or "x-lookup" in prop:
        return None
    return widget, target


def annotate(schema: dict, user) -> dict:
    """A form schema in which every reference field carries its choices (see above): a copy when
    there is one to fill in, else the schema itself (callers only serialise it)."""
    if not any(_unfilled(prop) for prop in _fields(schema)):
        return schema
    schema = copy.deepcopy(schema)
    cache: dict[str, list[dict] | None] = {}
    for prop in _fields(schema):
        unfilled = _unfilled(prop)
        if unfilled is None:
            continue
        widget, target = unfilled
        if widget not in cache:
            cache[widget] = _provider_items(widget, user) if widget in _providers() else None
        options = cache[widget]
        if options and len(options) <= ENUM_MAX:
            values = [o["value"] for o in options]
            if target.get("type") == "integer":
                values = [int(v) for v in values]
            target["enum"] = values
            target["ui:enumNames"] = [o["label"] for o in options]
        else:
            prop["x-lookup"] = LOOKUP_PATH.format(name=widget)
    return schema


# ------------------------------------------------------------------ searched lookups

@lookup("equipment", "设备（本辖区或本单位，按设备代码、名称、使用单位搜索）")
def _equipment(user, q: str, limit: int):
    from ..cases.services import equipment_suggestions
    rows = equipment_suggestions(user, q[:50], limit=limit)
    return ([{"value": e.code, "label": f"{e.name}（{e.code}）· {e.use_org.name}"} for e in rows], len(rows))


@lookup("employer", "任职单位（按单位名称或统一社会信用代码检索，值为统一社会信用代码）")
def _employer(_user, q: str, limit: int):
    from sqlalchemy import select

    from ..core.models import Organization
    from ..core.regions import region_name
    from ..extensions import db
    from ..operators.services import EMPLOYER_KINDS, search_employers
    rows = search_employers(q[:50], limit=limit) if q else list(db.session.scalars(
        select(Organization).where(Organization.kind.in_(EMPLOYER_KINDS)).order_by(Organization.name).limit(limit)))
    return ([{"value": o.uscc, "label": f"{o.name}（{region_name(o.region_code)}）"} for o in rows if o.uscc], len(rows))


@lookup("operator_certificate", "作业人员证书（按完整证书编号或公民身份号码精确查找，值为证书编号）")
def _operator_certificate(user, q: str, limit: int):
    """Exact match only, names masked — as the page's 检索持证人员: a unit finds the certificate of the
    person in front of it, it does not browse the province's operators."""
    from ..operators.masking import mask_name
    from ..operators.services import lookup_operator, work_item_label
    if not (user.is_enterprise and user.org_id) or not q:
        return [], 0
    operator, _error = lookup_operator(q)
    if operator is None:
        return [], 0
    wanted = q.strip().upper()
    certs = [c for c in operator.certificates if c.cert_no == wanted or len(wanted) == 18]
    items = [{"value": c.cert_no, "label": f"{c.cert_no} · {mask_name(operator.name)} · {work_item_label(c.work_item)} · "
              f"有效期至 {c.expiry_date.isoformat()}", "group": c.work_item} for c in certs[:limit]]
    return items, len(certs)
