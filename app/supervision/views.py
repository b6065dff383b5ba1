"""监督检查 pages: the list (with the hazard totals), the step guide of an inspection (基本信息 → 单位检查 →
设备检查 → 其他问题; a checklist loads on choosing its type without reloading the page), raising a hazard
from a finding, and the checklist templates (admins write new versions)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..cases.services import paginate
from ..core.models import Equipment
from ..core.params import int_arg, text_arg
from ..core.regions import region_full_name
from ..core.storage import save_upload
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..hazards.services import criteria_options
from . import checklists, services
from .models import INSPECTION_CATEGORIES, NOTE_RULES, PHOTO_RULES, TEMPLATE_KINDS, UNIT_CATEGORIES, Finding, \
    SupervisionInspection

bp = Blueprint("supervision", __name__, url_prefix="/supervision")
STEPS = [("basic", "基本信息"), ("unit", "单位检查"), ("equipment", "设备检查"), ("other", "其他问题")]


def _regulator():
    if not current_user.is_regulator:
        raise Forbidden("监督检查录入只对市场监管部门开放")


@bp.route("/inspections")
@login_required
def inspections():
    if not (current_user.is_regulator or current_user.is_enterprise):
        raise Forbidden("监督检查只对监管部门和被检查单位开放")
    q, status = text_arg(request.args, "q"), request.args.get("status")
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    items, total = paginate(services.inspection_query(current_user, q, status), page, per_page)
    return render_template("supervision/inspections.html", items=items, total=total, page=page,
                           pages=max(1, -(-total // per_page)), q=q, status=status,
                           statuses=SupervisionInspection.STATUS_LABELS, totals=services.hazard_totals(current_user),
                           )


EXPORT_HEADERS = ["检查编号", "被检查单位", "统一社会信用代码", "属地", "检查类别", "检查日期", "检查人员", "发现问题",
                  "重大事故隐患", "文书编号", "整改期限", "状态"]


@bp.route("/inspections/export.xlsx")
@login_required
def inspections_export():
    if not (current_user.is_regulator or current_user.is_enterprise):
        raise Forbidden("监督检查只对监管部门和被检查单位开放")
    from ..core.excel import stream_xlsx
    query = services.inspection_query(current_user, text_arg(request.args, "q"), request.args.get("status"))

    def rows():
        for r in db.session.scalars(query.limit(100000)):
            yield [r.inspection_no or "（未提交）", r.org.name, r.org.uscc, region_full_name(r.region_code), r.category,
                   r.inspected_on.isoformat(), r.inspectors, r.n_problems, r.n_hazards, r.letter_no or "",
                   r.rectify_deadline.isoformat() if r.rectify_deadline else "", r.status_label]
    return stream_xlsx("监督检查记录", EXPORT_HEADERS, rows(), filename="监督检查记录.xlsx",
                       criteria=request.args.to_dict())


def _new_page(values: dict, errors: dict, status: int = 200):
    q = (request.args.get("q") or values.get("q") or "").strip()[:100]
    found, warning = services.search_units(current_user, q) if q else ([], None)
    db.session.commit()             # the business-registry calls' log (external_call)
    return render_template("supervision/new.html", values=values, errors=errors, q=q, found=found, warning=warning,
                           categories=INSPECTION_CATEGORIES, unit_categories=UNIT_CATEGORIES,
                           regions=_county_options(), steps=STEPS), status


def _county_options() -> list[tuple[str, str]]:
    from ..core.models import Region
    rows = db.session.scalars(select(Region).where(Region.level == "county",
                                                   Region.code.startswith(current_user.scope_prefix))
                              .order_by(Region.code))
    return [(r.code, region_full_name(r.code)) for r in rows]


@bp.route("/inspections/new", methods=["GET", "POST"])
@login_required
def new_inspection():
    _regulator()
    if request.method == "GET":
        values = {"inspected_on": services.today_local().isoformat(), "category": INSPECTION_CATEGORIES[0],
                  "org_id": request.args.get("org_id", "")}
        return _new_page(values, {})
    values = request.form.to_dict()
    values["unit_categories"] = request.form.getlist("unit_categories")
    try:
        if values.get("new_unit") == "1":
            org = services.add_unit(current_user, {k.removeprefix("unit_"): v for k, v in values.items()
                                                   if k.startswith("unit_")})
            values["org_id"] = org.id
        row = services.create_draft(current_user, values)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _new_page(values, err.fields, 422)
    flash("基本信息已保存，请继续单位检查")
    return redirect(url_for("supervision.inspection", inspection_id=row.id, step="unit"))


@bp.route("/inspections/<int:inspection_id>")
@login_required
def inspection(inspection_id: int):
    row = services.visible_inspection(current_user, inspection_id)
    return _inspection_page(row, {})


def _inspection_page(row: SupervisionInspection, errors: dict, status: int = 200, step: str | None = None):
    editable = row.status == "draft" and row.inspector_id == current_user.id
    step = step or request.args.get("step") or ("basic" if editable else "summary")
    devices = list(db.session.scalars(select(Equipment).where(Equipment.use_org_id == row.org_id)
                                      .order_by(Equipment.code).limit(200))) if editable else []
    return render_template(
        "supervision/inspection.html", row=row, editable=editable, step=step, steps=STEPS, errors=errors,
        unit_templates=[t for t in checklists.current_templates() if t.kind in ("unit", "exam_institution")],
        equipment_templates=checklists.current_templates("equipment"), devices=devices,
        categories=INSPECTION_CATEGORIES, unit_categories=UNIT_CATEGORIES, section_title=services.section_title,
        problems=services.problems_of(row), hazards=services.hazard_count(row), breakdown=services.breakdown(row),
        missing=services.unanswered(row) if editable else [], criteria=criteria_options() if editable else [],
        region_full_name=region_full_name), status


def _editable(inspection_id: int) -> SupervisionInspection:
    _regulator()
    return services.editable_inspection(current_user, inspection_id)


@bp.route("/inspections/<int:inspection_id>/basic", methods=["POST"])
@login_required
def save_basic(inspection_id: int):
    row = _editable(inspection_id)
    values = request.form.to_dict()
    values["unit_categories"] = request.form.getlist("unit_categories")
    try:
        services.update_basic(current_user, row, values)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _inspection_page(services.visible_inspection(current_user, inspection_id), err.fields, 422, "basic")
    flash("基本信息已保存")
    return redirect(url_for("supervision.inspection", inspection_id=row.id, step="unit"))


@bp.route("/inspections/<int:inspection_id>/sections", methods=["POST"])
@login_required
def add_section(inspection_id: int):
    row = _editable(inspection_id)
    step = "equipment" if request.form.get("equipment_id") is not None else "unit"
    try:
        section = services.add_section(current_user, row, request.form.get("template_id"),
                                       request.form.get("equipment_id"))
        if any(k.startswith("result_") for k in request.form):     # the checklist filled in where it loaded
            services.save_findings(current_user, section, findings_from_form(request.form, request.files, section))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _inspection_page(services.visible_inspection(current_user, inspection_id), err.fields, 422, step)
    flash(f"{services.section_title(section)}：已加入检查")
    return redirect(url_for("supervision.inspection", inspection_id=row.id, step=step, _anchor=f"s-{section.id}"))


def _section_of(row, section_id: int):
    section = next((s for s in row.sections if s.id == section_id), None)
    if section is None:
        raise NotFound("检查表不存在")
    return section


def findings_from_form(form, files, section) -> dict:
    """{item_id: {result, note, photos}} from a section's form; photos uploaded with it are stored first."""
    results = {}
    for item in section.template.items:
        photos = []
        for upload in files.getlist(f"photo_{item.id}"):
            if upload and upload.filename:
                photos.append(save_upload(upload, current_user, field=f"item_{item.id}").id)
        existing = next((f for f in section.findings if f.item_id == item.id), None)
        results[str(item.id)] = {"result": form.get(f"result_{item.id}", ""), "note": form.get(f"note_{item.id}", ""),
                                 "photos": (existing.photos if existing else []) + photos}
    return results


