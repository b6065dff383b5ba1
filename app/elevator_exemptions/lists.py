"""The three lists of 无需无纸化维保 — applications, exempt elevators, back-filled work orders — with
their filters (query string → dataclass), scoped queries and Excel rows; shared by pages and API."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import joinedload, selectinload

from ..core.clock import on_local_days, to_local, today_local
from ..core.models import Equipment, Organization
from ..core.params import contains, date_arg, int_arg, text_arg
from ..core.regions import office_name
from ..core.scope import in_region
from ..elevators.models import MAINT_TYPES, WorkOrder
from .models import Backfill, Exemption, ExemptionItem
from .services import valid_on_condition, backfill_scope, exemption_scope, item_scope

REGION_RE = re.compile(r"^45[0-9]{0,4}$")


def _region(args) -> str | None:
    value = (args.get("region") or "").strip()
    return value if REGION_RE.match(value) else None


def _page(args) -> tuple[int, int]:
    return int_arg(args, "page", 1, 1, 100000), int_arg(args, "per_page", 20, 5, 100)


@dataclass
class ApplicationFilter:
    q: str | None = None
    status: str | None = None
    region: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "ApplicationFilter":
        status = args.get("status") if args.get("status") in Exemption.STATUS_LABELS else None
        page, per_page = _page(args)
        return cls(q=text_arg(args, "q", 50), status=status, region=_region(args), date_from=date_arg(args, "date_from"),
                   date_to=date_arg(args, "date_to"), page=page, per_page=per_page)

    @property
    def active(self) -> int:
        return sum(1 for v in (self.q, self.status, self.region, self.date_from, self.date_to) if v)


def applications_query(user, f: ApplicationFilter):
    stmt = (select(Exemption).options(joinedload(Exemption.use_org), selectinload(Exemption.items))
            .where(exemption_scope(user)))
    if f.q:
        # Correlated by primary keys (one lookup per application), never a search through every unit
        # or elevator of the province inside the OR.
        stmt = stmt.where(or_(contains(Exemption.app_no, f.q), contains(Exemption.reason, f.q),
                              exists().where(Organization.id == Exemption.use_org_id, contains(Organization.name, f.q)),
                              exists().where(ExemptionItem.exemption_id == Exemption.id,
                                             Equipment.id == ExemptionItem.equipment_id,
                                             contains(Equipment.code, f.q))))
    if f.status:
        stmt = stmt.where(Exemption.status == f.status)
    if f.region:
        stmt = stmt.where(in_region(Exemption.region_code, f.region))
    stmt = stmt.where(*on_local_days(Exemption.created_at, f.date_from, f.date_to))
    return stmt.order_by(Exemption.created_at.desc(), Exemption.id.desc())


APPLICATION_HEADERS = ["申请编号", "使用单位", "属地监管部门", "电梯台数", "申请原因", "提交时间", "状态", "有效期起", "有效期至",
                       "审核意见", "退回次数"]


def application_row(r: Exemption) -> list:
    local = to_local(r.created_at)
    return [r.app_no, r.use_org.name, office_name(r.region_code), len(r.items), r.reason,
            local.strftime("%Y-%m-%d %H:%M"), r.status_label, r.valid_from.isoformat() if r.valid_from else "",
            r.valid_until.isoformat() if r.valid_until else "", r.opinion or "", r.returned_count]


@dataclass
class ElevatorFilter:
    q: str | None = None
    valid: str | None = None          # valid | expired
    region: str | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "ElevatorFilter":
        valid = args.get("valid") if args.get("valid") in ("valid", "expired") else None
        page, per_page = _page(args)
        return cls(q=text_arg(args, "q", 50), valid=valid, region=_region(args), page=page, per_page=per_page)

    @property
    def active(self) -> int:
        return sum(1 for v in (self.q, self.valid, self.region) if v)


def elevators_query(user, f: ElevatorFilter):
    """Approved (listed elevator, application) pairs — valid today, expired, or both. Driven from the
    applications (thousands) rather than the elevators (hundreds of thousands): the page's elevators and
    their units are read afterwards for its rows only."""
    stmt = (select(ExemptionItem, Exemption).join(Exemption, Exemption.id == ExemptionItem.exemption_id)
            .options(selectinload(ExemptionItem.equipment).joinedload(Equipment.use_org),
                     selectinload(ExemptionItem.equipment).joinedload(Equipment.maintenance_org))
            .where(Exemption.status == "approved", item_scope(user)))
    today = today_local()
    if f.valid == "valid":
        stmt = stmt.where(*valid_on_condition(today))
    elif f.valid == "expired":
        stmt = stmt.where(Exemption.valid_until < today)
    if f.q:
        # Correlated on the elevator's primary key: one index lookup per listed elevator, never a
        # search through every elevator of the province.
        stmt = stmt.where(or_(contains(Exemption.app_no, f.q), exists().where(
            Equipment.id == ExemptionItem.equipment_id,
            or_(contains(Equipment.code, f.q), contains(Equipment.name, f.q), contains(Equipment.address, f.q)))))
    if f.region:
        stmt = stmt.where(in_region(Exemption.region_code, f.region))
    return stmt.order_by(Exemption.valid_until.desc(), ExemptionItem.id)


ELEVATOR_HEADERS = ["设备代码", "电梯名称", "地址", "使用单位", "维保单位", "审批编号", "有效期起", "有效期至", "状态"]


def elevator_row(item: ExemptionItem, ex: Exemption, today: date) -> list:
    e = item.equipment
    return [e.code, e.name, e.address or "", e.use_org.name, e.maintenance_org.name if e.maintenance_org else "",
            ex.app_no, ex.valid_from.isoformat() if ex.valid_from else "",
            ex.valid_until.isoformat() if ex.valid_until else "", "有效" if ex.valid_on(today) else "已过期"]


@dataclass
class BackfillFilter:
    q: str | None = None
    maint_type: str | None = None
    equipment_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "BackfillFilter":
        kind = args.get("maint_type") if args.get("maint_type") in MAINT_TYPES else None
        page, per_page = _page(args)
        return cls(q=text_arg(args, "q", 50), maint_type=kind,
                   equipment_id=int_arg(args, "equipment_id", 0, 0, 2**31 - 1) or None,
                   date_from=date_arg(args, "date_from"), date_to=date_arg(args, "date_to"), page=page, per_page=per_page)

    @property
    def active(self) -> int:
        return sum(1 for v in (self.q, self.maint_type, self.date_from, self.date_to) if v)


def backfills_query(user, f: BackfillFilter):
    stmt = (select(WorkOrder, Backfill).join(Backfill, Backfill.work_order_id == WorkOrder.id)
            .options(selectinload(WorkOrder.equipment), selectinload(WorkOrder.maintainer),
                     selectinload(WorkOrder.coworker), selectinload(WorkOrder.use_org),
                     selectinload(WorkOrder.maintenance_org), selectinload(Backfill.exemption),
                     selectinload(Backfill.entered_by))
            .where(backfill_scope(user)))
    if f.q:
        stmt = stmt.join(Equipment, Equipment.id == WorkOrder.equipment_id).where(or_(
            contains(WorkOrder.order_no, f.q), contains(Equipment.code, f.q), contains(Equipment.name, f.q)))
    if f.maint_type:
        stmt = stmt.where(WorkOrder.maint_type == f.maint_type)
    if f.equipment_id:
        stmt = stmt.where(WorkOrder.equipment_id == f.equipment_id)
    stmt = stmt.where(*on_local_days(WorkOrder.checkin_at, f.date_from, f.date_to))
    return stmt.order_by(WorkOrder.checkin_at.desc(), WorkOrder.id.desc())


BACKFILL_HEADERS = ["工单编号", "设备代码", "电梯名称", "使用单位", "维保单位", "维保类型", "维保日期", "开始", "结束", "维保人员",
                    "协作人", "依据申请", "补录人", "补录时间", "备注"]


def backfill_row(o: WorkOrder, bf: Backfill) -> list:
    start, end, at = to_local(o.checkin_at), to_local(o.checkout_at), to_local(bf.entered_at)
    return [o.order_no, o.equipment.code, o.equipment.name, o.use_org.name, o.maintenance_org.name, o.maint_type_label,
            start.strftime("%Y-%m-%d"), start.strftime("%H:%M"), end.strftime("%H:%M") if end else "",
            o.maintainer.display_name, o.coworker.display_name if o.coworker else "", bf.exemption.app_no,
            bf.entered_by.display_name, at.strftime("%Y-%m-%d %H:%M"), o.remark or ""]
