"""Business fields of a case the inbox can sort by (issue 3), declared once per process here.

Each field is a real, indexed column of the case row or of a process table joined one-to-one on the
case (never a key inside a JSON blob), so the sort stays an index-friendly join:
- 整改期限: hazard.rectify_deadline (hazard.case_id unique, rectify_deadline indexed);
- 设备代码: equipment.code via case_record.equipment_id (both indexed, code unique);
- 使用单位 / 申请单位: organization.name via case_record.org_id (both indexed).
The sort chooser offers a process's fields when the inbox is filtered to that process; the sort
value is "biz:<key>" and is ignored (default sort) for any other process."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select

from ..core.models import Equipment, Organization
from ..extensions import db
from .models import Case

PREFIX = "biz:"


@dataclass(frozen=True)
class BusinessSort:
    key: str
    label: str
    column: Callable[[], object]          # the column to ORDER BY (lazy: models of the process packages)
    join: Callable[[object], object]      # adds the one-to-one join from case_record to that column's table

    @property
    def value(self) -> str:
        return PREFIX + self.key


def _hazard(query):
    from ..hazards.models import Hazard
    return query.outerjoin(Hazard, Hazard.case_id == Case.id)


def _hazard_deadline():
    from ..hazards.models import Hazard
    return Hazard.rectify_deadline


def _equipment(query):
    return query.outerjoin(Equipment, Equipment.id == Case.equipment_id)


def _org(query):
    return query.outerjoin(Organization, Organization.id == Case.org_id)


_EQUIPMENT_CODE = BusinessSort("equipment_code", "设备代码", lambda: Equipment.code, _equipment)

# process id → its sortable business fields, in the order the chooser lists them
BUSINESS_SORTS: dict[str, tuple[BusinessSort, ...]] = {
    "major_hazard": (
        BusinessSort("rectify_deadline", "整改期限", _hazard_deadline, _hazard),
        _EQUIPMENT_CODE,
        BusinessSort("use_org", "使用单位", lambda: Organization.name, _org),
    ),
    "equipment_transfer": (
        _EQUIPMENT_CODE,     # one device per application; several: no code, listed last
        BusinessSort("applicant", "申请单位", lambda: Organization.name, _org),
    ),
}


def for_process(process: str | None) -> tuple[BusinessSort, ...]:
    return BUSINESS_SORTS.get(process or "", ())


def find(process: str | None, sort: str | None) -> BusinessSort | None:
    if not sort or not sort.startswith(PREFIX):
        return None
    return next((f for f in for_process(process) if f.value == sort), None)


def order(query, field: BusinessSort, entity):
    """Join the field's table and order by it: ascending, empty values last (the btree order on
    PostgreSQL, so an index on the column can serve it), then newest first for ties."""
    column = field.column()
    return field.join(query).order_by(column.asc().nulls_last(), entity.id.desc())


def values(field: BusinessSort, case_ids: list[int]) -> dict[int, object]:
    """The field's value for the cases of one inbox page (one query), shown in its own column."""
    if not case_ids:
        return {}
    rows = db.session.execute(field.join(select(Case.id, field.column())).where(Case.id.in_(case_ids)))
    return {case_id: value for case_id, value in rows}
