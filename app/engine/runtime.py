"""Engine actions. Each runs inside the caller's transaction under the case row lock;
the caller (request, job or CLI command) commits once or rolls back."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event as sa_event
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..calendar.services import add_working_days
from ..cases.models import Case, CaseEvent, CaseParty, Task, WARNING_RANK
from ..core.clock import DISPLAY_TZ, as_utc, local_day_end, today_local, utcnow
from ..core.models import Attachment, Organization, User
from ..core.regions import region_name
from ..core.roles import role_label
from ..core.scope import acts_for, is_candidate
from ..core.sequences import next_value
from ..core.statements import built
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import GENESIS, chain_mac
from . import assignment, decisions, forms, hooks
from .models import ProcessVersion
from .registry import ensure_spec_loaded, latest_version, version_forms, version_info
from .scripting import SCRIPT_ENGINE
from .serializer import (SERIALIZER_VERSION, SPEC_REGISTRY, dump_workflow, load_workflow, stored_task_data,
                         track_removals)
from .services import CURRENT, ServiceContext, get_start_hook

WARNING_DECISION = "warning_level"


# ---------------------------------------------------------------- helpers

def _user_task_props(spiff_task) -> dict:
    return (spiff_task.task_spec.extensions or {}).get("properties", {}) or {}


def _ready_user_tasks(wf: BpmnWorkflow):
    return [t for t in wf.get_tasks(state=TaskState.READY, manual=True)
            if type(t.task_spec).__name__ == "UserTask"]


WORKING_DAYS_DUE = re.compile(r"^P?(\d{1,4})WD$")


def due_from_expression(expression: str, data: dict, now: datetime) -> datetime | None:
    """dueIn is an expression: an ISO duration ("P10D") from now, a number of working days
    ("10WD" or "P10WD": the end of the 10th working day after today, Asia/Shanghai — see
    docs/法定时限.md), or a date ("2026-12-31") meaning the end of that day in Asia/Shanghai."""
    value = SCRIPT_ENGINE.environment.evaluate(expression, dict(data))
    if not value:
        return None
    value = str(value).strip()
    working = WORKING_DAYS_DUE.match(value.upper())
    if working:
        day = add_working_days(now.astimezone(DISPLAY_TZ).date(), int(working.group(1)))
        return local_day_end(day)
    if value.startswith("P"):
        duration = TimerEventDefinition.parse_iso_duration(value)
        return now + TimerEventDefinition.get_timedelta_from_start(duration, now)
    return local_day_end(datetime.fromisoformat(value).date())


def warning_for(due_at: datetime | None) -> str:
    if due_at is None:
        return "none"
    due_at = as_utc(due_at)
    days_left = (due_at.astimezone(DISPLAY_TZ).date() - today_local()).days
    return decisions.evaluate(WARNING_DECISION, days_left=days_left).get("level") or "none"


# Facts read under the case row lock, valid until the transaction ends because every writer of
# them holds that lock: the newest (seq, hash) of each case's timeline, and the open task rows of a
# case (every Task row is created by _sync, which adds to the list). Forgotten at commit and at any
# rollback (savepoints too).
_CHAIN_HEADS = "timeline_heads"
_OPEN_TASKS = "open_tasks"
_UNSYNCED_HEADS = "timeline_heads_unsynced"   # cases whose row does not carry their newest head yet


def held_open_tasks(case: Case) -> list[Task] | None:
    """The case's open tasks, by id, when this transaction holds them under the case lock (an action
    ran on the case: they are what it left open, flushed); None otherwise (read them)."""
    known = db.session.info.get(_OPEN_TASKS, {}).get(case.id)
    if known is None or any(t.id is None for t in known):
        return None
    return sorted((t for t in known if t.status == "open"), key=lambda t: t.id)


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_chain_heads(session, previous=None) -> None:
    for key in (_CHAIN_HEADS, _OPEN_TASKS):
        session.info.pop(key, None)
    if previous is None or getattr(previous, "parent", None) is None:
        session.info.pop(_UNSYNCED_HEADS, None)      # a savepoint's rollback: the outer entries still count


def _newest_event(case_id: int):
    """(seq, hash) of a case's newest timeline entry as flushed in this transaction."""
    return db.session.execute(select(CaseEvent.seq, CaseEvent.hash).where(CaseEvent.case_id == case_id)
                              .order_by(CaseEvent.seq.desc()).limit(1)).first() or EMPTY_HEAD