@bp.route("/inspections/<int:inspection_id>/sections/<int:section_id>", methods=["POST"])
@login_required
def save_section(inspection_id: int, section_id: int):
    row = _editable(inspection_id)
    section = _section_of(row, section_id)
    step = "equipment" if section.equipment_id else "unit"
    try:
        services.save_findings(current_user, section, findings_from_form(request.form, request.files, section))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        return _inspection_page(services.visible_inspection(current_user, inspection_id),
                                err.fields or {"section": err.message}, err.status, step)
    flash(f"{services.section_title(section)}：检查结果已保存")
    return redirect(url_for("supervision.inspection", inspection_id=row.id, step=step, _anchor=f"s-{section.id}"))


@bp.route("/inspections/<int:inspection_id>/sections/<int:section_id>/delete", methods=["POST"])
@login_required
def delete_section(inspection_id: int, section_id: int):
    row = _editable(inspection_id)
    section = _section_of(row, section_id)
    step = "equipment" if section.equipment_id else "unit"
    try:
        services.remove_section(row, section_id)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _inspection_page(services.visible_inspection(current_user, inspection_id), err.fields, 422, step)
    flash("检查表已删除")
    return redirect(url_for("supervision.inspection", inspection_id=row.id, step=step))


@bp.route("/inspections/<int:inspection_id>/other", methods=["POST"])
@login_required
def save_other(inspection_id: int):
    row = _editable(inspection_id)
    try:
        services.set_other_problems(current_user, row, request.form.get("other_problems", ""))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _inspection_page(services.visible_inspection(current_user, inspection_id), err.fields, 422, "other")
    flash("其他问题已保存")
    return redirect(url_for("supervision.inspection", inspection_id=row.id, step="other"))


