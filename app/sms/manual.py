"""Manual reminder from a case (§4.5.3.2 短信发送功能): who can be texted and what can be said.

Recipients are the case organisation's SMS contacts and the holders of the case's open tasks
(assignee, or every candidate while unclaimed). Template variables are filled from the case,
never typed by the sender, so a manual reminder says exactly what the case record says."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..cases.models import Case, Task
from ..cases.services import open_tasks
from ..core.clock import to_local, today_local
from ..core.models import OrgContact, User
from ..core.regions import office_name
from ..core.scope import is_candidate
from ..extensions import db
from .services import Recipient, readable_phone


@dataclass
class Candidate:
    key: str                  # "c:<org_contact id>" | "u:<user id>"
    label: str                # duty, or the task the person holds
    name: str
    phone_masked: str
    audience: str
    row: OrgContact | User
    task: Task | None = None  # the open task this person should act on, if any

    def recipient(self) -> Recipient | None:
        phone = readable_phone(self.row)
        if not phone:
            return None
        if isinstance(self.row, OrgContact):
            return Recipient(self.name, phone, "enterprise", org_id=self.row.org_id)
        regulator = self.row.is_regulator
        return Recipient(self.name, phone, self.audience, org_id=None if regulator else self.row.org_id,
                         user_id=self.row.id)


def task_holders(task: Task) -> list[User]:
    if task.assignee_id:
        users = [task.assignee] if task.assignee else []
    else:
        query = select(User).where(User.role == task.candidate_role, User.is_active_flag.is_(True))
        if task.candidate_region:
            query = query.where(User.region_code == task.candidate_region)
        if task.candidate_org_id:
            query = query.where(User.org_id == task.candidate_org_id)
        users = [u for u in db.session.scalars(query.order_by(User.id)) if is_candidate(u, task)]
    return [u for u in users if u.is_active and u.phone_enc]


def candidates(case: Case) -> list[Candidate]:
    tasks = open_tasks(case)
    org_task = next((t for t in tasks if case.org_id and t.candidate_org_id == case.org_id), None)
    found: list[Candidate] = []
    if case.org_id:
        for contact in db.session.scalars(select(OrgContact).where(
                OrgContact.org_id == case.org_id, OrgContact.receives_sms.is_(True),
                OrgContact.phone_enc.is_not(None)).order_by(OrgContact.id)):
            found.append(Candidate(f"c:{contact.id}", f"{contact.duty_label}（{case.org.name}）", contact.name,
                                   contact.phone_masked, "enterprise", contact, org_task))
    seen: set[int] = set()
    for task in tasks:
        for user in task_holders(task):
            if user.id in seen:
                continue
            seen.add(user.id)
            role = "办理人" if task.assignee_id else "候选办理人"
            found.append(Candidate(f"u:{user.id}", f"【{task.name}】{role}（{user.role_label}）", user.display_name,
                                   user.phone_masked, "regulator" if user.is_regulator else "enterprise", user, task))
    return found


# ---------------------------------------------------------------- templates a case can use

@dataclass
class CaseFacts:
    case: Case
    sender: User
    hazard: object | None   # app.hazards.models.Hazard for major_hazard cases


def _day(value) -> str:
    if value is None:
        return "未设定"
    if isinstance(value, datetime):
        return to_local(value).strftime("%Y-%m-%d")
    return value.isoformat()


def _open_hazard(facts: CaseFacts):
    h = facts.hazard
    return h if h is not None and h.notice_no and h.status in ("rectifying", "extension_pending") else None


def _todo(facts: CaseFacts, who: Candidate) -> dict | None:
    if who.task is None:
        return None
    return {"name": who.name, "caseNo": facts.case.case_no, "step": who.task.name, "deadline": _day(who.task.due_at)}


def _hazard_notice(facts: CaseFacts, who: Candidate) -> dict | None:
    h = _open_hazard(facts)
    if h is None:
        return None
    from ..hazards.services import notice_sms_params
    return notice_sms_params(h)


def _directive_deadline(facts: CaseFacts, who: Candidate) -> dict | None:
    h = _open_hazard(facts)
    if h is None or h.rectify_deadline < today_local():
        return None
    return {"unitName": h.use_org.name, "docNo": h.notice_no, "deadline": _day(h.rectify_deadline)}


def _hazard_overdue(facts: CaseFacts, who: Candidate) -> dict | None:
    h = _open_hazard(facts)
    if h is None or h.rectify_deadline >= today_local():
        return None
    return {"unitName": h.use_org.name, "equipName": h.equipment.name, "deviceCode": h.equipment.code,
            "docNo": h.notice_no, "deadline": _day(h.rectify_deadline),
            "officeName": office_name(facts.sender.region_code)}


def _closed(facts: CaseFacts, who: Candidate) -> dict | None:
    case = facts.case
    if case.status != "closed" or case.org is None:
        return None
    return {"unitName": case.org.name, "caseNo": case.case_no, "title": case.title}


# code -> builder(facts, candidate) -> template variables, or None when it does not fit
MANUAL_TEMPLATES: dict[str, Callable[[CaseFacts, Candidate], dict | None]] = {
    "TODO_REMINDER": _todo,
    "MAJOR_HAZARD_NOTICE": _hazard_notice,
    "DIRECTIVE_DEADLINE_3D": _directive_deadline,
    "MAJOR_HAZARD_OVERDUE": _hazard_overdue,
    "CASE_CLOSED": _closed,
}


def case_facts(case: Case, sender: User) -> CaseFacts:
    hazard = None
    if case.process_key == "major_hazard":
        from ..hazards.services import hazard_for_case
        hazard = hazard_for_case(case)
    return CaseFacts(case, sender, hazard)