def _write_heads(session, only_dirty: bool) -> None:
    """Put each case's newest timeline head on its row. Within a transaction only into flushes that
    update the case row anyway (engine state, lock_version: no statement of its own on the hot path);
    whatever is left goes into the commit's flush, so the head always commits with its entries."""
    pending = session.info.get(_UNSYNCED_HEADS)
    if not pending:
        return
    heads = session.info.get(_CHAIN_HEADS, {})
    dirty = session.dirty if only_dirty else None
    for case_id, case in list(pending.items()):
        if dirty is not None and case not in dirty:
            continue
        # Not in heads: a savepoint rolled back since; its entries are all flushed (or gone) by now.
        seq, head = heads[case_id] if case_id in heads else _newest_event(case_id)
        case.timeline_seq, case.timeline_hash = seq, head
        case.timeline_mac = timeline_head_mac(case_id, seq, head)
        del pending[case_id]


@sa_event.listens_for(Session, "before_flush")
def _heads_into_case_updates(session, _context, _instances) -> None:
    _write_heads(session, only_dirty=True)


@sa_event.listens_for(Session, "before_commit")
def _heads_before_commit(session) -> None:
    _write_heads(session, only_dirty=False)


EMPTY_HEAD = (0, GENESIS)   # (seq, hash) before a case's first timeline entry


def append_event(case: Case, actor: User | None, kind: str, summary: str, *, task_def: str | None = None,
                 step_name: str | None = None, comment: str | None = None, data: dict | None = None,
                 attachment_ids: list[int] | None = None) -> CaseEvent:
    heads = db.session.info.setdefault(_CHAIN_HEADS, {})
    if case.id not in heads:   # not read with the case lock (_locked_case)
        heads[case.id] = tuple(_newest_event(case.id))
    seq, prev_hash = heads[case.id][0] + 1, heads[case.id][1]
    at = utcnow()
    data_text = json.dumps(data, ensure_ascii=False, sort_keys=True) if data else None
    att_text = json.dumps(sorted(attachment_ids)) if attachment_ids else None
    canonical = timeline_canonical({"case_id": case.id, "seq": seq, "at": at, "actor_id": actor.id if actor else None,
                                    "kind": kind, "task_def": task_def, "step_name": step_name, "summary": summary,
                                    "comment": comment, "data": data_text, "attachment_ids": att_text})
    event = CaseEvent(case_id=case.id, seq=seq, at=at, actor_id=actor.id if actor else None, kind=kind,
                      task_def=task_def, step_name=step_name, summary=summary, comment=comment,
                      data=data_text, attachment_ids=att_text, prev_hash=prev_hash,
                      hash=chain_mac("timeline", prev_hash, canonical))
    db.session.add(event)
    heads[case.id] = (seq, event.hash)
    db.session.info.setdefault(_UNSYNCED_HEADS, {})[case.id] = case     # written by _write_heads
    return event


def timeline_head_mac(case_id: int, seq: int, last_hash: str | None) -> str:
    """The MAC over a case's timeline head: without the key, a head rewound past deleted entries
    cannot be made to match them."""
    return chain_mac("timeline_head", last_hash or GENESIS, f"{case_id}|{seq}")


TIMELINE_FIELDS = ("case_id", "seq", "at", "actor_id", "kind", "task_def", "step_name", "summary", "comment",
                   "data", "attachment_ids")


def timeline_canonical(row) -> str:
    """The text a timeline entry's chain value covers: a mapping or an object with TIMELINE_FIELDS
    (`at` in UTC ISO form, so the database session's time zone never matters)."""
    get = row.get if isinstance(row, dict) else (lambda name: getattr(row, name))
    return json.dumps([as_utc(get(f)).isoformat() if f == "at" else get(f) for f in TIMELINE_FIELDS],
                      ensure_ascii=False)


def event_canonical(event: CaseEvent) -> str:
    return timeline_canonical(event)


def verify_case_chain(case_id: int) -> int | None:
    """Return the seq of the first broken timeline entry, or None when the chain holds."""
    problem = verify_case_timeline(case_id)
    return problem[0] if problem else None


def verify_all_timelines(batch: int = 1000):
    """Yield (case_no, seq, reason) for every case whose timeline fails verify_case_timeline."""
    last_id = 0
    while True:
        rows = db.session.execute(select(Case.id, Case.case_no, Case.timeline_seq, Case.timeline_hash,
                                         Case.timeline_mac).where(Case.id > last_id)
                                  .order_by(Case.id).limit(batch)).all()
        if not rows:
            return
        for case_id, case_no, *head in rows:
            problem = verify_case_timeline(case_id, tuple(head))
            if problem:
                yield case_no, *problem
        last_id = rows[-1][0]


