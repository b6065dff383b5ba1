"""Pages and form actions of the task operations; the services check permissions under the case lock."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, literal_column, select, update

from ..cases import services as case_services
from ..core.clock import utcnow
from ..core.params import int_arg
from ..core.roles import ROLES
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from . import services
from .models import CaseCopy, Notification

bp = Blueprint("taskops", __name__)


# ---------------------------------------------------------------- template helpers

@bp.app_template_global()
def taskops_panel(task):
    """What the task page offers: transfer/delegate targets, delegation state, step requirements.
    Computed once per request (the page asks twice; step requirements load the workflow)."""
    cache = g.setdefault("taskops_panels", {})
    if task.id not in cache:
        cache[task.id] = _task_panel(task)
    return cache[task.id]


def _task_panel(task):
    user = current_user
    people = services.eligible_people(task, exclude={user.id}) if services.may_hold(user, task) else []
    reqs = services.requirements(services.step_props(task)) if task.status == "open" else {}
    chain = services.signs(task)
    current = services.current_sign(task) if task.status == "open" else None
    return {"may_hold": services.may_hold(user, task), "people": people, "signs": chain,
            "current_sign": current, "is_signer": current is not None and current.user_id == user.id,
            "sign_people": services.sign_candidates(task, user) if services.may_hold(user, task) else [],
            "is_delegate": task.status == "open" and task.delegate_state == "pending" and task.assignee_id == user.id,
            "returned": services.delegated_opinions(task) if task.delegate_state == "resolved" else [],
            "requirements": reqs}


@bp.app_template_global()
def task_operations(task) -> frozenset:
    """The regulator operations (转办/委派/加签/签收/退回) the current user may use on `task` (none for
    enterprises, agencies and persons: they 办理 only)."""
    cache = g.setdefault("task_operations", {})
    if task.id not in cache:
        cache[task.id] = services.operations_allowed(current_user, task)
    return cache[task.id]


@bp.app_template_global()
def deputy_acting_for(task):
    """The absent user the current user works `task` for (代 X 办理), or None."""
    from .deputies import acting_for
    return acting_for(current_user, task)


@bp.app_template_global()
def case_ops_panel(case):
    user = current_user
    copy_ok = services.may_copy(user, case)
    roles = [(k, r.label) for k, r in ROLES.items() if r.side in ("regulator", "enterprise")] if copy_ok else []
    return {"may_urge": services.may_urge(user, case), "urged": services.urge_total(case),
            "may_copy": copy_ok, "copy_people": services.copy_options(case) if copy_ok else [],
            "copy_roles": roles}


BADGE_CAP = 99


@bp.app_context_processor
def _unread():
    if not current_user.is_authenticated:
        return {}
    # The header badge needs "how many, up to 99+", not an exact figure: a city supervisor copied on
    # every dispatch of the city holds ~24,000 unread messages, and counting them all took 40 ms on every page.
    unread = (select(literal_column("1")).where(Notification.user_id == current_user.id, Notification.read_at.is_(None))
              .limit(BADGE_CAP + 1).subquery())
    count = db.session.scalar(select(func.count()).select_from(unread)) or 0
    return {"unread_notifications": count,
            "unread_notifications_label": f"{BADGE_CAP}+" if count > BADGE_CAP else str(count)}


def _render_task_with_errors(task, form: str, errors: dict):
    """The task page again, the operation's form open with its per-field errors and values."""
    from ..cases.views import _case_context, _prefill
    from ..cases.forms_web import field_views
    from ..engine import runtime
    from .deputies import may_work
    db.session.rollback()
    task = case_services.visible_task(current_user, task.id)
    schema = runtime.task_form_schema(task)
    may_act = may_work(current_user, task)
    ctx = _case_context(task.case)
    return render_template("cases/task.html", task=task, may_act=may_act, schema=schema, errors={},
                           fields=field_views(schema, _prefill(task, schema), {}, current_user),
                           ops_form=form, ops_errors=errors, ops_values=request.form, **ctx), 422


def _task_action(task_id: int, form: str, action, done: str, back_to_task: bool = False):
    task = case_services.visible_task(current_user, task_id)
    try:
        action(task)
        db.session.commit()
    except ValidationFailed as err:
        return _render_task_with_errors(task, form, err.fields)
    except Conflict as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("cases.task_page", task_id=task.id))
    flash(done.format(name=task.name))
    return redirect(url_for("cases.task_page", task_id=task.id) if back_to_task else url_for("cases.inbox"))


# ---------------------------------------------------------------- task actions

@bp.route("/tasks/<int:task_id>/transfer", methods=["POST"])
@login_required
def transfer(task_id: int):
    return _task_action(task_id, "transfer", lambda t: services.transfer_task(
        t.id, current_user, request.form.get("target"), request.form.get("opinion")), "已将【{name}】转办")


@bp.route("/tasks/<int:task_id>/delegate", methods=["POST"])
@login_required
def delegate(task_id: int):
    return _task_action(task_id, "delegate", lambda t: services.delegate_task(
        t.id, current_user, request.form.get("target"), request.form.get("note")), "已将【{name}】委派")


@bp.route("/tasks/<int:task_id>/resolve", methods=["POST"])
@login_required
def resolve(task_id: int):
    return _task_action(task_id, "resolve", lambda t: services.resolve_delegation(
        t.id, current_user, request.form.get("opinion")), "【{name}】已办理完毕并归还")


