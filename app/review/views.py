"""退回 on the task page (form action) and its JSON API."""
from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from ..api import _json_body, authenticated, task_json
from ..cases import services as case_services
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from . import services

bp = Blueprint("review", __name__)
api_bp = Blueprint("review_api", __name__, url_prefix="/api/v1")


@bp.app_template_global()
def review_panel(task):
    return services.review_panel(task)


@bp.app_template_global()
def return_options(task):
    return services.return_options(task)


def _form_notes(form) -> dict:
    return {key[len("note_"):]: value for key, value in form.items() if key.startswith("note_") and value.strip()}


@bp.route("/tasks/<int:task_id>/return", methods=["POST"])
@login_required
def return_task(task_id: int):
    task = case_services.visible_task(current_user, task_id)
    try:
        record = services.return_task(task.id, current_user, request.form.get("target"),
                                      request.form.get("reason"), _form_notes(request.form))
        db.session.commit()
    except ValidationFailed as err:
        from ..taskops.views import _render_task_with_errors
        return _render_task_with_errors(task, "return", err.fields)
    except Conflict as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("cases.task_page", task_id=task.id) + "#ops-return")
    flash(f"已将【{task.name}】退回至【{record.target_name}】")
    return redirect(url_for("cases.inbox"))


@api_bp.get("/tasks/<int:task_id>/return-targets")
@authenticated
def return_targets(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    options = services.return_options(task)
    return jsonify({"targets": [{"task_def": t["bpmn_id"], "name": t["name"], "refused": t["refused"],
                                 "fields": [{"name": n, "label": label} for n, label in t["fields"]]}
                                for t in options["targets"]], "refused": options["refused"]})


@api_bp.post("/tasks/<int:task_id>/return")
@authenticated
def api_return(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    body = _json_body()
    notes = body.get("notes") or {}
    if not isinstance(notes, dict):
        raise ValidationFailed({"notes": "notes 必须是 {字段: 意见} 对象"})
    record = services.return_task(task.id, g.api_user, body.get("target"), body.get("reason"), notes)
    db.session.commit()
    reopened = db.session.get(type(task), record.reopened_task_id) if record.reopened_task_id else None
    return jsonify({"return_id": record.id, "target": record.target_task_def, "reason": record.reason,
                    "notes": {n.field: n.note for n in record.notes},
                    "reopened_task": task_json(reopened) if reopened else None})
