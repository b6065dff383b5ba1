"""Pages: the regulator issues and revokes API credentials of the maintenance units of their region
(the secret is shown once, on the page that answers the issue); a maintenance unit sees its own."""
from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..cases.services import paginate
from ..core.params import int_arg, text_arg
from ..errors import DomainError, Forbidden
from ..extensions import db
from . import services

bp = Blueprint("maintenance_platform", __name__, url_prefix="/maintenance-platform")


def _page(errors=None, values=None, issued=None, secret=None, status=200):
    if not (current_user.is_regulator or (current_user.role in services.UNIT_ROLES and current_user.org_id)):
        raise Forbidden("只有监管部门与维保单位可以查看维保平台接入凭证")
    q = text_arg(request.args, "q", 50)
    state = request.args.get("status") if request.args.get("status") in ("active", "revoked") else None
    page = int_arg(request.args, "page", 1, 1, 100000)
    items, total = paginate(services.credentials_query(current_user, q, state), page, 20)
    response = make_response(render_template(
        "maintenance_platform/credentials.html", items=items, total=total, page=page, pages=max(1, -(-total // 20)),
        q=q or "", status=state, units=services.units_for(current_user), can_manage=services.may_manage(current_user),
        errors=errors or {}, values=values or {}, issued=issued, secret=secret), status)
    response.headers["Cache-Control"] = "no-store"      # the page that shows a secret is never cached
    return response


@bp.route("/credentials")
@login_required
def credentials():
    return _page()


@bp.route("/credentials", methods=["POST"])
@login_required
def issue():
    values = request.form.to_dict()
    try:
        cred, secret = services.issue(current_user, values.get("org_id"), values.get("platform_name", ""))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        if isinstance(err, Forbidden):
            raise
        return _page(errors=err.fields or {"_form": err.message}, values=values, status=422)
    return _page(issued=cred, secret=secret)


@bp.route("/credentials/<int:credential_id>/revoke", methods=["POST"])
@login_required
def revoke(credential_id: int):
    cred = services.visible_credential(current_user, credential_id)
    try:
        services.revoke(current_user, cred, request.form.get("reason", ""))
        db.session.commit()
        flash(f"接入凭证 {cred.key_id} 已吊销，使用它的请求将被拒绝", "success")
    except DomainError as err:
        db.session.rollback()
        if isinstance(err, Forbidden):
            raise
        flash(next(iter(err.fields.values()), err.message) if err.fields else err.message, "error")
    return redirect(url_for("maintenance_platform.credentials"))
