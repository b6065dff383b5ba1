"""退回: return the current task to an earlier user step of the case.

Targets are the user steps that precede the current one in the BPMN graph AND were completed
on the path that led to it in this case (the engine's task tree ancestry). The engine is reset
with `BpmnWorkflow.reset_from_task_id`, so its state stays consistent; `_sync` then cancels the
current task's row and opens the returned-to step, which goes back to the person who did it.

Refused (Chinese reasons): no earlier step; the current step is a multi-instance (会签) instance;
the target is a multi-instance step; the target lies inside a parallel block that has already
joined (return to the step before the split instead); the reset would discard open work of a
running parallel branch (the other branch's tasks) or of a branch a boundary event of the target
opened (a deadline timer's 超期督办: the target is reset together with its boundary events); the
regulated side (a use unit) returning work to a regulator's step (整改反馈 → 派单督办)."""
from __future__ import annotations

import json
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from ..cases.models import Case, Task
from ..core.models import Attachment, User
from ..core.roles import is_regulator
from ..core.scope import is_candidate
from ..engine import runtime
from ..engine.registry import version_forms
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from ..taskops.services import ensure_operation, notify_holders
from .models import CaseReturn, ReviewNote

MAX_NOTE = 200


def _is_user_task(t) -> bool:
    return type(t.task_spec).__name__ == "UserTask"


def _is_multi_instance(t) -> bool:
    """A multi-instance task, or one instance of it (whose parent is the multi-instance task)."""
    return "MultiInstance" in type(t.task_spec).__name__ or (
        t.parent is not None and "MultiInstance" in type(t.parent.task_spec).__name__
        and getattr(t.parent.task_spec, "bpmn_id", None) == getattr(t.task_spec, "bpmn_id", None))


def _is_join(t) -> bool:
    return type(t.task_spec).__name__ in ("ParallelGateway", "InclusiveGateway") and len(t.task_spec.inputs) > 1


def graph_predecessors(spec) -> set[str]:
    """BPMN ids of every user task from which `spec` can be reached in the process graph."""
    seen, todo, found = set(), list(spec.inputs), set()
    while todo:
        s = todo.pop()
        if s.name in seen:
            continue
        seen.add(s.name)
        if type(s).__name__ == "UserTask" or "MultiInstance" in type(s).__name__:
            found.add(s.bpmn_id)
        todo.extend(s.inputs)
    return found


def targets(wf, spiff_task, from_role: str) -> list[dict]:
    """Earlier steps, nearest first: {bpmn_id, name, task, refused (reason or None)}. `from_role`:
    the current task's candidate role — the regulated side (a use unit, an agency) never returns
    work to a regulator's step: a 整改反馈 sent back to 派单督办 would undo the bureau's order
    (disagreement or more time is said in the step's own form: 申请延期, 情况说明)."""
    graph = graph_predecessors(spiff_task.task_spec if not _is_multi_instance(spiff_task)
                               else spiff_task.parent.task_spec)
    out, seen, joined = [], set(), False
    t = spiff_task.parent
    while t is not None:
        bpmn_id = getattr(t.task_spec, "bpmn_id", None)
        if _is_join(t):
            joined = True
        if _is_join(t) is False and type(t.task_spec).__name__ in ("ParallelGateway", "InclusiveGateway") \
                and len(t.task_spec.outputs) > 1:
            joined = False      # left the parallel block: steps before the split are plain again
        user_step = _is_user_task(t) or "MultiInstance" in type(t.task_spec).__name__
        if user_step and t.state == TaskState.COMPLETED and bpmn_id in graph and bpmn_id not in seen:
            seen.add(bpmn_id)
            name = t.task_spec.bpmn_name or bpmn_id
            refused = None
            if "MultiInstance" in type(t.task_spec).__name__ or _is_multi_instance(t):
                refused = f"【{name}】是多实例（会签）环节，不能作为退回目标"
            elif joined:
                refused = f"【{name}】位于已汇合的并行分支内，请退回到分支之前的环节"
            elif not is_regulator(from_role) and is_regulator(t.task_spec.lane or ""):
                refused = f"【{name}】是监管部门办理的环节，不能由被监管一方退回；如有异议，请在本环节的表单中说明"
            elif not is_regulator(from_role):
                refused = f"【{name}】的结论不能由被监管一方退回（退回是监管部门的操作）；如有异议，请在本环节的表单中说明"
            out.append({"bpmn_id": bpmn_id, "name": name, "task": t, "refused": refused})
        t = t.parent
    return out


