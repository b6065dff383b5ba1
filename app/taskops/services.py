"""Task operations beyond complete/claim: 转办, 委派/归还, 催办, 抄送, and the step requirements
(mandatory opinion, handwritten signature) checked when a task completes.

Every action runs under the case row lock, is permission-checked here (views and API only
find the object in the user's scope), and is recorded on the case timeline by `append_event`.
The caller commits."""
from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import zlib
from datetime import timedelta
from functools import lru_cache
from uuid import UUID

from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from ..cases.models import Case, CaseEvent, CaseParty, Task
from ..core.clock import DISPLAY_TZ, local_iso, utcnow
from ..core.models import Organization, User
from ..core.regions import jurisdictions_over, region_name
from ..core.roles import ROLES, is_enterprise, is_regulator, role_label
from ..core.scope import case_scope, is_candidate, read_grant
from ..core.storage import save_upload
from ..engine import hooks, runtime
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..sms import services as sms
from .deputies import route
from .models import CaseCopy, Notification, TaskSign

OPINION_MIN, OPINION_MAX = 2, 1000
URGE_INTERVAL = timedelta(hours=1)
SIGNATURE_MAX_BYTES = 200 * 1024
SIGNATURE_FILENAME = "手写签名.png"

# Tasks read under their case lock in this transaction with no pending 后加签 signer (every writer
# of signers holds that lock); forgotten at commit and at any rollback.
_NO_AFTER_SIGNERS = "no_after_signers"


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_signer_reads(session, *_args) -> None:
    session.info.pop(_NO_AFTER_SIGNERS, None)


def _after_signers_waiting():
    return (select(TaskSign.id).where(TaskSign.task_id == Task.id, TaskSign.kind == "after",
                                      TaskSign.status == "pending").exists())


def _remember_signers(task: Task, waiting: bool) -> None:
    if not waiting:
        db.session.info.setdefault(_NO_AFTER_SIGNERS, set()).add(task.id)


hooks.lock_read(hooks.LockRead(_after_signers_waiting, _remember_signers))


def without_after_signers(task: Task) -> bool:
    """True when the task was read under its case lock in this transaction with no pending 后加签."""
    return task.id in db.session.info.get(_NO_AFTER_SIGNERS, ())


def signers_changed(task: Task) -> None:
    """A signer was added to `task` in this transaction: forget what its lock read said."""
    db.session.info.get(_NO_AFTER_SIGNERS, set()).discard(task.id)


# ---------------------------------------------------------------- helpers

def _opinion(text, field: str = "opinion", label: str = "意见", required: bool = True) -> str | None:
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        if required:
            raise ValidationFailed({field: f"请填写{label}"})
        return None
    if len(text) < OPINION_MIN:
        raise ValidationFailed({field: f"{label}至少 {OPINION_MIN} 个字"})
    if len(text) > OPINION_MAX:
        raise ValidationFailed({field: f"{label}不能超过 {OPINION_MAX} 个字"})
    return text


