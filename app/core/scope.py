"""Data scope, enforced in the query layer for every list, detail, download and API call.

Regulators see their region and below (region-code prefix); enterprise users see the cases
their organisation takes part in; personal roles (operator, expert) see the cases they started
or hold or held a task in; platform roles see no case data.
"""
from __future__ import annotations

from typing import Callable

from flask import g, has_request_context
from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import aliased

from ..cases.models import Case, CaseParty, Task
from .models import Equipment, Organization, User
from .roles import ROLES
from .statements import built, forget_built


def in_region(column, prefix: str):
    """Rows whose 6-digit region code lies in the region with this GB/T 2260 prefix. A county's
    prefix is its whole code: equality then, which the planner estimates and indexes exactly
    (a LIKE made it walk a whole table in created_at order for a county ledger search)."""
    if len(prefix) == 6:
        return column == prefix
    return column.startswith(prefix, autoescape=True)


def user_key(user: User) -> tuple:
    """Everything about a user the scope conditions read: they are built once per key (core/statements)."""
    return (user.id, user.role, user.region_code, user.org_id)


def case_scope(user: User):
    """A SQL condition on Case limiting rows to what `user` may see."""
    return built("case_scope", user_key(user), lambda: _case_scope(user))


def _case_scope(user: User):
    if user.is_regulator:
        return in_region(Case.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return Case.id.in_(select(CaseParty.case_id).where(CaseParty.org_id == user.org_id))
    role = ROLES.get(user.role)
    if role is not None and role.side == "personal":
        # A personal lane (candidateUser) assigns the task to the person: assignee_id is the
        # candidate. An alias keeps the subquery from correlating with a Task in the outer query.
        held = aliased(Task, name="scope_task")
        return or_(Case.started_by_id == user.id,
                   Case.id.in_(select(held.case_id).where(or_(held.assignee_id == user.id,
                                                              held.completed_by_id == user.id))))
    return false()


# Further grounds to read single cases, registered at start-up by the packages that grant them
# (app/taskops: a copy, 抄送, lets its recipient read that case): user -> condition on Case.
_READ_GRANTS: list[Callable[[User], object]] = []


def read_grant(fn):
    _READ_GRANTS.append(fn)
    forget_built()
    return fn


def case_read_scope(user: User):
    """`case_scope` plus the cases a registered read grant opens to the user (抄送 grants read access
    to that case only). Used for single-case reads (case page, task page, attachments); lists keep
    `case_scope`."""
    return built("case_read_scope", user_key(user),
                 lambda: or_(case_scope(user), *(grant(user) for grant in _READ_GRANTS)))


def candidate_condition(user: User):
    """Open tasks `user` may claim or work on (unclaimed candidates, or assigned to them)."""
    if user.is_regulator:
        candidate = and_(Task.candidate_role == user.role, Task.candidate_region == user.region_code)
    elif user.is_enterprise and user.org_id:
        candidate = and_(Task.candidate_role == user.role, Task.candidate_org_id == user.org_id)
    else:
        candidate = false()   # personal roles: their tasks carry assignee_id (candidateUser), matched below
    # 代理人: the tasks of those the user stands in for. Resolved to ids first: an IN (subquery) inside
    # the OR turns the province inbox count into a parallel scan of every task (bench/inbox.py);
    # plain id conditions keep it a BitmapOr of the task indexes. Chains (A → B → C) are followed.
    return or_(and_(Task.assignee_id.is_(None), candidate), Task.assignee_id.in_(_acting_for(user)))


def todo_condition(user: User):
    """Open tasks `user` may work on (`candidate_condition`) within their case scope, as a condition
    on the task alone: the 待办 list, its saved-filter counts and its badge join the case only when
    a filter asks for case columns.

    A regulator's unclaimed candidate tasks need no scope check at all: a task's candidate_region is
    the case's region at the lane's level (engine/assignment.resolve, re-resolved when a transfer
    moves the case: transfers/services.py), so a region equal to the user's lies inside the user's
    scope (its region_prefix is a prefix of the case's region). A busy county's thousands of open
    tasks are then read from the task index alone instead of joining as many cases (bench/queries.py).
    Claimed and deputised tasks keep the check (EXISTS on their case)."""
    return built("todo", (*user_key(user), *_acting_for(user)), lambda: _todo_condition(user))


def _todo_condition(user: User):
    return and_(Task.status == "open", or_(_unclaimed_mine(user), _held_in_scope(user))
                if user.is_regulator else and_(candidate_condition(user), _case_in_scope(user)))


def todo_count_statement(user: User):
    """The 待办 badge and tab count (`todo_condition`); for a regulator two counts added, the
    unclaimed part an index-only scan of ix_task_unclaimed_regulator."""
    return built("todo_count", (*user_key(user), *_acting_for(user)), lambda: _todo_count_statement(user))


def _todo_count_statement(user: User):
    if not user.is_regulator:
        return select(func.count()).select_from(Task).where(todo_condition(user))
    unclaimed = select(func.count()).select_from(Task).where(Task.status == "open", _unclaimed_mine(user))
    held = select(func.count()).select_from(Task).where(Task.status == "open", _held_in_scope(user))
    return select(unclaimed.scalar_subquery() + held.scalar_subquery())


def _unclaimed_mine(user: User):
    return and_(Task.assignee_id.is_(None), Task.candidate_role == user.role, Task.candidate_region == user.region_code)


def _held_in_scope(user: User):
    return and_(Task.assignee_id.in_(_acting_for(user)), _case_in_scope(user))


def _case_in_scope(user: User):
    return select(Case.id).where(Case.id == Task.case_id, case_scope(user)).correlate(Task).exists()


# Who stands in for whom today (代理人) is kept by app/taskops/deputies.py, which registers its
# lookup here at start-up: user id -> ids of those the user acts for (through chains).
_PRINCIPALS: list[Callable[[int], list[int]]] = []


def principals_provider(fn):
    _PRINCIPALS[:] = [fn]
    return fn


def _acting_for(user: User) -> list[int]:
    """The user and those they stand in for today (through deputy chains), read once per request
    (the inbox builds the condition for every tab count, the list and each saved filter)."""
    cache = g.setdefault("acting_for", {}) if has_request_context() else {}
    if user.id not in cache:
        cache[user.id] = [user.id, *(_PRINCIPALS[0](user.id) if _PRINCIPALS else [])]
    return cache[user.id]


acting_for_ids = _acting_for


def acts_for(user: User, principal_id: int | None) -> bool:
    """`user` stands in today for `principal_id` (not themselves)."""
    return principal_id is not None and principal_id != user.id and principal_id in _acting_for(user)


def is_candidate(user: User, task: Task) -> bool:
    if user.is_regulator:
        return task.candidate_role == user.role and task.candidate_region == user.region_code
    if user.is_enterprise:
        return (user.org_id is not None and task.candidate_role == user.role
                and task.candidate_org_id == user.org_id)
    return False


def equipment_scope(user: User):
    if user.is_regulator:
        return in_region(Equipment.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return Equipment.use_org_id == user.org_id
    return false()


def organization_scope(user: User):
    if user.is_regulator:
        return in_region(Organization.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return Organization.id == user.org_id
    return false()
