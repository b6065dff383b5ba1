"""JSON API of 设备迁移管理: GET /api/v1/transfers (list, same filters as the page),
GET /api/v1/transfers/<id> (with the flow record) and POST /api/v1/transfers/batch.
Starting an application and reviewing one go through the generic /api/v1/cases and
/api/v1/tasks endpoints. Authentication and errors as in app/api (bearer token or session + CSRF)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..api import _iso, _json_body, authenticated
from ..cases.services import paginate, timeline
from ..extensions import db
from . import services

bp = Blueprint("transfers_api", __name__, url_prefix="/api/v1/transfers")


@bp.get("")
@authenticated
def list_transfers():
    f = services.TransferFilter.from_args(request.args)
    items, total = paginate(services.list_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [services.transfer_json(t) for t in items], "total": total, "page": f.page,
                    "per_page": f.per_page})


@bp.get("/<int:transfer_id>")
@authenticated
def get_transfer(transfer_id: int):
    transfer = services.visible_transfer(g.api_user, transfer_id)
    body = services.transfer_json(transfer)
    body["flow_record"] = [{"seq": row["event"].seq, "step": row["event"].step_name, "summary": row["event"].summary,
                            "handler": row["actor"], "unit": row["unit"], "at": _iso(row["event"].at),
                            "opinion": row["event"].comment} for row in timeline(transfer.case)]
    return jsonify(body)


@bp.post("/batch")
@authenticated
def batch():
    body = _json_body()
    done = services.batch(g.api_user, body.get("action"), body.get("ids"), body.get("opinion"))
    db.session.commit()
    return jsonify({"action": body.get("action"), "count": len(done),
                    "items": [services.transfer_json(t) for t in done]})
