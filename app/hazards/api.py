"""/api/v1/hazards: query a caller's major hazards, and modify or delete a reported one before the bureau
accepts it (409 not_editable with the reason afterwards). Reporting goes through POST /api/v1/cases
(process_key major_hazard) and the loop's steps through /api/v1/tasks."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..api import _iso, _json_body, authenticated
from ..cases.services import paginate
from ..extensions import db
from . import manage
from .models import Hazard
from .ledger import LedgerFilter, ledger_query

bp = Blueprint("hazards_api", __name__, url_prefix="/api/v1/hazards")


def hazard_json(h: Hazard, user) -> dict:
    refusal = manage.change_refusal(user, h)
    return {"id": h.id, "case_id": h.case_id, "hazard_no": h.hazard_no, "status": h.status,
            "status_label": h.status_label, "warning_level": h.warning_level, "source": h.source,
            "source_label": h.source_label, "equipment_code": h.equipment.code, "equipment_name": h.equipment.name,
            "use_org_id": h.use_org_id, "use_org_name": h.use_org.name, "region_code": h.region_code,
            "criterion_id": h.criterion_id, "criterion_citation": h.criterion.citation,
            "description": h.description, "found_on": h.found_on.isoformat(),
            "rectify_deadline": h.rectify_deadline.isoformat(), "rectify_requirements": h.reporter_requirements,
            "notice_no": h.notice_no, "inspection_report_id": h.inspection_report_id,
            "created_at": _iso(h.created_at), "editable": refusal is None,
            "not_editable_reason": refusal.message if refusal is not None else None}


@bp.get("")
@authenticated
def list_hazards():
    f = LedgerFilter.from_args(request.args)
    items, total = paginate(ledger_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [hazard_json(h, g.api_user) for h in items], "total": total, "page": f.page,
                    "per_page": f.per_page})


@bp.get("/<int:hazard_id>")
@authenticated
def get_hazard(hazard_id: int):
    return jsonify(hazard_json(manage.visible_hazard(g.api_user, hazard_id), g.api_user))


@bp.patch("/<int:hazard_id>")
@authenticated
def edit_hazard(hazard_id: int):
    body = _json_body()
    hazard = manage.visible_hazard(g.api_user, hazard_id)
    values = {**manage.current_values(hazard), **{k: v for k, v in body.items() if k in manage.EDITABLE_FIELDS}}
    changes = manage.edit_hazard(g.api_user, hazard.id, values)
    out = {**hazard_json(hazard, g.api_user), "changed": changes}
    db.session.commit()
    return jsonify(out)


@bp.delete("/<int:hazard_id>")
@authenticated
def delete_hazard(hazard_id: int):
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    hazard = manage.delete_hazard(g.api_user, manage.visible_hazard(g.api_user, hazard_id).id,
                                  reason if reason is not None else request.args.get("reason"))
    out = {"id": hazard.id, "hazard_no": hazard.hazard_no, "deleted": True}
    db.session.commit()
    return jsonify(out)


@bp.get("/criteria")
@authenticated
def list_criteria():
    """The GB 45067-2024 items with their configuration; `active=1` gives what a new report may choose
    (the report form's x-lookup for criterion_id), `q` searches the citation and text."""
    from .criteria import all_criteria, criterion_json
    rows = all_criteria()
    if request.args.get("active") in ("1", "true"):
        rows = [c for c in rows if c.active and not c.is_cross_reference]
    q = (request.args.get("q") or "").strip()
    if q:
        rows = [c for c in rows if q in c.citation or q in c.text or q in c.equipment_type]
    return jsonify({"items": [criterion_json(c) for c in rows], "total": len(rows)})


@bp.get("/nonconforming-reports")
@authenticated
def nonconforming_reports():
    """Inspection reports with a failing conclusion in the caller's scope, each with `hazard_reported`;
    `unreported=1` lists only those without a hazard."""
    from . import nonconforming as svc
    from ..errors import Forbidden
    if not svc.may_use(g.api_user):
        raise Forbidden("只有监管人员和检验检测机构可以查看检验不合格报告")
    f = svc.ReportFilter.from_args(request.args)
    rows, total = svc.page(g.api_user, f)
    return jsonify({"items": [{"id": r.id, "report_no": r.report_no, "equipment_code": r.equipment.code,
                               "equipment_name": r.equipment.name, "use_org_name": r.equipment.use_org.name,
                               "agency_name": r.agency.name, "inspected_on": r.inspected_on.isoformat(),
                               "conclusion": r.conclusion, "nonconformities": r.nonconformities,
                               "hazard_reported": reported} for r, reported in rows],
                    "total": total, "page": f.page, "per_page": f.per_page})


@bp.post("/batch-report")
@authenticated
def batch_report():
    """Start hazard reports for the selected failing reports (all or nothing)."""
    from . import nonconforming as svc
    from ..api import case_summary
    from ..errors import Forbidden
    if not svc.may_use(g.api_user):
        raise Forbidden("只有监管人员和检验检测机构可以批量上报")
    body = _json_body()
    cases = svc.batch_report(g.api_user, body.get("report_ids"), body.get("criterion_id"),
                             body.get("rectify_deadline"), body.get("rectify_requirements"))
    out = {"count": len(cases), "items": [case_summary(c) for c in cases]}
    db.session.commit()
    return jsonify(out), 201


def bulletin_json(b, with_content: bool = False) -> dict:
    from . import bulletins as svc
    body = {"id": b.id, "bulletin_no": b.bulletin_no, "title": b.title, "kind": b.kind, "issuer_region": b.issuer_region,
            "scope_region": b.scope_region, "period_from": b.period_from.isoformat(), "period_to": b.period_to.isoformat(),
            "status": b.status, "status_label": b.status_label, "created_at": _iso(b.created_at),
            "approved_at": _iso(b.approved_at), "approval_opinion": b.approval_opinion,
            "published_at": _iso(b.published_at),
            "receipts": [{"region_code": r.region_code, "read_at": _iso(r.read_at),
                          "read_by": r.read_by.display_name if r.read_by else None} for r in b.receipts]}
    if with_content:
        body["content"] = svc.content_of(b)
        body["remarks"] = b.remarks
    return body


@bp.get("/bulletins")
@authenticated
def list_bulletins():
    from sqlalchemy import select

    from . import bulletins as svc
    from .models import HazardBulletin
    rows = list(db.session.scalars(select(HazardBulletin).where(svc.bulletin_scope(g.api_user))
                                   .order_by(HazardBulletin.created_at.desc()).limit(200)))
    return jsonify({"items": [bulletin_json(b) for b in rows], "total": len(rows)})


@bp.post("/bulletins")
@authenticated
def create_bulletin():
    from . import bulletins as svc
    body = _json_body()
    row = svc.create_bulletin(g.api_user, {k: (v if isinstance(v, str) else None) for k, v in body.items()})
    out = bulletin_json(row, with_content=True)
    db.session.commit()
    return jsonify(out), 201


@bp.get("/bulletins/<int:bulletin_id>")
@authenticated
def get_bulletin(bulletin_id: int):
    """Reading a published bulletin as a supervisor of a receiving region signs that region's receipt."""
    from . import bulletins as svc
    row = svc.visible_bulletin(g.api_user, bulletin_id)
    svc.mark_read(g.api_user, row)
    out = bulletin_json(row, with_content=True)
    db.session.commit()
    return jsonify(out)


@bp.post("/bulletins/<int:bulletin_id>/decide")
@authenticated
def decide_bulletin(bulletin_id: int):
    from . import bulletins as svc
    body = _json_body()
    row = svc.decide(g.api_user, bulletin_id, body.get("decision"), body.get("opinion"))
    out = bulletin_json(row)
    db.session.commit()
    return jsonify(out)