def _user_id(value, field: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationFailed({field: "请选择办理人"}) from None


def eligible_people(task: Task, exclude: set[int] | None = None) -> list[User]:
    """Active users who could hold `task` (the same rules as `is_candidate`)."""
    if is_regulator(task.candidate_role) and task.candidate_region:
        query = select(User).where(User.role == task.candidate_role, User.region_code == task.candidate_region)
    elif is_enterprise(task.candidate_role) and task.candidate_org_id:
        query = select(User).where(User.role == task.candidate_role, User.org_id == task.candidate_org_id)
    else:
        return []      # a personal task (candidateUser) names one person: nobody else may take it
    exclude = exclude or set()
    return [u for u in db.session.scalars(query.where(User.is_active_flag.is_(True)).order_by(User.username))
            if u.id not in exclude and is_candidate(u, task)]


def holder_ids(task: Task) -> list[int]:
    """Who currently has the task in hand: the assignee, or every candidate of an unclaimed task."""
    if task.assignee_id is not None:
        return [task.assignee_id]
    return [u.id for u in eligible_people(task)]


def may_hold(user: User, task: Task) -> bool:
    """The current holder may transfer / delegate: the assignee, or a candidate (implicit claim)."""
    return (task.status == "open" and task.delegate_state not in runtime.BLOCKING_STATES
            and (task.assignee_id == user.id or (task.assignee_id is None and is_candidate(user, task))))


REGULATOR_OPERATIONS = {"transfer": "转办", "delegate": "委派", "sign": "加签", "claim": "签收", "return": "退回"}


def operations_allowed(user: User, task: Task) -> frozenset[str]:
    """转办/委派/加签/签收/退回 are regulators' tools on regulators' steps: an enterprise, an agency or a
    person only 办理 their own tasks (the regulated side never sends a decision back). A step may
    narrow them with the user-task property `operations` (comma-separated keys of REGULATOR_OPERATIONS,
    "none" for none)."""
    if not (user.is_regulator and is_regulator(task.candidate_role)):
        return frozenset()
    declared = step_props(task).get("operations") if task.status == "open" else None
    if declared is None:
        return frozenset(REGULATOR_OPERATIONS)
    return frozenset(op.strip() for op in declared.split(",")) & frozenset(REGULATOR_OPERATIONS)


def ensure_operation(user: User, task: Task, op: str) -> None:
    if op not in operations_allowed(user, task):
        why = "流程未允许本环节使用该操作" if user.is_regulator and is_regulator(task.candidate_role) \
            else "该操作只由监管部门在其办理的环节使用，请直接办理本任务"
        raise Forbidden(f"【{task.name}】不能{REGULATOR_OPERATIONS[op]}：{why}", code="operation_not_allowed")


def claim(task: Task, user: User) -> Task:
    """签收 (pages, API, bulk): a regulator's operation like the others above."""
    ensure_operation(user, task, "claim")
    return runtime.claim_task(task.id, user)


def _ensure_holder(user: User, task: Task, action: str) -> None:
    if task.status != "open":
        raise Conflict(f"该任务{task.status_label}，不能{action}", code="task_closed")
    if task.delegate_state in runtime.BLOCKING_STATES:
        who = task.assignee.display_name if task.assignee else "他人"
        raise Conflict(f"该任务正由 {who} 处理（委派或加签中），完成后才能{action}", code="task_delegated")
    if task.assignee_id is not None and task.assignee_id != user.id:
        raise Forbidden(f"该任务由 {task.assignee.display_name} 办理，您不能{action}")
    if task.assignee_id is None and not is_candidate(user, task):
        raise Forbidden(f"您不是该任务的办理人，不能{action}")


def _target(task: Task, user: User, target_id, action: str) -> User:
    uid = _user_id(target_id, "target")
    if uid == user.id:
        raise ValidationFailed({"target": f"不能{action}给自己"})
    target = db.session.get(User, uid)
    if target is None or not target.is_active or not is_candidate(target, task):
        raise ValidationFailed({"target": f"所选人员不能办理【{task.name}】（须为同一角色、同一辖区/单位的在岗人员）"})
    return target


def notify(user_id: int, kind: str, title: str, *, case: Case | None = None, task: Task | None = None,
           body: str | None = None, sender: User | None = None) -> Notification:
    note = Notification(user_id=user_id, kind=kind, title=title[:200], body=(body or None) and body[:1000],
                        case_id=case.id if case else None, task_id=task.id if task else None,
                        sender_id=sender.id if sender else None, created_at=utcnow())
    db.session.add(note)
    return note


_ORG_ACCOUNTS = select(User.id).where(User.org_id == bindparam("org_id"), User.role == bindparam("role"),
                                      User.is_active_flag.is_(True))


def notify_org(org_id: int, role: str, kind: str, title: str, *, case: Case, body: str | None = None,
               sender: User | None = None, task: Task | None = None) -> int:
    """A message to every active account of an organisation in `role` (a unit hears of what is
    decided about it: a notice issued, its work rejected, its case closed). Returns how many."""
    users = db.session.scalars(_ORG_ACCOUNTS, {"org_id": org_id, "role": role})
    count = 0
    for user_id in users:
        notify(user_id, kind, title, case=case, task=task, body=body, sender=sender)
        count += 1
    return count


def open_tasks_for(user: User, notes: list[Notification]) -> dict[int, Task]:
    """For a page of messages: the open task each message's case has for `user` now ({message id:
    task}) — a notice about a case links to where the person acts on it (the task the message
    names, or the case's open task they may hold)."""
    case_ids = {n.case_id for n in notes if n.case_id}
    if not case_ids:
        return {}
    open_now = [t for t in db.session.scalars(select(Task).where(Task.case_id.in_(case_ids), Task.status == "open")
                                              .order_by(Task.id))
                if t.assignee_id == user.id or (t.assignee_id is None and is_candidate(user, t))]
    out = {}
    for note in notes:
        named = next((t for t in open_now if t.id == note.task_id), None)
        out_task = named or next((t for t in open_now if t.case_id == note.case_id), None)
        if out_task is not None:
            out[note.id] = out_task
    return out


def notify_holders(task: Task, kind: str, title: str, *, body: str | None = None, sender: User | None = None) -> int:
    """A message to whoever may now act on an open task: its holder, or every candidate."""
    people = [uid for uid in holder_ids(task) if sender is None or uid != sender.id]
    for user_id in people:
        notify(user_id, kind, title, case=task.case, task=task, body=body, sender=sender)
    return len(people)


# ---------------------------------------------------------------- 转办

def transfer_task(task_id: int, user: User, target_id, opinion) -> Task:
    task, case = runtime.get_task_for_update(task_id)
    _ensure_holder(user, task, "转办")
    ensure_operation(user, task, "transfer")
    errors = {}
    for check in (lambda: _target(task, user, target_id, "转办"), lambda: _opinion(opinion, label="转办意见")):
        try:
            check()
        except ValidationFailed as err:
            errors.update(err.fields)
    if errors:
        raise ValidationFailed(errors)
    target, text = _target(task, user, target_id, "转办"), _opinion(opinion, label="转办意见")
    runtime._bump(case)
    assignee_id, task.deputy_for_id = route(target.id)
    task.assignee_id, task.owner_id, task.delegate_state = assignee_id, None, None
    behalf = f"（不在岗，由代理人 {db.session.get(User, assignee_id).display_name} 代为办理）" \
        if task.deputy_for_id else ""
    runtime.append_event(case, user, "transferred", f"转办【{task.name}】给 {target.display_name}{behalf}",
                         task_def=task.task_def, step_name=task.name, comment=text,
                         data={"from_user_id": user.id, "to_user_id": target.id})
    notify(assignee_id, "transfer", f"{user.display_name} 将【{task.name}】转办给您（{case.case_no}）",
           case=case, task=task, body=text, sender=user)
    db.session.flush()
    return task


# ---------------------------------------------------------------- 委派 / 归还

def delegate_task(task_id: int, user: User, target_id, note) -> Task:
    task, case = runtime.get_task_for_update(task_id)
    _ensure_holder(user, task, "委派")
    ensure_operation(user, task, "delegate")
    errors = {}
    for check in (lambda: _target(task, user, target_id, "委派"),
                  lambda: _opinion(note, label="委派说明", required=False)):
        try:
            check()
        except ValidationFailed as err:
            errors.update(err.fields)
    if errors:
        raise ValidationFailed(errors)
    target, text = _target(task, user, target_id, "委派"), _opinion(note, label="委派说明", required=False)
    runtime._bump(case)
    task.owner_id, task.assignee_id, task.delegate_state = user.id, target.id, "pending"
    runtime.append_event(case, user, "delegated", f"委派【{task.name}】给 {target.display_name}",
                         task_def=task.task_def, step_name=task.name, comment=text,
                         data={"owner_id": user.id, "delegate_id": target.id})
    notify(target.id, "delegate", f"{user.display_name} 委派您办理【{task.name}】（{case.case_no}）",
           case=case, task=task, body=text, sender=user)
    db.session.flush()
    return task


def resolve_delegation(task_id: int, user: User, opinion) -> Task:
    """办理完毕并归还: the delegate gives the task back to its owner with an opinion; the engine
    task stays open and the owner completes it."""
    task, case = runtime.get_task_for_update(task_id)
    if task.status != "open":
        raise Conflict(f"该任务{task.status_label}", code="task_closed")
    if task.delegate_state != "pending":
        raise Conflict("该任务不是委派中的任务", code="not_delegated")
    if task.assignee_id != user.id:
        raise Forbidden("只有被委派人可以办理完毕并归还")
    text = _opinion(opinion, label="办理意见")
    runtime._bump(case)
    owner = task.owner
    task.assignee_id, task.delegate_state = task.owner_id, "resolved"
    runtime.append_event(case, user, "delegate_returned",
                         f"办理完毕【{task.name}】，归还给 {owner.display_name}",
                         task_def=task.task_def, step_name=task.name, comment=text,
                         data={"owner_id": owner.id, "delegate_id": user.id})
    notify(owner.id, "delegate", f"{user.display_name} 已办理完毕并归还【{task.name}】（{case.case_no}）",
           case=case, task=task, body=text, sender=user)
    db.session.flush()
    return task


def delegated_opinions(task: Task) -> list:
    """The delegate's returned opinions on this task (shown to the owner above the form)."""
    return list(db.session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == task.case_id, CaseEvent.kind == "delegate_returned",
        CaseEvent.task_def == task.task_def, CaseEvent.at >= task.created_at).order_by(CaseEvent.seq)))