def visible_finding(user, finding_id: int) -> Finding:
    finding = db.session.get(Finding, finding_id)
    if finding is None or finding.section.inspection is None:
        raise NotFound("检查项不存在")
    services.visible_inspection(user, finding.section.inspection_id)
    return finding


@bp.route("/findings/<int:finding_id>/hazard", methods=["POST"])
@login_required
def raise_hazard(finding_id: int):
    _regulator()
    finding = visible_finding(current_user, finding_id)
    row = finding.section.inspection
    if row.inspector_id != current_user.id:
        raise Forbidden("只有检查录入人可以从检查项上报重大事故隐患")
    try:
        case = services.raise_hazard(current_user, finding, request.form.to_dict(), label="监督检查")
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        fields = {f"hazard_{finding.id}": "；".join((err.fields or {"_": err.message}).values())}
        return _inspection_page(services.visible_inspection(current_user, row.id), fields, err.status,
                                "equipment" if finding.section.equipment_id else "unit")
    flash(f"已上报重大事故隐患 {case.case_no}，进入隐患闭环流程")
    return redirect(url_for("supervision.inspection", inspection_id=row.id,
                            step="equipment" if finding.section.equipment_id else "unit",
                            _anchor=f"s-{finding.section_id}"))


# ---------------------------------------------------------------- checklist templates

def _template_admin():
    if current_user.role not in ("sys_admin", "province_supervisor"):
        raise Forbidden("只有系统管理员或自治区局可以维护检查项目表")


@bp.route("/templates")
@login_required
def templates():
    if not (current_user.is_regulator or current_user.role == "sys_admin"):
        raise Forbidden("检查项目表只对监管部门和系统管理员开放")
    return render_template("supervision/templates.html", rows=checklists.current_templates(), kinds=TEMPLATE_KINDS,
                           may_edit=current_user.role in ("sys_admin", "province_supervisor"))


@bp.route("/templates/new", methods=["GET", "POST"])
@login_required
def template_new():
    _template_admin()
    errors, values, rows = {}, {"kind": "unit"}, []
    if request.method == "POST":
        values, rows = request.form.to_dict(), _item_rows(request.form)
        try:
            template = checklists.save_version(current_user, None, {"name": values.get("name"), "kind": values.get("kind"),
                                                                    "items": rows, "note": "新建"})
            db.session.commit()
            flash(f"已新建检查项目表“{template.name}”")
            return redirect(url_for("supervision.template_edit", code=template.code))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
    return render_template("supervision/template_new.html", values=values, rows=rows, errors=errors, kinds=TEMPLATE_KINDS,
                           photo_rules=PHOTO_RULES, note_rules=NOTE_RULES, may_edit=True), 422 if errors else 200


@bp.route("/templates/<code>", methods=["GET", "POST"])
@login_required
def template_edit(code: str):
    if not (current_user.is_regulator or current_user.role == "sys_admin"):
        raise Forbidden("检查项目表只对监管部门和系统管理员开放")
    versions = checklists.versions_of(code)
    if not versions:
        raise NotFound("检查项目表不存在")
    current = next((v for v in versions if v.is_current), versions[0])
    errors, rows = {}, None
    if request.method == "POST":
        _template_admin()
        rows = _item_rows(request.form)
        try:
            template = checklists.save_version(current_user, code, {"name": request.form.get("name"), "items": rows,
                                                                    "note": request.form.get("note")})
            db.session.commit()
            flash(f"已保存为第{template.version}版；进行中的检查继续使用原版本")
            return redirect(url_for("supervision.template_edit", code=code))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
            versions = checklists.versions_of(code)
            current = next((v for v in versions if v.is_current), versions[0])
    shown = rows if rows is not None else [checklists.item_json(i) for i in current.items]
    return render_template("supervision/template_edit.html", t=current, versions=versions, rows=shown,
                           errors=errors, photo_rules=PHOTO_RULES, note_rules=NOTE_RULES,
                           may_edit=current_user.role in ("sys_admin", "province_supervisor")), 422 if errors else 200


def _item_rows(form) -> list[dict]:
    rows = []
    for n in range(int_arg(form, "count", 0, 0, 200) + 1):
        text = form.get(f"text_{n}")
        if text is None:
            continue
        rows.append({"group": form.get(f"group_{n}"), "text": text, "basis": form.get(f"basis_{n}"),
                     "options": form.get(f"options_{n}") or "", "problem_options": form.get(f"problems_{n}") or "",
                     "photo_rule": form.get(f"photo_{n}"), "note_rule": form.get(f"note_{n}"),
                     "hazard_hint": form.get(f"hazard_{n}") == "1"})
    return rows