def _open_work_discarded(wf, target, current) -> list[str]:
    """Names of live user tasks (other than the current one) that resetting `target` would drop.
    A step with boundary events (e.g. 整改反馈's deadline timers) is reset together with them
    (BpmnWorkflow.reset_from_task_id resets every branch of its BoundaryEventSplit), so the work
    a fired non-interrupting timer opened (超期督办) is dropped too."""
    scope = target.parent if isinstance(target.parent.task_spec, BoundaryEventSplit) else target
    names = []
    for t in scope:      # the reset's root and its descendants in the task tree
        if t is target or t.id == current.id or not _is_user_task(t):
            continue
        if t.state & (TaskState.READY | TaskState.STARTED | TaskState.WAITING):
            names.append(t.task_spec.bpmn_name or t.task_spec.bpmn_id)
    return sorted(set(names))


def _props(t) -> dict:
    return (getattr(t.task_spec, "extensions", None) or {}).get("properties", {}) or {}


def return_options(task: Task) -> dict:
    """What the task page offers: the returnable steps with their form fields, or why none."""
    if task.status != "open":
        return {"targets": [], "refused": None}
    wf = runtime._load(task.case)
    spiff_task = wf.get_task_from_id(UUID(task.spiff_task_id))
    if spiff_task is None:
        return {"targets": [], "refused": None}
    if _is_multi_instance(spiff_task):
        return {"targets": [], "refused": f"【{task.name}】是多实例（会签）环节的一个实例，不能退回"}
    forms = version_forms(task.case.process_version)
    rows = []
    for t in targets(wf, spiff_task, task.candidate_role):
        form_key = _props(t["task"]).get("formKey")
        props = forms.get(form_key or "", {}).get("properties", {})
        rows.append({"bpmn_id": t["bpmn_id"], "name": t["name"], "refused": t["refused"],
                     "fields": [(k, v.get("title", k)) for k, v in props.items()]})
    if not rows:
        return {"targets": [], "refused": "本环节之前没有可退回的办理环节"}
    # every earlier step refused (a use unit's 整改反馈 before 派单督办): the page shows why, not a form
    return {"targets": rows, "refused": rows[0]["refused"] if all(r["refused"] for r in rows) else None}


def _clean_notes(notes: dict | None, schema: dict) -> dict[str, str]:
    props = schema.get("properties", {})
    clean, errors = {}, {}
    for field, text in (notes or {}).items():
        text = (str(text) if text is not None else "").strip()
        if not text:
            continue
        if field not in props:
            errors[f"note_{field}"] = f"字段 {field} 不在被退回环节的表单中"
        elif len(text) > MAX_NOTE:
            errors[f"note_{field}"] = f"【{props[field].get('title', field)}】的审查意见不能超过 {MAX_NOTE} 字"
        else:
            clean[field] = text
    if errors:
        raise ValidationFailed(errors)
    return clean


def return_task(task_id: int, user: User, target_def: str | None, reason: str | None,
                notes: dict | None = None) -> CaseReturn:
    """退回 the open task `task_id` to the earlier step `target_def`; the caller commits."""
    task, case = runtime.get_task_for_update(task_id)
    runtime._ensure_may_act(user, task)
    ensure_operation(user, task, "return")
    wf = runtime._load(case)
    spiff_task = wf.get_task_from_id(UUID(task.spiff_task_id))
    if spiff_task is None or spiff_task.state != TaskState.READY:
        raise Conflict("该任务已不在待办状态，请刷新", code="task_closed")
    if _is_multi_instance(spiff_task):
        raise Conflict(f"【{task.name}】是多实例（会签）环节的一个实例，退回会丢弃其他会签人的工作，不能退回",
                       code="return_multi_instance")
    options = targets(wf, spiff_task, task.candidate_role)
    if not options:
        raise Conflict("本环节之前没有可退回的办理环节", code="return_no_target")
    errors = {}
    reason = (reason or "").strip()
    if len(reason) < 2:
        errors["reason"] = "请填写退回理由（至少 2 个字）"
    elif len(reason) > 1000:
        errors["reason"] = "退回理由不能超过 1000 字"
    chosen = next((o for o in options if o["bpmn_id"] == target_def), None)
    if chosen is None:
        errors["target"] = "请选择要退回到的环节" if not target_def else f"环节 {target_def} 不是本任务可退回的前序环节"
    if errors:
        raise ValidationFailed(errors)
    if chosen["refused"]:
        raise Conflict(chosen["refused"], code="return_refused")
    target = chosen["task"]
    discarded = _open_work_discarded(wf, target, spiff_task)
    if discarded:
        raise Conflict(f"并行分支【{'、'.join(discarded)}】尚未办结，退回到【{chosen['name']}】会丢弃其工作，"
                       "请待并行分支办结后再退回", code="return_parallel_open")
    form_key = _props(target).get("formKey")
    schema = version_forms(case.process_version).get(form_key or "", {"type": "object", "properties": {}})
    clean_notes = _clean_notes(notes, schema)

    previous = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.spiff_task_id == str(target.id)))
    if previous is not None:
        # The engine reuses the target's task id for the new round: the old row keeps its history
        # (data, who, when) under a fresh projection id so the new row can take the engine id.
        previous.spiff_task_id = str(uuid4())
    runtime._bump(case)
    record = CaseReturn(case_id=case.id, from_task_id=task.id, from_task_def=task.task_def,
                        target_task_def=chosen["bpmn_id"], target_name=chosen["name"],
                        previous_task_id=previous.id if previous else None, reason=reason, actor_id=user.id)
    db.session.add(record)
    db.session.flush()
    for field, text in clean_notes.items():
        db.session.add(ReviewNote(return_id=record.id, case_id=case.id, task_def=chosen["bpmn_id"],
                                  field=field, note=text))
    runtime.append_event(case, user, "returned", f"退回【{task.name}】至【{chosen['name']}】：{reason}"[:500],
                         task_def=task.task_def, step_name=task.name, comment=reason,
                         data={"target": chosen["bpmn_id"], "target_name": chosen["name"], "notes": clean_notes})
    runtime._run_engine(case, user, wf, lambda: wf.reset_from_task_id(target.id))
    runtime._sync(case, wf, user)
    reopened = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.spiff_task_id == str(target.id),
                                                    Task.status == "open"))
    if reopened is not None:
        record.reopened_task_id = reopened.id
        back_to = db.session.get(User, previous.completed_by_id) if previous and previous.completed_by_id else None
        if reopened.assignee_id is None and back_to is not None and back_to.is_active \
                and is_candidate(back_to, reopened):
            reopened.assignee_id = back_to.id
        notify_holders(reopened, "return", f"【{reopened.name}】被退回，请修改后重新提交（{case.case_no}）",
                       body=reason, sender=user)
    runtime._save(case, wf)
    db.session.flush()
    return record


