"""Inspection due state of a device (超期未检预警, §4.5.2.1).

A device in use is due by its effective due date: the next due date of its latest passing report, or a
later approved 延期检验 date. The band — 超期 / 1 / 2 / 3 个月内到期 / 在有效期内 — comes from the DMN table
rules/inspection_due.dmn (a process administrator edits it in the browser), given
  days_left   = due date − today (0 on the due date itself, negative once it has passed), and
  months_left = the fewest calendar months n with due ≤ today + n months (a month on from 31 January is
                the last day of February; a date exactly three months on is within 3 months).
Devices that need no periodic inspection are 不需检验: stopped, scrapped, cancelled, announced cancelled,
and simple pressure vessels within their design life (§4.5.14.1). An in-use device with no passing
report is 无检验信息.

The state is stored (equipment.due_state) so the ledger counts by index; `recompute_all` brings every
device up to date (the scheduler's daily job) and `refresh` one device after any change.
"""
from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import and_, case, func, or_, select, update

from ..core.clock import today_local
from ..core.models import Equipment
from ..engine import decisions
from ..extensions import db

DECISION = "inspection_due"
STATES = {"overdue": "超期未检", "due_1m": "1个月内到期", "due_2m": "2个月内到期", "due_3m": "3个月内到期",
          "valid": "在有效期内", "no_record": "无检验信息", "exempt": "不需检验"}
# The states the DMN may return (the others are decided before it).
BANDS = ("overdue", "due_1m", "due_2m", "due_3m", "valid")
# Ledger order: most urgent first.
ORDER = ("overdue", "due_1m", "due_2m", "due_3m", "valid", "no_record", "exempt")


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_left(today: date, due: date) -> int:
    if due <= today:
        return 0
    n = (due.year - today.year) * 12 + due.month - today.month
    n = max(n - 1, 0)
    while add_months(today, n) < due:
        n += 1
    return n


_BAND_CACHE: dict[tuple, str] = {}


def band(due: date, today: date | None = None) -> str:
    """The DMN's band for a due date. Results are cached per deployed version of the table (a new
    version deployed in the browser takes effect with the engine cache, within seconds)."""
    today = today or today_local()
    key = (decisions.version_key(DECISION), today, due)
    state = _BAND_CACHE.get(key)
    if state is None:
        state = decisions.evaluate(DECISION, days_left=(due - today).days,
                                   months_left=months_left(today, due)).get("state")
        if state not in BANDS:
            raise ValueError(f"rules/inspection_due.dmn returned {state!r}; expected one of {BANDS}")
        if len(_BAND_CACHE) > 50_000:
            _BAND_CACHE.clear()
        _BAND_CACHE[key] = state
    return state


def exempt(e: Equipment, today: date) -> bool:
    if e.status in Equipment.INACTIVE_STATUSES:
        return True
    return bool(e.simple_pressure_vessel) and (e.design_life_end is None or today < e.design_life_end)


def state_for(e: Equipment, today: date | None = None) -> str:
    today = today or today_local()
    if exempt(e, today):
        return "exempt"
    due = e.effective_due_date
    return "no_record" if due is None else band(due, today)


def refresh(e: Equipment, today: date | None = None) -> str:
    e.due_state = state_for(e, today)
    return e.due_state


def effective_due_column():
    """SQL for Equipment.effective_due_date."""
    return case((and_(Equipment.extended_until.is_not(None),
                      or_(Equipment.next_inspection_date.is_(None),
                          Equipment.extended_until > Equipment.next_inspection_date)), Equipment.extended_until),
                else_=Equipment.next_inspection_date)


def exempt_condition(today: date):
    return or_(Equipment.status.in_(Equipment.INACTIVE_STATUSES),
               and_(Equipment.simple_pressure_vessel.is_(True),
                    or_(Equipment.design_life_end.is_(None), Equipment.design_life_end > today)))


def recompute_all(today: date | None = None, where=None) -> int:
    """Set every device's due state as of `today` (optionally only those matching `where`); returns the
    number of rows changed. The DMN is evaluated once per distinct due date and the dates are grouped
    into runs of one band, so the update is a handful of date ranges whatever the number of devices."""
    today = today or today_local()
    due = effective_due_column()
    scope = [where] if where is not None else []
    changed = 0
    dates = sorted(d for d in db.session.scalars(
        select(due).where(*scope, ~exempt_condition(today), due.is_not(None)).distinct()) if d is not None)
    runs: list[tuple[date, date, str]] = []
    for day in dates:
        state = band(day, today)
        if runs and runs[-1][2] == state:
            runs[-1] = (runs[-1][0], day, state)
        else:
            runs.append((day, day, state))
    if runs:
        state_expr = case(*[(due.between(lo, hi), state) for lo, hi, state in runs], else_="valid")
        changed += db.session.execute(
            update(Equipment).where(*scope, ~exempt_condition(today), due.is_not(None),
                                    Equipment.due_state != state_expr)
            .values(due_state=state_expr).execution_options(synchronize_session=False)).rowcount or 0
    changed += db.session.execute(
        update(Equipment).where(*scope, exempt_condition(today), Equipment.due_state != "exempt")
        .values(due_state="exempt").execution_options(synchronize_session=False)).rowcount or 0
    changed += db.session.execute(
        update(Equipment).where(*scope, ~exempt_condition(today), due.is_(None), Equipment.due_state != "no_record")
        .values(due_state="no_record").execution_options(synchronize_session=False)).rowcount or 0
    db.session.expire_all()
    return changed


def counts(condition) -> dict[str, int]:
    """Devices by due state within a SQL condition on Equipment (ledger band counts)."""
    rows = db.session.execute(select(Equipment.due_state, func.count()).where(condition).group_by(Equipment.due_state))
    found = dict(rows.all())
    return {state: found.get(state, 0) for state in ORDER}
