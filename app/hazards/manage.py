"""A reporter's own major hazards (隐患管理): modify or delete a reported hazard while the bureau has not
accepted it yet — not claimed, not dispatched; afterwards each attempt is refused with the reason."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ..cases.models import Case, Task
from ..core.clock import utcnow
from ..core.models import User
from ..core.regions import region_full_name
from ..engine import runtime
from ..engine.registry import version_forms
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import audit
from .models import Hazard, HazardCriterion
from .services import criterion_applies, hazard_scope

EDITABLE_FIELDS = ("criterion_id", "description", "found_on", "rectify_deadline", "rectify_requirements")
FIELD_LABELS = {"criterion_id": "判定项", "description": "隐患描述", "found_on": "发现日期",
                "rectify_deadline": "整改期限", "rectify_requirements": "整改要求"}


def visible_hazard(user: User, hazard_id: int) -> Hazard:
    hazard = db.session.scalar(select(Hazard).where(Hazard.id == hazard_id, hazard_scope(user)))
    if hazard is None:
        raise NotFound("隐患记录不存在或不在您的查看范围内")
    return hazard


def is_reporter(user: User, hazard: Hazard) -> bool:
    return user.id == hazard.reporter_id or (user.is_enterprise and user.org_id is not None
                                              and user.org_id == hazard.reporter_org_id)


def dispatch_task(hazard: Hazard) -> Task | None:
    return db.session.scalar(select(Task).where(Task.case_id == hazard.case_id, Task.task_def == "dispatch",
                                                Task.status == "open"))


def change_refusal(user: User, hazard: Hazard) -> DomainError | None:
    """Why `user` may not modify or delete the hazard now (None: may). Accepted means the bureau
    claimed the 派单督办 task or completed it (the hazard left 待派单)."""
    if not is_reporter(user, hazard):
        return Forbidden("只有上报人或上报单位可以修改、删除该隐患")
    if hazard.deleted_at is not None:
        return Conflict("该隐患已删除", code="not_editable")
    if hazard.status != "reported":
        return Conflict(f"监管部门已受理该隐患（当前状态：{hazard.status_label}），不能再修改或删除；"
                        "如有变化请联系属地监管部门", code="not_editable")
    task = dispatch_task(hazard)
    if task is None:
        return Conflict("该隐患没有待受理的派单环节，不能修改或删除", code="not_editable")
    if task.assignee_id is not None:
        office = region_full_name(task.candidate_region)
        return Conflict(f"{office}监管人员 {task.assignee.display_name} 已签收受理该隐患，不能再修改或删除；"
                        "如有变化请联系受理人", code="not_editable")
    return None


def edit_schema(case: Case) -> dict:
    """The report form restricted to what may change (the device may not: delete and report again)."""
    schema = dict(version_forms(case.process_version)["report"])
    keep = [k for k in EDITABLE_FIELDS if k in schema["properties"]]
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k in keep}
    schema["required"] = [k for k in schema.get("required", []) if k in keep]
    schema["ui"] = {"order": keep}
    schema["title"] = "修改重大事故隐患"
    return schema


def current_values(hazard: Hazard) -> dict:
    return {"criterion_id": hazard.criterion_id, "description": hazard.description,
            "found_on": hazard.found_on.isoformat(), "rectify_deadline": hazard.rectify_deadline.isoformat(),
            "rectify_requirements": hazard.reporter_requirements or ""}


def _locked(user: User, hazard_id: int) -> tuple[Hazard, Case]:
    hazard = visible_hazard(user, hazard_id)
    case = runtime.lock_case(hazard.case_id)
    db.session.refresh(hazard)
    refusal = change_refusal(user, hazard)
    if refusal is not None:
        raise refusal
    return hazard, case


def edit_hazard(user: User, hazard_id: int, raw: dict) -> list[str]:
    """Apply the changes; returns the changed fields' names (empty: nothing changed). The open
    派单督办 task sees the new values (its form prefills the deadline from them)."""
    hazard, case = _locked(user, hazard_id)
    data, _ = runtime.validate_form(edit_schema(case), raw, user, case)
    criterion = db.session.get(HazardCriterion, data.get("criterion_id", ""))
    errors = {}
    if criterion is None or (not criterion.active and criterion.id != hazard.criterion_id) \
            or criterion.is_cross_reference:
        errors["criterion_id"] = "请选择有效的隐患判定项"
    elif not criterion_applies(criterion, hazard.equipment.category_code):
        errors["criterion_id"] = f"该判定项适用于{criterion.equipment_type}，与所选设备的类别不符"
    if data.get("found_on") and data.get("rectify_deadline") and data["rectify_deadline"] < data["found_on"]:
        errors["rectify_deadline"] = "整改期限不能早于发现日期"
    if errors:
        raise ValidationFailed(errors)
    before = current_values(hazard)
    after = {k: data.get(k) or "" for k in EDITABLE_FIELDS}
    changed = [k for k in EDITABLE_FIELDS if (before.get(k) or "") != after[k] and k in edit_schema(case)["properties"]]
    if not changed:
        return []
    runtime._bump(case)
    hazard.criterion_id = after["criterion_id"]
    hazard.description = after["description"]
    hazard.found_on = date.fromisoformat(after["found_on"])
    hazard.rectify_deadline = date.fromisoformat(after["rectify_deadline"])
    hazard.reporter_requirements = after["rectify_requirements"] or None
    hazard.updated_at = utcnow()
    wf = runtime._load(case)
    updates = {k: after[k] for k in changed}
    if "criterion_id" in changed:
        updates["criterion_citation"] = criterion.citation
    for spiff_task in runtime._ready_user_tasks(wf):
        spiff_task.data.update(updates)
    wf.data.update(updates)
    runtime._save(case, wf)
    labels = "、".join(FIELD_LABELS[k] for k in changed)
    runtime.append_event(case, user, "edited", f"上报单位修改隐患：{labels}", step_name="修改隐患",
                         data={k: after[k] for k in changed})
    audit("record.change", f"修改重大事故隐患 {hazard.hazard_no}：{labels}", object_type="hazard",
          object_id=hazard.id, detail={"before": {k: before[k] for k in changed}, "after": updates}, actor=user)
    db.session.flush()
    return [FIELD_LABELS[k] for k in changed]


def delete_hazard(user: User, hazard_id: int, reason) -> Hazard:
    """The case ends as withdrawn by its reporter, its 派单督办 task is cancelled and the hazard leaves
    every list (kept, marked deleted, with the case's timeline)."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    hazard, case = _locked(user, hazard_id)
    if len(reason) < 2:
        raise ValidationFailed({"reason": "请填写删除原因（至少 2 个字）"})
    if len(reason) > 500:
        raise ValidationFailed({"reason": "删除原因不能超过 500 字"})
    wf = runtime._load(case)
    runtime._bump(case)
    now = utcnow()
    for row in db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")):
        row.status, row.completed_at = "cancelled", now
    runtime.append_event(case, user, "cancelled", f"上报单位删除隐患：{reason}"[:500], comment=reason)
    wf.cancel()
    case.status, case.closed_at, case.outcome = "cancelled", now, "上报单位已删除"
    case.current_step, case.due_at, case.next_timer_at, case.warning_level = None, None, None, "none"
    runtime._save(case, wf)
    hazard.deleted_at, hazard.updated_at, hazard.warning_level = now, now, "none"
    audit("record.change", f"删除重大事故隐患 {hazard.hazard_no}：{reason}"[:300], object_type="hazard",
          object_id=hazard.id, detail={"reason": reason}, actor=user)
    db.session.flush()
    return hazard


def open_rectify_tasks(user: User, limit: int = 50) -> list[Task]:
    """整改任务: the major-hazard steps the user's unit has to do now (整改反馈), soonest first."""
    if not (user.is_enterprise and user.org_id):
        return []
    return list(db.session.scalars(
        select(Task).where(Task.status == "open", Task.process_key == "major_hazard",
                           Task.candidate_org_id == user.org_id, Task.candidate_role == user.role)
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit)))
