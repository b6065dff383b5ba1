"""Pages of 无需无纸化维保 (under 电梯无纸化维保): applications, exempt elevators and back-filled work
orders (search, filters, pagination, Excel export), an application, the 工单补录 form and a back-filled
order. Applying and reviewing are the generic start/task pages of workflows/elevator_exemption.bpmn."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..cases.services import paginate
from ..core.clock import today_local
from ..core.excel import stream_xlsx
from ..core.regions import office_name
from ..core.storage import attachment_response
from ..elevators.models import MAINT_TYPES, RESULTS, WorkOrder
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import lists, services
from .models import Backfill, Exemption

bp = Blueprint("elevator_exemptions", __name__, url_prefix="/elevators/exemptions")


def _common() -> dict:
    return {"may_apply": current_user.role in services.APPLY_ROLES and current_user.org_id is not None,
            "may_backfill": current_user.role in services.MAINT_ROLES and current_user.org_id is not None,
            "office_name": office_name}


@bp.app_template_global("exemption_tag")
def exemption_tag(equipment_id: int) -> Markup:
    """A tag for an elevator exempt today (other packages' elevator lists show it beside the name)."""
    row = services.active_exemption(equipment_id)
    if row is None:
        return Markup("")
    return Markup('<span class="tag tag-ex-approved" title="{}">无需无纸化维保</span>').format(
        f"审批编号 {row.app_no}，有效期至 {row.valid_until}")


@bp.route("")
@login_required
def index():
    f = lists.ApplicationFilter.from_args(request.args)
    items, total = paginate(lists.applications_query(current_user, f), f.page, f.per_page)
    return render_template("elevator_exemptions/index.html", f=f, items=items, total=total,
                           pages=max(1, -(-total // f.per_page)), statuses=Exemption.STATUS_LABELS, **_common())


@bp.route("/export.xlsx")
@login_required
def export():
    f = lists.ApplicationFilter.from_args(request.args)
    rows = (lists.application_row(r) for r in db.session.scalars(lists.applications_query(current_user, f)))
    return stream_xlsx("无需无纸化维保电梯申请", lists.APPLICATION_HEADERS, rows,
                       f"无需无纸化维保电梯申请-{today_local():%Y%m%d}.xlsx",
                       criteria={"q": f.q, "status": f.status, "region": f.region})


@bp.route("/<int:exemption_id>")
@login_required
def detail(exemption_id: int):
    row = services.visible_exemption(current_user, exemption_id)
    today = today_local()
    return render_template("elevator_exemptions/detail.html", r=row, today=today,
                           backfill_counts=_backfill_counts(row), **_common())


def _backfill_counts(row: Exemption) -> dict[int, int]:
    return dict(db.session.execute(select(WorkOrder.equipment_id, func.count()).join(Backfill, Backfill.work_order_id == WorkOrder.id)
                                   .where(Backfill.exemption_id == row.id).group_by(WorkOrder.equipment_id)).all())


@bp.route("/elevators")
@login_required
def elevators():
    f = lists.ElevatorFilter.from_args(request.args)
    rows, total = _page_rows(lists.elevators_query(current_user, f), f.page, f.per_page)
    return render_template("elevator_exemptions/elevators.html", f=f, rows=rows, total=total, today=today_local(),
                           pages=max(1, -(-total // f.per_page)), **_common())


def _page_rows(stmt, page: int, per_page: int):
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return rows, total


@bp.route("/elevators/export.xlsx")
@login_required
def export_elevators():
    f = lists.ElevatorFilter.from_args(request.args)
    today = today_local()
    rows = (lists.elevator_row(item, ex, today)
            for item, ex in db.session.execute(lists.elevators_query(current_user, f).execution_options(yield_per=500)))
    return stream_xlsx("无需无纸化维保电梯", lists.ELEVATOR_HEADERS, rows, f"无需无纸化维保电梯-{today:%Y%m%d}.xlsx",
                       criteria={"q": f.q, "valid": f.valid, "region": f.region})


@bp.route("/backfills")
@login_required
def backfills():
    f = lists.BackfillFilter.from_args(request.args)
    rows, total = _page_rows(lists.backfills_query(current_user, f), f.page, f.per_page)
    return render_template("elevator_exemptions/backfills.html", f=f, rows=rows, total=total,
                           pages=max(1, -(-total // f.per_page)), maint_types=MAINT_TYPES, **_common())


@bp.route("/backfills/export.xlsx")
@login_required
def export_backfills():
    f = lists.BackfillFilter.from_args(request.args)
    rows = (lists.backfill_row(o, bf) for o, bf in db.session.execute(lists.backfills_query(current_user, f)).unique())
    return stream_xlsx("补录维保工单", lists.BACKFILL_HEADERS, rows, f"补录维保工单-{today_local():%Y%m%d}.xlsx",
                       criteria={"q": f.q, "maint_type": f.maint_type})


@bp.route("/backfills/new", methods=["GET", "POST"])
@login_required
def new_backfill():
    """工单补录: choose an exempt elevator and the maintenance type (GET reloads the items), then enter
    the paper work order: date, times, people, each item's result, scans."""
    if current_user.role not in services.MAINT_ROLES or not current_user.org_id:
        raise Forbidden("只有电梯的维保单位可以补录维保工单")
    choices = services.exempt_elevators_for_backfill(current_user, limit=500)
    values = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
    values.setdefault("maint_type", "HALF")
    values.setdefault("work_date", today_local().isoformat())
    errors: dict[str, str] = {}
    equipment = None
    if values.get("equipment_id"):
        try:
            equipment = services.backfill_elevator(current_user, values["equipment_id"])
        except NotFound as err:
            errors["equipment_id"] = err.message
    items = services.backfill_items(current_user, equipment, values["maint_type"]) if equipment else []
    if request.method == "POST":
        payload = dict(values)
        payload["results"] = [{"item_id": i.id, "result": request.form.get(f"r_{i.id}"),
                               "note": request.form.get(f"n_{i.id}")} for i in items]
        files = [fs for fs in request.files.getlist("files") if fs and fs.filename]
        try:
            order, _dup = services.backfill(current_user, payload, files)
            db.session.commit()
        except (ValidationFailed, Conflict) as err:
            db.session.rollback()
            errors = err.fields if isinstance(err, ValidationFailed) else {"_form": err.message}
        else:
            flash(f"维保工单 {order.order_no} 已补录并归档，监管部门可查看", "success")
            return redirect(url_for("elevator_exemptions.backfill_detail", order_id=order.id))
    return render_template("elevator_exemptions/backfill_form.html", choices=choices, values=values, errors=errors,
                           equipment=equipment, items=items, maint_types=MAINT_TYPES, results=RESULTS,
                           people=services.maintainers_of(current_user.org_id), form=request.form,
                           today=today_local().isoformat(),
                           labels={"equipment_id": "电梯", "work_date": "维保日期", "start_time": "开始时间",
                                   "end_time": "结束时间", "maint_type": "维保类型", "maintainer": "维保人员",
                                   "coworker": "协作人", "results": "维保项目", "files": "附件"},
                           **_common()), (422 if errors else 200)


@bp.route("/backfills/<int:order_id>")
@login_required
def backfill_detail(order_id: int):
    order, bf = services.visible_backfill(current_user, order_id)
    return render_template("elevator_exemptions/backfill.html", o=order, bf=bf,
                           files=services.backfill_attachments(bf), **_common())


@bp.route("/backfills/<int:order_id>/files/<int:attachment_id>")
@login_required
def backfill_file(order_id: int, attachment_id: int):
    _order, bf = services.visible_backfill(current_user, order_id)
    att = next((a for a in services.backfill_attachments(bf) if a.id == attachment_id), None)
    if att is None:
        raise NotFound("附件不存在")
    return attachment_response(att)

