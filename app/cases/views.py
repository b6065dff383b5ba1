"""Inbox, start a case, case page, task form — thin views over the engine and case services."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..core.regions import region_name, region_prefix
from ..core.storage import attachment_response
from ..engine import runtime
from ..engine.registry import latest_version, latest_versions, version_info
from ..errors import ValidationFailed
from ..extensions import db
from ..engine.services import panel_for
from . import panels, services
from .forms_web import field_views, read_submission, submitted_values

bp = Blueprint("cases", __name__)


@bp.route("/")
@login_required
def home():
    """People who work cases land on their inbox; platform administrators on their first page;
    operators on their employer's page, or their personal page when they have no employer (§4.5.7.1)."""
    if current_user.is_regulator or current_user.is_enterprise:
        return redirect(url_for("cases.inbox"))
    if current_user.role == "operator":
        from ..operators.services import has_employer
        return redirect(url_for("operators.employer" if has_employer(current_user) else "operators.me"))
    from ..web import ADMIN_HOME, nav_for
    endpoints = [entry[2] for entry in nav_for(current_user)]
    home = ADMIN_HOME.get(current_user.role)
    return redirect(url_for(home if home in endpoints else endpoints[0]) if endpoints else url_for("cases.inbox"))


@bp.route("/inbox")
@login_required
def inbox():
    f = services.InboxFilter.from_args(request.args)
    from ..inbox.services import filters_with_counts, page_extras   # saved filters, bulk actions (app/inbox)
    saved_filters = filters_with_counts(current_user)   # first: it counts the 待办 tab in the same pass
    counts = services.inbox_counts(current_user)
    items, total = services.paginate(services.inbox_query(current_user, f), f.page, f.per_page,
                                     counts[f.box] if f.unfiltered else None)
    from . import sortfields                     # sort by a business field of the filtered process
    business = sortfields.find(f.process, f.sort)
    business_values = sortfields.values(business, [i.id if f.box == "started" else i.case_id for i in items]) \
        if business else {}
    return render_template("cases/inbox.html", f=f, items=items, total=total,
                           counts=counts, processes=latest_versions(), business_sorts=sortfields.for_process(f.process),
                           business=business, business_values=business_values,
                           outcomes=services.done_outcomes(items) if f.box == "done" else {},
                           pages=max(1, -(-total // f.per_page)), **page_extras(current_user, f, items, saved_filters))


@bp.route("/processes")
@login_required
def processes():
    rows = [(v, version_info(v), runtime.can_start(current_user, v)) for v in latest_versions()]
    return render_template("cases/processes.html", rows=rows)


@bp.route("/processes/<key>/start", methods=["GET", "POST"])
@login_required
def start(key: str):
    version = latest_version(key)
    if version is None:
        abort(404)
    if not runtime.can_start(current_user, version):
        abort(403)
    schema = runtime.start_form_schema(version)
    errors: dict = {}
    # Links may prefill the start form (?org_uscc=…): declared fields only, never attachments.
    props = schema.get("properties", {})
    values: dict = {k: v for k, v in request.args.items() if k in props and props[k].get("ui:widget") != "files"}
    if request.method == "POST":
        try:
            values = read_submission(schema, request.form, request.files, current_user)
            case = runtime.start_case(key, current_user, values)
            db.session.commit()
            flash(f"已提交，案件编号 {case.case_no}")
            return redirect(url_for("cases.case_page", case_id=case.id))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
            values = submitted_values(schema, request.form)
    return render_template("cases/start.html", version=version, info=version_info(version), schema=schema,
                           fields=field_views(schema, values, errors, current_user), errors=errors), \
        (422 if errors else 200)


def _case_context(case):
    active, done = runtime.done_steps(case)
    return {"case": case, "timeline": services.timeline(case), "open_tasks": services.open_tasks(case),
            "active_ids": active, "done_ids": done, "steps": services.diagram_steps(case, active, done),
            "domain": panel_for(case)}


@bp.route("/cases/<int:case_id>")
@login_required
def case_page(case_id: int):
    case = services.visible_case(current_user, case_id)
    return render_template("cases/case.html", **_case_context(case))


@bp.route("/cases/<int:case_id>/diagram.bpmn")
@login_required
def case_diagram(case_id: int):
    case = services.visible_case(current_user, case_id)
    return Response(case.process_version.bpmn_xml, mimetype="application/xml")


@bp.route("/cases/<int:case_id>/log", methods=["POST"])
@login_required
def add_log(case_id: int):
    """监察日志: a supervisor's note on the case at any step."""
    case = services.visible_case(current_user, case_id, own_scope=True)
    if not current_user.is_regulator:
        abort(403)
    text = (request.form.get("text") or "").strip()
    if len(text) < 2:
        flash("监察日志内容至少 2 个字", "error")
        return redirect(url_for("cases.case_page", case_id=case.id) + "#timeline")
    runtime.lock_case(case.id)
    runtime.append_event(case, current_user, "log", "添加监察日志", comment=text[:2000])
    db.session.commit()
    flash("监察日志已保存")
    return redirect(url_for("cases.case_page", case_id=case.id) + "#timeline")


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task_page(task_id: int):
    task = services.visible_task(current_user, task_id)
    case = task.case
    schema = runtime.task_form_schema(task)
    errors: dict = {}
    from ..taskops.deputies import may_work
    may_act = may_work(current_user, task)
    if request.method == "POST" and request.form.get("action") == "draft":
        services.save_draft(task, current_user, read_submission(schema, request.form, request.files, current_user))
        db.session.commit()
        flash(f"已暂存【{task.name}】，可稍后继续填写后提交")
        return redirect(url_for("cases.task_page", task_id=task.id))
    if request.method == "POST":
        try:  # the engine re-checks who may act, under the case lock
            values = read_submission(schema, request.form, request.files, current_user)
            runtime.complete_task(task.id, current_user, values, extras={"signature": request.form.get("signature")})
            db.session.commit()
            flash(f"【{task.name}】已提交")
            return redirect(url_for("cases.inbox"))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
            values = submitted_values(schema, request.form)
    else:
        values = _prefill(task, schema)
    return render_template("cases/task.html", task=task, may_act=may_act, schema=schema, errors=errors,
                           fields=field_views(schema, values, errors, current_user),
                           review=panels.review_sections(task), rework=panels.rework_reason(task),
                           **_case_context(case)), (422 if errors else 200)


def _prefill(task, schema) -> dict:
    """A saved draft (暂存) comes back as it was; rework rounds start from the previous submission;
    `ui.prefill` maps fields to case data."""
    if task.draft and task.status == "open":
        return json.loads(task.draft)
    values = services.last_submission(task.case, task.task_def)
    mapping = schema.get("ui", {}).get("prefill") or {}
    if mapping:
        data = runtime.task_data(task)
        for field, variable in mapping.items():
            values.setdefault(field, data.get(variable))
    return values


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int):
    task = services.visible_task(current_user, task_id)
    from ..taskops.services import claim as claim_task
    claim_task(task, current_user)
    db.session.commit()
    flash(f"已签收【{task.name}】")
    return redirect(url_for("cases.task_page", task_id=task.id))


@bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@login_required
def unclaim(task_id: int):
    task = services.visible_task(current_user, task_id)
    runtime.unclaim_task(task.id, current_user)
    db.session.commit()
    flash(f"已取消签收【{task.name}】")
    return redirect(url_for("cases.inbox"))


@bp.route("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    att = services.visible_attachment(current_user, attachment_id)
    return attachment_response(att)


@bp.app_template_global()
def region_options():
    """Cities and counties within the user's scope for list filters."""
    from sqlalchemy import select

    from ..core.models import Region
    if not current_user.is_authenticated or not current_user.is_regulator:
        return []
    prefix = current_user.scope_prefix
    cached = g.get("_region_options")   # templates ask twice (whether to show the filter, then its options)
    if cached is None or cached[0] != prefix:
        rows = db.session.scalars(select(Region).where(Region.code.startswith(prefix), Region.level != "province")
                                  .order_by(Region.code))
        cached = g._region_options = (prefix, [(r.code, ("　" if r.level == "county" else "") + r.name)
                                               for r in rows if region_prefix(r.code) != prefix])
    return cached[1]


# Region names in templates come from the per-process cache of the reference data (a list of
# twenty rows must not load each row's region through its relationship).
bp.add_app_template_global(region_name)