# ---------------------------------------------------------------- 加签 / 减签

def signs(task: Task) -> list[TaskSign]:
    return list(db.session.scalars(select(TaskSign).where(TaskSign.task_id == task.id).order_by(TaskSign.seq)))


def _pending(task: Task, kind: str) -> list[TaskSign]:
    return [s for s in signs(task) if s.kind == kind and s.status == "pending"]


def may_sign(person: User, task: Task) -> bool:
    """A signer is someone who could hold the task, or a regulator whose jurisdiction holds the case
    (e.g. the section chief or the city bureau signing before the county supervisor submits)."""
    if not person.is_active:
        return False
    if is_candidate(person, task):
        return True
    return person.is_regulator and task.case.region_code.startswith(person.scope_prefix)


def sign_candidates(task: Task, holder: User) -> list[User]:
    """Who `holder` may add as a signer (may_sign): the regulators over the case's region are read,
    not every regulator of the province to be filtered here."""
    regions = jurisdictions_over(task.case.region_code) + ([task.candidate_region] if task.candidate_region else [])
    query = select(User).where(User.is_active_flag.is_(True), User.id != holder.id, or_(
        and_(User.role.in_([k for k, r in ROLES.items() if r.side == "regulator"]), User.region_code.in_(regions)),
        and_(User.org_id.is_not(None), User.org_id == task.candidate_org_id)))
    taken = {s.user_id for s in signs(task) if s.status == "pending"}
    return [u for u in db.session.scalars(query.order_by(User.region_code, User.username))
            if u.id not in taken and may_sign(u, task)]


