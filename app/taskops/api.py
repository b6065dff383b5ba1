"""JSON API of the task operations (same authentication and error shape as app/api)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..api import _iso, _json_body, authenticated, task_json
from ..cases import services as case_services
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from . import services
from .models import CaseCopy

bp = Blueprint("taskops_api", __name__, url_prefix="/api/v1")


def _task_body(task) -> dict:
    body = task_json(task)
    body.update({"owner_id": task.owner_id, "delegate_state": task.delegate_state, "urge_count": task.urge_count})
    return body


@bp.post("/tasks/<int:task_id>/transfer")
@authenticated
def transfer(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    body = _json_body()
    services.transfer_task(task.id, g.api_user, body.get("target_user_id"), body.get("opinion"))
    db.session.commit()
    return jsonify(_task_body(task))


@bp.post("/tasks/<int:task_id>/delegate")
@authenticated
def delegate(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    body = _json_body()
    services.delegate_task(task.id, g.api_user, body.get("target_user_id"), body.get("note"))
    db.session.commit()
    return jsonify(_task_body(task))


@bp.post("/tasks/<int:task_id>/resolve")
@authenticated
def resolve(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    body = _json_body()
    services.resolve_delegation(task.id, g.api_user, body.get("opinion"))
    db.session.commit()
    return jsonify(_task_body(task))


def _signs_json(task) -> list[dict]:
    return [{"id": s.id, "seq": s.seq, "kind": s.kind, "user_id": s.user_id, "user": s.user.display_name,
             "status": s.status, "opinion": s.opinion, "acted_at": _iso(s.acted_at)} for s in services.signs(task)]


@bp.get("/tasks/<int:task_id>/signers")
@authenticated
def list_signers(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    return jsonify({"items": _signs_json(task), "state": task.delegate_state})


@bp.post("/tasks/<int:task_id>/signers")
@authenticated
def add_signer(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    body = _json_body()
    services.add_signer(task.id, g.api_user, body.get("signer_user_id"), body.get("kind"), body.get("note"))
    db.session.commit()
    return jsonify({"items": _signs_json(task), "task": _task_body(task)}), 201


@bp.post("/tasks/<int:task_id>/sign")
@authenticated
def sign(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    body = _json_body()
    services.sign_task(task.id, g.api_user, body.get("opinion"))
    db.session.commit()
    return jsonify({"items": _signs_json(task), "task": _task_body(task)})


@bp.post("/tasks/<int:task_id>/signers/<int:sign_id>/remove")
@authenticated
def remove_signer(task_id: int, sign_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    services.remove_signer(task.id, g.api_user, sign_id)
    db.session.commit()
    return jsonify({"items": _signs_json(task), "task": _task_body(task)})


@bp.get("/tasks/<int:task_id>/candidates")
@authenticated
def candidates(task_id: int):
    """People the caller may transfer or delegate this task to (empty unless the caller holds it)."""
    task = case_services.visible_task(g.api_user, task_id)
    people = services.eligible_people(task, exclude={g.api_user.id}) if services.may_hold(g.api_user, task) else []
    return jsonify({"items": [{"id": u.id, "display_name": u.display_name, "role": u.role} for u in people]})


@bp.post("/cases/<int:case_id>/urge")
@authenticated
def urge(case_id: int):
    case = case_services.visible_case(g.api_user, case_id)
    body = _json_body()
    sent = services.urge_case(case.id, g.api_user, body.get("note"))
    db.session.commit()
    return jsonify({"sent": [{"user_id": n.user_id, "task_id": n.task_id} for n in sent],
                    "urge_total": services.urge_total(case)})


@bp.post("/cases/<int:case_id>/copies")
@authenticated
def copy(case_id: int):
    case = case_services.visible_case(g.api_user, case_id)
    body = _json_body()
    users, roles = body.get("user_ids") or [], body.get("roles") or []
    if not isinstance(users, list) or not isinstance(roles, list):
        raise ValidationFailed({"user_ids": "user_ids 与 roles 必须是数组"})
    copies = services.copy_case(case.id, g.api_user, users, roles, body.get("note"), body.get("task_id"))
    db.session.commit()
    return jsonify({"items": [services.copy_json(c) for c in copies]}), 201


@bp.get("/copies")
@authenticated
def list_copies():
    from ..core.params import int_arg
    page = int_arg(request.args, "page", 1, 1, 100000)
    query = select(CaseCopy).where(CaseCopy.user_id == g.api_user.id)
    if request.args.get("state") == "unread":
        query = query.where(CaseCopy.read_at.is_(None))
    items, total = case_services.paginate(query.order_by(CaseCopy.created_at.desc(), CaseCopy.id.desc()), page, 20)
    return jsonify({"items": [services.copy_json(c) for c in items], "total": total, "page": page})


@bp.post("/copies/<int:copy_id>/read")
@authenticated
def read_copy(copy_id: int):
    copy = db.session.get(CaseCopy, copy_id)
    if copy is None or copy.user_id != g.api_user.id:
        raise NotFound("抄送记录不存在")
    services.mark_copy_read(copy)
    db.session.commit()
    return jsonify(services.copy_json(copy))


def _deputy_json(row) -> dict:
    from .deputies import status_of
    return {"id": row.id, "user_id": row.user_id, "deputy_id": row.deputy_id, "deputy": row.deputy.display_name,
            "starts_on": row.starts_on.isoformat(), "ends_on": row.ends_on.isoformat(), "note": row.note,
            "status": status_of(row), "revoked_at": _iso(row.revoked_at)}


@bp.get("/deputies")
@authenticated
def list_deputies():
    from . import deputies as dep
    return jsonify({"items": [_deputy_json(r) for r in dep.my_deputies(g.api_user)],
                    "choices": [{"id": u.id, "display_name": u.display_name} for u in dep.deputy_choices(g.api_user)]
                    if (g.api_user.is_regulator or g.api_user.is_enterprise) else []})


@bp.post("/deputies")
@authenticated
def create_deputy():
    from . import deputies as dep
    body = _json_body()
    row = dep.set_deputy(g.api_user, body.get("deputy_id"), body.get("starts_on"), body.get("ends_on"),
                         body.get("note"))
    db.session.commit()
    return jsonify(_deputy_json(row)), 201


@bp.post("/deputies/<int:row_id>/revoke")
@authenticated
def revoke_deputy(row_id: int):
    from . import deputies as dep
    row = dep.revoke_deputy(g.api_user, row_id)
    db.session.commit()
    return jsonify(_deputy_json(row))
