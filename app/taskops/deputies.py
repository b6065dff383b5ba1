"""代理人 (absence deputy): a user names a deputy for a date range; during it, tasks that would be
assigned to the user personally go to the deputy (recorded on the task as `deputy_for_id`), and the
deputy may work the tasks the user had claimed. Candidate-group tasks need nothing: a deputy must
have the same role and region (regulators) or organisation (enterprises), so they see those anyway.

Chains: when A's deputy B is away too and names C, A's personal tasks go to C (still "代 A 办理"),
and C may work the tasks A had claimed. A chain is followed at most MAX_CHAIN deputies deep; a cycle
(A → B → A) or a chain longer than that stops at A's own deputy B."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, and_, bindparam, select

from ..core import scope
from ..core.clock import today_local, utcnow
from ..core.models import User
from ..engine import hooks
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from .models import UserDeputy

MAX_DAYS = 366
MAX_CHAIN = 5      # deputies followed from the absent user (A → B → C … ) before giving up


def _active(day=None):
    """Deputy links in force on `day` (a date, or a bound parameter; today when None)."""
    day = today_local() if day is None else day
    return and_(UserDeputy.revoked_at.is_(None), UserDeputy.starts_on <= day, UserDeputy.ends_on >= day)


def active_deputy(user_id: int | None, day: date | None = None) -> User | None:
    if user_id is None:
        return None
    deputy_id = db.session.scalar(select(UserDeputy.deputy_id).where(UserDeputy.user_id == user_id, _active(day))
                                  .order_by(UserDeputy.id.desc()).limit(1))
    deputy = db.session.get(User, deputy_id) if deputy_id else None
    return deputy if deputy is not None and deputy.is_active else None


def principals_query(deputy_id: int, day: date | None = None):
    """SELECT of the users who name `deputy_id` as their deputy today (one link of a chain)."""
    return select(UserDeputy.user_id).where(UserDeputy.deputy_id == deputy_id, _active(day))


# Every inbox request asks (one link of a chain per statement): built once, with parameters.
_PRINCIPALS_OF = select(UserDeputy.user_id).where(UserDeputy.deputy_id.in_(bindparam("deputies", expanding=True)),
                                                  _active(bindparam("day", type_=Date)))


@scope.principals_provider
def principal_ids(deputy_id: int, day: date | None = None) -> list[int]:
    """Everyone for whom `deputy_id` acts today, through chains: A names B, B (away) names C →
    C acts for B and A. One query per link, at most MAX_CHAIN links; cycles end the walk."""
    found: list[int] = []
    seen, frontier = {deputy_id}, [deputy_id]
    day = day or today_local()
    for _depth in range(MAX_CHAIN):
        if not frontier:
            break
        rows = db.session.scalars(_PRINCIPALS_OF, {"deputies": frontier, "day": day}).all()
        frontier = [uid for uid in dict.fromkeys(rows) if uid not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return found


def deputy_chain(user_id: int | None, day: date | None = None) -> list[User]:
    """The deputies followed from `user_id`: [B] when B is in, [B, C] when B is away and names C.
    Empty when the user names no active deputy. On a cycle or past MAX_CHAIN only [B] is kept."""
    chain: list[User] = []
    seen = {user_id}
    current = user_id
    while True:
        deputy = active_deputy(current, day)
        if deputy is None:
            return chain
        if deputy.id in seen or len(chain) >= MAX_CHAIN:
            return chain[:1]        # a cycle or an endless chain: the principal's own choice
        chain.append(deputy)
        seen.add(deputy.id)
        current = deputy.id


acts_for = scope.acts_for


@hooks.personal_router
def route(user_id: int | None) -> tuple[int | None, int | None]:
    """(assignee, on behalf of) for a task that would go to `user_id` personally: the end of the
    user's deputy chain, on the user's behalf."""
    chain = deputy_chain(user_id)
    if not chain:
        return user_id, None
    return chain[-1].id, user_id


def may_work(user: User, task) -> bool:
    """The task page's "may act": the holder, a candidate of an unclaimed task, or the holder's deputy
    (through a chain). The engine re-checks under the case lock (runtime._ensure_may_act)."""
    if task.status != "open":
        return False
    if task.assignee_id is None:
        return scope.is_candidate(user, task)
    return task.assignee_id == user.id or acts_for(user, task.assignee_id)


def acting_for(user: User, task) -> User | None:
    """Whom `user` works this open task for: the absent user it was routed from, or the absent holder."""
    if task.status != "open" or task.assignee_id is None:
        return None
    if task.assignee_id == user.id:
        return task.deputy_for if task.deputy_for_id not in (None, user.id) else None
    return task.assignee if acts_for(user, task.assignee_id) else None


def same_post(user: User, other: User) -> bool:
    """A deputy could do the user's tasks: same role, and same region (regulator) or organisation."""
    if other.id == user.id or not other.is_active or other.role != user.role:
        return False
    if user.is_regulator:
        return other.region_code == user.region_code
    return user.org_id is not None and other.org_id == user.org_id


