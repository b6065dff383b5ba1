"""Province overview aggregates (a supervisor's dashboard figures), each limited to the user's
data scope. bench/queries.py times them on the province data with EXPLAIN ANALYZE."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from ..cases.models import Case
from ..core.clock import today_local
from ..core.models import Equipment, User
from ..core.scope import case_scope, equipment_scope, in_region
from ..hazards.models import Hazard
from ..hazards.services import hazard_scope
from .models import InspectionReport


def hazards_by_city_and_status(user: User):
    city = func.substr(Hazard.region_code, 1, 4)
    return (select(city.label("city"), Hazard.status, func.count()).where(hazard_scope(user))
            .group_by(city, Hazard.status))


def cases_by_process_and_status(user: User):
    return (select(Case.process_key, Case.status, func.count()).where(case_scope(user))
            .group_by(Case.process_key, Case.status))


def running_cases_by_warning(user: User):
    """Running cases by warning colour (a case carries the most urgent colour of its open tasks)."""
    return (select(Case.warning_level, func.count()).where(Case.status == "running", case_scope(user))
            .group_by(Case.warning_level))


def inspection_due_state(user: User):
    """Devices in use by inspection state: overdue, due within 30 days, valid, never inspected."""
    today = today_local()
    state = sql_case((Equipment.next_inspection_date.is_(None), "none"),
                     (Equipment.next_inspection_date < today, "overdue"),
                     (Equipment.next_inspection_date <= today + timedelta(days=30), "due_30d"),
                     else_="valid")
    return (select(state.label("state"), func.count())
            .where(Equipment.status == "in_use", equipment_scope(user)).group_by(state))


def inspection_conclusions_last_year(user: User):
    prefix_scope = equipment_scope(user)   # regulators: region prefix; others: their own devices
    query = select(InspectionReport.conclusion, func.count()).where(
        InspectionReport.inspected_on >= today_local() - timedelta(days=365))
    if user.is_regulator:
        query = query.where(in_region(InspectionReport.region_code, user.scope_prefix))
    else:
        query = query.where(InspectionReport.equipment_id.in_(select(Equipment.id).where(prefix_scope)))
    return query.group_by(InspectionReport.conclusion)


def overdue_rectifications(user: User):
    return (select(func.count()).select_from(Hazard).where(hazard_scope(user), Hazard.status.in_(Hazard.WARNING_STATUSES),
                                                           Hazard.rectify_deadline < today_local()))


DASHBOARD = {
    "hazards by city and status": hazards_by_city_and_status,
    "cases by process and status": cases_by_process_and_status,
    "running cases by warning level": running_cases_by_warning,
    "devices by inspection due state": inspection_due_state,
    "inspection conclusions, last 12 months": inspection_conclusions_last_year,
    "overdue rectifications": overdue_rectifications,
}