def add_signer(task_id: int, user: User, signer_id, kind: str, note=None) -> TaskSign:
    """前加签 (kind=before): the signer gets the task now and it comes back after they sign.
    后加签 (kind=after): the signer signs after the holder submits; then the engine task completes."""
    task, case = runtime.get_task_for_update(task_id)
    _ensure_holder(user, task, "加签")
    ensure_operation(user, task, "sign")
    errors = {}
    if kind not in ("before", "after"):
        errors["kind"] = "请选择前加签或后加签"
    signer = None
    try:
        uid = _user_id(signer_id, "signer")
        signer = db.session.get(User, uid)
        if uid == user.id:
            errors["signer"] = "不能给自己加签"
        elif signer is None or not may_sign(signer, task):
            errors["signer"] = "所选人员不能签署本环节（须为同岗人员或辖区监察人员）"
        elif any(s.user_id == uid and s.status == "pending" for s in signs(task)):
            errors["signer"] = f"{signer.display_name} 已在加签名单中"
    except ValidationFailed:
        errors["signer"] = "请选择加签人"
    try:
        text = _opinion(note, field="note", label="加签说明", required=False)
    except ValidationFailed as err:
        errors.update(err.fields)
    if errors:
        raise ValidationFailed(errors)
    runtime._bump(case)
    seq = max((s.seq for s in signs(task)), default=0) + 1
    row = TaskSign(task_id=task.id, seq=seq, kind=kind, user_id=signer.id, status="pending",
                   added_by_id=user.id, created_at=utcnow())
    db.session.add(row)
    signers_changed(task)
    task.owner_id = user.id
    if kind == "before":
        task.assignee_id, task.delegate_state = signer.id, "signing"
        summary = f"前加签【{task.name}】：请 {signer.display_name} 先签署意见"
    else:
        task.assignee_id = user.id      # the holder keeps (and claims) the task
        summary = f"后加签【{task.name}】：提交后由 {signer.display_name} 签署意见"
    runtime.append_event(case, user, "sign_added", summary, task_def=task.task_def, step_name=task.name,
                         comment=text, data={"signer_id": signer.id, "kind": kind})
    notify(signer.id, "sign", f"{user.display_name} 请您签署【{task.name}】（{case.case_no}）", case=case,
           task=task, body=text, sender=user)
    db.session.flush()
    return row


def current_sign(task: Task) -> TaskSign | None:
    """The signer whose turn it is (the task's assignee while signing / countersigning)."""
    kind = {"signing": "before", "countersign": "after"}.get(task.delegate_state or "")
    if kind is None:
        return None
    pending = _pending(task, kind)
    return pending[0] if pending else None


def sign_task(task_id: int, user: User, opinion) -> Task:
    task, case = runtime.get_task_for_update(task_id)
    if task.status != "open":
        raise Conflict(f"该任务{task.status_label}", code="task_closed")
    row = current_sign(task)
    if row is None:
        raise Conflict("该任务当前没有待签署的加签", code="not_signing")
    if row.user_id != user.id:
        raise Forbidden(f"当前应由 {row.user.display_name} 签署")
    text = _opinion(opinion, label="签署意见")
    runtime._bump(case)
    row.status, row.opinion, row.acted_at = "signed", text, utcnow()
    runtime.append_event(case, user, "signed", f"{row.kind_label}签署【{task.name}】", task_def=task.task_def,
                         step_name=task.name, comment=text, data={"sign_id": row.id, "kind": row.kind})
    _advance(case, task, row.kind, user)
    db.session.flush()
    return task


