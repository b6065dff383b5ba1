"""Inbox, case and attachment queries — every one filtered by the user's data scope."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from ..core.clock import local_day_start, today_local
from ..core.models import Attachment, Equipment, Organization, User
from ..core.regions import region_name, region_prefix
from ..core.params import contains, int_arg, text_arg
from ..core.scope import case_read_scope, case_scope, equipment_scope, in_region, todo_condition, todo_count_statement
from ..errors import NotFound
from ..extensions import db
from ..taskops.models import CaseCopy
from . import sortfields
from .models import WARNING_RANK, Case, CaseEvent, Task

BOXES = ("todo", "done", "started", "copies")
READ_STATES = ("unread", "read")      # 抄送我的: filter by read state


@dataclass
class InboxFilter:
    box: str = "todo"
    process: str | None = None
    status: str | None = None
    region: str | None = None
    warning: str | None = None
    overdue: bool = False
    due_within: int | None = None     # due before the end of the n-th local day from today (incl. overdue)
    q: str | None = None
    sort: str = "due"
    read: str | None = None           # 抄送我的 only: unread | read
    page: int = 1
    per_page: int = 20

    @property
    def unfiltered(self) -> bool:
        """No condition beyond the box: its total is the tab's badge count (same statement).
        Not for 抄送我的, whose badge counts the unread copies only."""
        return self.box != "copies" and not (self.process or self.status or self.region or self.warning
                                             or self.overdue or self.due_within or self.q)

    @classmethod
    def from_args(cls, args) -> "InboxFilter":
        box = args.get("box", "todo")
        return cls(box=box if box in BOXES else "todo", process=args.get("process") or None,
                   status=args.get("status") or None, region=(args.get("region") or "").strip() or None,
                   warning=args.get("warning") or None, overdue=args.get("overdue") in ("1", "true", "on"),
                   due_within=int_arg(args, "due_within", 0, 0, 366) or None,
                   q=text_arg(args, "q"),
                   sort=_sort_arg(args),
                   read=args.get("read") if box == "copies" and args.get("read") in READ_STATES else None,
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 5, 100))


SORTS = ("due", "-created", "created", "warning")


def _sort_arg(args) -> str:
    """A base sort, or a business field of the filtered process (app/cases/sortfields.py)."""
    sort = args.get("sort")
    if sort in SORTS or sortfields.find(args.get("process") or None, sort):
        return sort
    return "due"


def _start_of_today_utc() -> datetime:
    return local_day_start(today_local())


def inbox_query(user: User, f: InboxFilter):
    """One indexed query over the task projection (todo/done), cases (started) or copies (抄送我的)."""
    if f.box == "started":
        query = select(Case).where(Case.started_by_id == user.id, case_scope(user))
        entity, due_col, warn_col, created_col = Case, Case.due_at, Case.warning_level, Case.created_at
        case_cols = Case
    elif f.box == "copies":
        # 抄送我的: the copies to the user (index ix_case_copy_user); a copy grants reading its case,
        # so no data-scope condition here (app/core/scope.py case_read_scope).
        query = (select(CaseCopy).join(Case, CaseCopy.case_id == Case.id).where(CaseCopy.user_id == user.id)
                 .options(joinedload(CaseCopy.case)))
        if f.read:
            query = query.where(CaseCopy.read_at.is_(None) if f.read == "unread" else CaseCopy.read_at.is_not(None))
        entity, due_col, warn_col, created_col = CaseCopy, Case.due_at, Case.warning_level, CaseCopy.created_at
        case_cols = Case
    else:
        query = select(Task)
        # The case is joined only for case filters: counting a busy user's tens of thousands of done
        # tasks then reads one index (ix_task_done_by), and sorting a county's thousands of open
        # tasks reads the tasks alone; the page's 20 cases come in one more statement.
        if _needs_case(f):
            query = query.join(Case, Task.case_id == Case.id)
        if f.box == "todo":
            query = query.where(todo_condition(user))
        else:
            query = query.where(Task.completed_by_id == user.id, Task.status == "completed")
        query = query.options(selectinload(Task.case))
        entity, due_col, warn_col, created_col = Task, Task.due_at, Task.warning_level, Task.created_at
        case_cols = Case
    query = query.where(*filter_conditions(f, case_cols, due_col, warn_col,
                                           Task.process_key if entity is Task else case_cols.process_key))
    business = sortfields.find(f.process, f.sort)
    if business is not None:       # only with a process filter: the case is joined in every box
        return sortfields.order(query, business, entity)
    order = {
        "due": [due_col.is_(None), due_col.asc(), entity.id.desc()],
        "created": [created_col.asc(), entity.id.asc()],
        "-created": [created_col.desc(), entity.id.desc()],
        "warning": [_warning_rank(warn_col).desc(), due_col.asc(), entity.id.desc()],
    }[f.sort]
    if f.box == "done":
        order = [Task.completed_at.desc(), Task.id.desc()] if f.sort == "due" else order
    return query.order_by(*order)


def _needs_case(f: InboxFilter) -> bool:
    """Whether a task box's filter asks for case columns (filter_conditions; the process is on the
    task itself) or sorts by a business field (joined from the case: app/cases/sortfields)."""
    return bool(f.status or f.region or f.q or sortfields.find(f.process, f.sort))


def filter_conditions(f: InboxFilter, case_cols, due_col, warn_col, process_col) -> list:
    """The conditions a filter adds to its box's query (the case columns, due date, warning colour
    and process of the box's rows)."""
    conditions = []
    if f.process:
        conditions.append(process_col == f.process)
    if f.status:
        conditions.append(case_cols.status == f.status)
    if f.region and len(f.region) == 6 and f.region.isdigit():
        conditions.append(in_region(case_cols.region_code, region_prefix(f.region)))
    if f.warning:
        conditions.append(warn_col == f.warning)
    if f.overdue:
        conditions.append(due_col < _start_of_today_utc())
    if f.due_within:
        from datetime import timedelta
        conditions.append(due_col < _start_of_today_utc() + timedelta(days=f.due_within + 1))
    if f.q:
        conditions.append(or_(contains(case_cols.case_no, f.q), contains(case_cols.title, f.q)))
    return conditions


