"""The hazard ledger's query: filters from the request, the scoped search, and the counts by warning level
(the 隐患台账 page, its Excel export, the manage tabs and the API read it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from ..core.models import Equipment, Organization
from ..core.params import contains, date_arg, int_arg, text_arg
from ..core.regions import region_prefix
from ..core.scope import in_region
from . import services
from .models import Hazard, HazardCriterion


@dataclass
class LedgerFilter:
    q: str | None = None
    status: str | None = None
    warning: str | None = None
    source: str | None = None
    clause: str | None = None
    region: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "LedgerFilter":
        return cls(q=text_arg(args, "q"), status=args.get("status") or None,
                   warning=args.get("warning") or None, source=args.get("source") or None,
                   clause=args.get("clause") or None, region=(args.get("region") or "").strip() or None,
                   date_from=date_arg(args, "date_from"), date_to=date_arg(args, "date_to"),
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))


def search_condition(user, q: str):
    """Hazard number, description, equipment code or unit name contains `q`. Regulators: the
    devices searched are those of their jurisdiction (a hazard's region is its device's region), so
    a county search reads that county's devices, not the province's 500,000; enterprises, whose
    ledgers are short, test each of their hazards' own device and unit."""
    if user.is_regulator:
        devices = select(Equipment.id).where(contains(Equipment.code, q),
                                             in_region(Equipment.region_code, user.scope_prefix))
        device_match = Hazard.equipment_id.in_(devices)
        unit_match = Hazard.use_org_id.in_(select(Organization.id).where(contains(Organization.name, q)))
    else:
        device_match = select(Equipment.id).where(Equipment.id == Hazard.equipment_id,
                                                  contains(Equipment.code, q)).exists()
        unit_match = select(Organization.id).where(Organization.id == Hazard.use_org_id,
                                                   contains(Organization.name, q)).exists()
    return or_(contains(Hazard.hazard_no, q), contains(Hazard.description, q), device_match, unit_match)


def ledger_query(user, f: LedgerFilter):
    query = (select(Hazard).where(services.hazard_scope(user))
             .options(joinedload(Hazard.equipment), joinedload(Hazard.use_org), joinedload(Hazard.region),
                      joinedload(Hazard.criterion), joinedload(Hazard.case)))
    if f.q:
        query = query.where(search_condition(user, f.q))
    if f.status:
        query = query.where(Hazard.status == f.status)
    if f.warning:
        query = query.where(Hazard.warning_level == f.warning)
    if f.source:
        query = query.where(Hazard.source == f.source)
    if f.clause:
        query = query.where(Hazard.criterion_id.in_(select(HazardCriterion.id).where(HazardCriterion.clause == f.clause)))
    if f.region and len(f.region) == 6 and f.region.isdigit():
        query = query.where(Hazard.region_code.startswith(region_prefix(f.region), autoescape=True))
    if f.date_from:
        query = query.where(Hazard.found_on >= f.date_from)
    if f.date_to:
        query = query.where(Hazard.found_on <= f.date_to)
    return query.order_by(Hazard.created_at.desc(), Hazard.id.desc())


def warning_counts_statement(user):
    """The ledger's counts by warning level (due state) in the user's scope."""
    # count(*): read from ix_hazard_region_status alone (count(id) made it visit 20,000 heap pages). Deleted
    # hazards are counted under warning "none", which the ledger does not show: no deleted_at test, no heap visit.
    return (select(Hazard.warning_level, func.count()).where(services.hazard_scope(user, include_deleted=True))
            .group_by(Hazard.warning_level))
