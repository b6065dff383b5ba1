"""退回 on the task page (form action) and its JSON API."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, jsonify, redirect, request, url_for
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


# ---------------------------------------------------------------- 撤回 / 撤销

@bp.app_template_global()
def withdraw_state(task):
    """None when the current user did not complete `task`; else the refusal reason or '' (may withdraw)."""
    from .withdraw import withdraw_blocker
    if task.status != "completed" or task.completed_by_id != current_user.id:
        return None
    return withdraw_blocker(task, current_user) or ""


@bp.app_template_global()
def case_cancel_state(case):
    """None for anyone but the initiator of a running case; else the refusal reason or '' (may cancel)."""
    from .withdraw import cancel_blocker
    from ..engine.registry import version_info
    if case.started_by_id != current_user.id or case.status != "running":
        return None
    if (version_info(case.process_version).properties.get("cancellable") or "").lower() != "true":
        return None        # the process does not allow it: no panel (the API still says why)
    return cancel_blocker(case, current_user) or ""


@bp.route("/tasks/<int:task_id>/withdraw", methods=["POST"])
@login_required
def withdraw(task_id: int):
    from .withdraw import withdraw_task
    task = case_services.visible_task(current_user, task_id)
    if task.completed_by_id != current_user.id:
        abort(403)
    try:
        reopened = withdraw_task(task.id, current_user)
        db.session.commit()
    except Conflict as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("cases.task_page", task_id=task.id))
    flash(f"已撤回【{task.name}】，请重新办理")
    return redirect(url_for("cases.task_page", task_id=reopened.id))


@bp.route("/cases/<int:case_id>/cancel", methods=["POST"])
@login_required
def cancel(case_id: int):
    from ..errors import Forbidden
    from .withdraw import cancel_case
    case = case_services.visible_case(current_user, case_id)
    try:
        cancel_case(case.id, current_user, request.form.get("reason"))
        db.session.commit()
    except (ValidationFailed, Conflict) as err:
        db.session.rollback()
        for message in (err.fields.values() if isinstance(err, ValidationFailed) else [err.message]):
            flash(message, "error")
        return redirect(url_for("cases.case_page", case_id=case.id) + "#case-cancel")
    except Forbidden:
        db.session.rollback()
        raise
    flash("案件已撤销")
    return redirect(url_for("cases.case_page", case_id=case.id))


@api_bp.post("/tasks/<int:task_id>/withdraw")
@authenticated
def api_withdraw(task_id: int):
    from ..errors import Forbidden
    from .withdraw import withdraw_task
    task = case_services.visible_task(g.api_user, task_id)
    if task.completed_by_id != g.api_user.id:
        raise Forbidden("只能撤回本人已办理的环节")
    reopened = withdraw_task(task.id, g.api_user)
    db.session.commit()
    return jsonify({"withdrawn_task_id": task.id, "reopened_task": task_json(reopened)})


@api_bp.post("/cases/<int:case_id>/cancel")
@authenticated
def api_cancel(case_id: int):
    from .withdraw import cancel_case
    case = case_services.visible_case(g.api_user, case_id)
    body = _json_body()
    cancel_case(case.id, g.api_user, body.get("reason"))
    db.session.commit()
    return jsonify({"id": case.id, "case_no": case.case_no, "status": case.status})


@bp.app_template_global()
def case_next_steps(case):
    from .nextsteps import next_steps
    return next_steps(case)


@bp.route("/cases/<int:case_id>/dossier.pdf")
@login_required
def dossier(case_id: int):
    from flask import Response

    from ..security.audit import audit
    from .dossier import build_dossier
    case = case_services.visible_case(current_user, case_id, own_scope=True)
    pdf = build_dossier(case)
    audit("data.export", f"导出案卷 {case.case_no}（PDF）", object_type="case", object_id=case.id,
          detail={"format": "pdf", "bytes": len(pdf)})
    db.session.commit()
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=dossier-{case.case_no}.pdf"})
