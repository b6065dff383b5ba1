"""Pages of gas-cylinder traceability (§4.4):

- makers (§4.4.2): 出厂记录 by batch — list, add, edit, add cylinders, certificates, Excel import (the
  generic importer, kind `cylinder_factory`), 使用登记代办 started from the batch;
- fillers (§4.4.3): 工作桌面 (counts only with a filling licence, todos), 气瓶管理 (archive add / edit /
  delete, import kind `cylinders`, export), 充装记录 (search, detail, own entry), 使用登记 records and the
  application page (pending cylinders, 登记表 .xlsx / .docx);
- regulators (§4.4.5.1–4): 气瓶制造管理 / 充装单位管理 (tagged units, licences, portal accounts),
  充装秤 (lock / unlock), the archive query (trace code, factory number, unit) and fillings by unit and period.
Every query goes through the scope functions of services.py."""
from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..cases.services import paginate
from ..core.clock import to_local
from ..core.excel import stream_xlsx
from ..core.models import Attachment, Organization
from ..core.regions import region_name
from ..engine import runtime
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import registration, services
from .models import (KIND_LABELS, REG_STATE_LABELS, STATUS_LABELS, TAG_LABELS, Cylinder, CylinderApplication,
                     CylinderBatch, CylinderFilling, CylinderUnit, FillingScale)

bp = Blueprint("cylinders", __name__, url_prefix="/cylinders")


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def _total(total: int, capped: bool):
    """The pager's total: counted up to services.COUNT_CAP (a province list says "100000+")."""
    return f"{total}+" if capped else total


def _need(ok: bool, message: str = "无权访问该页面") -> None:
    if not ok:
        raise Forbidden(message)


def _common() -> dict:
    return {"kinds": KIND_LABELS, "statuses": STATUS_LABELS, "reg_states": REG_STATE_LABELS, "tags": TAG_LABELS,
            "region_name": region_name, "is_filler": services.is_filler(current_user),
            "is_maker": services.is_maker(current_user)}


# ---------------------------------------------------------------- filler desk

@bp.route("/desk")
@login_required
def desk():
    _need(services.is_filler(current_user), "工作桌面仅供气瓶充装单位使用")
    info = services.desk(current_user)
    recent = list(db.session.scalars(select(CylinderApplication).where(services.application_scope(current_user))
                                     .order_by(CylinderApplication.id.desc()).limit(5)))
    return render_template("cylinders/desk.html", info=info, recent=recent, **_common())


# ---------------------------------------------------------------- archive

@bp.route("")
@login_required
def archive():
    f = services.CylinderFilter.from_args(request.args)
    items, total, capped = services.capped_page(services.cylinder_query(current_user, f), f.page, f.per_page)
    owners = []
    if current_user.is_regulator:
        owners = [(u.org_id, u.org.name) for u in db.session.scalars(
            services.tagged_units_query(current_user, None)) if u.tag != "maker"]
    verified = None          # 登记验证: an exact trace code or factory number names one cylinder
    if f.q and total == 1 and f.q in (items[0].trace_code, items[0].factory_no):
        verified = {"cylinder": items[0], "refusal": services.refusal_reason(items[0])}
    return render_template("cylinders/archive.html", f=f, items=items, total=_total(total, capped),
                           pages=_pages(total, f.per_page),
                           owners=sorted(set(owners), key=lambda o: o[1]), verified=verified, **_common())


EXPORT_HEADERS = ["溯源码", "出厂编号", "品种", "充装介质", "公称容积(L)", "公称工作压力(MPa)", "制造单位", "生产批号", "制造日期",
                  "设计使用年限(年)", "充装单位", "属地", "登记状态", "使用登记证编号", "上次检验日期", "下次检验日期", "状态"]


@bp.route("/export.xlsx")
@login_required
def archive_export():
    f = services.CylinderFilter.from_args(request.args)

    def rows():
        for c in db.session.scalars(services.cylinder_query(current_user, f).limit(200_000)
                                    .execution_options(yield_per=2000)):
            yield [c.trace_code, c.factory_no, c.kind_label, c.medium, c.volume_l, c.nominal_pressure_mpa, c.maker_name,
                   c.batch_no, c.manufacture_date, c.design_life_years, c.owner.name if c.owner else "",
                   region_name(c.region_code), c.reg_state_label, c.registration_no or "", c.last_inspection_date,
                   c.next_inspection_date, c.status_label]
    return stream_xlsx("气瓶档案", EXPORT_HEADERS, rows(), "气瓶档案.xlsx",
                       criteria={k: v for k, v in request.args.items()})