def verify_case_timeline(case_id: int, head: tuple | None = None) -> tuple[int, str] | None:
    """(seq, reason) of the first problem in a case's timeline, or None: every entry's MAC and link,
    consecutive seqs, and the head on the case row (`head`: its (seq, hash, mac), when already read),
    which catches the deletion of the newest entries."""
    if case_id in db.session.info.get(_UNSYNCED_HEADS, {}):
        _write_heads(db.session, only_dirty=False)     # entries of this transaction: their head first
    prev, last_seq = GENESIS, 0
    for event in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                    .order_by(CaseEvent.seq)):
        if event.seq != last_seq + 1:
            return last_seq + 1, f"第 {last_seq + 1} 条至第 {event.seq - 1} 条缺失（被删除）"
        if event.prev_hash != prev or chain_mac("timeline", event.prev_hash, event_canonical(event)) != event.hash:
            return event.seq, f"第 {event.seq} 条内容被修改，或与前一条的链接断开"
        prev, last_seq = event.hash, event.seq
    if head is None:
        head = db.session.execute(select(Case.timeline_seq, Case.timeline_hash, Case.timeline_mac)
                                  .where(Case.id == case_id)).one()
    seq, head_hash, mac = head
    seq = seq or 0
    if mac != timeline_head_mac(case_id, seq, head_hash):
        return max(seq, last_seq), "链头（案件记录上的序号与校验值）被改写或回退"
    if seq != last_seq or (head_hash or GENESIS) != prev:
        return last_seq + 1, f"末尾记录缺失：链头为第 {seq} 条，实际最后一条为第 {last_seq} 条"
    return None


def _file_fields(schema: dict) -> list[str]:
    return [name for name, spec in schema.get("properties", {}).items()
            if spec.get("ui:widget") == "files"]


def _check_attachments(schema: dict, data: dict, user: User, case: Case | None) -> list[int]:
    """Attachments referenced by a form must be the user's own unlinked uploads (or the case's)."""
    ids: list[int] = []
    errors = {}
    for name in _file_fields(schema):
        values = data.get(name) or []
        for value in values:
            att = db.session.get(Attachment, int(value)) if str(value).isdigit() else None
            ok = att is not None and (
                (att.case_id is None and att.uploaded_by_id == user.id)
                or (case is not None and att.case_id == case.id))
            if not ok:
                errors[name] = "附件不存在或不属于当前用户"
            else:
                ids.append(att.id)
    if errors:
        raise ValidationFailed(errors)
    return ids


def validate_form(schema: dict, raw: dict, user: User, case: Case | None,
                  context: dict | None = None) -> tuple[dict, list[int]]:
    """`context`: the process data a task's date rules compare with (engine/forms.py)."""
    data = forms.clean_data(schema, forms.coerce(schema, raw or {}))
    errors = forms.validate(schema, data, context)
    if errors:
        raise ValidationFailed(errors)
    return data, _check_attachments(schema, data, user, case)


_LINK_ATTACHMENTS = (update(Attachment).where(Attachment.id.in_(bindparam("ids", expanding=True)),
                                               Attachment.case_id.is_(None))
                     .values(case_id=bindparam("case_id")))


def _link_attachments(case: Case, ids: list[int]) -> None:
    if ids:
        db.session.execute(_LINK_ATTACHMENTS, {"ids": list(ids), "case_id": case.id})


def _save(case: Case, wf: BpmnWorkflow) -> None:
    case.state = dump_workflow(wf)
    case.serializer_version = SERIALIZER_VERSION
    case.updated_at = utcnow()


def _load(case: Case) -> BpmnWorkflow:
    ensure_spec_loaded(case.process_version)
    wf = load_workflow(case.state)
    wf.script_engine = SCRIPT_ENGINE
    return wf


def _run_engine(case: Case, actor: User | None, wf: BpmnWorkflow, step) -> None:
    token = CURRENT.set(ServiceContext(case=case, actor=actor, task_data={}))
    try:
        step()
        wf.do_engine_steps()
    except DomainError:
        raise
    except Exception as err:
        raise DomainError(f"流程执行出错: {err}", code="engine_error", status=500) from err
    finally:
        CURRENT.reset(token)


def _org_name(org_id: int | None) -> str:
    org = db.session.get(Organization, org_id) if org_id else None
    return org.name if org else ""


