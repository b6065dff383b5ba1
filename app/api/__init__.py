"""JSON API /api/v1 — the same operations as the pages, for mobile pages and third parties.

Authentication: `POST /api/v1/session` returns a bearer token; or the browser session, in which
case state-changing calls must carry the X-CSRFToken header. Errors: {"error": {code, message, fields}}.
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request, url_for
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError as CSRFValidationError

from ..cases import services as case_services
from ..cases.models import Case, Task
from ..core.auth import LoginFailed, api_login, issue_token, token_row
from ..core.clock import to_local
from ..core.lookups import annotate as annotate_form
from ..core.regions import region_name
from ..core.scope import case_read_scope
from ..core.storage import save_upload
from ..engine import runtime
from ..engine.registry import latest_version, latest_versions, version_forms, version_info
from ..errors import DomainError, NotFound, Unauthorized, ValidationFailed
from ..extensions import db
from ..taskops.services import copy_json

bp = Blueprint("api", __name__, url_prefix="/api/v1")


# What a token of an account that must change its password may still do (browser sessions: the
# same gate in security/__init__.py).
PASSWORD_GATE_OPEN = {"api.change_password", "api.delete_session"}


def api_user():
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        row = token_row(header[7:].strip())
        g.api_token_id = row.id
        if request.endpoint not in PASSWORD_GATE_OPEN:
            from ..security.policy import must_change_password
            why = must_change_password(row.user)
            if why:
                raise DomainError(why + "：此令牌只能用于修改密码（POST /api/v1/me/password）",
                                  code="password_change_required", status=403)
        return row.user
    g.api_token_id = None
    if current_user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            try:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            except CSRFValidationError as err:
                raise DomainError("CSRF 校验失败：使用浏览器会话调用接口时需携带 X-CSRFToken 请求头",
                                  code="csrf_failed") from err
        return current_user._get_current_object()
    raise Unauthorized()


def authenticated(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        g.api_user = api_user()
        return fn(*args, **kwargs)
    return wrapper


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise DomainError("请求体必须是 JSON 对象", code="bad_json")
    return body


def _iso(value):
    local = to_local(value)
    return local.isoformat() if local else None


def user_json(user) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "role_label": user.role_label, "region_code": user.region_code, "region_name": user.region.name,
            "org_id": user.org_id, "org_name": user.org.name if user.org else None}


def task_json(task: Task, *, with_case: bool = True) -> dict:
    body = {"id": task.id, "case_id": task.case_id, "task_def": task.task_def, "name": task.name,
            "status": task.status, "candidate_role": task.candidate_role,
            "candidate_region": task.candidate_region, "candidate_org_id": task.candidate_org_id,
            "assignee_id": task.assignee_id, "due_at": _iso(task.due_at), "warning_level": task.warning_level,
            "created_at": _iso(task.created_at), "completed_at": _iso(task.completed_at),
            "url": url_for("cases.task_page", task_id=task.id)}
    if with_case:
        body["case"] = case_summary(task.case)
    return body


def case_summary(case: Case) -> dict:
    return {"id": case.id, "case_no": case.case_no, "process_key": case.process_key, "title": case.title,
            "status": case.status, "current_step": case.current_step, "region_code": case.region_code,
            "region_name": region_name(case.region_code), "due_at": _iso(case.due_at),
            "warning_level": case.warning_level,
            "created_at": _iso(case.created_at), "closed_at": _iso(case.closed_at), "outcome": case.outcome,
            "process_version": case.process_version.version}


def case_json(case: Case) -> dict:
    body = case_summary(case)
    tasks = runtime.held_open_tasks(case)      # after an action: the open tasks it left, no statement
    if tasks is None:
        tasks = case_services.open_tasks(case)
    body["open_tasks"] = [task_json(t, with_case=False) for t in tasks]
    body["timeline"] = [{
        "seq": row["event"].seq, "at": _iso(row["event"].at), "kind": row["event"].kind,
        "actor": row["actor"], "unit": row["unit"], "step": row["event"].step_name,
        "summary": row["event"].summary, "comment": row["event"].comment, "data": row["data"],
        "attachments": [{"id": a.id, "filename": a.filename, "sm3": a.sm3} for a in row["attachments"]],
        "hash": row["event"].hash} for row in case_services.timeline(case)]
    return body


@bp.post("/session")
def create_session():
    body = _json_body()
    missing = {k: "此项为必填项" for k in ("username", "password") if not body.get(k)}
    if missing:
        raise ValidationFailed(missing)
    try:
        user = api_login(str(body["username"]), str(body["password"]), str(body.get("otp") or ""))
    except LoginFailed as err:
        response = jsonify(err.to_dict())
        response.status_code = err.status
        if err.retry_after:
            response.headers["Retry-After"] = str(err.retry_after)
        return response
    token = issue_token(user)
    from ..security.policy import must_change_password
    why = must_change_password(user)
    db.session.commit()
    body = {"token": token, "user": user_json(user)}
    if why:                      # the token may only change the password (api_user)
        body["password_change_required"] = why
    return jsonify(body), 201


@bp.delete("/session")
def delete_session():
    """Log out: revoke the presented token (`?all=1`: every token and browser session of the account);
    with the browser session, end that session (and, like the page's logout, the account's tokens)."""
    from ..security import sessions
    from ..security.audit import audit
    user = api_user()
    if request.args.get("all", "0") not in ("0", "1", "true", "false"):
        raise ValidationFailed({"all": "只能是 1 或 0"})
    everything = request.args.get("all") in ("1", "true")
    if getattr(g, "api_token_id", None) is not None:
        ended = sessions.end_all_for(user.id, "logout") if everything else \
            sessions.revoke_token(g.api_token_id, "logout")
        audit("auth.logout", f"{user.username} 通过接口退出登录" + ("（全部会话与令牌）" if everything else ""),
              object_type="user", object_id=user.id, actor=user, detail={"ended": ended, "all": everything})
        db.session.commit()
    else:
        ended = sessions.end_all_for(user.id, "logout") if everything else sessions.revoke_tokens(user.id, "logout")
        audit("auth.logout", f"{user.username} 退出登录（接口）", object_type="user", object_id=user.id,
              detail={"tokens_revoked": ended, "all": everything})
        sessions.end("logout")
        db.session.commit()
    return "", 204


@bp.post("/me/password")
@authenticated
def change_password():
    """Change the caller's password; every other session and token of the account ends, this one stays."""
    from ..core.gm import verify_password
    from ..security import sessions
    from ..security.audit import audit
    from ..security.policy import check_new_password, set_password
    from ..security.ratelimit import limit
    limit("login", current_app.config["RATELIMIT_LOGIN_PER_MINUTE"])    # the old password is a guess too
    body = _json_body()
    user = g.api_user
    old, new = body.get("old_password"), body.get("new_password")
    errors = {}
    if not isinstance(old, str) or not old:
        errors["old_password"] = "此项为必填项"
    elif not verify_password(old, user.password_hash):
        errors["old_password"] = "当前密码不正确"
    if not isinstance(new, str) or not new:
        errors["new_password"] = "此项为必填项"
    else:
        problem = check_new_password(user, new)
        if problem:
            errors["new_password"] = problem
    if errors:
        db.session.rollback()
        audit("auth.password_change", f"{user.username} 通过接口修改密码失败", outcome="failure", object_type="user",
              object_id=user.id, actor=user, detail={"fields": sorted(errors)})
        db.session.commit()
        raise ValidationFailed(errors)
    set_password(user, new)
    current = None if getattr(g, "api_token_id", None) is not None else sessions.current_row()
    ended = sessions.end_all_for(user.id, "password", keep_token_id=getattr(g, "api_token_id", None),
                                 keep_session_id=current.id if current else None)
    audit("auth.password_change", f"{user.username} 通过接口修改密码", object_type="user", object_id=user.id,
          actor=user, detail={"ended": ended})
    db.session.commit()
    return "", 204


