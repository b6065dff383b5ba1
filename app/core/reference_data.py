"""Load reference data (regions, equipment catalogue, GB 45067 criteria) shipped in core/data/.

Sources are recorded in each JSON entry's `source` field and in docs/参考数据.md."""
from __future__ import annotations

import json
from pathlib import Path

from ..extensions import db
from .models import EquipmentCategory, Region

DATA_DIR = Path(__file__).resolve().parent / "data"


def _load(name: str) -> dict:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def upsert_regions() -> int:
    data = _load("guangxi_divisions.json")
    province = data["meta"]["province"]
    rows = [(province["code"], province["name"], None, "province")]
    for city in data["cities"]:
        rows.append((city["code"], city["name"], province["code"], "city"))
        rows += [(c["code"], c["name"], city["code"], "county") for c in city["counties"]]
    return _upsert(Region, rows, ("code", "name", "parent_code", "level"))


def upsert_equipment_categories() -> int:
    data = _load("equipment_categories.json")
    rows = [(c["code"], c["name"], c["parent"], c["level"]) for c in data["categories"]]
    return _upsert(EquipmentCategory, rows, ("code", "name", "parent_code", "level"))


def upsert_hazard_criteria() -> int:
    from ..hazards.models import HazardCriterion
    data = _load("gb45067_items.json")
    rows = [(i["id"], i["clause"], i["item"], i["citation"], i["equipment_type"], i["equipment_category_code"],
             i["clause_lead_in"], i["text"], bool(i["is_cross_reference"])) for i in data["items"]]
    return _upsert(HazardCriterion, rows, ("id", "clause", "item", "citation", "equipment_type",
                                           "category_code", "lead_in", "text", "is_cross_reference"))


def _upsert(model, rows, columns) -> int:
    """Insert new rows, update changed ones; returns how many were written."""
    written = 0
    for row in rows:
        values = dict(zip(columns, row))
        existing = db.session.get(model, values[columns[0]])
        if existing is None:
            db.session.add(model(**values))
            written += 1
        elif any(getattr(existing, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(existing, k, v)
            written += 1
    db.session.flush()
    return written
