"""Inspection aggregates of a user's scope (overview figures; bench/queries.py times them)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ..core.clock import today_local
from ..core.models import Equipment, User
from ..core.scope import in_region
from ..registry.services import device_scope
from .models import InspectionReport


def devices_by_due_state(user: User):
    """Devices by stored due state (超期 / 1–3 个月内到期 / 有效 / 无检验信息 / 不需检验)."""
    return (select(Equipment.due_state, func.count()).where(device_scope(user))
            .group_by(Equipment.due_state))


def conclusions_last_year(user: User):
    query = select(InspectionReport.conclusion, func.count()).where(
        InspectionReport.inspected_on >= today_local() - timedelta(days=365))
    if user.is_regulator:
        query = query.where(in_region(InspectionReport.region_code, user.scope_prefix))
    else:
        query = query.where(InspectionReport.equipment_id.in_(select(Equipment.id).where(device_scope(user))))
    return query.group_by(InspectionReport.conclusion)
