"""Demo data of 无需无纸化维保 (fictitious): the 兴宁区 use unit's last elevator approved by 兴宁区 with one
back-filled work order, and its last-but-one elevator in an application waiting for 兴宁区's review.
Driven through the real engine and back-fill service; idempotent (nothing is added when any exists)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ..cases.models import Task
from ..core.clock import today_local
from ..core.models import Equipment, User
from ..elevators.models import ElevatorFacts
from ..elevators.services import items_for
from ..engine import runtime
from ..extensions import db
from .models import Exemption
from .services import PROCESS_KEY, backfill

REASON_APPROVED = "该电梯位于地下三层设备区，机房与井道无移动网络信号，维保人员无法现场扫码签到和上传照片（演示）。"
REASON_PENDING = "该电梯所在楼栋正在进行通信改造，改造期间无移动网络信号，暂无法进行无纸化维保（演示）。"


def _user(name: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == name))


def seed_exemptions() -> int:
    if db.session.scalar(select(func.count(Exemption.id))):
        return 0
    unit, bureau, quality = _user("unit_xn"), _user("xn_supervisor"), _user("wb_quality")
    if unit is None or bureau is None or quality is None:
        return 0
    lifts = list(db.session.scalars(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                                    .where(Equipment.use_org_id == unit.org_id, Equipment.status == "in_use")
                                    .order_by(Equipment.id)))
    if len(lifts) < 2:
        return 0
    approved_lift, pending_lift = lifts[-1], lifts[-2]
    case = runtime.start_case(PROCESS_KEY, unit, {"elevator_codes": [approved_lift.code], "reason": REASON_APPROVED})
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))
    runtime.complete_task(task.id, bureau, {"review_decision": "approve", "opinion": "经现场核实情况属实，同意（演示）。",
                                            "valid_until": (today_local() + timedelta(days=365)).isoformat()})
    facts = db.session.scalar(select(ElevatorFacts).where(ElevatorFacts.equipment_id == approved_lift.id))
    results = [{"item_id": i.id, "result": "ok"} for i in items_for(facts.elevator_type, "HALF")]
    backfill(quality, {"equipment_id": approved_lift.id, "work_date": today_local().isoformat(), "start_time": "09:00",
                       "end_time": "10:05", "maint_type": "HALF", "maintainer": "wb_qin", "coworker": "wb_lu",
                       "results": results, "remark": "按纸质维保记录补录（演示）", "client_id": "demo-backfill-0001"})
    runtime.start_case(PROCESS_KEY, unit, {"elevator_codes": [pending_lift.code], "reason": REASON_PENDING})
    return 2
