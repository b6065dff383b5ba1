"""证后监督检查 pages: the expert pool, the campaign list and its draft (random draw of units and of the
supervising official, shown to reviewers), assignment, the expert's annual declaration gate, the entry per
inspected unit, rectification on a phone with its review, the evaluation, and issues forwarded to the
supervision department."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..cases.services import paginate
from ..core.models import Equipment, Organization
from ..core.params import int_arg, text_arg
from ..core.regions import region_full_name
from ..core.storage import save_upload
from ..errors import DomainError, Forbidden, ValidationFailed
from ..extensions import db
from ..hazards.services import criteria_options
from . import campaigns, services
from .models import Campaign, Expert
from .views import bp, findings_from_form


def _page_args():
    return int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)


# ---------------------------------------------------------------- expert pool

def _pool_reader():
    if not (current_user.is_regulator or current_user.role in ("sys_admin", "undertaking_unit")):
        raise Forbidden("评审专家库只对监管部门、项目承担单位和系统管理员开放")


@bp.route("/experts")
@login_required
def experts():
    _pool_reader()
    q, kind, active = text_arg(request.args, "q"), request.args.get("kind"), request.args.get("active")
    page, per_page = _page_args()
    items, total = paginate(campaigns.expert_query(current_user, q, kind, active), page, per_page)
    return render_template("supervision/experts.html", items=items, total=total, page=page,
                           pages=max(1, -(-total // per_page)), q=q, kind=kind, active=active, kinds=Expert.KINDS,
                           may_edit=current_user.role in ("city_supervisor", "province_supervisor"),
                           region_full_name=region_full_name)


def _expert_form(expert, values, errors, status=200):
    return render_template("supervision/expert_form.html", expert=expert, values=values, errors=errors,
                           kinds=Expert.KINDS), status


@bp.route("/experts/new", methods=["GET", "POST"])
@login_required
def new_expert():
    campaigns._pool_admin(current_user)
    if request.method == "GET":
        return _expert_form(None, {"region_code": current_user.region_code, "kind": "inspector"}, {})
    try:
        expert = campaigns.save_expert(current_user, request.form.to_dict())
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _expert_form(None, request.form.to_dict(), err.fields, 422)
    flash(f"已添加 {expert.name}")
    return redirect(url_for("supervision.experts"))


@bp.route("/experts/<int:expert_id>", methods=["GET", "POST"])
@login_required
def edit_expert(expert_id: int):
    _pool_reader()
    expert = campaigns.visible_expert(current_user, expert_id)
    if request.method == "GET":
        values = {"name": expert.name, "kind": expert.kind, "region_code": expert.region_code,
                  "specialty": expert.specialty, "title": expert.title, "cert_no": expert.cert_no,
                  "cert_expiry": expert.cert_expiry.isoformat() if expert.cert_expiry else "",
                  "username": expert.user.username if expert.user else ""}
        return _expert_form(expert, values, {})
    try:
        campaigns.save_expert(current_user, request.form.to_dict(), expert)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _expert_form(campaigns.visible_expert(current_user, expert_id), request.form.to_dict(), err.fields, 422)
    flash("已保存")
    return redirect(url_for("supervision.experts"))


@bp.route("/experts/<int:expert_id>/active", methods=["POST"])
@login_required
def toggle_expert(expert_id: int):
    expert = campaigns.visible_expert(current_user, expert_id)
    campaigns.set_expert_active(current_user, expert, request.form.get("active") == "1")
    db.session.commit()
    flash(f"{expert.name}已{'启用' if expert.active else '停用'}")
    return redirect(url_for("supervision.experts"))


# ---------------------------------------------------------------- campaigns

@bp.route("/campaigns")
@login_required
def campaign_list():
    if not (current_user.is_regulator or current_user.role in ("undertaking_unit", "expert")):
        raise Forbidden("证后监督检查任务只对监管部门、项目承担单位和检查人员开放")
    if campaigns.needs_declaration(current_user):
        return redirect(url_for("supervision.declaration"))
    q, status = text_arg(request.args, "q"), request.args.get("status")
    page, per_page = _page_args()
    items, total = paginate(campaigns.campaign_query(current_user, q, status), page, per_page)
    return render_template("supervision/campaigns.html", items=items, total=total, page=page,
                           pages=max(1, -(-total // per_page)), q=q, status=status,
                           statuses=Campaign.STATUS_LABELS, progress=campaigns.progress,
                           pending=db.session.scalar(select(db.func.count()).select_from(
                               campaigns.forwarded_query(current_user, True).subquery())) if current_user.is_regulator else 0)


@bp.route("/campaigns/export.xlsx")
@login_required
def campaigns_export():
    if not (current_user.is_regulator or current_user.role in ("undertaking_unit", "expert")):
        raise Forbidden("证后监督检查任务只对监管部门、项目承担单位和检查人员开放")
    if campaigns.needs_declaration(current_user):
        raise Forbidden("请先签署本年度公正性、保密及廉洁自律声明", code="declaration_required")
    from ..core.excel import stream_xlsx
    query = campaigns.campaign_query(current_user, text_arg(request.args, "q"), request.args.get("status"))

    def rows():
        for c in db.session.scalars(query.limit(100000)):
            done, total = campaigns.progress(c)
            yield [c.campaign_no or "（草稿）", c.name, c.undertaking_org.name,
                   c.supervisor_expert.name if c.supervisor_expert else "", total, done, c.status_label,
                   c.reject_reason if c.status == "rejected" else "", c.created_at.date().isoformat()]
    return stream_xlsx("证后监督检查任务", ["任务编号", "任务名称", "项目承担单位", "检查任务监督人", "被抽查单位数",
                                    "已完成", "状态", "驳回原因", "创建日期"], rows(),
                       filename="证后监督检查任务.xlsx", criteria=request.args.to_dict())


def _new_campaign_page(values, errors, status=200):
    undertakers = list(db.session.scalars(select(Organization).where(Organization.kind == "undertaking_unit")
                                          .order_by(Organization.name)))
    return render_template("supervision/campaign_new.html", values=values, errors=errors, undertakers=undertakers,
                           templates=campaigns.campaign_templates(), licences=campaigns.LICENCE_LABELS), status


@bp.route("/campaigns/new", methods=["GET", "POST"])
@login_required
def new_campaign():
    campaigns._creator(current_user)
    if request.method == "GET":
        return _new_campaign_page({}, {})
    try:
        c = campaigns.create_campaign(current_user, request.form.to_dict())
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _new_campaign_page(request.form.to_dict(), err.fields, 422)
    flash("任务已创建，请抽取被抽查单位和监督人")
    return redirect(url_for("supervision.campaign", campaign_id=c.id))


def _campaign_page(c: Campaign, errors: dict, status: int = 200):
    editable = (c.status in ("draft", "rejected") and c.creator_id == current_user.id)
    q = (request.args.get("pick_q") or "").strip()[:50]
    pick_found = []
    if editable and q:
        pick_found = list(db.session.scalars(select(Organization).where(
            Organization.name.contains(q), Organization.region_code.startswith(current_user.scope_prefix),
            Organization.kind != "undertaking_unit").order_by(Organization.name).limit(20)))
    regions = []
    if editable:
        from ..core.models import Region
        regions = [(r.code, region_full_name(r.code)) for r in db.session.scalars(
            select(Region).where(Region.code.startswith(current_user.scope_prefix), Region.level != "province")
            .order_by(Region.code))]
    return render_template(
        "supervision/campaign.html", c=c, errors=errors, editable=editable, pick_q=q, pick_found=pick_found,
        regions=regions, kinds=Organization.KIND_LABELS, licences=campaigns.LICENCE_LABELS,
        summary=campaigns.draw_summary(c), verified=campaigns.verify_draw(c) if c.draw_seed else None,
        filters=campaigns._loads(c.draw_filters, {}), candidates=campaigns._loads(c.draw_candidates, []),
        progress=campaigns.progress(c), inspectors=campaigns.inspectors(),
        totals=(sum(len(services.problems_of(u)) for u in c.units), sum(services.hazard_count(u) for u in c.units)),
        may_assign=current_user.role == "undertaking_unit" and c.status in ("assigning", "inspecting"),
        experts_by_ids=campaigns.experts_by_ids, problems_of=services.problems_of, hazard_count=services.hazard_count,
        region_full_name=region_full_name), status


@bp.route("/campaigns/<int:campaign_id>")
@login_required
def campaign(campaign_id: int):
    if campaigns.needs_declaration(current_user):
        return redirect(url_for("supervision.declaration"))
    return _campaign_page(campaigns.visible_campaign(current_user, campaign_id), {})


def _campaign_action(campaign_id: int, action, message: str):
    c = campaigns.editable_campaign(current_user, campaign_id)
    try:
        action(c)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _campaign_page(campaigns.visible_campaign(current_user, campaign_id), err.fields, 422)
    flash(message)
    return redirect(url_for("supervision.campaign", campaign_id=campaign_id))


@bp.route("/campaigns/<int:campaign_id>/draw", methods=["POST"])
@login_required
def draw(campaign_id: int):
    return _campaign_action(campaign_id, lambda c: campaigns.random_draw(current_user, c, request.form.to_dict()),
                            "已随机抽取被抽查单位，抽取过程已记录")


@bp.route("/campaigns/<int:campaign_id>/pick", methods=["POST"])
@login_required
def pick(campaign_id: int):
    return _campaign_action(campaign_id, lambda c: campaigns.pick_unit(current_user, c, request.form.get("org_id")),
                            "已指定抽取该单位")


@bp.route("/campaigns/<int:campaign_id>/units/<int:unit_id>/remove", methods=["POST"])
@login_required
def remove_unit(campaign_id: int, unit_id: int):
    return _campaign_action(campaign_id, lambda c: campaigns.remove_unit(c, unit_id), "已移出被抽查单位")


@bp.route("/campaigns/<int:campaign_id>/supervisor", methods=["POST"])
@login_required
def supervisor(campaign_id: int):
    return _campaign_action(campaign_id, lambda c: campaigns.draw_supervisor(current_user, c, request.form.get("seed")),
                            "已随机抽取检查任务监督人")


@bp.route("/campaigns/<int:campaign_id>/units/<int:unit_id>/assign", methods=["POST"])
@login_required
def assign(campaign_id: int, unit_id: int):
    c = campaigns.visible_campaign(current_user, campaign_id)
    try:
        campaigns.assign(current_user, c, unit_id, request.form.getlist("experts"))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _campaign_page(campaigns.visible_campaign(current_user, campaign_id), err.fields, 422)
    flash("已分配检查人员")
    return redirect(url_for("supervision.campaign", campaign_id=campaign_id))


# ---------------------------------------------------------------- declaration

@bp.route("/declaration", methods=["GET", "POST"])
@login_required
def declaration():
    if current_user.role != "expert":
        raise Forbidden("年度声明由评审专家/检查人员以个人账号签署")
    errors = {}
    if request.method == "POST":
        try:
            campaigns.sign_declaration(current_user, request.form.get("signature"), request.form.get("agree"))
            db.session.commit()
            flash("声明已签署并保存，可随时打印")
            return redirect(url_for("supervision.my_units"))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
    return render_template("supervision/declaration.html", row=campaigns.declaration_of(current_user),
                           title=campaigns.DECLARATION_TITLE, text=campaigns.DECLARATION_TEXT,
                           year=campaigns.declaration_year(), errors=errors), 422 if errors else 200


@bp.route("/declaration/print")
@login_required
def declaration_print():
    if current_user.role != "expert":
        raise Forbidden("年度声明由评审专家/检查人员以个人账号签署")
    row = campaigns.declaration_of(current_user, int_arg(request.args, "year", campaigns.declaration_year(), 2000, 2100))
    if row is None:
        return redirect(url_for("supervision.declaration"))
    return render_template("supervision/declaration_print.html", row=row, lines=row.text.split("\n"))


# ---------------------------------------------------------------- the units an expert / inspected unit works on

@bp.route("/my")
@login_required
def my_units():
    if current_user.role != "expert" and not current_user.is_enterprise:
        raise Forbidden("该页面供检查人员、项目承担单位和被抽查单位使用")
    if campaigns.needs_declaration(current_user):
        return redirect(url_for("supervision.declaration"))
    page, per_page = _page_args()
    items, total = paginate(campaigns.my_units(current_user), page, per_page)
    return render_template("supervision/my_units.html", items=items, total=total, page=page,
                           pages=max(1, -(-total // per_page)), declaration=campaigns.declaration_of(current_user))


def _unit_page(unit, errors: dict, status: int = 200):
    entering = unit.status == "assigned" and campaigns.may_enter(current_user, unit)
    section = unit.sections[0] if unit.sections else None
    template = unit.campaign.template
    devices = list(db.session.scalars(select(Equipment).where(Equipment.use_org_id == unit.org_id)
                                      .order_by(Equipment.code).limit(100))) if current_user.is_regulator else []
    return render_template(
        "supervision/campaign_unit.html", u=unit, c=unit.campaign, errors=errors, entering=entering, section=section,
        template=template, may_review=unit.status == "reviewing" and campaigns.may_review(current_user, unit),
        may_rectify=unit.status == "rectifying" and current_user.is_enterprise and current_user.org_id == unit.org_id,
        may_evaluate=(unit.status == "done" and not unit.evaluated_at and current_user.is_enterprise
                      and current_user.org_id == unit.org_id),
        experts=campaigns.experts_by_ids(unit.expert_id_list), problems=services.problems_of(unit),
        pending=campaigns.pending_forwards(unit), eval_levels=campaigns.EVAL_LEVELS,
        devices=devices, criteria=criteria_options() if current_user.is_regulator else [],
        section_title=services.section_title), status


@bp.route("/campaign-units/<int:unit_id>")
@login_required
def campaign_unit(unit_id: int):
    if campaigns.needs_declaration(current_user):
        return redirect(url_for("supervision.declaration"))
    return _unit_page(campaigns.visible_unit(current_user, unit_id), {})


def _unit_action(unit_id: int, action, message: str, *, entry: bool = False):
    unit = campaigns.entry_unit(current_user, unit_id) if entry else campaigns.visible_unit(current_user, unit_id)
    try:
        action(unit)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _unit_page(campaigns.visible_unit(current_user, unit_id), err.fields, 422)
    flash(message)
    return redirect(url_for("supervision.campaign_unit", unit_id=unit_id))


@bp.route("/campaign-units/<int:unit_id>/results", methods=["POST"])
@login_required
def unit_results(unit_id: int):
    def act(unit):
        section = campaigns.ensure_section(current_user, unit)
        services.save_findings(current_user, section, findings_from_form(request.form, request.files, section))
    return _unit_action(unit_id, act, "检查结果已保存", entry=True)


@bp.route("/campaign-units/<int:unit_id>/findings/<int:finding_id>/forward", methods=["POST"])
@login_required
def unit_forward(unit_id: int, finding_id: int):
    return _unit_action(unit_id, lambda u: campaigns.forward_finding(current_user, u, finding_id),
                        "已上报监察部门，处理结果将在此显示", entry=True)


@bp.route("/campaign-units/<int:unit_id>/submit", methods=["POST"])
@login_required
def unit_submit(unit_id: int):
    return _unit_action(unit_id, lambda u: campaigns.submit_entry(current_user, u, request.form.to_dict()),
                        "检查结果已提交", entry=True)


@bp.route("/campaign-units/<int:unit_id>/rectify", methods=["POST"])
@login_required
def unit_rectify(unit_id: int):
    def act(unit):
        photos = [save_upload(f, current_user, field="photos").id for f in request.files.getlist("photos")
                  if f and f.filename]
        campaigns.rectify(current_user, unit, request.form.to_dict(), photos)
    return _unit_action(unit_id, act, "整改情况已提交，等待复核")


@bp.route("/campaign-units/<int:unit_id>/review", methods=["POST"])
@login_required
def unit_review(unit_id: int):
    return _unit_action(unit_id, lambda u: campaigns.review_rectification(
        current_user, u, request.form.get("decision", ""), request.form.get("note", "")), "复核结果已保存")


@bp.route("/campaign-units/<int:unit_id>/evaluate", methods=["POST"])
@login_required
def unit_evaluate(unit_id: int):
    return _unit_action(unit_id, lambda u: campaigns.evaluate(current_user, u, request.form.to_dict()), "评价已提交")


# ---------------------------------------------------------------- forwarded to the supervision department

@bp.route("/forwarded")
@login_required
def forwarded():
    if not current_user.is_regulator:
        raise Forbidden("上报监察的问题由监察部门处理")
    page, per_page = _page_args()
    items, total = paginate(campaigns.forwarded_query(current_user, request.args.get("pending") == "1"), page, per_page)
    return render_template("supervision/forwarded.html", items=items, total=total, page=page,
                           pages=max(1, -(-total // per_page)), criteria=criteria_options(),
                           devices_of=lambda org_id: list(db.session.scalars(
                               select(Equipment).where(Equipment.use_org_id == org_id).order_by(Equipment.code).limit(50))),
                           errors={})


@bp.route("/forwarded/<int:finding_id>/outcome", methods=["POST"])
@login_required
def forwarded_outcome(finding_id: int):
    finding = campaigns.visible_forwarded(current_user, finding_id)
    try:
        campaigns.record_outcome(current_user, finding, request.form.get("outcome", ""))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        flash("；".join(err.fields.values()), "error")
        return redirect(url_for("supervision.forwarded"))
    flash("处理结果已保存，检查人员提交时可拉取")
    return redirect(url_for("supervision.forwarded"))


@bp.route("/forwarded/<int:finding_id>/hazard", methods=["POST"])
@login_required
def forwarded_hazard(finding_id: int):
    finding = campaigns.visible_forwarded(current_user, finding_id)
    try:
        case = services.raise_hazard(current_user, finding, request.form.to_dict(), label="证后监督检查")
        campaigns.record_outcome(current_user, finding, f"已认定为重大事故隐患，进入隐患闭环流程（{case.case_no}）")
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash("；".join((err.fields or {"_": err.message}).values()), "error")
        return redirect(url_for("supervision.forwarded"))
    flash(f"已上报重大事故隐患 {case.case_no}")
    return redirect(url_for("supervision.forwarded"))