def remove_signer(task_id: int, user: User, sign_id) -> Task:
    """减签: the task's owner (or whoever added the signer) removes a signer who has not signed."""
    task, case = runtime.get_task_for_update(task_id)
    if task.status != "open":
        raise Conflict(f"该任务{task.status_label}", code="task_closed")
    row = db.session.get(TaskSign, _user_id(sign_id, "sign_id"))
    if row is None or row.task_id != task.id:
        raise NotFound("加签记录不存在")
    if user.id not in (task.owner_id, row.added_by_id):
        raise Forbidden("只有任务所有人或加签发起人可以减签")
    if row.status != "pending":
        raise Conflict(f"{row.user.display_name} {row.status_label}，不能减签", code="sign_acted")
    runtime._bump(case)
    was_current = current_sign(task) is row
    row.status, row.acted_at = "removed", utcnow()
    runtime.append_event(case, user, "sign_removed", f"减签【{task.name}】：移除 {row.user.display_name}",
                         task_def=task.task_def, step_name=task.name, data={"sign_id": row.id, "kind": row.kind})
    if was_current:
        _advance(case, task, row.kind, user)
    db.session.flush()
    return task


def _advance(case: Case, task: Task, kind: str, actor: User) -> None:
    """After a signer signed or was removed: the next signer, or back to the owner (before), or the
    engine task completes with the owner's held submission (after)."""
    pending = _pending(task, kind)
    if task.delegate_state == ("signing" if kind == "before" else "countersign") and pending:
        task.assignee_id = pending[0].user_id
        return
    if kind == "before" and task.delegate_state == "signing":
        task.assignee_id, task.delegate_state = task.owner_id, None
        return
    if kind == "after" and task.delegate_state == "countersign":
        held = json.loads(task.held_data)
        owner = db.session.get(User, held["user_id"])
        wf = runtime._load(case)
        spiff_task = wf.get_task_from_id(UUID(task.spiff_task_id))
        if spiff_task is None:
            raise Conflict("该任务已不在待办状态，请刷新", code="task_closed")
        task.delegate_state, task.held_data, task.assignee_id = None, None, owner.id
        runtime.finish_task(case, task, wf, spiff_task, owner, held["data"], held["attachment_ids"],
                            runtime._user_task_props(spiff_task), summary=f"完成【{task.name}】（后加签已签署）")


@hooks.completion_hold
def hold_for_countersign(case: Case, task: Task, user: User, data: dict, attachment_ids: list[int]) -> bool:
    """Called by runtime.complete_task: with pending 后加签 signers, keep the submission and hand the
    task to the first signer instead of completing the engine task."""
    if without_after_signers(task):
        return False
    pending = _pending(task, "after")
    if not pending:
        return False
    task.owner_id = task.owner_id or user.id
    task.held_data = json.dumps({"user_id": user.id, "data": data, "attachment_ids": attachment_ids},
                                ensure_ascii=False)
    task.assignee_id, task.delegate_state = pending[0].user_id, "countersign"
    runtime._link_attachments(case, attachment_ids)
    runtime.append_event(case, user, "submitted", f"提交【{task.name}】，待后加签人签署",
                         task_def=task.task_def, step_name=task.name, comment=data.get("opinion"),
                         data=data, attachment_ids=attachment_ids)
    return True


# ---------------------------------------------------------------- 催办

def may_urge(user: User, case: Case) -> bool:
    return case.status == "running" and (user.is_regulator or case.started_by_id == user.id)


def urge_case(case_id: int, user: User, note=None) -> list[Notification]:
    """Remind the holders of the case's open tasks (in-app + SMS), at most once per task and
    person per hour. Returns the notifications sent."""
    visible = db.session.scalar(select(Case.id).where(Case.id == case_id, case_scope(user)))
    if visible is None:
        raise NotFound("案件不存在或不在您的查看范围内")
    case = runtime.lock_case(case_id)
    if not (user.is_regulator or case.started_by_id == user.id):
        raise Forbidden("只有监察人员或案件发起人可以催办")
    if case.status != "running":
        raise Conflict(f"案件{case.status_label}，无需催办", code="case_not_running")
    text = _opinion(note, field="note", label="催办说明", required=False)
    tasks = list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")
                                    .order_by(Task.id)))
    if not tasks:
        raise Conflict("案件当前没有待办环节，无需催办", code="nothing_to_urge")
    now = utcnow()
    sent: list[Notification] = []
    names: list[str] = []
    for task in tasks:
        targets = [uid for uid in holder_ids(task) if uid != user.id]
        recent = set(db.session.scalars(select(Notification.user_id).where(
            Notification.task_id == task.id, Notification.kind == "urge",
            Notification.created_at >= now - URGE_INTERVAL)))
        targets = [uid for uid in targets if uid not in recent]
        if not targets:
            continue
        task.urge_count = (task.urge_count or 0) + 1
        people = [db.session.get(User, uid) for uid in targets]
        for person in people:
            sent.append(notify(person.id, "urge", f"催办：【{task.name}】{case.case_no}（第 {task.urge_count} 次）",
                               case=case, task=task, body=text, sender=user))
            names.append(person.display_name)
            deadline = task.due_at.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d") if task.due_at else "无"
            sms.enqueue("URGE_REMINDER", {"name": person.display_name, "caseNo": case.case_no,
                                          "step": task.name, "deadline": deadline, "sender": user.display_name},
                        sms.recipients_for_users([person]), region_code=case.region_code, case_id=case.id,
                        dedup_key=f"urge:{task.id}:{person.id}:{now.astimezone(DISPLAY_TZ):%Y%m%d%H}",
                        created_by_id=user.id)
        runtime.append_event(case, user, "urged",
                             f"催办【{task.name}】（第 {task.urge_count} 次），提醒 {'、'.join(p.display_name for p in people)}",
                             task_def=task.task_def, step_name=task.name, comment=text,
                             data={"task_id": task.id, "recipients": [p.id for p in people],
                                   "count": task.urge_count})
    if not sent:
        raise Conflict("一小时内已催办过当前办理人，请稍后再催办", code="urge_too_soon")
    db.session.flush()
    return sent


