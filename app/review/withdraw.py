"""撤回 (withdraw my completed step) and 撤销 (the initiator cancels a case the process allows).

撤回: the person who completed a step takes it back while the next step has not been acted on —
after my completion the timeline holds only system entries (进入环节), copies, urges, SMS and
supervision logs; any completion, claim, return, transfer, delegation, timer, pause … refuses it,
as does a system step (service/script/rule task) that already ran after mine (its effects, such as
a notice number issued, are not undone), and a multi-instance (会签) instance. The engine is
reset to my step (`reset_from_task_id`), the next step's tasks are cancelled and my step reopens
for me with my previous submission prefilled.

撤销: only the case's initiator, only while it runs, only when the process declares
`<spiffworkflow:property name="cancellable" value="true" />`; a reason is required. major_hazard
does not declare it: a reported 重大事故隐患 is closed by the bureau, never withdrawn by the reporter."""
from __future__ import annotations

from uuid import UUID, uuid4

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from ..cases.models import Case, CaseEvent, Task
from ..core.clock import utcnow
from ..core.models import User
from ..engine import runtime
from ..engine.registry import version_info
from ..errors import Conflict, Forbidden, ValidationFailed
from ..extensions import db
from .services import _is_multi_instance

PASSIVE_KINDS = {"assigned", "copied", "urged", "sms", "log"}
SYSTEM_STEPS = {"ServiceTask", "ScriptTask", "BusinessRuleTask"}


def _my_completion(task: Task) -> CaseEvent | None:
    return db.session.scalar(select(CaseEvent).where(
        CaseEvent.case_id == task.case_id, CaseEvent.kind == "completed", CaseEvent.task_def == task.task_def,
        CaseEvent.actor_id == task.completed_by_id).order_by(CaseEvent.seq.desc()).limit(1))


def withdraw_blocker(task: Task, user: User, wf=None) -> str | None:
    """Why `user` may not withdraw `task` (Chinese), or None when they may."""
    case = task.case
    if task.status != "completed" or task.completed_by_id != user.id:
        return "只能撤回本人已办理的环节"
    if case.status != "running":
        return f"案件{case.status_label}，不能撤回"
    mine = _my_completion(task)
    if mine is None:
        return "找不到本环节的办理记录，不能撤回"
    later = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq > mine.seq)
                               .order_by(CaseEvent.seq))
    for event in later:
        if event.kind not in PASSIVE_KINDS:
            who = event.actor.display_name if event.actor else "系统"
            return f"下一环节已有办理动作（{who}：{event.summary}），不能撤回"
    wf = wf or runtime._load(case)
    spiff_task = wf.get_task_from_id(UUID(task.spiff_task_id))
    if spiff_task is None or spiff_task.state != TaskState.COMPLETED:
        return "本环节已不在流程的当前路径上，不能撤回"
    if _is_multi_instance(spiff_task):
        return "多实例（会签）环节的一个实例不能撤回"
    for t in spiff_task:
        if t is not spiff_task and t.state == TaskState.COMPLETED and type(t.task_spec).__name__ in SYSTEM_STEPS:
            return f"提交后系统已执行【{t.task_spec.bpmn_name or t.task_spec.bpmn_id}】，不能撤回"
    return None


def withdraw_task(task_id: int, user: User) -> Task:
    """撤回 the completed task `task_id`; returns the reopened task. The caller commits."""
    task, case = runtime.get_task_for_update(task_id)
    wf = runtime._load(case)
    reason = withdraw_blocker(task, user, wf)
    if reason:
        raise Conflict(reason, code="withdraw_refused")
    spiff_id = task.spiff_task_id
    task.spiff_task_id = str(uuid4())     # the reopened row takes the engine id (see services.return_task)
    runtime._bump(case)
    runtime.append_event(case, user, "withdrawn", f"撤回【{task.name}】", task_def=task.task_def, step_name=task.name)
    runtime._run_engine(case, user, wf, lambda: wf.reset_from_task_id(UUID(spiff_id)))
    runtime._sync(case, wf, user)
    reopened = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.spiff_task_id == spiff_id,
                                                    Task.status == "open"))
    if reopened is None:
        raise Conflict("撤回后流程未回到本环节，已取消撤回", code="withdraw_refused")
    reopened.assignee_id = user.id
    runtime._save(case, wf)
    db.session.flush()
    return reopened


def cancel_blocker(case: Case, user: User) -> str | None:
    if case.started_by_id != user.id:
        return "只有案件发起人可以撤销案件"
    if case.status != "running":
        return f"案件{case.status_label}，不能撤销"
    if (version_info(case.process_version).properties.get("cancellable") or "").lower() != "true":
        return f"【{version_info(case.process_version).name}】流程不允许发起人撤销"
    return None


def cancel_case(case_id: int, user: User, reason: str | None) -> Case:
    """撤销: the case ends as cancelled; open tasks are cancelled; the caller commits."""
    case = runtime.lock_case(case_id)
    blocker = cancel_blocker(case, user)
    if blocker:
        raise (Forbidden(blocker) if case.started_by_id != user.id else Conflict(blocker, code="cancel_refused"))
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise ValidationFailed({"reason": "请填写撤销理由（至少 2 个字）"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "撤销理由不能超过 1000 字"})
    wf = runtime._load(case)
    runtime._bump(case)
    now = utcnow()
    for row in db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")):
        row.status, row.completed_at = "cancelled", now
    runtime.append_event(case, user, "cancelled", f"发起人撤销案件：{reason}"[:500], comment=reason)
    wf.cancel()
    case.status, case.closed_at, case.outcome = "cancelled", now, "已撤销"
    case.current_step, case.due_at, case.next_timer_at, case.warning_level = None, None, None, "none"
    runtime._save(case, wf)
    db.session.flush()
    return case


def may_cancel(case: Case, user: User) -> bool:
    return cancel_blocker(case, user) is None


