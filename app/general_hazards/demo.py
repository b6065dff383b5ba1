"""Demo content of the hazard module (fictitious like the rest of app/demo.py): a monthly hazard-checking
plan of 兴宁 商业广场 with this month's check task, one general hazard waiting for acceptance, and a 南宁市
bulletin approved by the province and published to the counties."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..core.clock import today_local
from ..core.models import User
from ..engine import runtime
from ..extensions import db


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def seed_hazards2() -> int:
    """Returns how many cases it started (the general hazard)."""
    from ..cases.models import Task
    from ..hazards import bulletins
    from . import services
    today = today_local()
    unit = _user("unit_xn")
    services.create_plan(unit, {"name": "每月电梯与锅炉房安全排查（演示）", "period": "monthly",
                                "starts_on": today.replace(day=1).isoformat(), "inspector_name": "李检查",
                                "content": "电梯机房、井道、锅炉房安全附件与应急设施"})
    case = runtime.start_case("general_hazard", unit, {
        "category": "safety_device", "hazard_count": 2, "level": "medium",
        "main_problem": "电梯机房灭火器过期，应急照明不亮。", "found_at": "1号电梯机房", "found_on": today.isoformat(),
        "deadline": (today + timedelta(days=7)).isoformat(), "related_source": "self_check",
        "inspector_name": "李检查", "inspecting_unit": "安全管理部", "check_kind": "daily"})
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))
    runtime.complete_task(task.id, unit, {"rectified_on": today.isoformat(), "handler": "王整改",
                                          "rectify_result": "更换灭火器两具，修复应急照明。"})
    bulletin = bulletins.create_bulletin(_user("nn_city"), {
        "title": "关于南宁市近期特种设备重大事故隐患排查治理情况的通报（演示）", "kind": "periodic",
        "scope_region": "450100", "period_from": (today - timedelta(days=30)).isoformat(),
        "period_to": today.isoformat(), "remarks": "请各县区局督促有关单位按期整改，逾期未整改的依法查处。"})
    bulletins.decide(_user("gx_province"), bulletin.id, "approve", "同意发布")
    return 1