@bp.route("/tasks/<int:task_id>/signers", methods=["POST"])
@login_required
def add_signer(task_id: int):
    return _task_action(task_id, "sign_add", lambda t: services.add_signer(
        t.id, current_user, request.form.get("signer"), request.form.get("kind"), request.form.get("note")),
        "已为【{name}】加签", back_to_task=True)


@bp.route("/tasks/<int:task_id>/sign", methods=["POST"])
@login_required
def sign(task_id: int):
    return _task_action(task_id, "sign", lambda t: services.sign_task(
        t.id, current_user, request.form.get("opinion")), "已签署【{name}】")


@bp.route("/tasks/<int:task_id>/signers/<int:sign_id>/remove", methods=["POST"])
@login_required
def remove_signer(task_id: int, sign_id: int):
    return _task_action(task_id, "sign_remove", lambda t: services.remove_signer(t.id, current_user, sign_id),
                        "已减签", back_to_task=True)


# ---------------------------------------------------------------- case actions

def _case_action(case_id: int, action, done: str):
    case = case_services.visible_case(current_user, case_id)
    back = request.form.get("back") or ""
    target = back if back.startswith("/tasks/") or back.startswith("/cases/") else url_for(
        "cases.case_page", case_id=case.id)
    try:
        result = action(case)
        db.session.commit()
    except (ValidationFailed, Conflict) as err:
        db.session.rollback()
        messages = list(err.fields.values()) if isinstance(err, ValidationFailed) else [err.message]
        for message in messages:
            flash(message, "error")
        return redirect(target + "#case-ops")
    flash(done.format(n=len(result)))
    return redirect(target + "#case-ops")


@bp.route("/cases/<int:case_id>/urge", methods=["POST"])
@login_required
def urge(case_id: int):
    return _case_action(case_id, lambda c: services.urge_case(c.id, current_user, request.form.get("note")),
                        "已催办，提醒 {n} 人（站内消息 + 短信）")


@bp.route("/cases/<int:case_id>/copy", methods=["POST"])
@login_required
def copy(case_id: int):
    task_id = request.form.get("task_id")
    return _case_action(case_id, lambda c: services.copy_case(
        c.id, current_user, request.form.getlist("users"), request.form.getlist("roles"), request.form.get("note"),
        int(task_id) if task_id and task_id.isdigit() else None), "已抄送 {n} 人")


# ---------------------------------------------------------------- 抄送我的, notifications

@bp.route("/copies")
@login_required
def copies():
    """抄送我的 is a tab of the inbox now; old links (q, state=unread|read, paging) keep working."""
    args = {"box": "copies", "q": request.args.get("q"), "read": request.args.get("state"),
            "page": request.args.get("page"), "per_page": request.args.get("per_page")}
    return redirect(url_for("cases.inbox", **{k: v for k, v in args.items() if v}))


@bp.route("/copies/<int:copy_id>/open")
@login_required
def open_copy(copy_id: int):
    copy = db.session.get(CaseCopy, copy_id)
    if copy is None or copy.user_id != current_user.id:
        raise NotFound("抄送记录不存在")
    services.mark_copy_read(copy)
    db.session.commit()
    return redirect(url_for("cases.case_page", case_id=copy.case_id))


@bp.route("/notifications")
@login_required
def notifications():
    page = int_arg(request.args, "page", 1, 1, 100000)
    query = (select(Notification).where(Notification.user_id == current_user.id)
             .order_by(Notification.created_at.desc(), Notification.id.desc()))
    items, total = case_services.paginate(query, page, 20)
    return render_template("taskops/notifications.html", items=items, total=total, page=page,
                           to_do=services.open_tasks_for(current_user, items), pages=max(1, -(-total // 20)))


@bp.route("/notifications/read", methods=["POST"])
@login_required
def read_notifications():
    db.session.execute(update(Notification).where(Notification.user_id == current_user.id,
                                                  Notification.read_at.is_(None)).values(read_at=utcnow()))
    db.session.commit()
    flash("消息已全部标为已读")
    return redirect(url_for("taskops.notifications"))


# ---------------------------------------------------------------- 代理人 (个人设置)

@bp.route("/settings/deputy", methods=["GET", "POST"])
@login_required
def deputies():
    from . import deputies as dep
    if not (current_user.is_regulator or current_user.is_enterprise):
        abort(403)
    errors: dict = {}
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        try:
            row = dep.set_deputy(current_user, request.form.get("deputy"), request.form.get("starts_on"),
                                 request.form.get("ends_on"), request.form.get("note"))
            db.session.commit()
            flash(f"已设置代理人 {row.deputy.display_name}（{row.starts_on}～{row.ends_on}）")
            return redirect(url_for("taskops.deputies"))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
    return render_template("taskops/deputies.html", rows=dep.my_deputies(current_user), status_of=dep.status_of,
                           choices=dep.deputy_choices(current_user), acting=dep.acting_for_me(current_user),
                           errors=errors, values=values), (422 if errors else 200)


@bp.route("/settings/deputy/<int:row_id>/revoke", methods=["POST"])
@login_required
def revoke_deputy(row_id: int):
    from . import deputies as dep
    try:
        dep.revoke_deputy(current_user, row_id)
        db.session.commit()
        flash("代理设置已撤销")
    except Conflict as err:
        db.session.rollback()
        flash(err.message, "error")
    return redirect(url_for("taskops.deputies"))