def _sync(case: Case, wf: BpmnWorkflow, actor: User | None) -> None:
    """Project READY user tasks into the task table; recompute case facts."""
    now = utcnow()
    known = db.session.info.setdefault(_OPEN_TASKS, {})
    if case.id not in known:   # not read with the task lock (get_task_for_update)
        known[case.id] = list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")))
    open_list = known[case.id]
    open_rows = {t.spiff_task_id: t for t in open_list if t.status == "open"}
    ready = _ready_user_tasks(wf)
    ready_ids = {str(t.id) for t in ready}
    for spiff_id, row in open_rows.items():
        if spiff_id not in ready_ids:
            row.status = "cancelled"
            row.completed_at = now
    created: list[Task] = []
    for spiff_task in ready:
        if str(spiff_task.id) in open_rows:
            continue
        props = _user_task_props(spiff_task)
        spec = spiff_task.task_spec
        who = assignment.resolve(spec.lane, props, case, spiff_task.data)
        due_at = due_from_expression(props["dueIn"], spiff_task.data, now) if props.get("dueIn") else None
        assignee_id, deputy_for_id = hooks.route(who.assignee_id)   # 代理人: someone away → their deputy
        row = Task(case_id=case.id, process_key=case.process_key, spiff_task_id=str(spiff_task.id),
                   task_def=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, lane=spec.lane,
                   form_key=props.get("formKey"),
                   candidate_role=who.role, candidate_region=who.region_code, candidate_org_id=who.org_id,
                   assignee_id=assignee_id, deputy_for_id=deputy_for_id, due_at=due_at,
                   warning_level=warning_for(due_at))
        db.session.add(row)
        created.append(row)
        open_list.append(row)
        where = _org_name(who.org_id) or (db.session.get(User, who.assignee_id).display_name
                                          if who.assignee_id else region_name(who.region_code))
        if deputy_for_id:
            where += f"（不在岗，由代理人 {db.session.get(User, assignee_id).display_name} 代为办理）"
        append_event(case, None, "assigned", f"进入【{row.name}】环节，待 {where}（{role_label(who.role)}）办理",
                     task_def=row.task_def, step_name=row.name)
    open_now = [row for row in open_rows.values() if row.status == "open"] + created
    dues = [as_utc(t.due_at) for t in open_now if t.due_at]
    case.due_at = min(dues) if dues else None
    case.warning_level = max((t.warning_level for t in open_now), key=lambda w: WARNING_RANK.get(w, 0),
                             default="none")
    case.current_step = "、".join(sorted({t.name for t in open_now})) or None
    hooks.synced(case, wf)     # e.g. a paused case keeps its timers suspended (法定时限)
    case.next_timer_at = _next_timer(wf) if case.paused_at is None else None
    if wf.is_completed() and case.status == "running":
        case.status = "closed"
        case.closed_at = now
        case.outcome = _end_event_name(wf)
        case.current_step = None
        append_event(case, None, "closed", f"案件办结：{case.outcome or '流程结束'}")




def _end_event_name(wf: BpmnWorkflow) -> str | None:
    ends = [t for t in wf.get_tasks(state=TaskState.COMPLETED)
            if type(t.task_spec).__name__ == "EndEvent" and t.workflow is wf]
    if not ends:
        return None
    return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_name


def _next_timer(wf: BpmnWorkflow) -> datetime | None:
    values = []
    for event in wf.waiting_events():
        if "Timer" in (event.event_type or "") or "Date" in (event.event_type or ""):
            try:
                value = datetime.fromisoformat(str(event.value))
            except (TypeError, ValueError):
                continue
            values.append(as_utc(value))   # SQLite keeps no offset: always store UTC
    return min(values) if values else None


# The case of a task, by its id (parameter task_id): the condition get_task_for_update locks by.
_TASK_CASE = Case.id == select(Task.case_id).where(Task.id == bindparam("task_id")).scalar_subquery()


def _lock_statement(where, scope):
    """SELECT … FOR UPDATE of the case matching `where` (and `scope`), built once per pair: `where`
    is a module-level condition with parameters, a scope is built once per user (core/scope). Keyed
    by identity: the statement holds both."""
    return built("case_lock", (id(where), id(scope)), lambda: (
        select(Case).where(where if scope is None else and_(where, scope))
        .options(joinedload(Case.process_version))
        .with_for_update(of=Case).execution_options(populate_existing=True)))


@lru_cache(maxsize=8)
def _case_tasks_statement(reads: tuple):
    """The case's open tasks and the task being worked (parameters case_id, task_id), with the
    columns the registered lock reads take."""
    return (select(Task, *(read.column() for read in reads))
            .where(Task.case_id == bindparam("case_id"), or_(Task.status == "open", Task.id == bindparam("task_id")))
            .execution_options(populate_existing=True))


_CASE_BY_ID = Case.id == bindparam("case_id")


def _locked_case(where, params: dict, scope=None) -> Case | None:
    """Lock one case row. The process version (big text columns deferred; every action needs it for
    the spec and forms) rides on the same statement; the head of the case's timeline chain is on the row."""
    case = db.session.execute(_lock_statement(where, scope), params).scalar()
    if case is None:
        return None
    heads = db.session.info.setdefault(_CHAIN_HEADS, {})
    if case.id not in heads:
        if case.id in db.session.info.get(_UNSYNCED_HEADS, {}):     # entries of this transaction not on the row
            heads[case.id] = tuple(_newest_event(case.id))
        else:
            heads[case.id] = (case.timeline_seq, case.timeline_hash) if case.timeline_seq else EMPTY_HEAD
    return case


def lock_case(case_id: int) -> Case:
    case = _locked_case(_CASE_BY_ID, {"case_id": case_id})
    if case is None:
        raise NotFound()
    return case