def urge_total(case: Case) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Task.urge_count), 0)).where(Task.case_id == case.id)) or 0


# ---------------------------------------------------------------- 抄送

def may_copy(user: User, case: Case) -> bool:
    """Regulators with the case in their own scope, and enterprise users holding one of its open tasks."""
    in_scope = db.session.scalar(select(Case.id).where(Case.id == case.id, case_scope(user))) is not None
    if not in_scope or case.status == "cancelled":
        return False
    if user.is_regulator:
        return True
    return any(may_hold(user, t) or t.assignee_id == user.id for t in
               db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == "open")))


def _copy_candidates(case: Case, *columns):
    """People a case may be copied to: regulators of the province, users of the case's parties."""
    # The party ids first: an IN (subquery) inside the OR made this a scan of every account (25 ms
    # a case page on the province data); plain ids let the role and org indexes answer.
    parties = list(db.session.scalars(select(CaseParty.org_id).where(CaseParty.case_id == case.id)))
    province = case.region_code[:2]
    return select(*columns).where(User.is_active_flag.is_(True), or_(
        and_(User.role.in_([k for k, r in ROLES.items() if r.side == "regulator"]),
             User.region_code.startswith(province)),
        and_(User.role.in_([k for k, r in ROLES.items() if r.side == "enterprise"]), User.org_id.in_(parties)))
    ).order_by(User.region_code, User.username)


def copy_candidates(case: Case) -> list[User]:
    return list(db.session.scalars(_copy_candidates(case, User)))


def copy_options(case: Case) -> list[tuple[int, str]]:
    """(user id, label) for the 抄送 list of the case and task pages: a province's ~500 regulators
    read as plain columns, not loaded as accounts with their units and regions."""
    columns = (User.id, User.display_name, User.role, User.region_code, Organization.name)
    rows = db.session.execute(_copy_candidates(case, *columns).outerjoin(Organization, User.org_id == Organization.id))
    return [(uid, f"{name}（{role_label(role)} · {org or region_name(region)}）")
            for uid, name, role, region, org in rows]


def role_recipients(case: Case, roles: list[str]) -> list[User]:
    """Active users of `roles` responsible for the case: regulators whose jurisdiction contains it
    (their region is the case's county, its city or the province), enterprise users of its parties."""
    query = _role_recipients_statement(tuple(roles), case.region_code)
    return [] if query is None else list(db.session.scalars(query, {"case_id": case.id}))


@lru_cache(maxsize=1024)
def _role_recipients_statement(roles: tuple[str, ...], region_code: str, with_unread: bool = False):
    """The recipients' SELECT for a case in `region_code` (parameter case_id), built once per roles
    and region; `with_unread`: with a column saying whether each holds an unread copy of the case."""
    regulator_roles = [r for r in roles if r in ROLES and ROLES[r].side == "regulator"]
    enterprise_roles = [r for r in roles if r in ROLES and ROLES[r].side == "enterprise"]
    if not (regulator_roles or enterprise_roles):
        return None
    parties = select(CaseParty.org_id).where(CaseParty.case_id == bindparam("case_id"))
    query = select(User).where(User.is_active_flag.is_(True), or_(
        and_(User.role.in_(regulator_roles), User.region_code.in_(jurisdictions_over(region_code))),
        and_(User.role.in_(enterprise_roles), User.org_id.in_(parties))))
    if with_unread:
        query = query.add_columns(exists().where(CaseCopy.case_id == bindparam("case_id"), CaseCopy.user_id == User.id,
                                                 CaseCopy.read_at.is_(None)))
    return query.order_by(User.region_code, User.username)