def _cylinder_form(template_values: dict, errors: dict, cylinder: Cylinder | None, status: int = 200):
    return render_template("cylinders/cylinder_form.html", values=template_values, errors=errors, cylinder=cylinder,
                           labels={k: v[0] for k, v in services.FIELDS.items()}, **_common()), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_cylinder():
    _need(services.is_filler(current_user), "只有气瓶充装单位可以新增气瓶档案")
    if request.method == "GET":
        return _cylinder_form({}, {}, None)
    try:
        cylinder = services.add_cylinder(current_user, request.form.to_dict())
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _cylinder_form(request.form.to_dict(), err.fields, None, 422)
    flash(f"已新增气瓶 {cylinder.trace_code}", "success")
    return redirect(url_for("cylinders.cylinder", cylinder_id=cylinder.id))


@bp.route("/<int:cylinder_id>")
@login_required
def cylinder(cylinder_id: int):
    c = services.visible_cylinder(current_user, cylinder_id)
    fillings = list(db.session.scalars(select(CylinderFilling).where(
        CylinderFilling.cylinder_id == c.id, services.filling_scope(current_user))
        .order_by(CylinderFilling.filled_at.desc()).limit(20)))
    applications = list(db.session.scalars(
        select(CylinderApplication).where(CylinderApplication.items.any(cylinder_id=c.id),
                                          services.application_scope(current_user))
        .order_by(CylinderApplication.id.desc()).limit(20)))
    return render_template("cylinders/cylinder.html", c=c, fillings=fillings, applications=applications,
                           may_edit=services.may_edit_cylinder(current_user, c), refusal=services.refusal_reason(c),
                           **_common())


@bp.route("/<int:cylinder_id>/edit", methods=["GET", "POST"])
@login_required
def edit_cylinder(cylinder_id: int):
    c = services.visible_cylinder(current_user, cylinder_id)
    _need(services.may_edit_cylinder(current_user, c), "您不能修改该气瓶档案")
    if request.method == "GET":
        values = {k: getattr(c, k) for k in services.FIELDS}
        return _cylinder_form({k: ("" if v is None else str(v)) for k, v in values.items()}, {}, c)
    try:
        services.edit_cylinder(current_user, c, request.form.to_dict())
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _cylinder_form(request.form.to_dict(), err.fields, services.visible_cylinder(current_user, cylinder_id),
                              422)
    flash("气瓶档案已保存", "success")
    return redirect(url_for("cylinders.cylinder", cylinder_id=cylinder_id))


@bp.route("/<int:cylinder_id>/delete", methods=["POST"])
@login_required
def delete_cylinder(cylinder_id: int):
    c = services.visible_cylinder(current_user, cylinder_id)
    code = c.trace_code
    try:
        services.delete_cylinder(current_user, c)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        if err.status in (403, 404):
            raise
        flash(err.message, "error")
        return redirect(url_for("cylinders.cylinder", cylinder_id=cylinder_id))
    flash(f"已删除气瓶 {code}", "success")
    return redirect(url_for("cylinders.archive"))


# ---------------------------------------------------------------- fillings

@bp.route("/fillings")
@login_required
def fillings():
    f = services.FillingFilter.from_args(request.args)
    items, total, capped = services.capped_page(services.filling_query(current_user, f), f.page, f.per_page)
    orgs = {o.id: o.name for o in db.session.scalars(
        select(Organization).where(Organization.id.in_({r.filler_org_id for r in items})))} if items else {}
    owners = []
    if current_user.is_regulator:
        owners = sorted({(u.org_id, u.org.name) for u in db.session.scalars(
            services.tagged_units_query(current_user, None)) if u.tag != "maker"}, key=lambda o: o[1])
    return render_template("cylinders/fillings.html", f=f, items=items, total=_total(total, capped),
                           pages=_pages(total, f.per_page),
                           orgs=orgs, owners=owners, results=CylinderFilling.RESULT_LABELS,
                           checks=CylinderFilling.CHECK_LABELS, **_common())


