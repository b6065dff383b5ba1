"""Operator pages: the personal page (/me), the employer page (/me/employer), the unit's staff
page (/operators/staff) and the public lookup (/public/operators, no login).

The three employment processes themselves run through the generic start page, inbox, case page,
task page and JSON API; these pages only link into them."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..cases.forms_web import field_views, read_submission
from ..core.params import int_arg, text_arg
from ..core.storage import attachment_response
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from . import services
from .masking import mask_cert_no, mask_name, public_id_mask
from .models import OperatorCertificate

bp = Blueprint("operators", __name__)
public_bp = Blueprint("operators_public", __name__, url_prefix="/public/operators")


@public_bp.before_request
def _public_rate_limit():
    """Public pages need no login: each client address gets a bounded number of requests per minute."""
    from ..security.ratelimit import limit
    limit("public", current_app.config["RATELIMIT_PUBLIC_PER_MINUTE"])


def _current_operator():
    if current_user.role != "operator":
        abort(403)
    return services.require_operator(current_user)


# ---------------------------------------------------------------- personal page

@bp.route("/me")
@login_required
def me():
    return _render_me(_current_operator())


def _render_me(operator, *, profile_errors=None, profile_values=None, cert_errors=None, cert_values=None):
    unit_q = text_arg(request.args, "unit_q", 50)
    profile_values = profile_values if profile_values is not None else {
        "education": operator.education, "address": operator.address}
    status = 422 if (profile_errors or cert_errors) else 200
    return render_template(
        "operators/me.html", operator=operator, certificates=operator.certificates,
        employments=services.active_employments(operator), requests=services.requests_for_operator(operator),
        unit_q=unit_q, units=services.search_employers(unit_q) if unit_q else [],
        profile_fields=field_views(services.PROFILE_SCHEMA, profile_values, profile_errors or {}, current_user),
        profile_errors=profile_errors or {},
        cert_fields=field_views(services.CERT_SCHEMA, cert_values or {}, cert_errors or {}, current_user),
        cert_errors=cert_errors or {}, work_item_label=services.work_item_label), status


@bp.route("/me/profile", methods=["POST"])
@login_required
def update_profile():
    operator = _current_operator()
    try:
        services.update_profile(operator, read_submission(services.PROFILE_SCHEMA, request.form, request.files,
                                                          current_user))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _render_me(operator, profile_errors=err.fields, profile_values=request.form.to_dict())
    flash("联系方式已保存")
    return redirect(url_for("operators.me") + "#profile")


@bp.route("/me/certificates", methods=["POST"])
@login_required
def add_certificate():
    operator = _current_operator()
    try:
        values = read_submission(services.CERT_SCHEMA, request.form, request.files, current_user)
        cert = services.save_certificate(operator, current_user, values)
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        return _render_me(operator, cert_errors=err.fields, cert_values=_without_files(request.form))
    flash(f"证书 {cert.cert_no} 已登记")
    return redirect(url_for("operators.me") + "#certificates")


@bp.route("/me/certificates/<int:cert_id>", methods=["GET", "POST"])
@login_required
def edit_certificate(cert_id: int):
    operator = _current_operator()
    cert = services.own_certificate(operator, cert_id)
    errors: dict = {}
    values = {"cert_no": cert.cert_no, "work_item": cert.work_item, "issue_date": cert.issue_date.isoformat(),
              "issuing_authority": cert.issuing_authority}
    if request.method == "POST":
        try:
            submitted = read_submission(services.CERT_SCHEMA, request.form, request.files, current_user)
            services.save_certificate(operator, current_user, submitted, cert)
            db.session.commit()
            flash(f"证书 {cert.cert_no} 已修改")
            return redirect(url_for("operators.me") + "#certificates")
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
            values = _without_files(request.form)
            cert = services.own_certificate(operator, cert_id)
    return render_template("operators/certificate.html", cert=cert, errors=errors,
                           fields=field_views(services.CERT_SCHEMA, values, errors, current_user),
                           work_item_label=services.work_item_label), (422 if errors else 200)


@bp.route("/me/certificates/<int:cert_id>/delete", methods=["POST"])
@login_required
def delete_certificate(cert_id: int):
    operator = _current_operator()
    cert = services.own_certificate(operator, cert_id)
    cert_no = cert.cert_no
    services.delete_certificate(cert)
    db.session.commit()
    flash(f"证书 {cert_no} 已删除")
    return redirect(url_for("operators.me") + "#certificates")


def _without_files(form) -> dict:
    """Re-render after an error: files have to be chosen again (as on the start and task pages)."""
    return {k: v for k, v in form.to_dict().items() if k != "photo"}


@bp.route("/me/employer")
@login_required
def employer():
    operator = _current_operator()
    groups: dict[int, dict] = {}
    for e in services.active_employments(operator):
        group = groups.setdefault(e.org_id, {"org": e.org, "employments": [], "since": e.started_on,
                                             "colleagues": services.colleagues_count(e.org_id, operator.id)})
        group["employments"].append(e)
        group["since"] = min(group["since"], e.started_on)
    return render_template("operators/employer.html", operator=operator, groups=list(groups.values()),
                           work_item_label=services.work_item_label)


@bp.route("/operators/certificates/<int:cert_id>/photo")
@login_required
def certificate_photo(cert_id: int):
    """The holder, and organisations that employ(ed) the holder or share an employment case with them."""
    cert = db.session.get(OperatorCertificate, cert_id)
    allowed = False
    if cert is not None and cert.photo is not None:
        if current_user.role == "operator":
            operator = services.operator_for_user(current_user)
            allowed = operator is not None and operator.id == cert.operator_id
        elif current_user.is_enterprise and current_user.org_id:
            allowed = services.related_to_org(cert.operator_id, current_user.org_id)
    if not allowed:
        raise NotFound("证书照片不存在或无权查看")
    return attachment_response(cert.photo)


# ---------------------------------------------------------------- unit side

@bp.route("/operators/staff")
@login_required
def staff():
    if current_user.role not in services.EMPLOYER_KINDS or not current_user.org_id:
        abort(403)
    org_id = current_user.org_id
    q = text_arg(request.args, "q", 40)
    found, search_error = services.lookup_operator(q) if q else (None, None)
    return render_template("operators/staff.html", org=current_user.org, current=services.staff(org_id, "active"),
                           former=services.staff(org_id, "ended"), pending=services.pending_for_org(org_id),
                           q=q, found=found, search_error=search_error,
                           found_employments=services.current_employers([found.id])[found.id] if found else [],
                           work_item_label=services.work_item_label)


# ---------------------------------------------------------------- public lookup (§4.5.7.8, no login)

def public_view(operator, employments) -> dict:
    """Everything a public page may show about an operator: masked copies only. Templates get this
    dict, never the model, so they cannot reach the ID number, the phone or a full certificate number."""
    return {
        "public_id": operator.public_id,
        "name": mask_name(operator.name),
        "gender": operator.gender_label,
        "id_number": public_id_mask(operator.id_number_masked),
        "certificates": [{"item": services.work_item_label(c.work_item), "cert_no": mask_cert_no(c.cert_no),
                          "issue_date": c.issue_date, "expiry_date": c.expiry_date, "status": c.status,
                          "status_label": c.status_label, "authority": c.issuing_authority}
                         for c in operator.certificates],
        "employers": [{"name": e.org.name, "item": services.work_item_label(e.work_item), "since": e.started_on}
                      for e in employments],
    }


@public_bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@public_bp.route("")
def public_search():
    cert_no = text_arg(request.args, "cert_no", 40)
    employer_name = text_arg(request.args, "employer", 50)
    page = int_arg(request.args, "page", 1, 1, 10000)
    per_page = 20
    error = None
    if employer_name and len(employer_name) < 2:
        error, employer_name = "任职单位名称至少输入 2 个字", None
    searched = bool(cert_no or employer_name)
    rows, total = [], 0
    if searched:
        items, total = services.public_search(cert_no, employer_name, page, per_page)
        employers = services.current_employers([o.id for o in items])
        rows = [public_view(o, employers[o.id]) for o in items]
    return render_template("operators/public_search.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // per_page)), searched=searched, by_cert=bool(cert_no),
                           employer=employer_name or "", error=error)


@public_bp.route("/<public_id>")
def public_detail(public_id: str):
    operator = services.public_operator(public_id)
    if operator is None:   # a public 404 in the public layout (the shared error page shows the signed-in menu)
        return render_template("operators/public_detail.html", op=None), 404
    view = public_view(operator, services.current_employers([operator.id])[operator.id])
    return render_template("operators/public_detail.html", op=view)
