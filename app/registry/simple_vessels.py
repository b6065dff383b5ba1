"""Simple pressure vessels (简单压力容器, §4.5.14): their master data are devices flagged
simple_pressure_vessel; within design life they need no periodic inspection (due state 不需检验); reaching
it without being scrapped or safety-assessed warns the local bureau and the unit (triggers.py);
statistics by region and running state (§4.5.14.2)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import case, func, select

from ..core.clock import today_local
from ..core.models import Equipment, User
from ..core.regions import region_full_name, region_level
from ..extensions import db
from .services import device_scope

LIFE_STATES = {"within": "设计使用年限内", "near": "1年内到达设计使用年限", "past_assessed": "超年限（已检验/评估）",
               "past": "超年限（未报废且未检验/评估）", "unknown": "年限或日期不详"}
STATUS_ORDER = ("in_use", "stopped", "scrapped", "cancelled", "announced_cancelled")


def life_state_column(today: date):
    from .life import add_years
    end = Equipment.design_life_end
    return case((end.is_(None), "unknown"),
                (end > add_years(today, 1), "within"),
                (end > today, "near"),
                (Equipment.life_assessed_on.is_not(None), "past_assessed"),
                else_="past")


def statistics(user: User, region: str | None = None) -> dict:
    """Counts by region one level below the user's (or the given) region, by running state and by life state."""
    today = today_local()
    base = region or user.region_code
    level = region_level(base) if base else "province"
    key = func.substr(Equipment.region_code, 1, 4) if level == "province" else Equipment.region_code
    life = life_state_column(today)
    conditions = [device_scope(user), Equipment.simple_pressure_vessel.is_(True)]
    if region:
        from ..core.regions import region_prefix
        from ..core.scope import in_region
        conditions.append(in_region(Equipment.region_code, region_prefix(region)))
    rows = db.session.execute(select(key, Equipment.status, life, func.count()).where(*conditions)
                              .group_by(key, Equipment.status, life))
    table: dict[str, dict] = {}
    totals = {"status": {s: 0 for s in STATUS_ORDER}, "life": {s: 0 for s in LIFE_STATES}, "total": 0}
    for code, status, life_state, n in rows:
        region_code = code + "00" if level == "province" else code
        row = table.setdefault(region_code, {"region": region_code, "name": region_full_name(region_code),
                                             "status": {s: 0 for s in STATUS_ORDER},
                                             "life": {s: 0 for s in LIFE_STATES}, "total": 0})
        row["status"][status] = row["status"].get(status, 0) + n
        row["life"][life_state] += n
        row["total"] += n
        totals["status"][status] = totals["status"].get(status, 0) + n
        totals["life"][life_state] += n
        totals["total"] += n
    return {"rows": sorted(table.values(), key=lambda r: r["region"]), "totals": totals}


def past_life_unhandled(scope=None):
    """Simple vessels in use or stopped past their design life, neither scrapped nor assessed (the warning)."""
    today = today_local()
    query = select(Equipment).where(Equipment.simple_pressure_vessel.is_(True),
                                    Equipment.status.in_(("in_use", "stopped")), Equipment.design_life_end <= today,
                                    Equipment.life_assessed_on.is_(None))
    return query.where(scope) if scope is not None else query