@bp.route("/fillings/export.xlsx")
@login_required
def fillings_export():
    f = services.FillingFilter.from_args(request.args)
    checks, results = CylinderFilling.CHECK_LABELS, CylinderFilling.RESULT_LABELS

    def rows():
        names: dict[int, str] = {}
        for r in db.session.scalars(services.filling_query(current_user, f).limit(200_000)
                                    .execution_options(yield_per=2000)):
            if r.filler_org_id not in names:
                names[r.filler_org_id] = db.session.get(Organization, r.filler_org_id).name
            yield [to_local(r.filled_at).strftime("%Y-%m-%d %H:%M"), r.trace_code, names[r.filler_org_id],
                   r.operator_name, checks.get(r.pre_check, ""), r.weight_kg, r.pressure_mpa,
                   checks.get(r.post_check or "", ""), results.get(r.result, "")]
    return stream_xlsx("充装记录", ["充装时间", "溯源码", "充装单位", "充装人员", "充装前检查", "充装量(kg)", "压力(MPa)",
                                "充装后检查", "结果"], rows(), "充装记录.xlsx", criteria=dict(request.args.items()))


@bp.route("/fillings/<int:filling_id>")
@login_required
def filling(filling_id: int):
    r = services.visible_filling(current_user, filling_id)
    c = db.session.get(Cylinder, r.cylinder_id)
    scale = db.session.get(FillingScale, r.scale_id) if r.scale_id else None
    return render_template("cylinders/filling.html", r=r, c=c, scale=scale, org=db.session.get(Organization, r.filler_org_id),
                           results=CylinderFilling.RESULT_LABELS, checks=CylinderFilling.CHECK_LABELS, **_common())


@bp.route("/fillings/new", methods=["GET", "POST"])
@login_required
def new_filling():
    _need(services.is_filler(current_user), "只有气瓶充装单位可以录入充装记录")
    scales = list(db.session.scalars(select(FillingScale).where(FillingScale.org_id == current_user.org_id)
                                     .order_by(FillingScale.code)))
    if request.method == "GET":
        return render_template("cylinders/filling_form.html", values={"trace_code": request.args.get("code", "")},
                               errors={}, scales=scales, checks=CylinderFilling.CHECK_LABELS, **_common())
    try:
        row = services.record_filling(current_user, request.form.to_dict())
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return render_template("cylinders/filling_form.html", values=request.form.to_dict(), errors=err.fields,
                               scales=scales, checks=CylinderFilling.CHECK_LABELS, **_common()), 422
    flash("充装记录已保存", "success")
    return redirect(url_for("cylinders.filling", filling_id=row.id))


# ---------------------------------------------------------------- applications (登记记录)

@bp.route("/applications")
@login_required
def applications():
    page = max(1, request.args.get("page", 1, type=int))
    per_page = min(100, max(5, request.args.get("per_page", 20, type=int)))
    status = request.args.get("status")
    query = (select(CylinderApplication).where(services.application_scope(current_user))
             .options(joinedload(CylinderApplication.filler), joinedload(CylinderApplication.agent)))
    if status in CylinderApplication.STATUS_LABELS:
        query = query.where(CylinderApplication.status == status)
    items, total = paginate(query.order_by(CylinderApplication.id.desc()), page, per_page)
    counts = dict(db.session.execute(
        select(CylinderApplication.id, func.count()).select_from(CylinderApplication)
        .join(CylinderApplication.items).where(CylinderApplication.id.in_([a.id for a in items]))
        .group_by(CylinderApplication.id)).all()) if items else {}
    return render_template("cylinders/applications.html", items=items, total=total, page=page,
                           pages=_pages(total, per_page), counts=counts, status=status,
                           app_statuses=CylinderApplication.STATUS_LABELS, **_common())


@bp.route("/applications/<int:application_id>")
@login_required
def application(application_id: int):
    a = services.visible_application(current_user, application_id)
    may_prepare = registration.may_prepare(current_user, a)
    task = None
    if may_prepare:
        from ..cases.models import Task
        task = db.session.scalar(select(Task).where(Task.case_id == a.case_id, Task.status == "open"))
    return render_template("cylinders/application.html", a=a, may_prepare=may_prepare, task=task,
                           candidates=registration.pending_candidates(a) if may_prepare else [],
                           documents=registration.DOCUMENTS, errors={}, **_common())


@bp.route("/applications/<int:application_id>/items", methods=["POST"])
@login_required
def application_items(application_id: int):
    a = services.visible_application(current_user, application_id)
    codes = request.form.getlist("codes") + [c for c in (request.form.get("trace_codes") or "").replace("，", ",")
                                             .replace("\n", ",").split(",") if c.strip()]
    try:
        added = registration.add_items(current_user, a, codes)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        a = services.visible_application(current_user, application_id)
        return render_template("cylinders/application.html", a=a, may_prepare=registration.may_prepare(current_user, a),
                               task=None, candidates=registration.pending_candidates(a), errors=err.fields,
                               documents=registration.DOCUMENTS, **_common()), 422
    flash(f"已添加 {added} 只气瓶", "success")
    return redirect(url_for("cylinders.application", application_id=application_id))