def _bump(case: Case) -> None:
    """Compare-and-swap on lock_version: a second writer that slipped past the row lock
    (SQLite has none) fails here instead of overwriting."""
    result = db.session.execute(update(Case).where(Case.id == case.id, Case.lock_version == case.lock_version)
                                .values(lock_version=case.lock_version + 1)
                                .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict("该案件刚被他人处理，请刷新后重试", code="concurrent_update")
    # The row already holds the new value: record it without making the ORM write it again.
    set_committed_value(case, "lock_version", case.lock_version + 1)


# ---------------------------------------------------------------- actions

def start_form_schema(version: ProcessVersion) -> dict:
    info = version_info(version)
    return version_forms(version).get(info.start_form or "", {"type": "object", "properties": {}})


def can_start(user: User, version: ProcessVersion) -> bool:
    return user.role in version_info(version).start_roles


def start_case(process_key: str, user: User, raw: dict) -> Case:
    version = latest_version(process_key)
    if version is None:
        raise NotFound("流程不存在或尚未部署")
    if not can_start(user, version):
        raise Forbidden("您的角色不能发起该流程")
    info = version_info(version)
    schema = start_form_schema(version)
    data, attachment_ids = validate_form(schema, raw, user, None)
    hook = get_start_hook(process_key)
    if hook is None:
        raise DomainError(f"流程 {process_key} 没有注册发起处理", code="no_start_hook", status=500)
    ctx = hook(user, data)   # raises ValidationFailed / Forbidden for bad or out-of-scope input
    local_day = utcnow().astimezone(DISPLAY_TZ).strftime("%Y%m%d")
    number = next_value(f"case:{info.case_no_prefix}", local_day)
    case = Case(case_no=f"{info.case_no_prefix}{local_day}{number:04d}", process_key=process_key,
                process_version_id=version.id, title=ctx.title[:300], status="running",
                region_code=ctx.region_code, org_id=ctx.org_id, equipment_id=ctx.equipment_id,
                started_by_id=user.id, state="", serializer_version=SERIALIZER_VERSION, lock_version=0)
    set_committed_value(case, "process_version", version)     # loaded above: read without another statement
    db.session.add(case)
    db.session.flush()
    db.session.info.setdefault(_CHAIN_HEADS, {})[case.id] = EMPTY_HEAD     # a new case: nothing to read
    db.session.info.setdefault(_OPEN_TASKS, {})[case.id] = []
    parties = set(ctx.parties)
    if ctx.org_id:
        parties.add((ctx.org_id, "owner"))
    if user.org_id:
        parties.add((user.org_id, "initiator"))
    for org_id, relation in sorted(parties):
        db.session.add(CaseParty(case_id=case.id, org_id=org_id, relation=relation))
    _link_attachments(case, attachment_ids)
    append_event(case, user, "started", f"发起【{info.name}】", step_name="发起",
                 data=data, attachment_ids=attachment_ids)

    spec, subprocess_specs = ensure_spec_loaded(version)
    wf = track_removals(BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE))
    wf.process_version_id = version.id
    initial = {**data, **ctx.extra_data, "case_id": case.id, "case_no": case.case_no,
               "region_code": case.region_code, "org_id": case.org_id,
               "initiator_id": user.id, "initiator_role": user.role, "initiator_org_id": user.org_id}
    _run_engine(case, user, wf, lambda: wf.get_next_task(state=TaskState.READY).set_data(**initial))
    _sync(case, wf, user)
    _save(case, wf)
    db.session.flush()
    return case


def get_task_for_update(task_id: int, scope=None) -> tuple[Task, Case]:
    """Lock the task's case (found through the task in the same statement), then read the task as
    it is once we hold the lock — two round trips. `scope`: a condition on the case the caller must
    see it under (app/core/scope.py), checked by the locking statement itself: an API call needs no
    statement of its own to find the task visible first."""
    case = _locked_case(_TASK_CASE, {"task_id": task_id}, scope)
    if case is None:
        raise NotFound() if scope is None else NotFound("任务不存在或不在您的查看范围内")
    # The task, with the case's other open tasks (for _sync) and the facts registered lock reads
    # take with it (hooks.LockRead: whether 后加签 signers wait on it).
    reads = hooks.lock_reads()
    task, open_tasks = None, []
    for row, *values in db.session.execute(_case_tasks_statement(tuple(reads)),
                                           {"case_id": case.id, "task_id": task_id}):
        if row.id == task_id:
            task = row
            for read, value in zip(reads, values):
                read.seen(row, value)
        if row.status == "open":
            open_tasks.append(row)
    db.session.info.setdefault(_OPEN_TASKS, {})[case.id] = open_tasks
    return task, case


# Task states of app/taskops in which nobody may complete the engine task (nor unclaim it).
BLOCKING_STATES = {
    "pending": "委派中的任务由被委派人办理完毕并归还后，由任务所有人提交",
    "signing": "前加签人签署意见后，任务回到所有人再提交",
    "countersign": "本环节已提交，待后加签人签署意见后自动完成",
}