# ---------------------------------------------------------------- what the pages show

def return_for_task(task: Task) -> CaseReturn | None:
    """The 退回 that reopened this task (the returned-to person's page shows reason and notes)."""
    return db.session.scalar(select(CaseReturn).where(CaseReturn.reopened_task_id == task.id)
                             .order_by(CaseReturn.id.desc()).limit(1))


def _labels(schema: dict) -> dict[str, str]:
    return {k: v.get("title", k) for k, v in schema.get("properties", {}).items()}


def _attachment_names(ids) -> dict[int, str]:
    ids = [int(i) for i in ids if str(i).isdigit()]
    if not ids:
        return {}
    return {a.id: a.filename for a in db.session.scalars(select(Attachment).where(Attachment.id.in_(ids)))}


def submission_diff(case: Case, record: CaseReturn) -> list[dict] | None:
    """Field by field what changed between the returned submission and the resubmission
    (None while the returned step has not been resubmitted)."""
    new = db.session.get(Task, record.reopened_task_id) if record.reopened_task_id else None
    old = db.session.get(Task, record.previous_task_id) if record.previous_task_id else None
    if new is None or new.status != "completed" or old is None:
        return None
    schema = version_forms(case.process_version).get(new.form_key or "", {"type": "object", "properties": {}})
    before, after = json.loads(old.data or "{}"), json.loads(new.data or "{}")
    labels = _labels(schema)
    files = {k for k, v in schema.get("properties", {}).items() if v.get("ui:widget") == "files"}
    notes = {n.field: n.note for n in record.notes}
    rows = []
    for field in list(labels) + sorted((set(before) | set(after)) - set(labels)):
        a, b = before.get(field), after.get(field)
        if field in files:
            a_ids, b_ids = set(a or []), set(b or [])
            if a_ids == b_ids:
                continue
            names = _attachment_names(a_ids | b_ids)
            rows.append({"field": field, "label": labels.get(field, field), "note": notes.get(field),
                         "added": [names.get(int(i), f"附件{i}") for i in sorted(b_ids - a_ids)],
                         "removed": [names.get(int(i), f"附件{i}") for i in sorted(a_ids - b_ids)],
                         "old": None, "new": None})
        elif a != b:
            rows.append({"field": field, "label": labels.get(field, field), "note": notes.get(field),
                         "old": a, "new": b, "added": [], "removed": []})
    return rows


def review_panel(task: Task) -> dict:
    """For the task page: the return that reopened this task (reason + field notes), and for the
    reviewer's next task at the returning step, the diff of the resubmission."""
    returned = return_for_task(task)
    diff_record = None
    if task.status == "open":
        diff_record = db.session.scalar(
            select(CaseReturn).where(CaseReturn.case_id == task.case_id, CaseReturn.from_task_def == task.task_def)
            .order_by(CaseReturn.id.desc()).limit(1))
    diff = submission_diff(task.case, diff_record) if diff_record is not None else None
    from_name, labels = "", {}
    if returned is not None:
        source = db.session.get(Task, returned.from_task_id)
        from_name = source.name if source else returned.from_task_def
        labels = _labels(version_forms(task.case.process_version).get(task.form_key or "", {}))
    return {"returned": returned, "notes": {n.field: n.note for n in returned.notes} if returned else {},
            "from_name": from_name, "labels": labels,
            "diff_record": diff_record if diff is not None else None, "diff": diff}
