"""The one vocabulary of roles (see docs/角色与数据范围.md)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    key: str
    label: str
    side: str          # regulator | enterprise | personal | platform
    level: str | None  # regulators: province | city | county | own; others: None


ROLES: dict[str, Role] = {r.key: r for r in [
    Role("province_supervisor", "自治区局监察人员", "regulator", "province"),
    Role("city_supervisor", "市局监察人员", "regulator", "city"),
    Role("county_supervisor", "区县局监察人员", "regulator", "county"),
    Role("approver", "科室/单位负责人", "regulator", "own"),
    Role("expert", "评审专家/检查人员", "personal", None),
    Role("use_unit", "使用单位安全管理员", "enterprise", None),
    Role("property_manager", "物业/使用单位安全管理员(电梯)", "enterprise", None),
    Role("maintenance_unit", "维保单位", "enterprise", None),
    Role("elevator_maintainer", "电梯维保人员", "enterprise", None),
    Role("maintenance_quality", "维保单位质量负责人", "enterprise", None),
    Role("inspection_agency", "检验检测机构", "enterprise", None),
    Role("cylinder_maker", "气瓶制造单位", "enterprise", None),
    Role("filling_unit", "气瓶充装单位", "enterprise", None),
    Role("undertaking_unit", "证后监督检查承担单位", "enterprise", None),
    Role("operator", "作业人员", "personal", None),
    Role("process_admin", "流程管理员", "platform", None),
    Role("sys_admin", "系统管理员", "platform", None),
    Role("sec_admin", "安全管理员", "platform", None),
    Role("audit_admin", "审计管理员", "platform", None),
    # The system account that files complaints submitted on the public page (no login; sees no data).
    Role("public", "社会公众（网上投诉举报）", "public", None),
]}

REGULATOR_ROLES = frozenset(k for k, r in ROLES.items() if r.side == "regulator")
ENTERPRISE_ROLES = frozenset(k for k, r in ROLES.items() if r.side == "enterprise")


def role_label(key: str | None) -> str:
    role = ROLES.get(key or "")
    return role.label if role else (key or "")


def is_regulator(role_key: str) -> bool:
    return role_key in REGULATOR_ROLES


def is_enterprise(role_key: str) -> bool:
    return role_key in ENTERPRISE_ROLES
