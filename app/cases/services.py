"""Inbox, case and attachment queries — every one filtered by the user's data scope."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, bindparam, func, or_, select, true
from sqlalchemy import case as sql_case
from sqlalchemy.orm import contains_eager, defer, joinedload, selectinload

from ..core.clock import as_utc, local_day_start, today_local, utcnow
from ..core.models import Attachment, Equipment, Organization, User
from ..core.regions import region_name, region_prefix
from ..core.params import contains, int_arg, text_arg
from ..core.scope import (acting_for_ids, case_read_scope, case_scope, equipment_scope, in_region, todo_condition,
                          todo_count_statement, user_key)
from ..core.statements import built
from ..engine.registry import version_forms
from ..errors import Forbidden, NotFound
from ..extensions import db
from ..taskops.deputies import may_work
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


SORTS = ("due", "-created", "created", "warning", "-completed", "completed")   # the last two: 已办


def _sort_arg(args) -> str:
    """A base sort, or a business field of the filtered process (app/cases/sortfields.py)."""
    sort = args.get("sort")
    if sort in SORTS or sortfields.find(args.get("process") or None, sort):
        return sort
    return "due"


def _start_of_today_utc() -> datetime:
    return local_day_start(today_local())


def inbox_query(user: User, f: InboxFilter):
    """One indexed query over the task projection (todo/done), cases (started) or copies (抄送我的).
    Built once per user and filter (core/statements.built): the 待办 key holds the ids the user acts for
    today, a due-date filter's key today's date."""
    key = (*user_key(user), *(acting_for_ids(user) if f.box == "todo" else ()), "|",
           f.box, f.process, f.status, f.region, f.warning, f.overdue, f.due_within, f.q, f.sort, f.read,
           today_local() if f.overdue or f.due_within else None)
    return built("inbox", key, lambda: _inbox_query(user, f))


def _inbox_query(user: User, f: InboxFilter):
    # A list never runs the engine: the cases come without their engine state (10–25 kB each).
    if f.box == "started":
        query = select(Case).where(Case.started_by_id == user.id, case_scope(user)).options(defer(Case.state))
        entity, due_col, warn_col, created_col = Case, Case.due_at, Case.warning_level, Case.created_at
        case_cols = Case
    elif f.box == "copies":
        # 抄送我的: the copies to the user (index ix_case_copy_user); a copy grants reading its case,
        # so no data-scope condition here (app/core/scope.py case_read_scope).
        query = (select(CaseCopy).join(Case, CaseCopy.case_id == Case.id).where(CaseCopy.user_id == user.id)
                 .options(joinedload(CaseCopy.case).defer(Case.state)))
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
        # The process version (its number is in every row's case summary) with the page's cases.
        query = query.options(selectinload(Task.case).options(defer(Case.state), joinedload(Case.process_version)))
        entity, due_col, warn_col, created_col = Task, Task.due_at, Task.warning_level, Task.created_at
        case_cols = Case
    query = query.where(*filter_conditions(f, case_cols, due_col, warn_col,
                                           Task.process_key if entity is Task else case_cols.process_key))
    business = sortfields.find(f.process, f.sort)
    if business is not None:       # only with a process filter: the case is joined in every box
        return sortfields.order(query, business, entity)
    order = {
        "created": lambda: [created_col.asc(), entity.id.asc()],
        "-created": lambda: [created_col.desc(), entity.id.desc()],
        "warning": lambda: [_warning_rank(warn_col).desc(), due_col.asc(), entity.id.desc()],
    }.get(f.sort, lambda: [due_col.is_(None), due_col.asc(), entity.id.desc()])()
    if f.box == "done":      # 已办: by completion time (newest first unless asked otherwise)
        order = [Task.completed_at.asc(), Task.id.asc()] if f.sort == "completed" else \
            [Task.completed_at.desc(), Task.id.desc()]
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
    statement = built("visible_task", user_key(user), lambda: (
        select(Task).join(Case, Task.case_id == Case.id)
        .where(Task.id == bindparam("task_id"), case_read_scope(user))
        .options(contains_eager(Task.case).joinedload(Case.process_version))))
    task = db.session.scalar(statement, {"task_id": task_id})
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


def step_outcome(schema: dict, data: dict | None) -> dict | None:
    """The decision a submission made, as a tag {label, tone}. A form declares it in `ui.outcome`
    ({"field": …, "labels": {value: 短标签}, "tones": {value: pass|fail|extension}}); a form that
    declares nothing shows the chosen option of its first radio field, so every process gets one."""
    if not data:
        return None
    spec = (schema.get("ui") or {}).get("outcome")
    props = schema.get("properties", {})
    if spec is None:
        field = next((name for name, p in props.items()
                      if p.get("enum") and (p.get("ui:widget") or "radio") == "radio"), None)
        spec = {"field": field} if field else None
    if not spec or data.get(spec["field"]) is None:
        return None
    value = data[spec["field"]]
    label = (spec.get("labels") or {}).get(value)
    if label is None:
        prop = props.get(spec["field"], {})
        names = dict(zip(prop.get("enum", []), prop.get("ui:enumNames") or prop.get("enum", [])))
        label = names.get(value)
    if label is None:
        return None
    tone = (spec.get("tones") or {}).get(value) or _CONVENTIONAL_TONES.get(value, "step")
    return {"label": label, "tone": tone}


# A form that declares no tones: the usual option values of a decision.
_CONVENTIONAL_TONES = {"approve": "pass", "pass": "pass", "reject": "fail", "decline": "fail", "fail": "fail"}


def _duration_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "不足 1 分钟"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时" if hours else f"{days} 天"
    return f"{hours} 小时 {mins} 分" if hours else f"{mins} 分钟"


_ATTACHMENTS = select(Attachment).where(Attachment.id.in_(bindparam("ids", expanding=True)))


@lru_cache(maxsize=1)
def _timeline_statement():
    """A case's timeline entries with actor and unit (built once: every action's response reads it).
    A completion's form (for its decision) rides on its row: the form of the step's newest task."""
    form_key = (select(Task.form_key).where(Task.case_id == CaseEvent.case_id, Task.task_def == CaseEvent.task_def)
                .order_by(Task.id.desc()).limit(1).correlate(CaseEvent).scalar_subquery())
    return (select(CaseEvent, sql_case((CaseEvent.kind == "completed", form_key)))
            .where(CaseEvent.case_id == bindparam("case_id"))
            .options(joinedload(CaseEvent.actor).joinedload(User.org))
            .order_by(CaseEvent.seq))


def timeline(case: Case) -> list[dict]:
    """Each entry with its actor and unit; a completion also with its decision (`outcome`) and how
    long the step took from the moment it was assigned (`duration`)."""
    rows = db.session.execute(_timeline_statement(), {"case_id": case.id}).all()
    events = [event for event, _ in rows]
    form_keys = {event.id: key for event, key in rows}
    att_ids = {i for e in events for i in json.loads(e.attachment_ids or "[]")}
    atts = {a.id: a for a in db.session.scalars(_ATTACHMENTS, {"ids": sorted(att_ids)})} if att_ids else {}
    forms = version_forms(case.process_version)
    assigned_at: dict[str, datetime] = {}
    rows = []
    for e in events:
        actor = e.actor
        org = (actor.org.name if actor.org else region_name(actor.region_code)) if actor else None
        data = json.loads(e.data) if e.data else None
        outcome = duration = None
        if e.kind == "assigned" and e.task_def:
            assigned_at[e.task_def] = e.at
        elif e.kind == "completed" and e.task_def:
            outcome = step_outcome(forms.get(form_keys.get(e.id) or "", {}), data)
            if e.task_def in assigned_at:
                duration = _duration_text((as_utc(e.at) - as_utc(assigned_at.pop(e.task_def))).total_seconds())
        elif e.kind == "returned":
            outcome = {"label": "退回", "tone": "returned"}
        rows.append({"event": e, "actor": actor.display_name if actor else "系统", "unit": org,
                     "data": data, "outcome": outcome, "duration": duration,
                     "attachments": [atts[i] for i in json.loads(e.attachment_ids or "[]") if i in atts]})
    return rows


def done_outcomes(tasks: list[Task]) -> dict[int, dict]:
    """已办: my decision at each completed task (its submitted data read against its form)."""
    out = {}
    for task in tasks:
        if task.data:
            schema = version_forms(task.case.process_version).get(task.form_key or "", {})
            outcome = step_outcome(schema, json.loads(task.data))
            if outcome:
                out[task.id] = outcome
    return out


def open_tasks(case: Case) -> list[Task]:
    return list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")
                                   .order_by(Task.id)))


def save_draft(task: Task, user: User, values: dict) -> None:
    """暂存: keep what the holder typed (and the files they attached) without checking or running
    anything; only someone who may work the open task may, and it stays theirs until submitted."""
    if task.status != "open" or not may_work(user, task):
        raise Forbidden("只有该任务的办理人可以暂存")
    task.draft = json.dumps(values, ensure_ascii=False)
    task.draft_saved_at = utcnow()
    db.session.flush()


def last_submission(case: Case, task_def: str) -> dict:
    """The latest data submitted at this step of the case: prefill for rework rounds."""
    row = db.session.scalar(select(Task.data).where(Task.case_id == case.id, Task.task_def == task_def,
                                                    Task.status == "completed")
                            .order_by(Task.completed_at.desc()).limit(1))
    return json.loads(row) if row else {}


def equipment_suggestions(user: User, q: str, limit: int = 20) -> list[Equipment]:
    query = select(Equipment).options(joinedload(Equipment.use_org))
    if user.role == "maintenance_unit" and user.org_id:      # reports hazards on the devices it maintains
        query = query.where(or_(Equipment.maintenance_org_id == user.org_id, Equipment.use_org_id == user.org_id))
    elif user.role != "inspection_agency":
        query = query.where(equipment_scope(user))
    if q:
        query = query.outerjoin(Organization, Equipment.use_org_id == Organization.id).where(
            or_(contains(Equipment.code, q), contains(Equipment.name, q), contains(Organization.name, q)))
    return list(db.session.scalars(query.order_by(Equipment.code).limit(limit)))


_STEP_STATES = {"active": "当前环节", "done": "已完成", "todo": ""}


@lru_cache(maxsize=64)
def _user_steps(version_id: int, content_sha256: str, bpmn_xml: str) -> tuple[tuple[str, str, str], ...]:
    """(bpmn id, name, lane role key) of every user task, in the order the BPMN file lists them."""
    from lxml import etree
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    root = etree.fromstring(bpmn_xml.encode("utf-8"))
    lane_of = {ref.text.strip(): lane.get("name") or "" for lane in root.iterfind(".//bpmn:lane", ns)
               for ref in lane.iterfind("bpmn:flowNodeRef", ns) if ref.text}
    return tuple((t.get("id"), t.get("name") or t.get("id"), lane_of.get(t.get("id"), ""))
                 for t in root.iterfind(".//bpmn:userTask", ns))


def diagram_steps(case: Case, active_ids: list[str], done_ids: list[str]) -> list[dict]:
    """The process's steps as a list for phones (where the diagram is too small to read)."""
    from ..core.roles import role_label
    version = case.process_version
    active, done = set(active_ids), set(done_ids)
    steps = []
    for bpmn_id, name, lane in _user_steps(version.id, version.content_sha256, version.bpmn_xml):
        state = "active" if bpmn_id in active else "done" if bpmn_id in done else "todo"
        steps.append({"id": bpmn_id, "name": name, "lane": role_label(lane) if lane else "",
                      "state": state, "state_label": _STEP_STATES[state]})
    return steps