@bp.route("/applications/<int:application_id>/items/remove", methods=["POST"])
@login_required
def application_remove(application_id: int):
    a = services.visible_application(current_user, application_id)
    ids = [int(i) for i in request.form.getlist("item_ids") if i.isdigit()]
    removed = registration.remove_items(current_user, a, ids)
    db.session.commit()
    flash(f"已移除 {removed} 只气瓶", "success")
    return redirect(url_for("cylinders.application", application_id=application_id))


@bp.route("/applications/<int:application_id>/form.xlsx")
@login_required
def application_xlsx(application_id: int):
    a = services.visible_application(current_user, application_id)
    rows = [[n, i.cylinder.trace_code, i.cylinder.factory_no, i.cylinder.kind_label, i.cylinder.medium,
             i.cylinder.volume_l, i.cylinder.nominal_pressure_mpa, i.cylinder.maker_name or "", i.cylinder.batch_no or "",
             i.cylinder.manufacture_date, i.cylinder.design_life_years, i.cylinder.registration_no or ""]
            for n, i in enumerate(a.items, 1)]
    return stream_xlsx(f"气瓶基本信息汇总表", ["序号", "溯源码", "出厂编号", "品种", "充装介质", "公称容积(L)", "公称工作压力(MPa)",
                                         "制造单位", "生产批号", "制造日期", "设计使用年限(年)", "使用登记证编号"],
                       rows, f"气瓶基本信息汇总表-{a.application_no}.xlsx",
                       criteria={"application_no": a.application_no})


# ---------------------------------------------------------------- batches (makers; regulators read)

@bp.route("/batches")
@login_required
def batches():
    page = max(1, request.args.get("page", 1, type=int))
    per_page = min(100, max(5, request.args.get("per_page", 20, type=int)))
    q = (request.args.get("q") or "").strip()[:40]
    query = (select(CylinderBatch).where(services.batch_scope(current_user))
             .options(joinedload(CylinderBatch.maker), joinedload(CylinderBatch.client)))
    if q:
        query = query.where(CylinderBatch.batch_no.contains(q, autoescape=True))
    maker = request.args.get("maker", type=int)
    if maker:
        query = query.where(CylinderBatch.maker_org_id == maker)
    items, total = paginate(query.order_by(CylinderBatch.id.desc()), page, per_page)
    return render_template("cylinders/batches.html", items=items, total=total, page=page, q=q,
                           pages=_pages(total, per_page), counts=services.batch_counts([b.id for b in items]),
                           **_common())


def _batch_form(values, errors, batch, status=200):
    return render_template("cylinders/batch_form.html", values=values, errors=errors, batch=batch,
                           labels=services.BATCH_FIELDS, **_common()), status


@bp.route("/batches/new", methods=["GET", "POST"])
@login_required
def new_batch():
    _need(services.is_maker(current_user), "只有气瓶制造单位可以新增出厂记录")
    if request.method == "GET":
        return _batch_form({"design_life_years": "8"}, {}, None)
    try:
        batch = services.create_batch(current_user, request.form.to_dict())
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _batch_form(request.form.to_dict(), err.fields, None, 422)
    flash(f"已新增出厂记录 {batch.batch_no}，请添加本批气瓶或用 Excel 导入", "success")
    return redirect(url_for("cylinders.batch", batch_id=batch.id))


def _batch_page(batch: CylinderBatch, errors: dict | None = None, values: dict | None = None, status: int = 200):
    page = max(1, request.args.get("page", 1, type=int))
    cylinders, total = paginate(select(Cylinder).where(Cylinder.batch_id == batch.id).order_by(Cylinder.id), page, 50)
    mine = services.is_maker(current_user) and batch.maker_org_id == current_user.org_id
    unregistered = db.session.scalar(select(func.count()).where(Cylinder.batch_id == batch.id,
                                                                Cylinder.reg_state == "unregistered")) if mine else 0
    open_apps = list(db.session.scalars(select(CylinderApplication).where(
        CylinderApplication.agent_org_id == batch.maker_org_id, CylinderApplication.filler_org_id == batch.client_org_id,
        services.application_scope(current_user)).order_by(CylinderApplication.id.desc()).limit(10))) \
        if batch.client_org_id else []
    return render_template("cylinders/batch.html", b=batch, cylinders=cylinders, total=total, page=page,
                           pages=_pages(total, 50), mine=mine, unregistered=unregistered, applications=open_apps,
                           certificates=services.batch_certificates(batch), errors=errors or {}, values=values or {},
                           labels={k: v[0] for k, v in services.FIELDS.items()}, **_common()), status


