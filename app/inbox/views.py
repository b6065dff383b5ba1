"""Inbox form actions: save / delete a saved filter, bulk actions with their result table."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..errors import DomainError, ValidationFailed
from ..extensions import db
from . import services

bp = Blueprint("inbox", __name__)


def _inbox_url(args: dict) -> str:
    return url_for("cases.inbox") + ("?" + urlencode(args) if args else "")


@bp.route("/inbox/filters", methods=["POST"])
@login_required
def save_filter():
    args = services.clean_args(request.form)
    try:
        row = services.create_filter(current_user, request.form.get("name"), request.form,
                                     request.form.get("shared_with"))
        db.session.commit()
        flash(f"已保存常用筛选“{row.name}”（{row.share_label}）")
    except ValidationFailed as err:
        db.session.rollback()
        for message in err.fields.values():
            flash(message, "error")
    return redirect(_inbox_url(args))


@bp.route("/inbox/filters/<int:filter_id>/delete", methods=["POST"])
@login_required
def delete_filter(filter_id: int):
    services.delete_filter(current_user, filter_id)
    db.session.commit()
    flash("已删除常用筛选")
    return redirect(url_for("cases.inbox"))


@bp.route("/inbox/bulk", methods=["POST"])
@login_required
def bulk():
    action = request.form.get("action")
    task_ids = request.form.getlist("task_ids")
    try:   # the per-row inputs opinion_<task id> override the shared opinion
        rows = services.bulk(current_user, action, task_ids,
                             decision=request.form.get("decision"), opinion=request.form.get("opinion"),
                             target=request.form.get("target"),
                             opinions={i: request.form.get(f"opinion_{i}") for i in task_ids})
    except ValidationFailed as err:
        db.session.rollback()
        for message in err.fields.values():
            flash(message, "error")
        return redirect(url_for("cases.inbox"))
    except DomainError:
        db.session.rollback()
        raise
    done = sum(1 for r in rows if r["status"] == "done")
    return render_template("inbox/bulk_result.html", rows=rows, done=done, refused=len(rows) - done,
                           action_label=services.BULK_ACTIONS[action])
