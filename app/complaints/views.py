"""Complaint pages: the public page (/public/complaints: submit with an SMS-verified phone, captcha,
progress lookup — no login) and the regulators' 投诉举报 list (/complaints: search, filters, Excel)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import (Blueprint, Response, abort, current_app, redirect, render_template, request, session,
                   url_for)
from flask_login import current_user, login_required
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from ..cases.services import paginate
from ..cases.widgets import option_provider
from ..core.clock import on_local_days, to_local
from ..core.excel import stream_xlsx
from ..core.models import Attachment, Equipment
from ..core.params import contains, date_arg, int_arg, region_arg, text_arg
from ..core.pii import PiiError
from ..core.regions import office_name, region_name, region_prefix
from ..core.scope import in_region
from ..core.storage import save_upload
from ..errors import DomainError, ValidationFailed
from ..extensions import db
from ..security.ratelimit import RateLimited
from . import services
from .services import complaint_scope
from .models import Complaint

public_bp = Blueprint("complaints_public", __name__, url_prefix="/public/complaints")
bp = Blueprint("complaints", __name__, url_prefix="/complaints")

STASH = "complaint_photos"       # the session's uploads kept across a failed submission (ids)
MAX_PHOTOS = 6
FIELDS = ("device_code", "county_code", "address", "description", "complainant_name", "complainant_phone")


@public_bp.before_request
def _public_rate_limit():
    from ..security.ratelimit import limit
    limit("public", current_app.config["RATELIMIT_PUBLIC_PER_MINUTE"])


@public_bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@public_bp.context_processor
@bp.context_processor
def _names():
    from ..core.regions import region_full_name
    return {"office_name": office_name, "region_full_name": region_full_name}


@option_provider("complaint_county")
def _county_widget(_user) -> list[tuple[str, str]]:
    return services.county_options()


# ---------------------------------------------------------------- public: submit

def _stashed() -> list[Attachment]:
    ids = [int(i) for i in session.get(STASH, []) if str(i).isdigit()][:MAX_PHOTOS]
    if not ids:
        return []
    account = services.public_account()
    return list(db.session.scalars(select(Attachment).where(Attachment.id.in_(ids), Attachment.case_id.is_(None),
                                                            Attachment.uploaded_by_id == account.id)
                                   .order_by(Attachment.id)))


def _save_photos(kept: list[Attachment]) -> tuple[list[Attachment], str | None]:
    """Decode and store the photos of this request (JPEG/PNG by content) after those kept from an
    earlier try; the ids stay in this browser's session so a failed submission loses nothing."""
    uploads = [f for f in request.files.getlist("photos") if f and f.filename]
    if not uploads:
        return kept, None
    if len(kept) + len(uploads) > MAX_PHOTOS:
        return kept, f"最多上传 {MAX_PHOTOS} 张照片"
    account = services.public_account()
    saved = list(kept)
    try:
        for upload in uploads:
            att = save_upload(upload, account, field="photos")
            if att.mime not in ("image/jpeg", "image/png"):
                raise ValidationFailed({"photos": f"文件 {att.filename} 不是照片，只能上传 JPG、PNG 图片"})
            saved.append(att)
    except ValidationFailed as err:
        db.session.rollback()
        return _stashed(), err.fields.get("photos") or err.message
    db.session.commit()
    session[STASH] = [a.id for a in saved]
    return saved, None


def _form_values() -> dict:
    return {k: (request.form.get(k) or "").strip() for k in FIELDS}


def _render_new(values: dict, errors: dict, photos: list[Attachment], *, sent: dict | None = None,
                status: int = 200, device: Equipment | None = None):
    ip = services.ip_key(request.remote_addr)
    phone_bidx = None
    if values.get("complainant_phone"):
        try:
            phone_bidx = services.phone_index(values["complainant_phone"])
        except PiiError:     # an invalid phone simply has no history
            phone_bidx = None
    need_captcha = services.captcha_required(ip, phone_bidx)
    captcha = None
    if need_captcha:
        captcha, _ = services.new_captcha()
        db.session.commit()
    if device is None and values.get("device_code"):
        device = services.find_device(values["device_code"])
    return render_template("complaints/public_new.html", values=values, errors=errors, photos=photos,
                           counties=services.county_options(), captcha=captcha, sent=sent, device=device,
                           max_photos=MAX_PHOTOS), status


