"""/api/v1/overdue: the 排查治理台账 (band counts, drill-down, devices), batch start of disposal cases,
误报纠正 and 超期未检处理记录. Measures are chosen through the generic task API (/api/v1/tasks/{id}/complete
with the form of the 选择处置措施 step). Authentication and errors as in app/api."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..errors import Forbidden
from ..extensions import db
from . import ledger

bp = Blueprint("overdue_api", __name__, url_prefix="/api/v1/overdue")


@bp.get("/ledger")
@authenticated
def get_ledger():
    if not g.api_user.is_regulator:
        raise Forbidden("排查治理台账只对监察人员开放")
    f = ledger.LedgerFilter.from_args(request.args)
    counts = ledger.band_counts(g.api_user, f)
    items, total = paginate(ledger.ledger_query(g.api_user, f), f.page, f.per_page, ledger.total_of(counts, f))
    disposals = ledger.open_disposals_of(items)
    label, drill = ledger.drill_down(g.api_user, f)
    return jsonify({"counts": counts, "drill_label": label, "drill": drill,
                    "items": [ledger.ledger_item_json(e, disposals) for e in items], "total": total, "page": f.page,
                    "per_page": f.per_page})


@bp.post("/batch-start")
@authenticated
def batch_start():
    body = _json_body()
    cases = ledger.batch_start(g.api_user, body.get("ids"), body.get("note"))
    db.session.commit()
    return jsonify({"count": len(cases), "cases": [{"id": c.id, "case_no": c.case_no, "equipment_id": c.equipment_id}
                                                   for c in cases]}), 201


@bp.post("/correct")
@authenticated
def correct():
    body = _json_body()
    filters = body.get("filter") if isinstance(body.get("filter"), dict) else None
    ids = body.get("ids") if filters is None else None
    result = ledger.correct(g.api_user, ids, ledger.LedgerFilter.from_args(filters or {}), body.get("reason"))
    db.session.commit()
    return jsonify(result)


@bp.get("/records")
@authenticated
def records():
    f = ledger.RecordFilter.from_args(request.args)
    items, total = paginate(ledger.records_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [ledger.action_json(a) for a in items], "total": total, "page": f.page,
                    "per_page": f.per_page})
