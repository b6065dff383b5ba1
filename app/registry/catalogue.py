"""《特种设备目录》 lookups: a code's 种类 / 类别 / 品种 lineage (reference data, cached per process)."""
from __future__ import annotations

from sqlalchemy import select

from ..core.models import EquipmentCategory
from ..extensions import db

_CATALOGUE: dict[str, tuple[str, str | None, str]] = {}   # code -> (name, parent, level)


def catalogue() -> dict[str, tuple[str, str | None, str]]:
    if not _CATALOGUE:
        for row in db.session.execute(select(EquipmentCategory.code, EquipmentCategory.name,
                                             EquipmentCategory.parent_code, EquipmentCategory.level)):
            _CATALOGUE[row.code] = (row.name, row.parent_code, row.level)
    return _CATALOGUE


def category_name(code: str | None) -> str:
    row = catalogue().get(code or "")
    return row[0] if row else (code or "")


def lineage(code: str | None) -> tuple[str | None, str | None]:
    """(种类 code, 类别 code) of a catalogue code; the code itself where it is that level."""
    cat = catalogue()
    kind = klass = None
    node = code
    while node and node in cat:
        level = cat[node][2]
        if level == "种类":
            kind = node
        elif level == "类别":
            klass = node
        node = cat[node][1]
    return kind, klass


def is_device_level(code: str | None) -> bool:
    """A code a device can carry: a 品种, or a 类别 that has no 品种 (4D00 机械式停车设备, 5200 …)."""
    cat = catalogue()
    row = cat.get(code or "")
    if row is None or row[2] == "种类":
        return False
    if row[2] == "品种":
        return True
    return not any(parent == code for _name, parent, _level in cat.values())


def is_pressure_vessel(code: str | None) -> bool:
    """Pressure vessels under the design-life rule (TSG 21-2016 7.1.7): 2000 压力容器 except 2300 气瓶,
    whose life and inspection follow the cylinder rules (TSG 23-2021)."""
    kind, klass = lineage(code)
    return kind == "2000" and klass != "2300"


def options(level: str | None = None, parent: str | None = None) -> list[tuple[str, str]]:
    rows = [(code, name) for code, (name, par, lev) in sorted(catalogue().items())
            if (level is None or lev == level) and (parent is None or par == parent)]
    return rows