def _create_copies(case: Case, sender: User | None, people: list[User], note: str | None, source: str,
                   task: Task | None, already: set[int] | None = None) -> list[CaseCopy]:
    """`already`: who of `people` holds an unread copy of the case (read here when not given)."""
    if already is None:
        already = set(db.session.scalars(select(CaseCopy.user_id).where(CaseCopy.case_id == case.id,
                                                                       CaseCopy.read_at.is_(None))))
    copies = []
    for person in people:
        if person.id in already or (sender is not None and person.id == sender.id):
            continue
        already.add(person.id)
        copy = CaseCopy(case_id=case.id, user_id=person.id, task_id=task.id if task else None,
                        step_name=task.name if task else case.current_step, source=source,
                        sender_id=sender.id if sender else None, note=note, created_at=utcnow())
        db.session.add(copy)
        copies.append(copy)
        notify(person.id, "copy", f"抄送：{case.case_no} {case.title}"[:200], case=case, task=task, body=note,
               sender=sender)
    return copies


def copy_case(case_id: int, user: User, user_ids=None, roles=None, note=None, task_id: int | None = None) -> list[CaseCopy]:
    case = db.session.scalar(select(Case).where(Case.id == case_id, case_scope(user)))
    if case is None:
        raise NotFound("案件不存在或不在您的查看范围内")
    case = runtime.lock_case(case_id)
    if not may_copy(user, case):
        raise Forbidden("只有监察人员或当前办理人可以抄送")
    errors = {}
    allowed = {u.id: u for u in copy_candidates(case)}
    people: dict[int, User] = {}
    for value in user_ids or []:
        try:
            uid = int(value)
        except (TypeError, ValueError):
            uid = -1
        if uid not in allowed:
            errors["users"] = "抄送对象须为本区监察人员或案件相关单位的人员"
            continue
        people[uid] = allowed[uid]
    bad_roles = [r for r in roles or [] if r not in ROLES or ROLES[r].side not in ("regulator", "enterprise")]
    if bad_roles:
        errors["roles"] = f"未知或不可抄送的角色：{'、'.join(map(str, bad_roles))}"
    else:
        for person in role_recipients(case, list(roles or [])):
            people[person.id] = person
    try:
        text = _opinion(note, field="note", label="抄送说明", required=False)
    except ValidationFailed as err:
        errors.update(err.fields)
    if not errors and not [p for p in people.values() if p.id != user.id]:
        errors["users"] = "请选择至少一位抄送对象（不含自己）"
    if errors:
        raise ValidationFailed(errors)
    task = None
    if task_id is not None:
        task = db.session.get(Task, task_id)
        if task is None or task.case_id != case.id:
            task = None
    copies = _create_copies(case, user, sorted(people.values(), key=lambda p: p.id), text, "manual", task)
    if not copies:
        raise Conflict("所选人员已收到该案件的抄送，尚未阅读", code="already_copied")
    names = "、".join(people[c.user_id].display_name for c in copies)
    db.session.flush()
    runtime.append_event(case, user, "copied", f"抄送给 {names}", task_def=task.task_def if task else None,
                         step_name=task.name if task else None, comment=text,
                         data={"recipients": [c.user_id for c in copies],
                               "roles": sorted(set(roles or []))})
    db.session.flush()
    return copies


@hooks.after_completion
def copy_by_bpmn(case: Case, task: Task, props: dict, actor: User | None) -> list[CaseCopy]:
    """`ccRoles` on a user task: copy the case to those roles (region-scoped) when it completes."""
    roles = [r.strip() for r in (props.get("ccRoles") or "").split(",") if r.strip() in ROLES]
    if not roles:
        return []
    # Each recipient with whether they hold an unread copy already: one statement on the hot path.
    query = _role_recipients_statement(tuple(roles), case.region_code, with_unread=True)
    if query is None:
        return []
    rows = db.session.execute(query, {"case_id": case.id}).all()
    people = [person for person, _ in rows]
    copies = _create_copies(case, None, people, None, "bpmn", task,
                            already={person.id for person, has_copy in rows if has_copy})
    if copies:
        runtime.append_event(case, None, "copied",
                             f"按流程配置抄送（{'、'.join(role_label(r) for r in roles)}）给 "
                             + "、".join(p.display_name for p in people if p.id in {c.user_id for c in copies}),
                             task_def=task.task_def, step_name=task.name,
                             data={"recipients": [c.user_id for c in copies], "roles": roles})
    return copies


@read_grant
def _copied_to(user: User):
    """A copy (抄送) lets its recipient read that case (core/scope.case_read_scope)."""
    return Case.id.in_(select(CaseCopy.case_id).where(CaseCopy.user_id == user.id))


