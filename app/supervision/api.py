"""/api/v1/supervision: checklist templates, the inspected-unit lookup, supervision inspections (draft,
sections, findings, hazards raised from findings) and post-license campaigns. Submitting an inspection
and every process step go through the generic /api/v1/cases and /api/v1/tasks."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.params import int_arg, text_arg
from ..errors import Forbidden, NotFound
from ..extensions import db
from . import checklists, services
from .models import SupervisionInspection

bp = Blueprint("supervision_api", __name__, url_prefix="/api/v1/supervision")


def _regulator():
    if not g.api_user.is_regulator:
        raise Forbidden("监督检查录入只对市场监管部门开放")


@bp.get("/units")
@authenticated
def units():
    _regulator()
    q = text_arg(request.args, "q") or ""
    items, warning = services.search_units(g.api_user, q, int_arg(request.args, "limit", 20, 1, 50))
    db.session.commit()             # the business-registry calls' log (external_call)
    return jsonify({"items": items, "warning": warning})


@bp.post("/units")
@authenticated
def add_unit():
    org = services.add_unit(g.api_user, _json_body())
    db.session.commit()
    return jsonify({"id": org.id, "name": org.name, "uscc": org.uscc, "region_code": org.region_code}), 201


@bp.get("/templates")
@authenticated
def templates():
    if not (g.api_user.is_regulator or g.api_user.role in ("sys_admin", "expert", "undertaking_unit")):
        raise Forbidden("检查项目表只对监管部门、检查人员和系统管理员开放")
    kind = request.args.get("kind") or None
    return jsonify({"items": [checklists.template_json(t, items=False) for t in checklists.current_templates(kind)]})


@bp.get("/templates/<int:template_id>")
@authenticated
def template(template_id: int):
    if not (g.api_user.is_regulator or g.api_user.role in ("sys_admin", "expert", "undertaking_unit")):
        raise Forbidden("检查项目表只对监管部门、检查人员和系统管理员开放")
    return jsonify(checklists.template_json(checklists.get_template(template_id)))


@bp.post("/templates")
@authenticated
def save_template():
    body = _json_body()
    t = checklists.save_version(g.api_user, body.get("code") or None, body)
    db.session.commit()
    return jsonify(checklists.template_json(t)), 201


@bp.get("/inspections")
@authenticated
def inspections():
    query = services.inspection_query(g.api_user, text_arg(request.args, "q"), request.args.get("status"))
    if request.args.get("mine") in ("1", "true"):
        query = query.where(SupervisionInspection.inspector_id == g.api_user.id)
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    items, total = paginate(query, page, per_page)
    return jsonify({"items": [{**services.inspection_json(r), "label": f"{r.org.name} {r.inspected_on.isoformat()}"}
                              for r in items], "total": total, "page": page, "per_page": per_page,
                    "totals": services.hazard_totals(g.api_user)})


@bp.post("/inspections")
@authenticated
def create_inspection():
    row = services.create_draft(g.api_user, _json_body())
    db.session.commit()
    return jsonify(services.inspection_json(row, detail=True)), 201


@bp.get("/inspections/<int:inspection_id>")
@authenticated
def get_inspection(inspection_id: int):
    return jsonify(services.inspection_json(services.visible_inspection(g.api_user, inspection_id), detail=True))


@bp.post("/inspections/<int:inspection_id>/sections")
@authenticated
def add_section(inspection_id: int):
    _regulator()
    row = services.editable_inspection(g.api_user, inspection_id)
    body = _json_body()
    section = services.add_section(g.api_user, row, body.get("template_id"), body.get("equipment_id"))
    if body.get("results"):
        services.save_findings(g.api_user, section, body["results"])
    db.session.commit()
    return jsonify(services.section_json(section)), 201


@bp.post("/inspections/<int:inspection_id>/sections/<int:section_id>/findings")
@authenticated
def save_findings(inspection_id: int, section_id: int):
    _regulator()
    row = services.editable_inspection(g.api_user, inspection_id)
    section = next((s for s in row.sections if s.id == section_id), None)
    if section is None:
        raise NotFound("检查表不存在")
    services.save_findings(g.api_user, section, _json_body().get("results"))
    db.session.commit()
    return jsonify(services.section_json(section))


@bp.post("/inspections/<int:inspection_id>/other")
@authenticated
def save_other(inspection_id: int):
    _regulator()
    row = services.editable_inspection(g.api_user, inspection_id)
    services.set_other_problems(g.api_user, row, str(_json_body().get("other_problems") or ""))
    db.session.commit()
    return jsonify(services.inspection_json(row, detail=True))


@bp.post("/findings/<int:finding_id>/hazard")
@authenticated
def raise_hazard(finding_id: int):
    _regulator()
    from .views import visible_finding
    finding = visible_finding(g.api_user, finding_id)
    if finding.section.inspection.inspector_id != g.api_user.id:
        raise Forbidden("只有检查录入人可以从检查项上报重大事故隐患")
    case = services.raise_hazard(g.api_user, finding, _json_body(), label="监督检查")
    db.session.commit()
    return jsonify({"finding_id": finding.id, "case_id": case.id, "case_no": case.case_no}), 201


# ---------------------------------------------------------------- post-license campaigns

from . import campaigns  # noqa: E402


@bp.get("/experts")
@authenticated
def experts():
    if not (g.api_user.is_regulator or g.api_user.role in ("sys_admin", "undertaking_unit")):
        raise Forbidden("评审专家库只对监管部门、项目承担单位和系统管理员开放")
    query = campaigns.expert_query(g.api_user, text_arg(request.args, "q"), request.args.get("kind"),
                                   request.args.get("active"))
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    items, total = paginate(query, page, per_page)
    return jsonify({"items": [campaigns.expert_json(e) for e in items], "total": total, "page": page,
                    "per_page": per_page})


@bp.post("/experts")
@authenticated
def create_expert():
    expert = campaigns.save_expert(g.api_user, _json_body())
    db.session.commit()
    return jsonify(campaigns.expert_json(expert)), 201


@bp.get("/campaigns")
@authenticated
def campaign_list():
    if campaigns.needs_declaration(g.api_user):
        raise Forbidden("请先签署本年度公正性、保密及廉洁自律声明", code="declaration_required")
    query = campaigns.campaign_query(g.api_user, text_arg(request.args, "q"), request.args.get("status"))
    if request.args.get("mine") in ("1", "true"):
        query = query.where(campaigns.Campaign.creator_id == g.api_user.id)
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    items, total = paginate(query, page, per_page)
    return jsonify({"items": [{**campaigns.campaign_json(c), "label": c.name} for c in items], "total": total,
                    "page": page, "per_page": per_page})


@bp.post("/campaigns")
@authenticated
def create_campaign():
    c = campaigns.create_campaign(g.api_user, _json_body())
    db.session.commit()
    return jsonify(campaigns.campaign_json(c, detail=True)), 201


@bp.get("/campaigns/<int:campaign_id>")
@authenticated
def get_campaign(campaign_id: int):
    if campaigns.needs_declaration(g.api_user):
        raise Forbidden("请先签署本年度公正性、保密及廉洁自律声明", code="declaration_required")
    return jsonify(campaigns.campaign_json(campaigns.visible_campaign(g.api_user, campaign_id), detail=True))


@bp.post("/campaigns/<int:campaign_id>/draw")
@authenticated
def draw(campaign_id: int):
    c = campaigns.editable_campaign(g.api_user, campaign_id)
    campaigns.random_draw(g.api_user, c, _json_body())
    db.session.commit()
    return jsonify(campaigns.campaign_json(c, detail=True))


@bp.post("/campaigns/<int:campaign_id>/pick")
@authenticated
def pick(campaign_id: int):
    c = campaigns.editable_campaign(g.api_user, campaign_id)
    campaigns.pick_unit(g.api_user, c, _json_body().get("org_id"))
    db.session.commit()
    return jsonify(campaigns.campaign_json(c, detail=True))


@bp.post("/campaigns/<int:campaign_id>/supervisor")
@authenticated
def draw_supervisor(campaign_id: int):
    c = campaigns.editable_campaign(g.api_user, campaign_id)
    campaigns.draw_supervisor(g.api_user, c, _json_body().get("seed"))
    db.session.commit()
    return jsonify(campaigns.campaign_json(c, detail=True))


@bp.post("/campaigns/<int:campaign_id>/units/<int:unit_id>/assign")
@authenticated
def assign(campaign_id: int, unit_id: int):
    c = campaigns.visible_campaign(g.api_user, campaign_id)
    unit = campaigns.assign(g.api_user, c, unit_id, _json_body().get("experts"))
    db.session.commit()
    return jsonify(campaigns.unit_json(unit))


@bp.get("/campaign-units/<int:unit_id>")
@authenticated
def get_unit(unit_id: int):
    return jsonify(campaigns.unit_json(campaigns.visible_unit(g.api_user, unit_id)))


@bp.post("/campaign-units/<int:unit_id>/results")
@authenticated
def unit_results(unit_id: int):
    unit = campaigns.entry_unit(g.api_user, unit_id)
    section = campaigns.ensure_section(g.api_user, unit)
    services.save_findings(g.api_user, section, _json_body().get("results"))
    db.session.commit()
    return jsonify(campaigns.unit_json(unit))


@bp.post("/campaign-units/<int:unit_id>/submit")
@authenticated
def unit_submit(unit_id: int):
    unit = campaigns.entry_unit(g.api_user, unit_id)
    campaigns.submit_entry(g.api_user, unit, _json_body())
    db.session.commit()
    return jsonify(campaigns.unit_json(unit))


@bp.post("/campaign-units/<int:unit_id>/rectify")
@authenticated
def unit_rectify(unit_id: int):
    unit = campaigns.visible_unit(g.api_user, unit_id)
    body = _json_body()
    photos = body.get("photos") if isinstance(body.get("photos"), list) else []
    ids = [services.as_id(p) for p in photos]
    campaigns.rectify(g.api_user, unit, body, [i if i is not None else 0 for i in ids])
    db.session.commit()
    return jsonify(campaigns.unit_json(unit))


@bp.post("/campaign-units/<int:unit_id>/review")
@authenticated
def unit_review(unit_id: int):
    unit = campaigns.visible_unit(g.api_user, unit_id)
    body = _json_body()
    campaigns.review_rectification(g.api_user, unit, str(body.get("decision") or ""), str(body.get("note") or ""))
    db.session.commit()
    return jsonify(campaigns.unit_json(unit))


@bp.post("/campaign-units/<int:unit_id>/evaluate")
@authenticated
def unit_evaluate(unit_id: int):
    unit = campaigns.visible_unit(g.api_user, unit_id)
    campaigns.evaluate(g.api_user, unit, _json_body())
    db.session.commit()
    return jsonify(campaigns.unit_json(unit))
