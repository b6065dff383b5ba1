"""三权分立 consoles (MLPS 8.1.4.2 d, 8.1.5):

- 系统管理员 sys_admin: accounts — create (business roles), disable/enable, reset password, export;
  no role changes, no audit log.
- 安全管理员 sec_admin: roles and data scope, unlock, terminate sessions — never of its own account;
  reads the audit administrators' own activity (who audits the auditor); no account creation.
- 审计管理员 audit_admin: searches, exports and verifies the audit log — all entries except the audit
  administrators' own; read-only everywhere else.
"""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import or_, select

from ..cases.services import paginate
from ..core.clock import local_day_start, to_local, utcnow
from ..core.excel import stream_xlsx
from ..core.models import Organization, Region, User
from ..core.params import contains, date_arg, int_arg, text_arg
from ..core.roles import ROLES, role_label
from ..errors import Forbidden, NotFound
from ..extensions import db
from . import sessions, throttle
from .audit import EVENT_LABELS, audit, event_label, verify_chain
from .models import AuditLog, UserSession
from .policy import ADMIN_ROLES, set_password

bp = Blueprint("security", __name__)

# Roles the system administrator may give a new account; the rest are granted by the security admin.
PROVISION_ROLES = [k for k in ROLES if k not in ADMIN_ROLES and ROLES[k].side != "public"]   # the public intake account is a system account


def _require(*roles: str) -> None:
    if current_user.role not in roles:
        raise Forbidden("此功能仅限" + "、".join(role_label(r) for r in roles) + "使用")


