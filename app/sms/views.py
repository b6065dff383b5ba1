"""短信预警中心 pages: records (two tabs, filters, export), templates (sys_admin), manual reminder."""
from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from ..cases.services import paginate, visible_case
from ..core.excel import stream_xlsx
from ..core.params import int_arg
from ..core.pii import PiiError, mask_phone, normalize_phone, phone_index
from ..engine import runtime
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import manual, services
from . import templates as tpl
from .models import SmsMessage, SmsTemplate
from .records import (
    EXPORT_HEADERS,
    FILTER_KEYS,
    RecordFilter,
    export_rows,
    message_scope,
    records_query,
    tab_counts,
    tabs_for,
)

bp = Blueprint("sms", __name__, url_prefix="/sms")

PHONE_ERROR = "手机号码格式不正确：请输入11位手机号码（可带 +86）"


def _require_records_access() -> None:
    if message_scope(current_user) is None:
        raise Forbidden("无权查看短信预警记录")


def _require_sys_admin() -> None:
    if current_user.role != "sys_admin":
        raise Forbidden("仅系统管理员可以管理短信模板")


def _template_options() -> list[SmsTemplate]:
    return tpl.ordered_templates()


# ---------------------------------------------------------------- records

@bp.route("/records", methods=["GET", "POST"])
@login_required
def records():
    """The filter form posts (a phone number must not land in URLs and access logs); the page
    redirects to a GET carrying the phone's blind index instead."""
    _require_records_access()
    source = request.form if request.method == "POST" else request.args
    raw_phone = (source.get("phone") or "").strip()
    phone_error = None
    if request.method == "POST" or raw_phone:
        args = {k: source.get(k) for k in FILTER_KEYS if source.get(k)}
        if raw_phone:
            try:
                phone = normalize_phone(raw_phone)
            except PiiError:
                phone_error = PHONE_ERROR
            else:
                args.update(pidx=phone_index(phone), pmask=mask_phone(phone))
        else:
            args.update({k: source.get(k) for k in ("pidx", "pmask") if source.get(k)})
        if phone_error is None:
            return redirect(url_for("sms.records", **args))
        f = RecordFilter.from_args(args)
    else:
        f = RecordFilter.from_args(request.args)
    tabs = tabs_for(current_user)
    if f.tab not in dict(tabs):
        f.tab = tabs[0][0]
    if phone_error:
        items, total, counts = [], 0, {}
    else:
        items, total = paginate(records_query(current_user, f), f.page, f.per_page)
        counts = tab_counts(current_user, f)
    return render_template("sms/records.html", f=f, items=items, total=total, counts=counts, tabs=tabs,
                           pages=max(1, -(-total // f.per_page)), phone_error=phone_error,
                           raw_phone=raw_phone if phone_error else "", template_options=_template_options(),
                           statuses=SmsMessage.STATUSES), (422 if phone_error else 200)


@bp.route("/records/export.xlsx")
@login_required
def export():
    _require_records_access()
    args = request.args.to_dict()
    raw_phone = (args.pop("phone", "") or "").strip()
    if raw_phone:
        try:
            phone = normalize_phone(raw_phone)
        except PiiError as err:
            raise ValidationFailed({"phone": PHONE_ERROR}, PHONE_ERROR) from err
        args.update(pidx=phone_index(phone), pmask=mask_phone(phone))
    f = RecordFilter.from_args(args)
    tabs = dict(tabs_for(current_user))
    if f.tab not in tabs:
        f.tab = next(iter(tabs))
    return stream_xlsx(tabs[f.tab], EXPORT_HEADERS, export_rows(current_user, f), filename=f"{tabs[f.tab]}.xlsx",
                       criteria=request.args.to_dict())


# ---------------------------------------------------------------- templates

@bp.route("/templates")
@login_required
def templates():
    _require_sys_admin()
    rows = _template_options()
    if not rows:   # a database the seed never ran on
        tpl.ensure_templates()
        db.session.commit()
        rows = _template_options()
    return render_template("sms/templates.html", rows=rows)


@bp.route("/templates/<code>", methods=["GET", "POST"])
@login_required
def edit_template(code: str):
    _require_sys_admin()
    template = db.session.get(SmsTemplate, code)
    if template is None:
        raise NotFound("短信模板不存在")
    values = {"name": template.name, "text": template.text, "provider_template_code": template.provider_template_code,
              "enabled": template.enabled, "reviewed": template.reviewed}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = tpl.validate_edit(template, request.form)
        if not errors and request.form.get("action") == "save":
            tpl.apply_edit(template, values, current_user)
            db.session.commit()
            flash(f"短信模板【{template.name}】已保存")
            return redirect(url_for("sms.templates"))
    sample = tpl.preview(template, values["text"]) if "text" not in errors else None
    return render_template("sms/template_edit.html", template=template, values=values, errors=errors,
                           sample=sample, max_length=tpl.MAX_TEXT_LENGTH), (422 if errors else 200)


# ---------------------------------------------------------------- manual reminder from a case

@bp.route("/send", methods=["GET", "POST"])
@login_required
def send():
    if not current_user.is_regulator:
        raise Forbidden("只有监管人员可以从案件发送短信提醒")
    case = visible_case(current_user, int_arg(request.values, "case_id", 0, 0, 2 ** 31 - 1), own_scope=True)
    facts = manual.case_facts(case, current_user)
    people = manual.candidates(case)
    options = _manual_options(facts, people)
    chosen_code = request.form.get("template") or (options[0].code if len(options) == 1 else "")
    chosen_keys = request.form.getlist("recipients")
    errors: dict[str, str] = {}
    planned: list[tuple[manual.Candidate, dict, str]] = []
    if request.method == "POST":
        planned, errors = _plan(facts, people, options, chosen_code, chosen_keys)
        if not errors and request.form.get("action") == "send":
            return _send_planned(case, chosen_code, planned)
    confirm = request.method == "POST" and not errors and request.form.get("action") == "preview"
    return render_template("sms/send.html", case=case, people=people, options=options, chosen_code=chosen_code,
                           chosen_keys=set(chosen_keys), errors=errors, planned=planned if confirm else [],
                           confirm=confirm), (422 if errors else 200)


def _manual_options(facts, people) -> list[SmsTemplate]:
    options = []
    for code, build in manual.MANUAL_TEMPLATES.items():
        template = tpl.get_template(code)
        if template.enabled and any(_fits(template, p) and build(facts, p) for p in people):
            options.append(template)
    return options


def _fits(template: SmsTemplate, person: manual.Candidate) -> bool:
    return template.audience in ("all", person.audience)


def _plan(facts, people, options, code, keys):
    """(candidate, variables, content) per chosen recipient, or per-field Chinese errors."""
    errors: dict[str, str] = {}
    template = next((t for t in options if t.code == code), None)
    if template is None:
        errors["template"] = "请选择本案件适用的短信模板"
    by_key = {p.key: p for p in people}
    chosen = [by_key[k] for k in dict.fromkeys(keys) if k in by_key]
    if not chosen:
        errors["recipients"] = "请至少选择一位收件人"
    if errors:
        return [], errors
    planned, problems = [], []
    build = manual.MANUAL_TEMPLATES[template.code]
    for person in chosen:
        if not _fits(template, person):
            problems.append(f"“{person.name}”不是{template.audience_label}收件人，不能发送【{template.name}】")
            continue
        params = build(facts, person)
        if params is None:
            problems.append(f"【{template.name}】不适用于“{person.name}”（没有对应的待办环节或案件状态不符）")
            continue
        content, _ = tpl.render(template, params)
        planned.append((person, params, content))
    if problems:
        errors["recipients"] = "；".join(problems)
    return planned, errors


def _send_planned(case, code: str, planned):
    runtime.lock_case(case.id)
    template = tpl.get_template(code)
    created: list[SmsMessage] = []
    for person, params, _ in planned:
        recipient = person.recipient()
        if recipient is not None:
            created += services.enqueue(code, params, [recipient], region_code=case.region_code, case_id=case.id,
                                        source="manual", created_by_id=current_user.id)
    if not created:
        db.session.rollback()
        flash("没有生成短信：模板已停用或收件人手机号不可用", "error")
        return redirect(url_for("sms.send", case_id=case.id))
    suppressed = [m for m in created if m.status == "suppressed"]
    hours = current_app.config["SMS_DEDUP_HOURS"]
    names = "、".join(f"{m.recipient_name} {m.phone_masked}" for m in created)
    summary = f"短信提醒：{template.name}，发送给 {names}"
    if suppressed:
        summary += f"（其中{len(suppressed)}条{hours}小时内已发送过相同内容，不再重复发送）"
    runtime.append_event(case, current_user, "sms", summary[:500],
                         data={"template": code, "messages": [m.id for m in created],
                               "recipients": [f"{m.recipient_name} {m.phone_masked}" for m in created]})
    db.session.commit()
    queued = len(created) - len(suppressed)
    message = f"已提交 {queued} 条短信提醒，发送结果见短信预警记录"
    if suppressed:
        message += f"；{len(suppressed)} 条因{hours}小时内已发送相同内容未重复发送"
    flash(message)
    return redirect(url_for("cases.case_page", case_id=case.id) + "#timeline")