def copy_json(copy: CaseCopy) -> dict:
    """A copy record as the API renders it (GET /api/v1/copies, and the 抄送我的 box of /tasks)."""
    return {"id": copy.id, "case_id": copy.case_id, "case_no": copy.case.case_no, "title": copy.case.title,
            "user_id": copy.user_id, "sender": copy.sender.display_name if copy.sender else "系统（流程配置）",
            "step": copy.step_name, "source": copy.source, "note": copy.note, "created_at": local_iso(copy.created_at),
            "read_at": local_iso(copy.read_at)}


def mark_copy_read(copy: CaseCopy) -> None:
    if copy.read_at is None:
        copy.read_at = utcnow()


# ---------------------------------------------------------------- step requirements

def step_props(task: Task) -> dict:
    """The user-task extension properties of an open task's BPMN step."""
    wf = runtime._load(task.case)
    spiff_task = wf.get_task_from_id(UUID(task.spiff_task_id))
    if spiff_task is None:
        return {}
    return runtime._user_task_props(spiff_task)


def _truthy(value) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")


def requirements(props: dict) -> dict:
    return {"opinion": _truthy(props.get("opinionRequired")), "signature": _truthy(props.get("signatureRequired"))}


@hooks.step_check
def check_step_requirements(task: Task, props: dict, data: dict, user: User, extras: dict) -> list[int]:
    """Called by runtime.complete_task before the engine runs. Raises ValidationFailed with one
    Chinese message per field; returns attachment ids to link (the stored signature)."""
    need = requirements(props)
    errors = {}
    if need["opinion"]:
        text = data.get("opinion")
        if not isinstance(text, str) or len(text.strip()) < OPINION_MIN:
            errors["opinion"] = f"该环节必须填写审批意见（至少 {OPINION_MIN} 个字）"
    png = None
    if need["signature"]:
        try:
            png = decode_signature(extras.get("signature"))
        except ValidationFailed as err:
            errors.update(err.fields)
    if errors:
        raise ValidationFailed(errors)
    if png is None:
        return []
    att = save_upload(FileStorage(io.BytesIO(png), filename=SIGNATURE_FILENAME), user, field="signature")
    return [att.id]


def decode_signature(value) -> bytes:
    """A PNG from the signature pad, as a data URL or plain base64: PNG magic, size limit, 8-bit
    RGBA as a canvas exports it, at least a few inked pixels."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed({"signature": "该环节需要手写签名，请在签名板上签名"})
    text = value.strip()
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if head != "data:image/png;base64":
            raise ValidationFailed({"signature": "签名必须是 PNG 图片"})
    if len(text) > SIGNATURE_MAX_BYTES * 4 // 3 + 8:
        raise ValidationFailed({"signature": f"签名图片超过 {SIGNATURE_MAX_BYTES // 1024}KB 上限"})
    try:
        png = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed({"signature": "签名数据无法解码"}) from None
    if len(png) > SIGNATURE_MAX_BYTES:
        raise ValidationFailed({"signature": f"签名图片超过 {SIGNATURE_MAX_BYTES // 1024}KB 上限"})
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValidationFailed({"signature": "签名必须是 PNG 图片"})
    if inked_pixels(png) < 20:
        raise ValidationFailed({"signature": "签名为空白，请在签名板上签名"})
    return png


def inked_pixels(png: bytes) -> int:
    """Count pixels with any opacity in an 8-bit RGBA, non-interlaced PNG (what canvas.toDataURL
    produces); raises ValidationFailed for anything else."""
    bad = ValidationFailed({"signature": "签名图片格式不正确"})
    pos, idat, width, height = 8, [], 0, 0
    try:
        while pos < len(png):
            length, kind = struct.unpack(">I4s", png[pos:pos + 8])
            chunk = png[pos + 8:pos + 8 + length]
            if kind == b"IHDR":
                width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", chunk)
                if depth != 8 or color != 6 or interlace != 0 or not (0 < width <= 4000 and 0 < height <= 4000):
                    raise bad
            elif kind == b"IDAT":
                idat.append(chunk)
            elif kind == b"IEND":
                break
            pos += 12 + length
        raw = zlib.decompressobj().decompress(b"".join(idat), width * height * 4 + height + 1)
    except (struct.error, zlib.error):
        raise bad from None
    stride = width * 4 + 1
    if not width or len(raw) < stride * height:
        raise bad
    count = 0
    prev = bytearray(stride - 1)
    for y in range(height):
        kind, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        _unfilter(kind, line, prev)
        count += sum(1 for a in line[3::4] if a)
        prev = line
    return count


def _unfilter(kind: int, line: bytearray, prev: bytearray) -> None:
    if kind == 0:
        return
    for i in range(len(line)):
        left = line[i - 4] if i >= 4 else 0
        up = prev[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
        elif kind == 4:
            ul = prev[i - 4] if i >= 4 else 0
            p = left + up - ul
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
            pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
            line[i] = (line[i] + pred) & 0xFF
        else:
            raise ValidationFailed({"signature": "签名图片格式不正确"})