@bp.get("/me")
@authenticated
def me():
    return jsonify(user_json(g.api_user))


@bp.get("/processes")
@authenticated
def list_processes():
    return jsonify({"items": [{"key": v.process_key, "name": v.name, "version": v.version,
                               "can_start": runtime.can_start(g.api_user, v)} for v in latest_versions()]})


@bp.get("/processes/<key>")
@authenticated
def get_process(key: str):
    version = latest_version(key)
    if version is None:
        raise NotFound("流程不存在或尚未部署")
    info = version_info(version)
    return jsonify({"key": key, "name": version.name, "version": version.version,
                    "can_start": runtime.can_start(g.api_user, version), "start_roles": info.start_roles,
                    "start_form": annotate_form(runtime.start_form_schema(version), g.api_user),
                    "forms": sorted(version_forms(version))})


@bp.post("/cases")
@authenticated
def create_case():
    body = _json_body()
    if not body.get("process_key"):
        raise ValidationFailed({"process_key": "此项为必填项"})
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ValidationFailed({"data": "必须是 JSON 对象"})
    case = runtime.start_case(str(body["process_key"]), g.api_user, data)
    body = case_json(case)      # read within the transaction: committing first would expire the case
    db.session.commit()
    return jsonify(body), 201


@bp.get("/cases/<int:case_id>")
@authenticated
def get_case(case_id: int):
    return jsonify(case_json(case_services.visible_case(g.api_user, case_id)))


