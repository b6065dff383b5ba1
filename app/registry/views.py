"""设备档案 pages: device search, the device profile (the page every domain links to), status changes,
design-life corrections, and units."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, func, select
from sqlalchemy.orm import joinedload

from ..cases.services import paginate
from ..core.excel import stream_xlsx
from ..core.models import Equipment, OrgContact
from ..core.regions import region_full_name
from ..errors import DomainError, Forbidden
from ..extensions import db
from . import due, life, services
from .catalogue import category_name, options as category_options
from .profile import sections_for

bp = Blueprint("registry", __name__, url_prefix="/registry")


def _device_page_context():
    return {"statuses": Equipment.STATUS_LABELS, "due_states": due.STATES, "kinds": category_options("种类"),
            "category_name": category_name, "region_full_name": region_full_name}


@bp.route("/devices")
@login_required
def devices():
    f = services.DeviceFilter.from_args(request.args)
    items, total = paginate(services.device_query(current_user, f), f.page, f.per_page)
    return render_template("registry/devices.html", f=f, items=items, total=total,
                           pages=max(1, -(-total // f.per_page)), **_device_page_context())


EXPORT_HEADERS = ["设备代码", "设备名称", "种类", "类别", "品种", "注册代码", "使用登记证编号", "产品编号", "规格型号",
                  "制造单位", "使用单位", "维保单位", "属地", "地址", "状态", "制造日期", "投入使用日期", "设计使用年限",
                  "设计使用年限届满", "下次检验日期", "延期检验至", "到期状态", "最近检验日期", "最近检验结论"]


@bp.route("/devices/export.xlsx")
@login_required
def devices_export():
    f = services.DeviceFilter.from_args(request.args)

    def rows():
        query = services.device_query(current_user, f).execution_options(yield_per=1000)
        for e in db.session.scalars(query):
            yield [e.code, e.name, category_name(e.kind_code), category_name(e.class_code), category_name(e.category_code),
                   e.reg_code, e.registration_no, e.factory_no, e.model, e.maker_name, e.use_org.name,
                   e.maintenance_org.name if e.maintenance_org else "", region_full_name(e.region_code), e.address,
                   e.status_label, e.manufacture_date, e.commissioning_date, e.design_life_years, e.design_life_end,
                   e.next_inspection_date, e.extended_until, due.STATES.get(e.due_state, e.due_state),
                   e.last_inspected_on, e.last_conclusion]
    return stream_xlsx("设备档案", EXPORT_HEADERS, rows(), filename="设备档案.xlsx", criteria=request.args.to_dict())


@bp.route("/devices/<int:device_id>")
@login_required
def device(device_id: int):
    e = services.visible_device(current_user, device_id)
    return render_template("registry/device.html", e=e, tags=services.device_tags(e),
                           sections=sections_for(e, current_user),
                           may_change_status=services.may_change_status(current_user, e),
                           may_edit_life=services.may_edit_life(current_user, e),
                           next_statuses=[(s, Equipment.STATUS_LABELS[s]) for s in services.STATUS_FLOW.get(e.status, ())],
                           life_band=life.band_of(e.design_life_end), life_bands=life.BANDS,
                           life_sources=life.SOURCES, editable=services.EDITABLE, **_device_page_context())


@bp.route("/devices/<int:device_id>/status", methods=["POST"])
@login_required
def change_status(device_id: int):
    e = services.visible_device(current_user, device_id)
    if not services.may_change_status(current_user, e):
        raise Forbidden("只有设备属地的监察人员可以办理停用、报废、注销登记")
    try:
        services.change_status(e, request.form.get("status", ""), actor=current_user, reason=request.form.get("reason"))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash("状态未变更：" + ("；".join(err.fields.values()) if err.fields else err.message), "error")
        return redirect(url_for("registry.device", device_id=device_id))
    flash(f"设备状态已改为{e.status_label}")
    return redirect(url_for("registry.device", device_id=device_id))


@bp.route("/devices/<int:device_id>/life", methods=["POST"])
@login_required
def edit_life(device_id: int):
    e = services.visible_device(current_user, device_id)
    if not services.may_edit_life(current_user, e):
        raise Forbidden("只有监察人员和检验人员可以修正设计使用年限与日期")
    values = {k: request.form.get(k, "").strip() for k in services.EDITABLE if k in request.form}
    try:
        rows = services.edit_device(e, values, actor=current_user, reason=request.form.get("reason"))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash("未保存：" + ("；".join(err.fields.values()) if err.fields else err.message), "error")
        return redirect(url_for("registry.device", device_id=device_id) + "#life")
    flash("已保存：" + "、".join(services.EDITABLE[r.field][0] for r in rows) if rows else "内容没有变化，未做修改")
    return redirect(url_for("registry.device", device_id=device_id))


@bp.route("/units")
@login_required
def units():
    f = services.UnitFilter.from_args(request.args)
    items, total = paginate(services.unit_query(current_user, f), f.page, f.per_page)
    counts = dict(db.session.execute(select(Equipment.use_org_id, func.count()).where(
        Equipment.use_org_id.in_([o.id for o in items])).group_by(Equipment.use_org_id)).all()) if items else {}
    return render_template("registry/units.html", f=f, items=items, total=total, counts=counts,
                           pages=max(1, -(-total // f.per_page)), kinds=services.Organization.KIND_LABELS,
                           region_full_name=region_full_name)


@bp.route("/units/<int:org_id>")
@login_required
def unit(org_id: int):
    org = services.visible_unit(current_user, org_id)
    f = services.DeviceFilter.from_args(request.args)
    f.org_id = org.id
    items, total = paginate(services.device_query(current_user, f), f.page, f.per_page)
    contacts = list(db.session.scalars(select(OrgContact).where(OrgContact.org_id == org.id).order_by(OrgContact.id)))
    by_state = due.counts(and_(Equipment.use_org_id == org.id, services.device_scope(current_user)))
    return render_template("registry/unit.html", org=org, f=f, items=items, total=total, contacts=contacts,
                           by_state=by_state, pages=max(1, -(-total // f.per_page)), **_device_page_context())


@bp.route("/design-life")
@login_required
def design_life():
    """超设计使用年限查询 (§4.5.8): pressure vessels within 1 / 2 / 3 years of their design life and past it;
    past-life ones tagged by whether their use registration was changed."""
    f = life.LifeFilter.from_args(request.args)
    scope = services.device_scope(current_user)
    items, total = paginate(life.life_query(scope, f).options(joinedload(Equipment.use_org)), f.page, f.per_page)
    return render_template("registry/design_life.html", f=f, items=items, total=total,
                           pages=max(1, -(-total // f.per_page)), counts=life.band_counts(scope, f),
                           bands=life.BANDS, band_of=life.band_of, changed=life.registration_changed,
                           sources=life.SOURCES, **_device_page_context())


LIFE_HEADERS = ["设备代码", "设备名称", "品种", "使用单位", "属地", "状态", "投入使用日期", "制造日期", "设计使用年限",
                "年限来源", "设计使用年限届满", "年限状态", "检验/安全评估日期", "使用登记变更日期", "简单压力容器"]


@bp.route("/design-life/export.xlsx")
@login_required
def design_life_export():
    f = life.LifeFilter.from_args(request.args)
    scope = services.device_scope(current_user)

    def rows():
        query = life.life_query(scope, f).options(joinedload(Equipment.use_org)).execution_options(yield_per=1000)
        for e in db.session.scalars(query):
            yield [e.code, e.name, category_name(e.category_code), e.use_org.name, region_full_name(e.region_code),
                   e.status_label, e.commissioning_date, e.manufacture_date, e.design_life_years,
                   life.SOURCES.get(e.design_life_source, ""), e.design_life_end,
                   life.BANDS.get(life.band_of(e.design_life_end) or "", ""), e.life_assessed_on,
                   e.life_registration_changed_on, "是" if e.simple_pressure_vessel else "否"]
    return stream_xlsx("超设计使用年限压力容器", LIFE_HEADERS, rows(), filename="超设计使用年限压力容器.xlsx",
                       criteria=request.args.to_dict())


@bp.route("/simple-vessels")
@login_required
def simple_vessels():
    """简单压力容器: master data (§4.5.14) and statistics by region and running state (§4.5.14.2)."""
    from . import simple_vessels as sv
    f = services.DeviceFilter.from_args(request.args)
    f.simple = True
    items, total = paginate(services.device_query(current_user, f), f.page, f.per_page)
    stats = sv.statistics(current_user, f.region)
    return render_template("registry/simple_vessels.html", f=f, items=items, total=total, stats=stats,
                           pages=max(1, -(-total // f.per_page)), life_states=sv.LIFE_STATES,
                           status_order=sv.STATUS_ORDER, band_of=life.band_of, life_bands=life.BANDS,
                           **_device_page_context())
