"""Pause / resume the case clock: page actions (/cases/<id>/clock/…) and API (/api/v1/cases/<id>/clock/…)."""
from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from ..core.clock import to_local
from ..errors import DomainError
from ..extensions import db
from . import clock, services

bp = Blueprint("clock", __name__)
api_bp = Blueprint("clock_api", __name__, url_prefix="/api/v1")


@bp.post("/cases/<int:case_id>/clock/pause")
@login_required
def pause(case_id: int):
    case = services.visible_case(current_user, case_id)     # 404 outside the user's scope
    try:
        clock.pause_case(case.id, current_user, request.form.get("reason"), request.form.get("note"))
    except DomainError as err:
        db.session.rollback()
        if err.status in (403, 404):
            raise
        flash("暂停计时失败：" + ("；".join(err.fields.values()) if err.fields else err.message), "error")
        return redirect(url_for("cases.case_page", case_id=case_id))
    db.session.commit()
    flash("案件已暂停计时，期限与预警在恢复计时前冻结")
    return redirect(url_for("cases.case_page", case_id=case_id))


@bp.post("/cases/<int:case_id>/clock/resume")
@login_required
def resume(case_id: int):
    case = services.visible_case(current_user, case_id)
    try:
        clock.resume_case(case.id, current_user, request.form.get("note"))
    except DomainError as err:
        db.session.rollback()
        if err.status in (403, 404):
            raise
        flash("恢复计时失败：" + err.message, "error")
        return redirect(url_for("cases.case_page", case_id=case_id))
    db.session.commit()
    flash("案件已恢复计时，办理期限已按暂停时间顺延")
    return redirect(url_for("cases.case_page", case_id=case_id))


def clock_json(case) -> dict:
    local = to_local(case.paused_at)
    due = to_local(case.due_at)
    return {"case_id": case.id, "paused": case.paused_at is not None,
            "paused_at": local.isoformat() if local else None, "pause_reason": case.pause_reason,
            "paused_days": clock.paused_days(case), "paused_seconds_total": case.paused_seconds or 0,
            "due_at": due.isoformat() if due else None, "warning_level": case.warning_level}


def _api_user():
    from ..api import api_user
    g.api_user = api_user()
    return g.api_user


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None and not request.data:
        return {}
    if not isinstance(body, dict):
        raise DomainError("请求体必须是 JSON 对象", code="bad_json")
    return body


@api_bp.get("/cases/<int:case_id>/clock")
def api_get(case_id: int):
    user = _api_user()
    return jsonify(clock_json(services.visible_case(user, case_id)))


@api_bp.post("/cases/<int:case_id>/clock/pause")
def api_pause(case_id: int):
    user = _api_user()
    body = _body()
    services.visible_case(user, case_id)
    case = clock.pause_case(case_id, user, body.get("reason"), body.get("note"))
    db.session.commit()
    return jsonify(clock_json(case))


@api_bp.post("/cases/<int:case_id>/clock/resume")
def api_resume(case_id: int):
    user = _api_user()
    body = _body()
    services.visible_case(user, case_id)
    case = clock.resume_case(case_id, user, body.get("note"))
    db.session.commit()
    return jsonify(clock_json(case))


@bp.app_template_global()
def case_clock(case) -> dict:
    """What the case page shows about the clock, and whether this user may pause/resume it."""
    return {"paused": case.paused_at is not None, "paused_at": case.paused_at, "reason": case.pause_reason,
            "days": clock.paused_days(case), "total_days": round((case.paused_seconds or 0) / 86400, 1),
            "effective_due": clock.effective_due(case),
            "may_control": current_user.is_authenticated and clock.may_control(current_user, case),
            "reasons": clock.PAUSE_REASONS}
