"""Complaint API. Public (no login, for a WeChat page or the 12345 hotline system): captcha, SMS code,
submission, progress lookup. Signed in: the regulators' complaint list and the scoped look-up lists the
complaint forms name in `x-lookup` (counties, hazard criteria). The process itself starts and its tasks
complete through the generic /api/v1/cases and /api/v1/tasks."""
from __future__ import annotations

import base64

from flask import Blueprint, current_app, g, jsonify, request

from ..api import authenticated
from ..cases.services import paginate
from ..core.clock import to_local
from ..core.params import text_arg
from ..core.pii import PiiError
from ..core.regions import region_name
from ..core.storage import save_upload
from ..errors import DomainError, Forbidden, ValidationFailed
from ..extensions import db
from . import services
from .views import ComplaintFilter, complaint_query

bp = Blueprint("complaints_api", __name__, url_prefix="/api/v1")


def _public_limit():
    from ..security.ratelimit import limit
    limit("public", current_app.config["RATELIMIT_PUBLIC_PER_MINUTE"])


def _body() -> dict:
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise DomainError("请求体必须是 JSON 对象", code="bad_json")
        return body
    return request.form.to_dict()


# ---------------------------------------------------------------- public

@bp.get("/public/complaints/captcha")
def public_captcha():
    _public_limit()
    token, png = services.new_captcha()
    db.session.commit()
    return jsonify({"captcha_token": token, "image": "data:image/png;base64," + base64.b64encode(png).decode(),
                    "expires_in_minutes": 10})


@bp.get("/public/complaints/captcha-status")
def public_captcha_status():
    """Whether this client (and this phone, when given) must solve a captcha before the next try."""
    _public_limit()
    phone = request.args.get("phone")
    bidx = None
    if phone:
        try:
            bidx = services.phone_index(phone)
        except PiiError:     # an invalid phone has no history
            bidx = None
    return jsonify({"captcha_required": services.captcha_required(services.ip_key(request.remote_addr), bidx)})


@bp.post("/public/complaints/sms-code")
def public_sms_code():
    _public_limit()
    body = _body()
    result = services.send_code(body.get("phone"), request.remote_addr, body.get("captcha_token"),
                                body.get("captcha"))
    return jsonify(result), 202


@bp.post("/public/complaints")
def public_submit():
    _public_limit()
    body = _body()
    raw = {k: str(body[k]).strip() for k in ("device_code", "county_code", "address", "description",
                                             "complainant_name", "complainant_phone", "sms_code")
           if body.get(k) not in (None, "")}
    uploads = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(uploads) > 6:
        raise ValidationFailed({"photos": "最多上传 6 张照片"})
    account = services.public_account()
    photos = []
    for upload in uploads:
        att = save_upload(upload, account, field="photos")
        if att.mime not in ("image/jpeg", "image/png"):
            raise ValidationFailed({"photos": f"文件 {att.filename} 不是照片，只能上传 JPG、PNG 图片"})
        photos.append(att.id)
    raw["photos"] = photos
    complaint = services.submit_public(raw, request.remote_addr, body.get("captcha_token"), body.get("captcha"))
    result = services.progress(complaint)
    db.session.commit()
    return jsonify(result), 201


@bp.post("/public/complaints/lookup")
def public_lookup():
    _public_limit()
    body = _body()
    complaint = services.lookup(body.get("complaint_no"), body.get("phone"), request.remote_addr,
                                body.get("captcha_token"), body.get("captcha"))
    return jsonify(services.progress(complaint))


# ---------------------------------------------------------------- signed in

def _iso(value):
    local = to_local(value)
    return local.isoformat() if local else None


def complaint_json(c) -> dict:
    return {"id": c.id, "complaint_no": c.complaint_no, "case_id": c.case_id, "channel": c.channel,
            "status": c.status, "status_label": c.status_label,
            "device_code": c.device_code or (c.equipment.code if c.equipment else None),
            "equipment_id": c.equipment_id, "address": c.address, "region_code": c.region_code,
            "region_name": region_name(c.region_code), "description": c.description,
            "phone_masked": c.phone_masked, "created_at": _iso(c.created_at), "accepted_at": _iso(c.accepted_at),
            "reject_reason": c.reject_reason, "checked_on": c.checked_on.isoformat() if c.checked_on else None,
            "check_conclusion": c.check_conclusion, "reply": c.reply, "hazard_case_id": c.hazard_case_id,
            "closed_at": _iso(c.closed_at)}


@bp.get("/complaints")
@authenticated
def list_complaints():
    if not g.api_user.is_regulator:
        raise Forbidden("只有监管人员可以查看投诉举报")
    f = ComplaintFilter.from_args(request.args)
    items, total = paginate(complaint_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [complaint_json(c) for c in items], "total": total, "page": f.page,
                    "per_page": f.per_page})


@bp.get("/complaints/regions")
def region_lookup():
    """Guangxi's counties (the complaint form's county_code), filtered by `q` (code or name); public
    reference data, open without login like the public page that lists them."""
    q = text_arg(request.args, "q", 20) or ""
    return jsonify({"items": [{"value": code, "label": name} for code, name in services.county_options()
                              if not q or q in code or q in name]})


@bp.get("/complaints/criteria")
@authenticated
def criteria_lookup():
    """The active GB 45067-2024 criteria (the on-site check form's criterion_id), filtered by `q`."""
    from ..hazards.services import criteria_options
    q = text_arg(request.args, "q", 50) or ""
    return jsonify({"items": [{"value": value, "label": label} for value, label in criteria_options()
                              if not q or q in value or q in label]})