def _ensure_may_act(user: User, task: Task) -> None:
    if task.status != "open":
        raise Conflict("该任务已被办理，无需重复提交", code="task_closed")
    if task.delegate_state in BLOCKING_STATES:   # 委派 / 加签 in progress (app/taskops)
        raise Conflict(BLOCKING_STATES[task.delegate_state], code="task_delegated")
    if task.assignee_id is not None and task.assignee_id != user.id:
        if not acts_for(user, task.assignee_id):   # 代理人 works the absent holder's tasks
            raise Conflict(f"该任务已由 {task.assignee.display_name} 签收", code="task_taken")
    if task.assignee_id is None and not is_candidate(user, task):
        raise Forbidden("您不是该任务的办理人")


def task_form_schema(task: Task) -> dict:
    return version_forms(task.case.process_version).get(task.form_key or "", {"type": "object", "properties": {}})


def complete_task(task_id: int, user: User, raw: dict, extras: dict | None = None, scope=None) -> Case:
    """`extras`: what the step needs besides its form (the handwritten `signature`, app/taskops);
    `scope`: see get_task_for_update."""
    task, case = get_task_for_update(task_id, scope)
    # Nothing below needs to read its own writes back from the database (the open tasks _sync reads
    # are filtered by their in-session state): one flush at the end sends every write together,
    # the timeline entries of the step in one multi-row INSERT.
    with db.session.no_autoflush:
        return _complete_locked(task, case, user, raw, extras)


def _complete_locked(task: Task, case: Case, user: User, raw: dict, extras: dict | None) -> Case:
    _ensure_may_act(user, task)
    schema = task_form_schema(task)
    wf = _load(case)
    spiff_task = wf.get_task_from_id(UUID(task.spiff_task_id))
    if spiff_task is None or spiff_task.state != TaskState.READY:
        raise Conflict("该任务已不在待办状态，请刷新", code="task_closed")
    props = _user_task_props(spiff_task)
    try:
        data, attachment_ids = validate_form(schema, raw, user, case, spiff_task.data)
        form_errors = {}
    except ValidationFailed as err:
        data, attachment_ids, form_errors = dict(raw or {}), [], err.fields
    try:   # opinionRequired / signatureRequired: errors shown with the form's own (caller rolls back)
        attachment_ids = attachment_ids + hooks.run_step_checks(task, props, data, user, extras or {})
    except ValidationFailed as err:
        form_errors = {**err.fields, **form_errors}
    if form_errors:
        raise ValidationFailed(form_errors)
    if db.engine.dialect.name == "postgresql":
        # lock_case took the row FOR UPDATE: the version moves with the state UPDATE that follows,
        # as in fire_timers (one round trip less per completion).
        case.lock_version += 1
    else:
        _bump(case)
    if hooks.held(case, task, user, data, attachment_ids):
        db.session.flush()    # 后加签: the signers sign first; the engine task completes after the last
        return case
    finish_task(case, task, wf, spiff_task, user, data, attachment_ids, props)
    return case


def finish_task(case: Case, task: Task, wf: BpmnWorkflow, spiff_task, user: User, data: dict,
                attachment_ids: list[int], props: dict, summary: str | None = None) -> None:
    """Run the engine task with validated `data` as `user`; the caller holds the case lock and bumped it."""
    def step():
        spiff_task.data.update(data)
        spiff_task.run()

    if task.assignee_id not in (None, user.id):       # a deputy finishing an absent holder's task
        task.deputy_for_id = task.assignee_id
    if task.deputy_for_id and task.deputy_for_id != user.id:
        summary = (summary or f"完成【{task.name}】") + \
            f"（代理人 {user.display_name} 代 {db.session.get(User, task.deputy_for_id).display_name} 办理）"
    # The completion goes on the timeline before what it causes (service tasks may add entries).
    append_event(case, user, "completed", summary or f"完成【{task.name}】", task_def=task.task_def,
                 step_name=task.name, comment=data.get("opinion"), data=data, attachment_ids=attachment_ids)
    _run_engine(case, user, wf, step)
    now = utcnow()
    task.status, task.completed_at, task.completed_by_id = "completed", now, user.id
    task.assignee_id = user.id
    task.data = json.dumps(data, ensure_ascii=False)
    _link_attachments(case, attachment_ids)
    hooks.completed(case, task, props, user)   # e.g. BPMN ccRoles copies
    _sync(case, wf, user)
    _save(case, wf)
    db.session.flush()


def claim_task(task_id: int, user: User) -> Task:
    task, case = get_task_for_update(task_id)
    if task.status != "open":
        raise Conflict("该任务已被办理", code="task_closed")
    if task.assignee_id == user.id:
        return task
    if task.assignee_id is not None:
        raise Conflict(f"该任务已由 {task.assignee.display_name} 签收", code="task_taken")
    if not is_candidate(user, task):
        raise Forbidden("您不是该任务的候选办理人")
    _bump(case)
    task.assignee_id = user.id
    append_event(case, user, "claimed", f"签收【{task.name}】", task_def=task.task_def, step_name=task.name)
    db.session.flush()
    return task