def todo_filter_counts(user: User, filters: list[InboxFilter]) -> list[int]:
    """The counts of several 待办 filters in one pass over the user's open tasks (one statement with
    a FILTER clause per filter, instead of walking a busy county's thousands of tasks per filter).
    The same pass counts the 待办 tab itself: the request's badge and tab then need no other walk."""
    if not filters:
        return []
    columns = [func.count().filter(and_(true(), *filter_conditions(f, Case, Task.due_at, Task.warning_level,
                                                                  Task.process_key)))
               for f in filters]
    query = select(func.count(), *columns).select_from(Task).where(todo_condition(user))
    if any(_needs_case(f) for f in filters):
        query = query.join(Case, Task.case_id == Case.id)
    total, *row = db.session.execute(query).one()
    _count_memo().setdefault(user.id, {})["todo"] = total or 0
    return [count or 0 for count in row]


def _warning_rank(column):
    from sqlalchemy import case as sql_case
    return sql_case(*[(column == level, rank) for level, rank in WARNING_RANK.items()], else_=0)


def paginate(query, page: int, per_page: int, total: int | None = None) -> tuple[list, int]:
    """`total`: a count already known (the tab badge of an unfiltered inbox box) saves a count.
    A page that is not full is the last one, so its total is known too: this needs one row per item
    (many-to-one joinedload only; collections with selectinload, as every caller does)."""
    offset = (page - 1) * per_page
    items = list(db.session.scalars(query.limit(per_page).offset(offset)).unique())
    if total is None:
        if 0 < len(items) < per_page or (page == 1 and not items):
            total = offset + len(items)
        else:
            total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return items, total


def inbox_count_statements(user: User) -> dict:
    """The badge counts of the inbox tabs (bench/queries.py times these very statements);
    `copies` counts the unread 抄送 (index ix_case_copy_user)."""
    return {
        # count(*), not count(id): the id is in no index these counts can read alone (index-only scans)
        "todo": todo_count_statement(user),
        "done": select(func.count()).select_from(Task).where(Task.completed_by_id == user.id, Task.status == "completed"),
        "started": select(func.count()).select_from(Case).where(Case.started_by_id == user.id, case_scope(user)),
        "copies": select(func.count()).select_from(CaseCopy).where(CaseCopy.user_id == user.id, CaseCopy.read_at.is_(None)),
    }


