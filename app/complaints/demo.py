"""Demo complaints (flask demo seed): one from the public page waiting for 受理审查 in 兴宁区, and one
registered by staff from a hotline call, accepted and waiting for 现场核查. Driven through the engine."""
from __future__ import annotations

from sqlalchemy import select

from ..cases.models import Task
from ..core.models import Equipment, User
from ..engine import runtime
from ..extensions import db
from .services import PROCESS_KEY, public_account


def seed_complaints() -> int:
    xn = db.session.scalar(select(User).where(User.username == "xn_supervisor"))
    unit = db.session.scalar(select(User).where(User.username == "unit_xn"))
    if xn is None or unit is None:
        return 0
    devices = list(db.session.scalars(select(Equipment).where(Equipment.use_org_id == unit.org_id).order_by(Equipment.id)))
    runtime.start_case(PROCESS_KEY, public_account(), {
        "device_code": devices[3].code, "description": "电梯运行时轿厢明显抖动并有异响，按钮时灵时不灵，担心安全。",
        "complainant_name": "陆女士", "complainant_phone": "13907719001"})
    hotline = runtime.start_case(PROCESS_KEY, xn, {
        "county_code": "450102", "address": "兴宁区演示路8号小区2栋电梯",
        "description": "12345热线转来：小区2栋电梯多次困人，物业称维保单位一个多月没来保养。",
        "complainant_phone": "13907719002"})
    task = db.session.scalar(select(Task).where(Task.case_id == hotline.id, Task.status == "open"))
    runtime.complete_task(task.id, xn, {"review_decision": "accept", "opinion": "多次困人，予以受理，安排现场核查。"})
    return 2
