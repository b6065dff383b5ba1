"""Lane -> candidates: a lane names a role key; the case's jurisdiction or an organisation
stored in the case data narrows it (docs/角色与数据范围.md)."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.regions import region_at_level
from ..core.roles import ROLES, is_enterprise, is_regulator
from ..errors import DomainError


@dataclass
class Candidates:
    role: str
    region_code: str | None = None
    org_id: int | None = None
    assignee_id: int | None = None


def resolve(lane: str, properties: dict, case, data: dict) -> Candidates:
    """`candidateRole` names a data variable (set e.g. from a DMN table) whose value overrides
    the lane's role; the lane is then the default drawn in the diagram."""
    if properties.get("candidateRole") and data.get(properties["candidateRole"]):
        lane = str(data[properties["candidateRole"]])
    role = ROLES.get(lane)
    if role is None:
        raise DomainError(f"泳道/办理角色 {lane} 不是已知角色", code="bad_lane")
    if is_regulator(lane):
        level = role.level if role.level != "own" else properties.get("regionLevel", "county")
        return Candidates(lane, region_code=region_at_level(case.region_code, level))
    if is_enterprise(lane):
        variable = properties.get("candidateOrg", "org_id")
        org_id = data.get(variable) if variable != "org_id" else (data.get("org_id") or case.org_id)
        if not org_id:
            raise DomainError(f"无法确定 {role.label} 环节的办理单位 (变量 {variable} 为空)", code="no_candidate")
        return Candidates(lane, org_id=int(org_id))
    variable = properties.get("candidateUser")
    if variable and data.get(variable):
        return Candidates(lane, assignee_id=int(data[variable]))
    raise DomainError(f"无法确定 {role.label} 环节的办理人", code="no_candidate")
