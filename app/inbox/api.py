"""JSON API of the inbox: tab counts, saved filters, bulk actions (auth and errors as app/api)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..api import _iso, _json_body, authenticated
from ..cases import services as case_services
from ..extensions import db
from . import services

bp = Blueprint("inbox_api", __name__, url_prefix="/api/v1")


@bp.get("/inbox/counts")
@authenticated
def counts():
    return jsonify(case_services.inbox_counts(g.api_user))


def _filter_json(entry: dict) -> dict:
    row = entry["filter"]
    return {"id": row.id, "name": row.name, "args": entry["args"], "shared_with": row.shared_with,
            "share_role": row.share_role, "share_region": row.share_region, "owner_id": row.owner_id,
            "owner": row.owner.display_name, "own": entry["own"], "count": entry["count"],
            "created_at": _iso(row.created_at)}


@bp.get("/inbox/filters")
@authenticated
def list_filters():
    return jsonify({"items": [_filter_json(e) for e in services.filters_with_counts(g.api_user)]})


@bp.post("/inbox/filters")
@authenticated
def create_filter():
    body = _json_body()
    args = body.get("args")
    row = services.create_filter(g.api_user, body.get("name"), args if isinstance(args, dict) else {},
                                 body.get("shared_with"))
    db.session.commit()
    entry = {"filter": row, "args": services.filter_args(row), "own": True,
             "count": services.filter_count(g.api_user, row)}
    return jsonify(_filter_json(entry)), 201


@bp.delete("/inbox/filters/<int:filter_id>")
@authenticated
def delete_filter(filter_id: int):
    services.delete_filter(g.api_user, filter_id)
    db.session.commit()
    return "", 204


@bp.post("/tasks/bulk")
@authenticated
def bulk():
    body = _json_body()
    rows = services.bulk(g.api_user, body.get("action"), body.get("task_ids"), decision=body.get("decision"),
                         opinion=body.get("opinion"), target=body.get("target_user_id"), opinions=body.get("opinions"))
    done = sum(1 for r in rows if r["status"] == "done")
    return jsonify({"results": rows, "done": done, "refused": len(rows) - done})