@public_bp.route("/new", methods=["GET", "POST"])
def new():
    if request.method == "GET":
        device = services.find_device(request.args.get("device"))
        values = {k: "" for k in FIELDS}
        if device is not None:
            values["device_code"] = device.code
        elif request.args.get("device"):
            values["device_code"] = (request.args.get("device") or "")[:32]
        return _render_new(values, {}, _stashed(), device=device)
    values = _form_values()
    photos, photo_error = _save_photos(_stashed())
    errors = {"photos": photo_error} if photo_error else {}
    captcha_token, captcha_answer = request.form.get("captcha_token"), request.form.get("captcha")
    if request.form.get("action") == "send_code":
        try:
            sent = services.send_code(values["complainant_phone"], request.remote_addr, captcha_token,
                                      captcha_answer, field="complainant_phone")
        except DomainError as err:      # field errors, limits (429), SMS unavailable (503)
            db.session.rollback()
            errors.update(err.fields or {"complainant_phone": err.message})
            return _render_new(values, errors, photos, status=err.status)
        return _render_new(values, errors, photos, sent=sent)
    raw = {k: v for k, v in values.items() if v}
    raw["photos"] = [a.id for a in photos]
    raw["sms_code"] = (request.form.get("sms_code") or "").strip()
    try:
        complaint = services.submit_public(raw, request.remote_addr, captcha_token, captcha_answer,
                                           extra_errors=errors)
    except (ValidationFailed, RateLimited) as err:
        db.session.rollback()
        errors.update(err.fields or {"sms_code": err.message})
        return _render_new(values, errors, photos, status=422 if isinstance(err, ValidationFailed) else 429)
    number = complaint.complaint_no
    db.session.commit()
    session.pop(STASH, None)
    session["complaint_done"] = number
    return redirect(url_for("complaints_public.done"))


@public_bp.route("/done")
def done():
    number = session.get("complaint_done")
    complaint = db.session.scalar(select(Complaint).where(Complaint.complaint_no == number)) if number else None
    return render_template("complaints/public_done.html", complaint=complaint,
                           office=office_name(complaint.region_code) if complaint else "")


@public_bp.route("/captcha/<token>.png")
def captcha_image(token: str):
    """The image of a captcha issued to a page (a fresh one with every page; good for one try)."""
    from ..complaints.models import ComplaintCaptcha
    row = db.session.scalar(select(ComplaintCaptcha).where(ComplaintCaptcha.token == token[:32]))
    if row is None or row.used_at is not None:
        abort(404)
    return Response(row.image, mimetype="image/png")


# ---------------------------------------------------------------- public: lookup

@public_bp.route("/lookup", methods=["GET", "POST"])
def lookup():
    values = {"complaint_no": "", "phone": ""}
    errors, found = {}, None
    if request.method == "POST":
        values = {"complaint_no": (request.form.get("complaint_no") or "").strip()[:32],
                  "phone": (request.form.get("phone") or "").strip()[:20]}
        try:
            complaint = services.lookup(values["complaint_no"], values["phone"], request.remote_addr,
                                        request.form.get("captcha_token"), request.form.get("captcha"))
            found = services.progress(complaint)
        except (ValidationFailed, RateLimited) as err:
            db.session.rollback()
            errors = err.fields or {"complaint_no": err.message}
    captcha = None
    if found is None and services.captcha_required(services.ip_key(request.remote_addr)):
        captcha, _ = services.new_captcha()
        db.session.commit()
    return render_template("complaints/public_lookup.html", values=values, errors=errors, found=found,
                           captcha=captcha), (422 if errors else 200)


# ---------------------------------------------------------------- regulators: 投诉举报

