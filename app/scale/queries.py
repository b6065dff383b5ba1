"""Province overview aggregates (a supervisor's dashboard figures), each limited to the user's
data scope. bench/queries.py times them on the province data with EXPLAIN ANALYZE."""
from __future__ import annotations

from sqlalchemy import func, select

from ..cases.models import Case
from ..core.clock import today_local
from ..core.models import User
from ..core.scope import case_scope
from ..hazards.models import Hazard
from ..hazards.services import hazard_scope
from ..inspections.queries import conclusions_last_year, devices_by_due_state


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


def overdue_rectifications(user: User):
    return (select(func.count()).select_from(Hazard).where(hazard_scope(user), Hazard.status.in_(Hazard.WARNING_STATUSES),
                                                           Hazard.rectify_deadline < today_local()))


DASHBOARD = {
    "hazards by city and status": hazards_by_city_and_status,
    "cases by process and status": cases_by_process_and_status,
    "running cases by warning level": running_cases_by_warning,
    "devices by inspection due state": devices_by_due_state,
    "inspection conclusions, last 12 months": conclusions_last_year,
    "overdue rectifications": overdue_rectifications,
}
