"""Escalation of overdue work, modelled in BPMN and decided by rules/escalation_target.dmn.

A process draws a timer (e.g. the rectification deadline passed) leading to a service task
`case.escalate(level, deadline)`. This function asks the DMN table who takes the case at that
level, records the escalation on the timeline, queues the SMS warnings, and sets the variables
the following gateway and user task read: escalation_needed, escalation_role, escalation_due.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ..core.clock import DISPLAY_TZ, utcnow
from ..core.models import Equipment, User
from ..core.regions import office_name, region_at_level
from ..core.roles import ROLES, role_label
from ..engine import decisions
from ..engine.runtime import append_event
from ..engine.services import ServiceContext, facts_for, service
from ..extensions import db
from .models import CaseEvent

DECISION = "escalation_target"


def _already_escalated(case_id: int, level: int, deadline: str) -> bool:
    for text in db.session.scalars(select(CaseEvent.data).where(CaseEvent.case_id == case_id,
                                                                CaseEvent.kind == "escalated")):
        data = json.loads(text or "{}")
        if data.get("level") == level and data.get("deadline") == deadline:
            return True
    return False


def regulators_at(role: str, case_region: str) -> list[User]:
    """Active users holding `role` in the region the role covers for this case."""
    region = region_at_level(case_region, ROLES[role].level)
    return list(db.session.scalars(select(User).where(User.role == role, User.region_code == region,
                                                      User.is_active_flag.is_(True)).order_by(User.id)))


# Supervisors already sent today's escalation notice by this process: later escalations of the
# day skip the lookup and the SMS query altogether. Forgotten whenever a transaction rolls back
# (the notice may not have been stored) — the dedup key stays the real guarantee.
_NOTIFIED: set[tuple[int, str]] = set()
_REGULATORS: dict[tuple[str, str], tuple[float, list[int]]] = {}
REGULATORS_TTL = 60.0


@event.listens_for(Session, "after_soft_rollback")
def _forget_notified(*_args) -> None:
    _NOTIFIED.clear()


def _regulator_ids(role: str, case_region: str) -> list[int]:
    key = (role, case_region)
    hit = _REGULATORS.get(key)
    if hit is None or time.monotonic() - hit[0] > REGULATORS_TTL:
        hit = (time.monotonic(), [u.id for u in regulators_at(role, case_region)])
        _REGULATORS[key] = hit
    return hit[1]


@service("case.escalate")
def escalate(ctx: ServiceContext, level: int, deadline: str | None = None, subject: str = "办理期限") -> dict:
    """`subject` names the deadline on the timeline (the hazard process passes "整改期限")."""
    from ..sms import services as sms
    case, data = ctx.case, ctx.task_data
    level, deadline = int(level), str(deadline or "")
    target = decisions.evaluate(DECISION, process_key=case.process_key, level=level)
    role = target.get("role") or ""
    if not role or role not in ROLES or _already_escalated(case.id, level, deadline):
        data.update(escalation_needed=False)
        return {"escalated": False}
    label = target.get("label") or role_label(role)
    office = office_name(region_at_level(case.region_code, ROLES[role].level))
    data.update(escalation_needed=True, escalation_role=role, escalation_level=level,
                escalation_due=target.get("due") or None)
    append_event(case, None, "escalated",
                 f"{subject}（{deadline}）已届满仍未办结，第{level}级升级至{label}（{office}）督办",
                 data={"level": level, "deadline": deadline, "role": role})
    equipment = db.session.get(Equipment, case.equipment_id) if case.equipment_id else None
    facts = {"caseNo": case.case_no, "title": case.title, "deadline": deadline, "level": str(level),
             "unitName": case.org.name if case.org else "", "officeName": office,
             "equipName": equipment.name if equipment else "", "deviceCode": equipment.code if equipment else "",
             **facts_for(case)}
    dedup = f"escalate:{case.id}:{level}:{deadline}"
    if target.get("unit_template") and case.org_id:
        sms.enqueue(target["unit_template"], facts, sms.recipients_for_org(case.org_id),
                    region_code=case.region_code, case_id=case.id, dedup_key=dedup, own_savepoint=False,
                    equipment_id=case.equipment_id)
    if target.get("regulator_template"):
        # One SMS per supervisor per day, naming the first case; every escalated case is in the
        # inbox. A mass escalation must not turn into hundreds of texts to one person. Its own
        # savepoint: two timer workers escalating for the same supervisor race for this key.
        day = utcnow().astimezone(DISPLAY_TZ).date().isoformat()
        pending = [uid for uid in _regulator_ids(role, case.region_code) if (uid, day) not in _NOTIFIED]
        for user in db.session.scalars(select(User).where(User.id.in_(pending)).order_by(User.id)) if pending else []:
            sms.enqueue(target["regulator_template"], {**facts, "name": user.display_name},
                        sms.recipients_for_users([user]), region_code=case.region_code, case_id=case.id,
                        dedup_key=f"escalation-notice:{user.id}:{day}")   # parallel workers may race
            _NOTIFIED.add((user.id, day))
    return {"escalated": True, "role": role, "level": level}