def unclaim_task(task_id: int, user: User) -> Task:
    task, case = get_task_for_update(task_id)
    if task.status != "open":
        raise Conflict("该任务已被办理", code="task_closed")
    if task.assignee_id != user.id:
        raise Forbidden("只能退回自己签收的任务")
    if task.delegate_state in BLOCKING_STATES:
        raise Conflict("委派或加签中的任务不能取消签收", code="task_delegated")
    if task.candidate_region is None and task.candidate_org_id is None:
        # A personal lane (candidateUser) names one person and no pool: unassigning would orphan the task.
        raise Conflict("该任务指派给您本人办理，不能取消签收", code="personal_task")
    _bump(case)
    task.assignee_id = None
    append_event(case, user, "unclaimed", f"取消签收【{task.name}】", task_def=task.task_def, step_name=task.name)
    db.session.flush()
    return task


def _due_timer_names(wf: BpmnWorkflow, now: datetime) -> list[str]:
    names = []
    for task in wf.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        value = task._get_internal_data("event_value")
        try:
            due = TimerEventDefinition.get_datetime(str(value)) if value else None
        except ValueError:
            due = None
        if due is not None and due <= now:
            names.append(task.task_spec.bpmn_name or task.task_spec.bpmn_id)
    return names


def fire_timers(case: Case, wake: tuple[str, ...] = ()) -> list[str]:
    """Fire the case's timers that are due; the caller holds the case row lock (SELECT … FOR
    UPDATE on PostgreSQL) and commits. `wake`: BPMN ids of waiting timers to fire now although not
    yet due — a step that polls an external system on a timer, whose answer has just arrived.
    Returns the names of the timers that fired (empty when nothing was due)."""
    if case.paused_at is not None:      # the clock is paused: its timers wait for the resume
        case.next_timer_at = None
        return []
    now = utcnow()
    wf = _load(case)
    if wake:
        for task in wf.get_tasks(state=TaskState.WAITING):
            if task.task_spec.bpmn_id in wake and isinstance(getattr(task.task_spec, "event_definition", None),
                                                             TimerEventDefinition):
                task._set_internal_data(event_value=(now - timedelta(seconds=1)).isoformat())
    names = _due_timer_names(wf, now)
    if not names:
        case.next_timer_at = _next_timer(wf)
        return []
    if db.engine.dialect.name == "postgresql":
        # The timer job took this row with FOR UPDATE: nobody else can change it, so the version
        # moves with the one UPDATE the flush sends anyway (no separate compare-and-swap).
        case.lock_version += 1
    else:
        _bump(case)
    # Nothing read below depends on rows written below: one flush at the end lets the ORM send
    # the new events, tasks and SMS rows as a few multi-row INSERTs.
    with db.session.no_autoflush:
        for name in names:
            append_event(case, None, "timer", f"定时器触发：{name}")
        _run_engine(case, None, wf, wf.refresh_timers)
        _sync(case, wf, None)
        _save(case, wf)
    db.session.flush()
    return names


def refresh_warnings(chunk: int = 1000) -> int:
    """Recompute warning colours of open tasks (they change with the date), then of the cases
    whose tasks changed. Reads only (id, due_at, level); the DMN runs once per distinct local
    due date, not per row. Returns the number of tasks that changed colour."""
    by_day: dict = {}
    changes: dict[str, list[int]] = {}
    case_ids: set[int] = set()
    rows = db.session.execute(select(Task.id, Task.case_id, Task.due_at, Task.warning_level)
                              .join(Case, Task.case_id == Case.id)
                              .where(Task.status == "open", Task.due_at.is_not(None),
                                     Case.paused_at.is_(None)))   # a paused clock freezes the colour
    for task_id, case_id, due_at, current in rows:
        due = as_utc(due_at)
        day = due.astimezone(DISPLAY_TZ).date()
        if day not in by_day:
            by_day[day] = warning_for(due)
        if by_day[day] != current:
            changes.setdefault(by_day[day], []).append(task_id)
            case_ids.add(case_id)
    for level, ids in changes.items():
        for i in range(0, len(ids), chunk):
            db.session.execute(update(Task).where(Task.id.in_(ids[i:i + chunk])).values(warning_level=level)
                               .execution_options(synchronize_session=False))
    ids = sorted(case_ids)
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        levels: dict[int, str] = {case_id: "none" for case_id in part}
        for case_id, level in db.session.execute(select(Task.case_id, Task.warning_level)
                                                 .where(Task.case_id.in_(part), Task.status == "open")):
            if WARNING_RANK.get(level, 0) > WARNING_RANK.get(levels[case_id], 0):
                levels[case_id] = level
        for level in set(levels.values()):
            db.session.execute(update(Case).where(Case.id.in_([c for c, lv in levels.items() if lv == level]))
                               .values(warning_level=level).execution_options(synchronize_session=False))
    db.session.flush()
    return sum(len(v) for v in changes.values())


