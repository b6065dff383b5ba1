"""Pages of paperless elevator maintenance for desktop and phone (the Bootstrap shell): elevator archive,
维保记录 / 维修记录 (search, filters, pagination, Excel export), a work order, plans, the items an admin
edits, the printable QR label; and the public 96111 page (no login)."""
from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..cases.services import paginate
from ..core.clock import to_local, today_local
from ..core.excel import stream_xlsx
from ..core.params import text_arg
from ..core.storage import open_attachment
from ..errors import DomainError, Forbidden, NotFound
from ..extensions import db
from . import services
from .models import ELEVATOR_TYPES, KEY_POSITIONS, MAINT_TYPES, ElevatorFacts, MaintenanceItem, MaintenancePlan, WorkOrder

bp = Blueprint("elevators", __name__, url_prefix="/elevators")
public_bp = Blueprint("elevators_public", __name__, url_prefix="/p/elevators")

ITEM_EDITORS = ("sys_admin", "process_admin", "province_supervisor")


@bp.route("")
@login_required
def index():
    q = text_arg(request.args, "q", 50)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    per_page = min(100, max(1, request.args.get("per_page", 20, type=int) or 20))
    stmt = services.elevators_query(current_user, q)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return render_template("elevators/index.html", rows=rows, q=q or "", page=page, per_page=per_page, total=total,
                           pages=max(1, -(-total // per_page)), next_plan=services.next_plan)


def _records(kind: str):
    f = services.RecordFilter.from_args(request.args, kind)
    items, total = paginate(services.records_query(current_user, f), f.page, f.per_page)
    return render_template("elevators/records.html", f=f, items=items, total=total, kind=kind,
                           pages=max(1, -(-total // f.per_page)), statuses=WorkOrder.STATUS_LABELS,
                           sources=services.sources_of(items), source_labels=services.record_source_labels(),
                           title="维保记录" if kind == "maintenance" else "维修记录")


@bp.route("/records")
@login_required
def records():
    return _records("maintenance")


@bp.route("/repairs")
@login_required
def repairs():
    return _records("repair")


EXPORT_HEADERS = ["工单编号", "类型", "设备代码", "电梯名称", "使用单位", "维保单位", "维保人员", "协作人", "签到时间",
                  "签到距离(米)", "签退时间", "状态", "退回次数", "故障描述", "更换配件", "来源", "项目/楼栋"]


@bp.route("/records/export.xlsx")
@login_required
def export():
    kind = request.args.get("kind") if request.args.get("kind") in WorkOrder.KIND_LABELS else "maintenance"
    f = services.RecordFilter.from_args(request.args, kind)

    def fmt(value):
        local = to_local(value)
        return local.strftime("%Y-%m-%d %H:%M") if local else ""

    source_labels = services.record_source_labels()

    def rows():
        chunk = []
        for o in db.session.scalars(services.records_query(current_user, f).execution_options(yield_per=500)):
            chunk.append(o)
            if len(chunk) == 500:
                yield from export_rows(chunk)
                chunk = []
        yield from export_rows(chunk)

    def export_rows(orders):
        sources = services.sources_of(orders)
        sites = dict(db.session.execute(select(ElevatorFacts.equipment_id, ElevatorFacts.site).where(
            ElevatorFacts.equipment_id.in_({o.equipment_id for o in orders}))).all()) if orders else {}
        for o in orders:
            yield [o.order_no, o.maint_type_label or o.kind_label, o.equipment.code, o.equipment.name, o.use_org.name,
                   o.maintenance_org.name, o.maintainer.display_name, o.coworker.display_name if o.coworker else "",
                   fmt(o.checkin_at), o.checkin_distance, fmt(o.checkout_at), o.status_label, o.returned_count,
                   o.fault_description or "", o.parts or "", source_labels.get(sources[o.id], ""),
                   sites.get(o.equipment_id) or ""]
    label = "维保记录" if kind == "maintenance" else "维修记录"
    return stream_xlsx(label, EXPORT_HEADERS, rows(), f"{label}-{today_local():%Y%m%d}.xlsx",
                       criteria=f.criteria())


@bp.route("/orders/<int:order_id>")
@login_required
def order(order_id: int):
    o = services.visible_order(current_user, order_id)
    return render_template("elevators/order.html", o=o, **{k: v for k, v in services.order_view(o).items()
                                                            if k != "order"})


@bp.route("/plans")
@login_required
def plans():
    status = request.args.get("status") if request.args.get("status") in ("planned", "done", "overdue") else None
    stmt = services.plans_query(current_user, status="planned" if status == "overdue" else status)
    if status == "overdue":
        stmt = stmt.where(MaintenancePlan.due_on < today_local())
    q = text_arg(request.args, "q", 50)
    if q:
        from ..core.models import Equipment
        stmt = stmt.where(Equipment.code.like(f"%{q}%") | Equipment.name.like(f"%{q}%"))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    items, total = paginate(stmt, page, 30)
    overdue = db.session.scalar(select(func.count()).select_from(
        services.plans_query(current_user, status="planned").where(MaintenancePlan.due_on < today_local())
        .order_by(None).subquery()))
    return render_template("elevators/plans.html", items=items, total=total, page=page, pages=max(1, -(-total // 30)),
                           status=status, q=q or "", overdue=overdue, today=today_local(),
                           can_move=current_user.role in ("maintenance_unit", "maintenance_quality",
                                                          "elevator_maintainer"))


@bp.route("/plans/<int:plan_id>/move", methods=["POST"])
@login_required
def move_plan(plan_id: int):
    plan = db.session.scalar(services.plans_query(current_user).where(MaintenancePlan.id == plan_id))
    if plan is None:
        raise NotFound("维保计划不存在或不在您的查看范围内")
    if current_user.org_id != plan.maintenance_org_id:
        raise Forbidden("只有维保单位可以调整维保计划")
    try:
        services.move_plan(plan, date.fromisoformat(request.form.get("due_on", "")), current_user)
        db.session.commit()
        flash("维保计划已调整", "success")
    except ValueError:
        flash("日期格式应为 YYYY-MM-DD", "error")
    except DomainError as err:
        db.session.rollback()
        flash(next(iter(err.fields.values()), err.message) if err.fields else err.message, "error")
    return redirect(url_for("elevators.plans", **request.args))


@bp.route("/items")
@login_required
def items():
    if current_user.role not in ITEM_EDITORS:
        raise Forbidden()
    annex = request.args.get("annex") if request.args.get("annex") in ("A", "B", "C", "D") else "A"
    rows = list(db.session.scalars(select(MaintenanceItem).where(MaintenanceItem.annex == annex)
                                   .order_by(MaintenanceItem.frequency, MaintenanceItem.seq)))
    order = {t: n for n, t in enumerate(["HALF", "QUARTER", "HALF_YEAR", "YEAR"])}
    rows.sort(key=lambda i: (order.get(i.frequency, 9), i.seq))
    return render_template("elevators/items.html", rows=rows, annex=annex, positions=KEY_POSITIONS,
                           types=ELEVATOR_TYPES, maint_types=MAINT_TYPES)


@bp.route("/items/<int:item_id>", methods=["POST"])
@login_required
def edit_item(item_id: int):
    if current_user.role not in ITEM_EDITORS:
        raise Forbidden()
    item = db.session.get(MaintenanceItem, item_id)
    if item is None:
        raise NotFound("维保项目不存在")
    try:
        services.update_item(item, {"item": request.form.get("item"), "requirement": request.form.get("requirement"),
                                    "photo_required": request.form.get("photo_required") == "on",
                                    "key_position": request.form.get("key_position"),
                                    "active": request.form.get("active") == "on"}, current_user)
        db.session.commit()
        flash(f"维保项目 {item.code} 已保存", "success")
    except DomainError as err:
        db.session.rollback()
        flash("；".join(err.fields.values()) if err.fields else err.message, "error")
    return redirect(url_for("elevators.items", annex=item.annex) + f"#item-{item.id}")


@bp.route("/setup", methods=["GET", "POST"])
@login_required
def setup():
    """The maintenance unit records an elevator's facts and its maintenance contract (plans follow)."""
    from ..registry.services import find_device
    if current_user.role not in services.SETUP_ROLES:
        raise Forbidden("只有维保单位可以录入电梯参数与维保合同")
    values = request.form.to_dict() if request.method == "POST" else dict(request.args)
    errors, device = {}, None
    code = (values.get("code") or "").strip()
    if code:
        device = find_device(current_user, code)
        if device is None or device.maintenance_org_id != current_user.org_id:
            errors["code"] = "设备代码不存在，或该设备登记的维保单位不是本单位"
            device = None
    if device is not None and request.method == "GET":
        facts = services.facts_of(device.id)
        if facts:
            values.update({"elevator_type": facts.elevator_type, "floors": facts.floors or "", "speed": facts.speed or "",
                           "rated_load": facts.rated_load or "", "rescue_code": facts.rescue_code, "site": facts.site or ""})
    if request.method == "POST" and device is not None:
        try:
            contract = services.setup_elevator(current_user, device, values)
            db.session.commit()
            flash(f"已保存 {device.name}（{device.code}）的电梯参数与维保合同，维保计划已生成", "success")
            return redirect(url_for("elevators.plans", q=device.code))
        except DomainError as err:
            db.session.rollback()
            errors = err.fields or {"_form": err.message}
    elif request.method == "POST" and not code:
        errors["code"] = "请填写设备代码"
    return render_template("elevators/setup.html", values=values, errors=errors, device=device,
                           types=ELEVATOR_TYPES, today=today_local()), (422 if errors and request.method == "POST" else 200)


@bp.route("/<int:equipment_id>/label")
@login_required
def label(equipment_id: int):
    e, f = services.visible_elevator(current_user, equipment_id)
    import segno
    url = url_for("elevators_public.elevator", code=f.rescue_code, _external=True)
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=6, border=2, xmldecl=False, svgns=True)
    return render_template("elevators/label.html", e=e, f=f, url=url, svg=buf.getvalue().decode("utf-8"))


# ---------------------------------------------------------------- public (no login)

def _public_facts(code: str):
    """By 96111 rescue code (the label), else by 设备代码 — two indexed lookups, not an OR across the join."""
    from sqlalchemy.orm import joinedload

    from ..core.models import Equipment
    from .models import ElevatorFacts
    base = (select(Equipment, ElevatorFacts).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
            .options(joinedload(Equipment.use_org), joinedload(Equipment.maintenance_org)))
    row = db.session.execute(base.where(ElevatorFacts.rescue_code == (code or "")[:20])).first()
    if row is None:
        row = db.session.execute(base.where(Equipment.code == (code or "")[:32])).first()
    if row is None:
        raise NotFound("未找到该救援识别码对应的电梯")
    return row


@public_bp.route("/<code>")
def elevator(code: str):
    """The page the 96111 label's QR code opens; `?photo=<id>` serves one of its key-position photos (only
    those of the latest archived maintenance are public)."""
    e, f = _public_facts(code)
    last = services.last_archived(e.id)
    photos = services.key_photos(last) if last else []
    if request.args.get("photo"):
        shown = {str(p.id): p for _label, p in photos}
        p = shown.get(request.args["photo"])
        if p is None:
            abort(404)
        with open_attachment(p.attachment) as fh:
            data = fh.read()
        return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})
    return render_template("elevators/public.html", e=e, f=f, last=last, maint_org=e.maintenance_org, photos=photos,
                           plan=services.next_plan(e.id), mask=services.mask_name)