@bp.get("/tasks")
@authenticated
def list_tasks():
    f = case_services.InboxFilter.from_args(request.args)
    items, total = case_services.paginate(case_services.inbox_query(g.api_user, f), f.page, f.per_page)
    if f.box == "copies":        # 抄送我的: the copy records, as GET /api/v1/copies renders them
        render = copy_json
    else:
        render = case_summary if f.box == "started" else task_json
    body = {"items": [render(i) for i in items], "total": total, "page": f.page, "per_page": f.per_page}
    if request.args.get("counts") in ("1", "true", "on"):     # the tab badges only when asked for
        body["counts"] = case_services.inbox_counts(g.api_user)
    return jsonify(body)


@bp.get("/tasks/<int:task_id>")
@authenticated
def get_task(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    body = task_json(task)
    body["form"] = annotate_form(runtime.task_form_schema(task), g.api_user)
    body["data"] = runtime.task_data(task) if task.status == "open" else {}
    return jsonify(body)


@bp.post("/tasks/<int:task_id>/claim")
@authenticated
def claim_task(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    from ..taskops.services import claim
    claim(task, g.api_user)
    db.session.commit()
    return jsonify(task_json(task))


@bp.post("/tasks/<int:task_id>/unclaim")
@authenticated
def unclaim_task(task_id: int):
    task = case_services.visible_task(g.api_user, task_id)
    runtime.unclaim_task(task.id, g.api_user)
    db.session.commit()
    return jsonify(task_json(task))


@bp.post("/tasks/<int:task_id>/complete")
@authenticated
def complete_task(task_id: int):
    body = request.get_json(silent=True)
    data = (body.get("data") or {}) if isinstance(body, dict) else None
    if not isinstance(data, dict):
        case_services.visible_task(g.api_user, task_id)     # a task out of scope is 404 whatever the body
        _json_body()
        raise ValidationFailed({"data": "必须是 JSON 对象"})
    # The scope is checked by the statement that locks the case (one round trip, not two).
    case = runtime.complete_task(task_id, g.api_user, data, extras={"signature": body.get("signature")},
                                 scope=case_read_scope(g.api_user))
    body = case_json(case)      # read within the transaction: committing first would expire the case
    db.session.commit()
    return jsonify(body)


@bp.post("/attachments")
@authenticated
def upload_attachment():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed({"file": "请选择要上传的文件 (表单字段 file)"})
    att = save_upload(upload, g.api_user)
    body = {"id": att.id, "filename": att.filename, "mime": att.mime, "size": att.size, "sm3": att.sm3}
    db.session.commit()      # after reading the row: committing expires it (one statement less)
    return jsonify(body), 201


@bp.get("/equipment")
@authenticated
def equipment_search():
    items = case_services.equipment_suggestions(g.api_user, (request.args.get("q") or "").strip()[:50])
    return jsonify({"items": [{"id": e.id, "code": e.code, "name": e.name, "use_org": e.use_org.name,
                               "region_code": e.region_code, "registered_region_code": e.registered_region_code,
                               "movable": e.movable} for e in items]})


@bp.get("/lookups")
@authenticated
def list_lookups():
    from ..core import lookups
    return jsonify({"items": lookups.names()})


@bp.get("/lookups/<name>")
@authenticated
def get_lookup(name: str):
    """The choices of a form field's widget for the caller, searched by q (x-lookup of the forms)."""
    from ..core import lookups
    from ..core.params import int_arg
    if not lookups.exists(name):
        raise NotFound("没有这个取值列表")
    page, per_page = int_arg(request.args, "page", 1, 1, 1000), int_arg(request.args, "per_page", 20, 1, 100)
    body = lookups.search(name, g.api_user, (request.args.get("q") or "")[:50], limit=per_page,
                          offset=(page - 1) * per_page)
    return jsonify({**body, "page": page, "per_page": per_page})


@bp.get("/openapi.json")
def openapi():
    from .document import api_document
    return jsonify(api_document())


@bp.errorhandler(404)
def api_not_found(_err):
    return jsonify({"error": {"code": "not_found", "message": "接口不存在"}}), 404