def _target(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("账号不存在")
    return user


def _temp_password() -> str:
    """A one-time password that meets the policy (all four classes)."""
    alphabet = string.ascii_letters + string.digits
    core = "".join(secrets.choice(alphabet) for _ in range(10))
    return secrets.choice(string.ascii_uppercase) + secrets.choice(string.ascii_lowercase) + \
        secrets.choice(string.digits) + secrets.choice("@#%&*!") + core


# ---------------------------------------------------------------- account list (sys_admin, sec_admin)

@dataclass
class UserFilter:
    q: str | None
    role: str | None
    status: str | None
    page: int
    per_page: int

    @classmethod
    def from_args(cls, args) -> "UserFilter":
        role = args.get("role") if args.get("role") in ROLES else None
        status = args.get("status") if args.get("status") in ("active", "disabled", "locked", "2fa_missing") else None
        return cls(q=text_arg(args, "q", 64), role=role, status=status, page=int_arg(args, "page", 1, 1, 100000),
                   per_page=int_arg(args, "per_page", 20, 10, 100))


def users_query(f: UserFilter):
    query = select(User)
    if f.q:
        query = query.where(or_(contains(User.username, f.q), contains(User.display_name, f.q)))
    if f.role:
        query = query.where(User.role == f.role)
    if f.status == "active":
        query = query.where(User.is_active_flag.is_(True))
    elif f.status == "disabled":
        query = query.where(User.is_active_flag.is_(False))
    elif f.status == "locked":
        query = query.where(or_(User.locked_until > utcnow(), throttle.blocked_condition()))
    elif f.status == "2fa_missing":
        query = query.where(User.role.in_(ADMIN_ROLES), User.totp_secret_enc.is_(None))
    return query.order_by(User.id)


@bp.route("/admin/users")
@login_required
def users():
    _require("sys_admin", "sec_admin")
    f = UserFilter.from_args(request.args)
    items, total = paginate(users_query(f), f.page, f.per_page)
    return render_template("security/users.html", f=f, items=items, total=total, roles=ROLES, now=utcnow(),
                           blocked=throttle.blocked_user_ids([u.id for u in items]),
                           pages=max(1, -(-total // f.per_page)), admin_roles=ADMIN_ROLES)


@bp.route("/admin/users/export.xlsx")
@login_required
def users_export():
    _require("sys_admin")
    f = UserFilter.from_args(request.args)

    def rows():
        for u in db.session.scalars(users_query(f).execution_options(yield_per=500)):
            yield [u.username, u.display_name, u.role_label, u.region_code, u.org.name if u.org else "",
                   "启用" if u.is_active else "停用", _fmt(u.last_login_at), u.last_login_ip or "",
                   _fmt(u.password_changed_at), "已绑定" if u.totp_secret_enc else ""]
    return stream_xlsx("账号清单", ["用户名", "姓名", "角色", "属地代码", "所属单位", "状态", "最近登录", "最近登录地址",
                                "密码修改时间", "动态口令"], rows(), filename="账号清单.xlsx",
                       criteria=request.args.to_dict())


def _fmt(value: datetime | None) -> str:
    return to_local(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _user_form_errors(form, *, new: bool) -> dict[str, str]:
    errors = {}
    if new:
        username = (form.get("username") or "").strip()
        if not username or len(username) > 64 or not all(c.isalnum() or c in "_.-" for c in username):
            errors["username"] = "用户名为 1–64 位字母、数字或 _ . -"
        elif db.session.scalar(select(User.id).where(User.username == username)):
            errors["username"] = "该用户名已存在"
        if not (form.get("display_name") or "").strip():
            errors["display_name"] = "请填写姓名"
    return errors


def _region_and_org(form, errors: dict) -> tuple[str | None, int | None]:
    region = (form.get("region_code") or "").strip()
    if not db.session.get(Region, region):
        errors["region_code"] = "请选择属地"
    org_id = None
    uscc = (form.get("org_uscc") or "").strip().upper()
    if uscc:
        org = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
        if org is None:
            errors["org_uscc"] = "未找到该统一社会信用代码的单位"
        else:
            org_id = org.id
    role = form.get("role")
    if role in ROLES and ROLES[role].side == "enterprise" and org_id is None and "org_uscc" not in errors:
        errors["org_uscc"] = "企业端账号须填写所属单位的统一社会信用代码"
    return region, org_id


def _regions():
    return db.session.execute(select(Region.code, Region.name, Region.level).order_by(Region.code)).all()


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def user_new():
    _require("sys_admin")
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        errors = _user_form_errors(form, new=True)
        if form.get("role") not in PROVISION_ROLES:
            errors["role"] = "请选择角色（管理员角色由安全管理员授予）"
        region, org_id = _region_and_org(form, errors)
        if not errors:
            temp = _temp_password()
            user = User(username=form["username"].strip(), display_name=form["display_name"].strip()[:64],
                        role=form["role"], region_code=region, org_id=org_id, password_hash="")
            set_password(user, temp, must_change=True)
            if form.get("phone"):
                try:
                    user.set_phone(form["phone"])
                except ValueError as err:
                    errors["phone"] = str(err)
            if not errors:
                db.session.add(user)
                db.session.flush()
                audit("user.create", f"新建账号 {user.username}（{user.role_label}）", object_type="user",
                      object_id=user.id, detail={"role": user.role, "region": region, "org_id": org_id})
                db.session.commit()
                return render_template("security/temp_password.html", target=user, password=temp, created=True)
            db.session.rollback()
    return render_template("security/user_new.html", errors=errors, roles=[(k, ROLES[k].label) for k in PROVISION_ROLES],
                           regions=_regions()), (422 if errors else 200)


def _account_for(role: str, user_id: int) -> User:
    """The account an administrator of `role` acts on: never its own; the system administrator
    never acts on administrator accounts (those are the security administrator's)."""
    _require(role)
    user = _target(user_id)
    if user.id == current_user.id:
        raise Forbidden("不能对自己的账号执行此操作")
    if role == "sys_admin" and user.role in ADMIN_ROLES:
        raise Forbidden("管理员账号由安全管理员管理")
    return user


def _account_done(user: User, event_type: str, summary: str, message: str):
    audit(event_type, summary, object_type="user", object_id=user.id)
    db.session.commit()
    flash(message, "success")
    return redirect(request.referrer or url_for("security.users"))


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@login_required
def user_set_active(user_id: int):
    user = _account_for("sys_admin", user_id)
    enable = request.form.get("active") == "1"
    user.is_active_flag = enable
    if not enable:
        sessions.end_all_for(user.id, "disabled")
    word = "启用" if enable else "停用"
    return _account_done(user, "user.enable" if enable else "user.disable", f"{word}账号 {user.username}",
                         f"账号 {user.username} 已{word}")


@bp.route("/admin/users/<int:user_id>/reset-password", methods=["POST"])
@login_required
def user_reset_password(user_id: int):
    user = _account_for("sys_admin", user_id)
    temp = _temp_password()
    set_password(user, temp, must_change=True)
    user.failed_logins, user.locked_until = 0, None
    throttle.clear_account(user.username)
    sessions.end_all_for(user.id, "password")
    audit("auth.password_reset", f"重置账号 {user.username} 的密码", object_type="user", object_id=user.id)
    db.session.commit()
    return render_template("security/temp_password.html", target=user, password=temp, created=False)


# ---------------------------------------------------------------- roles and scope (sec_admin)

@bp.route("/security/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def user_edit(user_id: int):
    _require("sec_admin")
    user = _target(user_id)
    if user.id == current_user.id:
        raise Forbidden("安全管理员不能修改自己的角色或数据范围")
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        role = form.get("role")
        if role not in ROLES:
            errors["role"] = "请选择角色"
        region, org_id = _region_and_org(form, errors)
        if not errors:
            before = {"role": user.role, "region": user.region_code, "org_id": user.org_id}
            after = {"role": role, "region": region, "org_id": org_id}
            if before != after:
                user.role, user.region_code, user.org_id = role, region, org_id
                if role not in ADMIN_ROLES:
                    user.totp_secret_enc = user.totp_ref = user.totp_last_step = None
                ended = sessions.end_all_for(user.id, "terminated")
                from ..core.regions import region_name
                parts = []
                if before["role"] != role:
                    parts.append(f"角色 {role_label(before['role'])} → {role_label(role)}")
                if before["region"] != region:
                    parts.append(f"属地 {region_name(before['region'])} → {region_name(region)}")
                if before["org_id"] != org_id:
                    parts.append("所属单位变更")
                audit("user.role", f"变更账号 {user.username} 的角色/数据范围：" + "；".join(parts),
                      object_type="user", object_id=user.id,
                      detail={"before": before, "after": after, "sessions_ended": ended})
                db.session.commit()
                flash(f"已保存；{user.username} 的登录会话已失效，需重新登录后生效", "success")
            else:
                flash("没有变化", "info")
            return redirect(url_for("security.users"))
    org = user.org
    return render_template("security/user_edit.html", target=user, errors=errors, roles=ROLES, regions=_regions(),
                           org_uscc=org.uscc if org else "", open_sessions=_open_sessions(user.id),
                           live_tokens=_live_tokens(user.id), blocked=throttle.blocked_sources(user.username)), \
        (422 if errors else 200)


def _live_tokens(user_id: int) -> int:
    from sqlalchemy import func

    from ..core.models import ApiToken
    return db.session.scalar(select(func.count(ApiToken.id)).where(
        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow())) or 0


def _open_sessions(user_id: int):
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user_id,
                                                        UserSession.ended_at.is_(None))
                              .order_by(UserSession.id.desc()).limit(20)).all()


@bp.route("/security/users/<int:user_id>/unlock", methods=["POST"])
@login_required
def user_unlock(user_id: int):
    user = _account_for("sec_admin", user_id)
    user.failed_logins, user.locked_until = 0, None
    throttle.clear_account(user.username)          # the account-wide lock and every address's
    return _account_done(user, "user.unlock", f"解除账号 {user.username} 的登录锁定", f"账号 {user.username} 已解除锁定")


@bp.route("/security/users/<int:user_id>/end-sessions", methods=["POST"])
@login_required
def user_end_sessions(user_id: int):
    user = _account_for("sec_admin", user_id)
    ended = sessions.end_all_for(user.id, "terminated")
    return _account_done(user, "user.sessions_end", f"终止账号 {user.username} 的 {ended} 个会话与接口令牌",
                         f"已终止 {user.username} 的 {ended} 个会话与接口令牌")


# ---------------------------------------------------------------- audit log (audit_admin; sec_admin: auditors only)

@dataclass
class AuditFilter:
    q: str | None
    actor: str | None
    event: str | None
    outcome: str | None
    ip: str | None
    date_from: date | None
    date_to: date | None
    page: int
    per_page: int

    @classmethod
    def from_args(cls, args) -> "AuditFilter":
        return cls(q=text_arg(args, "q", 100), actor=text_arg(args, "actor", 64),
                   event=args.get("event") if args.get("event") in EVENT_LABELS else None,
                   outcome=args.get("outcome") if args.get("outcome") in AuditLog.OUTCOME_LABELS else None,
                   ip=text_arg(args, "ip", 45), date_from=date_arg(args, "date_from"),
                   date_to=date_arg(args, "date_to"), page=int_arg(args, "page", 1, 1, 1000000),
                   per_page=int_arg(args, "per_page", 50, 10, 200))

    def criteria(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()
                if v and k not in ("page", "per_page")}


def audit_scope(user):
    """Who reads which entries: the audit admin everything but the auditors' own activity;
    the security admin exactly the auditors' activity; nobody else anything."""
    if user.role == "audit_admin":
        return or_(AuditLog.actor_role.is_(None), AuditLog.actor_role != "audit_admin")
    if user.role == "sec_admin":
        return AuditLog.actor_role == "audit_admin"
    raise Forbidden("审计日志仅限审计管理员查阅")




def audit_query(user, f: AuditFilter):
    query = select(AuditLog).where(audit_scope(user))
    if f.q:
        query = query.where(or_(contains(AuditLog.summary, f.q), contains(AuditLog.object_id, f.q)))
    if f.actor:
        query = query.where(AuditLog.actor_name == f.actor)
    if f.event:
        query = query.where(AuditLog.event_type == f.event)
    if f.outcome:
        query = query.where(AuditLog.outcome == f.outcome)
    if f.ip:
        query = query.where(AuditLog.src_ip == f.ip)
    if f.date_from:
        query = query.where(AuditLog.at >= local_day_start(f.date_from))
    if f.date_to:
        query = query.where(AuditLog.at < local_day_start(f.date_to + timedelta(days=1)))
    return query.order_by(AuditLog.id.desc())


@bp.route("/audit")
@login_required
def audit_log():
    _require("audit_admin", "sec_admin")
    f = AuditFilter.from_args(request.args)
    items, total = paginate(audit_query(current_user, f), f.page, f.per_page)
    if f.criteria():
        audit("audit.search", "查阅审计日志", detail={"criteria": f.criteria(), "results": total})
        db.session.commit()
    return render_template("security/audit.html", f=f, items=items, total=total, events=EVENT_LABELS,
                           outcomes=AuditLog.OUTCOME_LABELS, pages=max(1, -(-total // f.per_page)),
                           event_label=event_label)


@bp.route("/audit/export.xlsx")
@login_required
def audit_export():
    _require("audit_admin", "sec_admin")
    f = AuditFilter.from_args(request.args)

    def rows():
        for e in db.session.scalars(audit_query(current_user, f).execution_options(yield_per=1000)):
            yield [e.id, to_local(e.at).strftime("%Y-%m-%d %H:%M:%S"), e.actor_name or "", role_label(e.actor_role),
                   e.src_ip or "", event_label(e.event_type), e.outcome_label, e.object_type or "", e.object_id or "",
                   e.summary, e.entry_hash]
    return stream_xlsx("审计日志", ["序号", "时间", "账号", "角色", "来源地址", "事件", "结果", "对象类型", "对象",
                                "摘要", "链值"], rows(), filename="审计日志.xlsx", audit_event="audit.export",
                       criteria=f.criteria())


@bp.route("/audit/verify", methods=["POST"])
@login_required
def audit_verify():
    _require("audit_admin")
    result = verify_chain()
    audit("audit.verify", "审计链校验" + ("通过" if result.ok else "失败：" + result.problems[0]),
          outcome="success" if result.ok else "failure",
          detail={"checked": result.checked, "checkpoints": result.checkpoints, "first_bad_id": result.first_bad_id})
    db.session.commit()
    if result.ok:
        flash(f"审计链校验通过：{result.checked} 条记录、{result.checkpoints} 个 SM2 签名检查点、"
              f"{result.anchored} 个库外锚定检查点" + "".join("；注意：" + n for n in result.notes), "success")
    else:
        flash("审计链校验失败：" + result.problems[0], "error")
    return redirect(url_for("security.audit_log"))
