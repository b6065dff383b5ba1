"""重大事故隐患台账, 整改通知书 (print + .docx), Excel export."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from ..cases.services import paginate
from ..core.excel import stream_xlsx
from ..core.models import Equipment, Organization
from ..core.regions import region_prefix
from ..core.scope import in_region
from ..core.params import contains, date_arg, int_arg, text_arg
from ..extensions import db
from . import services
from .models import Hazard, HazardCriterion

bp = Blueprint("hazards", __name__, url_prefix="/hazards")


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


@bp.route("")
@login_required
def ledger():
    f = LedgerFilter.from_args(request.args)
    items, total = paginate(ledger_query(current_user, f), f.page, f.per_page)
    by_warning = dict(db.session.execute(warning_counts_statement(current_user)).all())
    clauses = db.session.execute(select(HazardCriterion.clause, HazardCriterion.equipment_type)
                                 .distinct().order_by(HazardCriterion.clause)).all()
    return render_template("hazards/ledger.html", f=f, items=items, total=total, by_warning=by_warning,
                           pages=max(1, -(-total // f.per_page)), clauses=clauses,
                           statuses=Hazard.STATUS_LABELS, sources=Hazard.SOURCE_LABELS)


EXPORT_HEADERS = ["隐患编号", "状态", "预警", "来源", "设备代码", "设备名称", "使用单位", "属地", "判定依据",
                  "隐患描述", "发现日期", "整改期限", "整改通知书编号", "延期次数", "销号时间"]


@bp.route("/export.xlsx")
@login_required
def export():
    f = LedgerFilter.from_args(request.args)
    from ..cases.models import WARNING_LABELS
    from ..core.clock import to_local

    def rows():
        for h in db.session.scalars(ledger_query(current_user, f).execution_options(yield_per=500)):  # many-to-one joins only
            yield [h.hazard_no, h.status_label, WARNING_LABELS.get(h.warning_level, ""), h.source_label,
                   h.equipment.code, h.equipment.name, h.use_org.name, h.region.name, h.criterion.citation,
                   h.description, h.found_on, h.rectify_deadline, h.notice_no or "", h.extension_count,
                   to_local(h.closed_at).strftime("%Y-%m-%d %H:%M") if h.closed_at else ""]
    return stream_xlsx("重大事故隐患台账", EXPORT_HEADERS, rows(), filename="重大事故隐患台账.xlsx",
                       criteria=request.args.to_dict())


@bp.route("/<int:hazard_id>/notice")
@login_required
def notice(hazard_id: int):
    """The notice's print view (the shared documents service's)."""
    from ..core.documents import view
    return view("hazard_notice", hazard_id)


@bp.route("/<int:hazard_id>/notice.docx")
@login_required
def notice_download(hazard_id: int):
    from ..core.documents import docx
    return docx("hazard_notice", hazard_id)
from . import criteria as _criteria  # noqa: E402,F401 - 判定标准配置 routes on this blueprint
from . import pages  # noqa: E402,F401 - 隐患管理 routes on this blueprint