def deputy_choices(user: User) -> list[User]:
    query = select(User).where(User.role == user.role, User.id != user.id, User.is_active_flag.is_(True))
    query = query.where(User.region_code == user.region_code) if user.is_regulator else \
        query.where(User.org_id == user.org_id)
    return [u for u in db.session.scalars(query.order_by(User.username)) if same_post(user, u)]


def _date(value, field: str, errors: dict) -> date | None:
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        errors[field] = "请填写日期（年-月-日）"
        return None


def set_deputy(user: User, deputy_id, starts_on, ends_on, note=None) -> UserDeputy:
    from ..security.audit import audit
    if not (user.is_regulator or user.is_enterprise):
        raise Forbidden("只有办理案件的监管和企业用户可以设置代理人")
    errors: dict = {}
    deputy = None
    try:
        deputy = db.session.get(User, int(str(deputy_id).strip()))
    except (TypeError, ValueError):
        pass
    if deputy is None:
        errors["deputy"] = "请选择代理人"
    elif not same_post(user, deputy):
        errors["deputy"] = "代理人须为同一角色、同一辖区（或同一单位）的在岗人员"
    start, end = _date(starts_on, "starts_on", errors), _date(ends_on, "ends_on", errors)
    if start and end:
        if end < start:
            errors["ends_on"] = "结束日期不能早于开始日期"
        elif end < today_local():
            errors["ends_on"] = "结束日期不能早于今天"
        elif (end - start).days >= MAX_DAYS:
            errors["ends_on"] = f"代理期限不能超过 {MAX_DAYS} 天"
        else:
            clash = db.session.scalar(select(UserDeputy).where(
                UserDeputy.user_id == user.id, UserDeputy.revoked_at.is_(None),
                UserDeputy.starts_on <= end, UserDeputy.ends_on >= start).limit(1))
            if clash is not None:
                errors["starts_on"] = (f"与已设置的代理期间 {clash.starts_on}～{clash.ends_on}"
                                       f"（{clash.deputy.display_name}）重叠")
    note = (note or "").strip()[:200] or None
    if errors:
        raise ValidationFailed(errors)
    row = UserDeputy(user_id=user.id, deputy_id=deputy.id, starts_on=start, ends_on=end, note=note,
                     created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    audit("record.change", f"设置代理人：{user.username} {start}～{end} 由 {deputy.username} 代理",
          object_type="user_deputy", object_id=row.id,
          detail={"deputy_id": deputy.id, "starts_on": start.isoformat(), "ends_on": end.isoformat()}, actor=user)
    return row


def revoke_deputy(user: User, row_id: int) -> UserDeputy:
    from ..security.audit import audit
    row = db.session.get(UserDeputy, row_id)
    if row is None or row.user_id != user.id:
        raise NotFound("代理设置不存在")
    if row.revoked_at is not None:
        raise Conflict("该代理设置已撤销", code="already_revoked")
    if row.ends_on < today_local():
        raise Conflict("该代理期间已结束，无需撤销", code="deputy_expired")
    row.revoked_at = utcnow()
    audit("record.change", f"撤销代理人：{user.username} {row.starts_on}～{row.ends_on}（{row.deputy.username}）",
          object_type="user_deputy", object_id=row.id, actor=user)
    return row


def my_deputies(user: User) -> list[UserDeputy]:
    return list(db.session.scalars(select(UserDeputy).where(UserDeputy.user_id == user.id)
                                   .order_by(UserDeputy.starts_on.desc(), UserDeputy.id.desc())))


def acting_for_me(user: User) -> list[UserDeputy]:
    return list(db.session.scalars(select(UserDeputy).where(UserDeputy.deputy_id == user.id, _active())
                                   .order_by(UserDeputy.ends_on)))


def status_of(row: UserDeputy, now: datetime | None = None) -> str:
    today = today_local()
    if row.revoked_at is not None:
        return "已撤销"
    if row.ends_on < today:
        return "已结束"
    if row.starts_on > today:
        return "未开始"
    return "代理中"
