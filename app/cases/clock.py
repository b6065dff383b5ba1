"""The case clock (法定时限): paused while the case waits on the enterprise (补正 / 中止), resumed after.

While a case is paused:
- its open tasks keep their due dates and warning colours frozen (refresh_warnings skips the case);
- its waiting timers (deadline / escalation boundary timers) are suspended: their fire time is kept
  in the task's internal data and replaced by a far-future instant, so no engine step can fire
  them; `case.next_timer_at` is cleared so the timer job does not even look at the case.
On resume every open task's due date moves on by the time it spent paused — by the number of WORKING
days paused when the step's due rule counts working days ("10WD", app/calendar), else by the elapsed
time — warning colours are recomputed from the moved due date, and each suspended timer is re-armed at its original instant
plus the pause. Each pause and resume is a timeline event.

Pause/resume come from a regulator (page or API) or from the BPMN itself (service tasks
`case.pause` / `case.resume`, e.g. around a 补正 user task of the enterprise).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (DurationTimerEventDefinition, TimeDateEventDefinition,
                                                               TimerEventDefinition)
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import and_, or_, select

from ..calendar.services import add_working_days, working_days_between
from ..core.clock import DISPLAY_TZ, as_utc, local_day_end, utcnow
from ..engine import hooks, runtime
from ..engine.runtime import _load, append_event, warning_for
from ..engine.services import ServiceContext, service
from ..errors import Conflict, Forbidden, ValidationFailed
from ..extensions import db
from .models import WARNING_RANK, Case, Task

SUSPENDED = "9999-12-31T00:00:00+00:00"
PAUSE_REASONS = ("补正材料", "中止审查", "现场核查等待企业", "其他")


def _timer_tasks(wf):
    for task in wf.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, (TimeDateEventDefinition, DurationTimerEventDefinition)):
            yield task, definition


def suspend_timers(wf, since: datetime) -> int:
    """Idempotent: timers suspended already are left alone. Returns how many were suspended now."""
    n = 0
    for task, definition in _timer_tasks(wf):
        if task._get_internal_data("clock_original") is not None or task._get_internal_data("event_fired"):
            continue
        if task._get_internal_data("event_value") is None:
            definition.has_fired(task)       # evaluates the expression and stores event_value
            if task._get_internal_data("event_fired"):
                continue
        task._set_internal_data(clock_original=str(task._get_internal_data("event_value")),
                                clock_suspended_at=as_utc(since).isoformat(), event_value=SUSPENDED)
        n += 1
    return n


def restore_timers(wf, now: datetime) -> int:
    """Re-arm suspended timers at their original instant plus the time they were suspended."""
    n = 0
    for task, _definition in _timer_tasks(wf):
        original = task._get_internal_data("clock_original")
        if original is None:
            continue
        since = datetime.fromisoformat(task._get_internal_data("clock_suspended_at"))
        fire_at = TimerEventDefinition.get_datetime(original) + (as_utc(now) - as_utc(since))
        task.internal_data.pop("clock_original", None)
        task.internal_data.pop("clock_suspended_at", None)
        task._set_internal_data(event_value=fire_at.isoformat())
        n += 1
    return n


@hooks.after_sync
def sync_timers(case: Case, wf) -> None:
    """Called by runtime._sync after every engine step: keeps the timers in line with the clock."""
    if case.paused_at is not None:
        suspend_timers(wf, case.paused_at)
    else:
        restore_timers(wf, utcnow())


def effective_due(case: Case) -> datetime | None:
    """The case's due date as it would stand if the case resumed now (each open task shifted as
    `resume` would shift it: working days for a working-day rule, else the paused time)."""
    if case.paused_at is None:
        return case.due_at
    now, since = utcnow(), as_utc(case.paused_at)
    rows = [r for r in db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open"))
            if r.due_at is not None]
    wf = _load(case) if rows else None
    dues = [shift_due(r.due_at, max(since, as_utc(r.created_at)), now, counts_working_days(wf, r))[0] for r in rows]
    return min(dues) if dues else None


def paused_days(case: Case) -> int:
    if case.paused_at is None:
        return 0
    return (utcnow() - as_utc(case.paused_at)).days


def _duration_text(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    return f"{days} 天 {hours} 小时" if days else (f"{hours} 小时 {rest % 3600 // 60} 分钟")


def _clean_reason(reason, note) -> tuple[str, str | None]:
    reason = (str(reason or "")).strip()
    note = (str(note or "")).strip() or None
    errors = {}
    if not reason:
        errors["reason"] = "请选择或填写暂停原因（如 补正材料、中止审查）"
    elif len(reason) > 100:
        errors["reason"] = "暂停原因不能超过 100 个字"
    if note and len(note) > 1000:
        errors["note"] = "说明不能超过 1000 个字"
    if errors:
        raise ValidationFailed(errors)
    return reason, note


def pause(case: Case, actor, reason: str, note: str | None = None) -> None:
    """Record the pause; the caller holds the case lock and runs sync_timers (directly or via _sync)."""
    if case.status != "running":
        raise Conflict(f"案件{case.status_label}，不能暂停计时", code="case_not_running")
    if case.paused_at is not None:
        raise Conflict(f"案件计时已于暂停中（{case.pause_reason}），无需重复暂停", code="already_paused")
    case.paused_at = utcnow()
    case.pause_reason = reason[:200]
    append_event(case, actor, "paused", f"计时暂停：{reason}", comment=note, data={"reason": reason})


def counts_working_days(wf, row: Task) -> bool:
    """Whether the open task's step states its due date in working days ("10WD" / "P10WD")."""
    try:
        spiff_task = wf.get_task_from_id(UUID(row.spiff_task_id)) if wf is not None else None
    except ValueError:
        spiff_task = None
    expression = runtime._user_task_props(spiff_task).get("dueIn") if spiff_task is not None else None
    if not expression:
        return False
    value = runtime.SCRIPT_ENGINE.environment.evaluate(expression, dict(spiff_task.data))
    return bool(value) and runtime.WORKING_DAYS_DUE.match(str(value).strip().upper()) is not None