@bp.route("/batches/<int:batch_id>")
@login_required
def batch(batch_id: int):
    return _batch_page(services.visible_batch(current_user, batch_id))


@bp.route("/batches/<int:batch_id>/edit", methods=["GET", "POST"])
@login_required
def edit_batch(batch_id: int):
    b = services.visible_batch(current_user, batch_id)
    _need(services.is_maker(current_user) and b.maker_org_id == current_user.org_id, "只有制造单位本单位可以修改出厂记录")
    if request.method == "GET":
        values = {k: ("" if getattr(b, k, None) is None else str(getattr(b, k))) for k in services.BATCH_FIELDS
                  if k != "client_uscc"}
        values["client_uscc"] = b.client.uscc if b.client else ""
        return _batch_form(values, {}, b)
    try:
        services.edit_batch(current_user, b, request.form.to_dict())
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _batch_form(request.form.to_dict(), err.fields, services.visible_batch(current_user, batch_id), 422)
    flash("出厂记录已保存", "success")
    return redirect(url_for("cylinders.batch", batch_id=batch_id))


@bp.route("/batches/<int:batch_id>/cylinders", methods=["POST"])
@login_required
def batch_add_cylinder(batch_id: int):
    b = services.visible_batch(current_user, batch_id)
    _need(services.is_maker(current_user) and b.maker_org_id == current_user.org_id, "只有制造单位本单位可以添加气瓶")
    raw = {**request.form.to_dict(), "kind": b.kind, "medium": b.medium, "volume_l": b.volume_l,
           "nominal_pressure_mpa": b.nominal_pressure_mpa, "manufacture_date": b.manufacture_date.isoformat(),
           "design_life_years": b.design_life_years}
    try:
        c = services.add_cylinder(current_user, raw, batch=b)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _batch_page(services.visible_batch(current_user, batch_id), err.fields, request.form.to_dict(), 422)
    flash(f"已添加气瓶 {c.trace_code}", "success")
    return redirect(url_for("cylinders.batch", batch_id=batch_id))


@bp.route("/batches/<int:batch_id>/certificates", methods=["POST"])
@login_required
def batch_certificate(batch_id: int):
    b = services.visible_batch(current_user, batch_id)
    _need(services.is_maker(current_user) and b.maker_org_id == current_user.org_id, "只有制造单位本单位可以上传证书")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _batch_page(b, {"file": "请选择要上传的证书文件（PDF/JPG/PNG）"}, None, 422)
    try:
        services.add_certificate(current_user, b, upload)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _batch_page(services.visible_batch(current_user, batch_id), {"file": next(iter(err.fields.values()), err.message)},
                           None, 422)
    flash("证书已上传", "success")
    return redirect(url_for("cylinders.batch", batch_id=batch_id))


@bp.route("/batches/<int:batch_id>/certificates/<int:attachment_id>")
@login_required
def batch_certificate_file(batch_id: int, attachment_id: int):
    b = services.visible_batch(current_user, batch_id)
    if attachment_id not in json.loads(b.certificate_ids or "[]"):
        raise NotFound("证书不存在")
    att = db.session.get(Attachment, attachment_id)
    from ..core.storage import open_attachment
    return send_file(open_attachment(att), mimetype=att.mime, download_name=att.filename,
                     as_attachment=att.mime not in ("application/pdf", "image/jpeg", "image/png"))


@bp.route("/batches/<int:batch_id>/agency", methods=["POST"])
@login_required
def batch_agency(batch_id: int):
    """Start 使用登记代办 for the batch's unregistered cylinders and go to its first step."""
    b = services.visible_batch(current_user, batch_id)
    _need(services.is_maker(current_user) and b.maker_org_id == current_user.org_id, "只有制造单位本单位可以办理代办")
    try:
        case = runtime.start_case("cylinder_agency_registration", current_user, {"batch_id": b.id})
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        flash(next(iter(err.fields.values()), err.message), "error")
        return redirect(url_for("cylinders.batch", batch_id=batch_id))
    a = registration.application_for_case(case.id)
    flash(f"已建立代办申请 {a.application_no}：请上传五项登记材料后提交", "success")
    return redirect(url_for("cylinders.application", application_id=a.id))