@dataclass
class ComplaintFilter:
    q: str | None = None
    status: str | None = None
    region: str | None = None
    conclusion: str | None = None
    channel: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "ComplaintFilter":
        status = args.get("status") if args.get("status") in Complaint.STATUS_LABELS else None
        conclusion = args.get("conclusion") if args.get("conclusion") in Complaint.CONCLUSION_LABELS else None
        channel = args.get("channel") if args.get("channel") in Complaint.CHANNEL_LABELS else None
        return cls(q=text_arg(args, "q"), status=status, region=region_arg(args), conclusion=conclusion,
                   channel=channel, date_from=date_arg(args, "date_from"), date_to=date_arg(args, "date_to"),
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))

    @property
    def active(self) -> int:
        return len([v for v in (self.q, self.status, self.region, self.conclusion, self.channel, self.date_from,
                                self.date_to) if v])


def complaint_query(user, f: ComplaintFilter):
    query = (select(Complaint).where(complaint_scope(user))
             .options(joinedload(Complaint.equipment), joinedload(Complaint.hazard_case)))
    if f.q:
        query = query.where(or_(contains(Complaint.complaint_no, f.q), contains(Complaint.description, f.q),
                                contains(Complaint.address, f.q), contains(Complaint.device_code, f.q)))
    if f.status:
        query = query.where(Complaint.status == f.status)
    if f.conclusion:
        query = query.where(Complaint.check_conclusion == f.conclusion)
    if f.channel:
        query = query.where(Complaint.channel == f.channel)
    if f.region:
        query = query.where(in_region(Complaint.region_code, region_prefix(f.region)))
    query = query.where(*on_local_days(Complaint.created_at, f.date_from, f.date_to))
    return query.order_by(Complaint.created_at.desc(), Complaint.id.desc())


@bp.route("")
@login_required
def index():
    if not current_user.is_regulator:
        abort(403)
    f = ComplaintFilter.from_args(request.args)
    items, total = paginate(complaint_query(current_user, f), f.page, f.per_page)
    from sqlalchemy import func
    by_status = dict(db.session.execute(select(Complaint.status, func.count()).where(complaint_scope(current_user))
                                        .group_by(Complaint.status)).all())
    return render_template("complaints/list.html", f=f, items=items, total=total, by_status=by_status,
                           pages=max(1, -(-total // f.per_page)), statuses=Complaint.STATUS_LABELS,
                           conclusions=Complaint.CONCLUSION_LABELS, channels=Complaint.CHANNEL_LABELS)


@bp.route("/<int:complaint_id>/phone", methods=["POST"])
@login_required
def reveal_phone(complaint_id: int):
    """The complainant's full number for the officer who must call back: regulators in scope only,
    one audited reading per request (lists and the case page show it masked)."""
    from ..security.audit import audit
    complaint = db.session.scalar(select(Complaint).where(Complaint.id == complaint_id, complaint_scope(current_user)))
    if complaint is None:
        abort(404)
    audit("complaint.phone_view", f"查看投诉举报 {complaint.complaint_no} 的联系电话", object_type="complaint",
          object_id=complaint.id)
    db.session.commit()
    return render_template("complaints/phone.html", complaint=complaint, phone=services.sms.readable_phone(complaint))


EXPORT_HEADERS = ["投诉举报编号", "提交时间", "来源", "状态", "设备代码", "地址", "属地", "反映的问题", "受理时间",
                  "不予受理理由", "核查日期", "核查结论", "核查情况", "答复内容", "关联隐患案件", "办结时间", "联系电话"]


def _fmt(value) -> str:
    local = to_local(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


@bp.route("/export.xlsx")
@login_required
def export():
    if not current_user.is_regulator:
        abort(403)
    f = ComplaintFilter.from_args(request.args)

    def rows():
        for c in db.session.scalars(complaint_query(current_user, f).execution_options(yield_per=500)):
            yield [c.complaint_no, _fmt(c.created_at), c.channel_label, c.status_label,
                   c.device_code or (c.equipment.code if c.equipment else ""), c.address or "",
                   region_name(c.region_code), c.description, _fmt(c.accepted_at), c.reject_reason or "",
                   c.checked_on.isoformat() if c.checked_on else "", c.conclusion_label, c.finding or "",
                   c.reply or "", c.hazard_case.case_no if c.hazard_case else "", _fmt(c.closed_at),
                   c.phone_masked or ""]
    return stream_xlsx("投诉举报", EXPORT_HEADERS, rows(), filename="投诉举报.xlsx", criteria=request.args.to_dict())