def _count_memo() -> dict:
    """Per request: {user id: {box: count}} (the badge, the tabs and the saved filters share counts)."""
    from flask import g, has_request_context
    return g.setdefault("_inbox_counts", {}) if has_request_context() else {}


def todo_count(user: User) -> int:
    """The header's 待办 badge on every page: the one count it shows, not the four of the inbox tabs
    (those cost a busy county supervisor ≈50 ms a page on the province data)."""
    memo = _count_memo().setdefault(user.id, {})
    if "todo" not in memo:
        memo["todo"] = db.session.scalar(inbox_count_statements(user)["todo"]) or 0
    return memo["todo"]


def inbox_counts(user: User) -> dict[str, int]:
    """Once per request: the navigation badge and the inbox tabs show the same counts (a count the
    request already made — the 待办 one with the saved filters, say — is not made again)."""
    memo = _count_memo().setdefault(user.id, {})
    for box, stmt in inbox_count_statements(user).items():
        if box not in memo:
            memo[box] = db.session.scalar(stmt) or 0
    return dict(memo)


def visible_case(user: User, case_id: int, own_scope: bool = False) -> Case:
    """`own_scope`: for actions (logs, SMS) — a copy (抄送) grants reading only."""
    scope = case_scope(user) if own_scope else case_read_scope(user)
    case = db.session.scalar(select(Case).where(Case.id == case_id, scope))
    if case is None:
        raise NotFound("案件不存在或不在您的查看范围内")
    return case


def visible_task(user: User, task_id: int) -> Task:
    """The task with its case and process version (every caller reads them), in one statement."""
    task = db.session.scalar(select(Task).join(Case, Task.case_id == Case.id)
                             .where(Task.id == task_id, case_read_scope(user))
                             .options(contains_eager(Task.case).joinedload(Case.process_version)))
    if task is None:
        raise NotFound("任务不存在或不在您的查看范围内")
    return task


def visible_attachment(user: User, attachment_id: int) -> Attachment:
    att = db.session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound("附件不存在或无权下载")
    if att.case_id is None:
        if att.uploaded_by_id != user.id:
            raise NotFound("附件不存在或无权下载")
        return att
    visible_case(user, att.case_id)  # raises NotFound out of scope
    return att


def timeline(case: Case) -> list[dict]:
    events = list(db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                     .options(joinedload(CaseEvent.actor)).order_by(CaseEvent.seq)))
    att_ids = {i for e in events for i in json.loads(e.attachment_ids or "[]")}
    atts = {a.id: a for a in db.session.scalars(select(Attachment).where(Attachment.id.in_(att_ids)))} if att_ids else {}
    rows = []
    for e in events:
        actor = e.actor
        org = (actor.org.name if actor.org else region_name(actor.region_code)) if actor else None
        rows.append({"event": e, "actor": actor.display_name if actor else "系统", "unit": org,
                     "data": json.loads(e.data) if e.data else None,
                     "attachments": [atts[i] for i in json.loads(e.attachment_ids or "[]") if i in atts]})
    return rows


def open_tasks(case: Case) -> list[Task]:
    return list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")
                                   .order_by(Task.id)))


def last_submission(case: Case, task_def: str) -> dict:
    """The latest data submitted at this step of the case: prefill for rework rounds."""
    row = db.session.scalar(select(Task.data).where(Task.case_id == case.id, Task.task_def == task_def,
                                                    Task.status == "completed")
                            .order_by(Task.completed_at.desc()).limit(1))
    return json.loads(row) if row else {}


def equipment_suggestions(user: User, q: str, limit: int = 20) -> list[Equipment]:
    query = select(Equipment).options(joinedload(Equipment.use_org))
    if user.role != "inspection_agency":
        query = query.where(equipment_scope(user))
    if q:
        query = query.outerjoin(Organization, Equipment.use_org_id == Organization.id).where(
            or_(contains(Equipment.code, q), contains(Equipment.name, q), contains(Organization.name, q)))
    return list(db.session.scalars(query.order_by(Equipment.code).limit(limit)))