def shift_due(due: datetime, start: datetime, now: datetime, working_days: bool) -> tuple[datetime, int | None]:
    """The due date moved on by a pause from `start` to `now`: by the working days in between
    (Beijing dates, (start, now] as working_days_between counts them) for a working-day rule — the
    due date stays the end of a working day — else by the elapsed time. Returns (due, working days)."""
    if not working_days:
        return as_utc(due) + max(now - start, timedelta(0)), None
    days = max(working_days_between(start.astimezone(DISPLAY_TZ).date(), now.astimezone(DISPLAY_TZ).date()), 0)
    return local_day_end(add_working_days(as_utc(due).astimezone(DISPLAY_TZ).date(), days)), days


def resume(case: Case, actor, note: str | None = None, wf=None) -> int:
    """Move the open tasks' due dates on by the pause; returns the paused seconds. `wf`: the case's
    workflow (to read the steps' due rules); loaded from the case when not given."""
    if case.paused_at is None:
        raise Conflict("案件计时未暂停，无需恢复", code="not_paused")
    now = utcnow()
    since = as_utc(case.paused_at)
    seconds = int((now - since).total_seconds())
    open_rows = list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")))
    shifted_wd: dict[str, int] = {}
    for row in open_rows:
        if row.due_at is not None:
            if wf is None:
                wf = _load(case)
            row.due_at, days = shift_due(row.due_at, max(since, as_utc(row.created_at)), now,
                                         counts_working_days(wf, row))
            if days is not None:
                shifted_wd[row.name] = days
            row.warning_level = warning_for(row.due_at)
    dues = [as_utc(t.due_at) for t in open_rows if t.due_at]
    case.due_at = min(dues) if dues else None
    case.warning_level = max((t.warning_level for t in open_rows), key=lambda w: WARNING_RANK.get(w, 0),
                             default="none")
    reason = case.pause_reason
    case.paused_seconds = (case.paused_seconds or 0) + seconds
    case.paused_at = None
    case.pause_reason = None
    by_wd = "；".join(f"【{name}】按工作日顺延 {days} 个工作日" for name, days in sorted(shifted_wd.items()))
    append_event(case, actor, "resumed", f"恢复计时（{reason}），本次暂停 {_duration_text(seconds)}，期限相应顺延"
                 + (f"（{by_wd}）" if by_wd else ""),
                 comment=note, data={"reason": reason, "paused_seconds": seconds, "working_days": shifted_wd,
                                     "paused_since": since.isoformat(), "total_paused_seconds": case.paused_seconds})
    return seconds


# ---------------------------------------------------------------- who may, and the actions

def may_control(user, case: Case) -> bool:
    """The handling office of a running case: a regulator who holds, held or is a candidate of one of
    its steps (any status) — so the office can pause while the case waits on the enterprise (补正,
    整改中止), when the current step is the enterprise's. Superior offices see the case but do not
    control its clock unless the case came to them (e.g. escalation)."""
    if not user.is_regulator or case.status != "running":
        return False
    return db.session.scalar(select(Task.id).where(
        Task.case_id == case.id,
        or_(Task.assignee_id == user.id, Task.completed_by_id == user.id,
            and_(Task.candidate_role == user.role, Task.candidate_region == user.region_code))).limit(1)) is not None


def pause_case(case_id: int, user, reason, note=None) -> Case:
    reason, note = _clean_reason(reason, note)
    case = runtime.lock_case(case_id)
    if not may_control(user, case):
        raise Forbidden("只有承办本案件的监管人员可以暂停计时")
    runtime._bump(case)
    pause(case, user, reason, note)
    wf = runtime._load(case)
    suspend_timers(wf, case.paused_at)
    runtime._save(case, wf)
    case.next_timer_at = None
    db.session.flush()
    return case


def resume_case(case_id: int, user, note=None) -> Case:
    note = (str(note or "")).strip()[:1000] or None
    case = runtime.lock_case(case_id)
    if not may_control(user, case):
        raise Forbidden("只有承办本案件的监管人员可以恢复计时")
    if case.paused_at is None:
        raise Conflict("案件计时未暂停，无需恢复", code="not_paused")
    runtime._bump(case)
    wf = runtime._load(case)
    resume(case, user, note, wf)
    restore_timers(wf, utcnow())
    runtime._save(case, wf)
    case.next_timer_at = runtime._next_timer(wf)
    db.session.flush()
    return case


# ---------------------------------------------------------------- BPMN services

@service("case.pause")
def pause_service(ctx: ServiceContext, reason: str = "补正材料") -> dict:
    """BPMN: pause the clock while the case waits on the enterprise (before a 补正 task)."""
    case = ctx.case
    if case.paused_at is None:
        pause(case, ctx.actor, str(reason or "补正材料")[:100])
    return {"paused": True, "reason": case.pause_reason}


@service("case.resume")
def resume_service(ctx: ServiceContext) -> dict:
    """BPMN: resume the clock when the enterprise has answered (after the 补正 task)."""
    case = ctx.case
    seconds = resume(case, ctx.actor) if case.paused_at is not None else 0
    return {"paused_seconds": seconds}