def task_data(task: Task) -> dict:
    """The workflow data a READY task sees (for prefilling its form)."""
    data = stored_task_data(task.case.state, task.spiff_task_id)
    if data is not None:
        return data
    wf = _load(task.case)
    spiff_task = wf.get_task_from_id(UUID(task.spiff_task_id))
    return dict(spiff_task.data) if spiff_task is not None else {}


def done_steps(case: Case) -> tuple[list[str], list[str]]:
    """BPMN ids of open (active) and finished elements, for the diagram highlight."""
    wf = _load(case)
    active = [t.task_spec.bpmn_id for t in _ready_user_tasks(wf)]
    done = sorted({t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED)
                   if getattr(t.task_spec, "bpmn_id", None)})
    return active, done


# ---------------------------------------------------------------- version migration

def migration_blocker(case: Case, target: ProcessVersion, wf: BpmnWorkflow | None = None) -> str | None:
    """Why `case` cannot move to `target` (in Chinese), or None when it can: every current step
    (and every step already done) must exist in the target version under the same BPMN id."""
    if case.status != "running":
        return f"案件 {case.case_no} {case.status_label}，只迁移办理中的案件"
    if target.process_key != case.process_key:
        return f"目标版本属于流程 {target.process_key}，与案件的流程 {case.process_key} 不同"
    if case.process_version_id == target.id:
        return f"案件 {case.case_no} 已在 v{target.version} 上运行"
    wf = wf or _load(case)
    if wf.subprocesses:
        return f"案件 {case.case_no} 正在子流程中，暂不支持迁移"
    new_spec, _ = ensure_spec_loaded(target)
    diff = WorkflowDiff(wf, SpecDiff(SPEC_REGISTRY, wf.spec, new_spec))
    live = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
    missing_now, missing_done = [], []
    for task in wf.get_tasks(skip_subprocesses=True):
        if diff.alignment.get(task) is not None or not getattr(task.task_spec, "bpmn_id", None):
            continue
        label = f"{task.task_spec.bpmn_name or task.task_spec.bpmn_id}（{task.task_spec.bpmn_id}）"
        if task.state & live:
            missing_now.append(label)
        elif task.state & TaskState.COMPLETED:
            missing_done.append(label)
    if missing_now:
        return f"案件 {case.case_no} 的当前环节 {'、'.join(sorted(set(missing_now)))} 在 v{target.version} 中不存在"
    if missing_done:
        return (f"案件 {case.case_no} 已办环节 {'、'.join(sorted(set(missing_done)))} 在 v{target.version} 中已删除，"
                "流转历史无法对应")
    return None


def migrate_case(case_id: int, target: ProcessVersion, actor: User) -> Case:
    """Move a running case onto another version of its process; the current steps keep their
    tasks (and claims); boundary timers are re-armed from the target's definitions."""
    case = lock_case(case_id)
    wf = _load(case)
    reason = migration_blocker(case, target, wf)
    if reason:
        raise Conflict(reason, code="migration_refused")
    old_version = case.process_version.version
    new_spec, _ = ensure_spec_loaded(target)
    diff = WorkflowDiff(wf, SpecDiff(SPEC_REGISTRY, wf.spec, new_spec))
    _bump(case)
    append_event(case, actor, "migrated", f"流程版本由 v{old_version} 迁移到 v{target.version}",
                 data={"from_version": old_version, "to_version": target.version,
                       "content_sha256": target.content_sha256})
    _run_engine(case, actor, wf, lambda: migrate_workflow(diff, wf, new_spec))
    stale = [t.task_spec.bpmn_id for t in wf.get_tasks() if new_spec.task_specs.get(t.task_spec.name) is not t.task_spec]
    if stale:
        raise Conflict(f"案件 {case.case_no} 迁移后仍有环节 {'、'.join(sorted(set(stale)))} 无法对应新版本",
                       code="migration_refused")
    wf.process_version_id = target.id
    case.process_version_id = target.id
    set_committed_value(case, "process_version", target)
    ready = {str(t.id): t for t in _ready_user_tasks(wf)}
    for row in db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")):
        spiff_task = ready.get(row.spiff_task_id)
        if spiff_task is not None:      # same step, possibly renamed or with another form in the new version
            row.name = spiff_task.task_spec.bpmn_name or spiff_task.task_spec.bpmn_id
            row.form_key = _user_task_props(spiff_task).get("formKey")
    _sync(case, wf, actor)
    _save(case, wf)
    db.session.flush()
    return case