# ---------------------------------------------------------------- regulators: units, accounts, scales

@bp.route("/units", methods=["GET", "POST"])
@login_required
def units():
    _need(current_user.is_regulator, "气瓶单位管理仅供监管人员使用")
    errors, values = {}, {}
    if request.method == "POST":
        try:
            row = services.tag_unit(current_user, request.form.get("uscc", ""), request.form.get("tag", ""))
            db.session.commit()
            flash(f"{row.org.name} 已纳入管理：{row.tag_label}", "success")
            return redirect(url_for("cylinders.units", tag=row.tag))
        except ValidationFailed as err:
            db.session.rollback()
            errors, values = err.fields, request.form.to_dict()
    tag = request.args.get("tag") if request.args.get("tag") in TAG_LABELS else None
    q = (request.args.get("q") or "").strip()[:100] or None
    page = max(1, request.args.get("page", 1, type=int))
    items, total = paginate(services.tagged_units_query(current_user, tag, q), page, 20)
    org_ids = [u.org_id for u in items]
    counts = dict(db.session.execute(select(Cylinder.owner_org_id, func.count()).where(
        Cylinder.owner_org_id.in_(org_ids)).group_by(Cylinder.owner_org_id)).all()) if org_ids else {}
    made = dict(db.session.execute(select(CylinderBatch.maker_org_id, func.count()).where(
        CylinderBatch.maker_org_id.in_(org_ids)).group_by(CylinderBatch.maker_org_id)).all()) if org_ids else {}
    scales = dict(db.session.execute(select(FillingScale.org_id, func.count()).where(
        FillingScale.org_id.in_(org_ids)).group_by(FillingScale.org_id)).all()) if org_ids else {}
    return render_template("cylinders/units.html", items=items, total=total, page=page, pages=_pages(total, 20),
                           tag=tag, q=q, licences=services.unit_licences(org_ids),
                           accounts=services.unit_accounts(org_ids), counts=counts, made=made, scales=scales,
                           errors=errors, values=values, new_account=None, **_common()), (422 if errors else 200)


@bp.route("/units/<int:unit_id>/account", methods=["POST"])
@login_required
def open_account(unit_id: int):
    unit = db.session.scalar(select(CylinderUnit).where(CylinderUnit.id == unit_id,
                                                        services.unit_tag_scope(current_user)))
    if unit is None:
        raise NotFound("单位不存在或不在您的管辖范围内")
    try:
        account, password = services.open_account(current_user, unit, request.form.get("username", ""),
                                                  request.form.get("display_name", ""))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        flash("开通失败：" + "；".join(err.fields.values()), "error")
        return redirect(url_for("cylinders.units", tag=unit.tag))
    flash(f"已为 {unit.org.name} 开通账户 {account.username}，初始密码 {password}（仅显示这一次，首次登录须修改）",
          "success")
    return redirect(url_for("cylinders.units", tag=unit.tag))


@bp.route("/scales", methods=["GET", "POST"])
@login_required
def scales():
    _need(current_user.is_regulator or services.is_filler(current_user), "充装秤管理仅供监管人员和充装单位使用")
    errors, values = {}, {}
    if request.method == "POST":
        try:
            scale = services.add_scale(current_user, request.form.to_dict())
            db.session.commit()
            flash(f"已登记充装秤 {scale.code}", "success")
            return redirect(url_for("cylinders.scales"))
        except ValidationFailed as err:
            db.session.rollback()
            errors, values = err.fields, request.form.to_dict()
    page = max(1, request.args.get("page", 1, type=int))
    items, total = paginate(select(FillingScale).where(services.scale_scope(current_user))
                            .options(joinedload(FillingScale.org)).order_by(FillingScale.code), page, 20)
    return render_template("cylinders/scales.html", items=items, total=total, page=page, pages=_pages(total, 20),
                           errors=errors, values=values, **_common()), (422 if errors else 200)


@bp.route("/scales/<int:scale_id>/lock", methods=["POST"])
@login_required
def lock_scale(scale_id: int):
    scale = services.visible_scale(current_user, scale_id)
    lock = request.form.get("lock") == "1"
    try:
        services.lock_scale(current_user, scale, lock, request.form.get("reason", ""))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        flash("；".join(err.fields.values()), "error")
        return redirect(url_for("cylinders.scales"))
    flash(f"充装秤 {scale.code} 已{'锁定' if lock else '解锁'}", "success")
    return redirect(url_for("cylinders.scales"))

