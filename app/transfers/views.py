"""设备迁移管理 (§4.5.9.1): list with filters, Excel export, batch actions, detail with the flow
record, edit while pending and delete of rejected applications."""
from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from ..cases.forms_web import field_views, read_submission, submitted_values
from ..cases.services import paginate, timeline, visible_case
from ..core.clock import to_local
from ..core.excel import stream_xlsx
from ..core.scope import is_candidate
from ..engine import runtime
from ..errors import DomainError, NotFound, ValidationFailed
from ..extensions import db
from . import services
from .models import EquipmentTransfer

bp = Blueprint("transfers", __name__, url_prefix="/transfers")


def _list_page(errors: dict | None = None, message: str | None = None, selected=(), opinion: str = "",
               status: int = 200):
    f = services.TransferFilter.from_args(request.args)
    items, total = paginate(services.list_query(current_user, f), f.page, f.per_page)
    return render_template("transfers/list.html", f=f, items=items, total=total,
                           pages=max(1, -(-total // f.per_page)), statuses=EquipmentTransfer.STATUS_LABELS,
                           regions=services.all_region_options(), region_full_name=services.region_full_name,
                           batch_errors=errors or {}, batch_message=message,
                           selected={str(i) for i in selected}, opinion=opinion,
                           can_apply=current_user.role == "use_unit"), status


@bp.route("")
@login_required
def index():
    return _list_page()


@bp.route("/batch", methods=["POST"])
@login_required
def batch_action():
    action = request.form.get("action", "")
    ids = request.form.getlist("ids")
    opinion = request.form.get("opinion", "")
    try:
        done = services.batch(current_user, action, ids, opinion)
        db.session.commit()
    except DomainError as err:       # refused as a whole: show why, keep the selection and opinion
        db.session.rollback()
        return _list_page(err.fields, err.message, ids, opinion, err.status)
    flash(f"{services.BATCH_ACTIONS[action]}完成，共 {len(done)} 条："
          + "、".join(t.transfer_no for t in done))
    return redirect(url_for("transfers.index", **request.args))


EXPORT_HEADERS = ["申请编号", "状态", "产权单位", "设备代码", "设备名称", "设备类别", "原监察机构", "变更监察机构",
                  "原登记机关", "设备当前监察机构", "变更原因", "申请人", "申请时间", "审核人", "审核时间", "审核意见",
                  "驳回理由"]


@bp.route("/export.xlsx")
@login_required
def export():
    f = services.TransferFilter.from_args(request.args)
    name = services.region_full_name

    def fmt(value):
        local = to_local(value)
        return local.strftime("%Y-%m-%d %H:%M") if local else ""

    def rows():
        for t in db.session.scalars(services.list_query(current_user, f).execution_options(yield_per=500)):
            for item in t.items:
                e = item.equipment
                yield [t.transfer_no, t.status_label, t.property_org.name, e.code, e.name, e.category.name,
                       name(item.from_region), name(item.to_region), name(e.registered_region_code),
                       name(e.region_code), t.reason, t.applicant.display_name, fmt(t.created_at),
                       t.decided_by.display_name if t.decided_by else "", fmt(t.decided_at), t.opinion or "",
                       t.reject_reason or ""]
    return stream_xlsx("设备迁移记录", EXPORT_HEADERS, rows(), filename="设备迁移记录.xlsx",
                       criteria=request.args.to_dict())


def _flow_record(transfer: EquipmentTransfer) -> list[dict]:
    """变更记录 (§4.5.9.5): step, handler, time, opinion of every timeline entry."""
    rows = []
    for row in timeline(transfer.case):
        e = row["event"]
        rows.append({"seq": e.seq, "step": e.step_name or "—", "summary": e.summary, "actor": row["actor"],
                     "unit": row["unit"], "at": e.at, "opinion": e.comment, "attachments": row["attachments"],
                     "kind": e.kind})
    return rows


@bp.route("/<int:transfer_id>")
@login_required
def detail(transfer_id: int):
    transfer = services.visible_transfer(current_user, transfer_id)
    task = services.review_task(transfer)
    may_review = task is not None and (task.assignee_id == current_user.id or
                                       (task.assignee_id is None and is_candidate(current_user, task)))
    try:
        visible_case(current_user, transfer.case_id)
        case_visible = True
    except NotFound:
        case_visible = False            # e.g. the original agency: the case lives in the target region
    active, done = runtime.done_steps(transfer.case)
    return render_template("transfers/detail.html", t=transfer, task=task, may_review=may_review,
                           case_visible=case_visible, records=_flow_record(transfer),
                           history=services.device_history(transfer), name=services.region_full_name,
                           edit_refusal=services.edit_refusal(current_user, transfer),
                           active_ids=active, done_ids=done)


@bp.route("/<int:transfer_id>/diagram.bpmn")
@login_required
def diagram(transfer_id: int):
    transfer = services.visible_transfer(current_user, transfer_id)
    return Response(transfer.case.process_version.bpmn_xml, mimetype="application/xml")


@bp.route("/<int:transfer_id>/edit", methods=["GET", "POST"])
@login_required
def edit(transfer_id: int):
    transfer = services.visible_transfer(current_user, transfer_id)
    refusal = services.edit_refusal(current_user, transfer)
    if refusal is not None:
        raise refusal
    schema = services.edit_schema(transfer.case)
    errors: dict = {}
    if request.method == "POST":
        try:
            changes = services.edit_transfer(current_user, transfer.id, read_submission(schema, request.form,
                                                                                         request.files, current_user))
            db.session.commit()
            flash("迁移申请已修改：" + "；".join(changes) if changes else "内容没有变化，未做修改")
            return redirect(url_for("transfers.detail", transfer_id=transfer.id))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
            values = submitted_values(schema, request.form)
    else:
        values = {"equipment_codes": [item.equipment.code for item in transfer.items],
                  "to_region": transfer.to_region, "reason": transfer.reason}
    fields = field_views(schema, values, errors, current_user)
    for field in fields:      # this application's own devices stay selectable while it is edited
        if field["name"] == "equipment_codes":
            field["options"] = [(e.code, services.equipment_label(e))
                                for e in services.movable_candidates(current_user, transfer)]
    return render_template("transfers/edit.html", t=transfer, schema=schema, fields=fields,
                           errors=errors), (422 if errors else 200)


@bp.route("/<int:transfer_id>/delete", methods=["POST"])
@login_required
def delete(transfer_id: int):
    transfer = services.visible_transfer(current_user, transfer_id)
    try:
        services.batch(current_user, "delete", [transfer.id])
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash("删除失败：" + (next(iter(err.fields.values()), None) or err.message), "error")
        return redirect(url_for("transfers.detail", transfer_id=transfer.id))
    flash(f"迁移申请 {transfer.transfer_no} 已删除")
    return redirect(url_for("transfers.index"))
