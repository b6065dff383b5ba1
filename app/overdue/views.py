"""超期未检专项整治 pages: 排查治理台账 (counts per band, drill-down, export, batch start, 误报纠正),
超期未检处理记录, 公告注销汇总, and the public announcement page."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..cases.services import paginate
from ..core.clock import to_local
from ..core.excel import stream_xlsx
from ..core.params import int_arg, text_arg
from ..core.regions import region_full_name
from ..core.scope import in_region
from ..errors import DomainError, Forbidden
from ..extensions import db
from ..registry import due
from ..registry.catalogue import category_name
from . import ledger
from .models import MEASURES, Announcement, OverdueAction

bp = Blueprint("overdue", __name__, url_prefix="/overdue")
public_bp = Blueprint("overdue_public", __name__, url_prefix="/public")


def _regulator():
    if not current_user.is_regulator:
        raise Forbidden("排查治理台账只对监察人员开放")


def _ledger_page(errors: dict | None = None, message: str | None = None, selected=(), status: int = 200):
    _regulator()
    f = ledger.LedgerFilter.from_args(request.args)
    counts = ledger.band_counts(current_user, f)
    items, total = paginate(ledger.ledger_query(current_user, f), f.page, f.per_page, ledger.total_of(counts, f))
    label, drill = ledger.drill_down(current_user, f)
    return render_template("overdue/ledger.html", f=f, items=items, total=total,
                           pages=max(1, -(-total // f.per_page)), counts=counts,
                           drill_label=label, drill=drill, due_states=due.STATES, kinds=ledger.kind_options(),
                           report_states=ledger.REPORT_STATES, disposal_states=ledger.DISPOSAL_STATES,
                           disposals=ledger.open_disposals_of(items), category_name=category_name,
                           region_full_name=region_full_name, batch_errors=errors or {}, batch_message=message,
                           selected={str(i) for i in selected}), status


@bp.route("")
@login_required
def index():
    return _ledger_page()


@bp.route("/export.xlsx")
@login_required
def export():
    _regulator()
    f = ledger.LedgerFilter.from_args(request.args)
    return stream_xlsx("排查治理台账", ledger.EXPORT_HEADERS, ledger.export_rows(current_user, f),
                       filename="超期未检排查治理台账.xlsx", criteria=request.args.to_dict())


@bp.route("/batch-start", methods=["POST"])
@login_required
def batch_start():
    ids = request.form.getlist("ids")
    try:
        cases = ledger.batch_start(current_user, ids, request.form.get("note"))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        return _ledger_page(err.fields, err.message, ids, err.status)
    flash(f"已发起 {len(cases)} 件超期未检处置：" + "、".join(c.case_no for c in cases))
    return redirect(url_for("overdue.index", **request.args))


@bp.route("/correct", methods=["POST"])
@login_required
def correct():
    _regulator()
    f = ledger.LedgerFilter.from_args(request.args)
    ids = request.form.getlist("ids") if request.form.get("scope") != "filter" else None
    try:
        result = ledger.correct(current_user, ids, f, request.form.get("reason"))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash("未重新计算：" + ("；".join(err.fields.values()) if err.fields else err.message), "error")
        return redirect(url_for("overdue.index", **request.args))
    flash(f"误报纠正：重新计算 {result['checked']} 台设备，{result['changed']} 台有变化，"
          f"{len(result['cleared'])} 台消除了超期或到期标记（已记入超期未检处理记录）")
    return redirect(url_for("overdue.index", **request.args))


RECORD_HEADERS = ["时间", "设备代码", "设备名称", "使用单位", "属地", "操作", "措施", "内容", "原因/意见", "操作人", "案件编号"]


@bp.route("/records")
@login_required
def records():
    f = ledger.RecordFilter.from_args(request.args)
    items, total = paginate(ledger.records_query(current_user, f), f.page, f.per_page)
    return render_template("overdue/records.html", f=f, items=items, total=total,
                           pages=max(1, -(-total // f.per_page)), actions=OverdueAction.ACTION_LABELS,
                           measures=MEASURES, region_full_name=region_full_name)


@bp.route("/records/export.xlsx")
@login_required
def records_export():
    f = ledger.RecordFilter.from_args(request.args)

    def rows():
        for a in db.session.scalars(ledger.records_query(current_user, f).execution_options(yield_per=1000)):
            yield [to_local(a.at).strftime("%Y-%m-%d %H:%M"), a.equipment.code, a.equipment.name, a.equipment.use_org.name,
                   region_full_name(a.region_code), a.action_label, MEASURES.get(a.measure or "", ""), a.summary,
                   a.reason or "", a.actor.display_name if a.actor else "系统", a.case.case_no if a.case else ""]
    return stream_xlsx("超期未检处理记录", RECORD_HEADERS, rows(), filename="超期未检处理记录.xlsx",
                       criteria=request.args.to_dict())


@bp.route("/announcements")
@login_required
def announcements():
    """公告注销汇总: the announcements of the user's region by stage (the city and the province approve them
    in their inbox, one by one or with 批量审批)."""
    _regulator()
    status = request.args.get("status") if request.args.get("status") in Announcement.STATUS_LABELS else None
    query = (select(Announcement).where(in_region(Announcement.region_code, current_user.scope_prefix))
             .options(joinedload(Announcement.equipment), joinedload(Announcement.case))
             .order_by(Announcement.submitted_at.desc(), Announcement.id.desc()))
    if status:
        query = query.where(Announcement.status == status)
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    items, total = paginate(query, page, per_page)
    return render_template("overdue/announcements.html", items=items, total=total, page=page,
                           pages=max(1, -(-total // per_page)), status=status, statuses=Announcement.STATUS_LABELS,
                           region_full_name=region_full_name)


def published_query(q: str | None):
    from ..core.models import Equipment, Organization
    from ..core.params import contains
    query = (select(Announcement).where(Announcement.status == "published")
             .options(joinedload(Announcement.equipment).joinedload(Equipment.use_org))
             .order_by(Announcement.published_at.desc(), Announcement.id.desc()))
    if q:
        devices = select(Equipment.id).where(contains(Equipment.code, q))
        units = select(Equipment.id).join(Organization, Equipment.use_org_id == Organization.id).where(
            contains(Organization.name, q))
        query = query.where((Announcement.equipment_id.in_(devices)) | (Announcement.equipment_id.in_(units))
                            | (Announcement.announcement_no == q))
    return query


@public_bp.route("/announcements")
def public_announcements():
    """The province's public page of 公告注销 (no login): number, device, unit, reason, date."""
    q = text_arg(request.args, "q", 50)
    page = int_arg(request.args, "page", 1, 1, 10000)
    items, total = paginate(published_query(q), page, 20)
    return render_template("overdue/public_announcements.html", items=items, total=total, page=page,
                           pages=max(1, -(-total // 20)), q=q or "", region_full_name=region_full_name,
                           category_name=category_name)
