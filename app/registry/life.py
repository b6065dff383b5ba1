"""Design life (设计使用年限, §4.5.8, §4.5.14).

Pressure vessels without a declared design life are taken to have 20 years (TSG 21-2016 7.1.7: 未规定
设计使用年限，但是使用超过20年的压力容器视为达到设计使用年限). The clock starts at commissioning, or at
manufacture when the commissioning date is unknown (§4.5.8). Supervisors and inspectors may correct the
life and the dates; every correction is audited (services.edit_device).

A device past its design life may continue only after an inspection (and, where needed, a safety
assessment), the approval of its principal and a change of its use registration (TSG 21-2016 7.1.7):
`life_assessed_on` and `life_registration_changed_on` record those, and the query page tags past-life
devices by whether the registration change was done.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, or_, select

from ..core.clock import today_local
from ..core.models import Equipment
from ..extensions import db
from .catalogue import is_pressure_vessel

DEFAULT_PV_LIFE_YEARS = 20
SOURCES = {"declared": "出厂资料", "default": "默认20年", "edited": "人工修正"}
# Query bands of the design-life page: within 1 / 2 / 3 years of the life end, and past it.
BANDS = {"past": "已超设计使用年限", "within_1y": "1年内到达", "within_2y": "2年内到达", "within_3y": "3年内到达"}


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:          # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def life_start(e: Equipment) -> date | None:
    return e.commissioning_date or e.manufacture_date


def apply(e: Equipment) -> None:
    """Fill the default life of a pressure vessel and recompute the life-end date."""
    if e.design_life_years is None and is_pressure_vessel(e.category_code):
        e.design_life_years, e.design_life_source = DEFAULT_PV_LIFE_YEARS, "default"
    start = life_start(e)
    e.design_life_end = add_years(start, e.design_life_years) if start and e.design_life_years else None


def band_of(end: date | None, today: date | None = None) -> str | None:
    if end is None:
        return None
    today = today or today_local()
    if end <= today:
        return "past"
    for years, key in ((1, "within_1y"), (2, "within_2y"), (3, "within_3y")):
        if end <= add_years(today, years):
            return key
    return None


def band_condition(band: str, today: date | None = None):
    today = today or today_local()
    end = Equipment.design_life_end
    if band == "past":
        return end <= today
    years = {"within_1y": 1, "within_2y": 2, "within_3y": 3}[band]
    return and_(end > today, end <= add_years(today, years))


def registration_changed(e: Equipment) -> bool:
    """The use registration was changed for continued use past the design life (TSG 21-2016 7.1.7)."""
    return e.life_registration_changed_on is not None


@dataclass
class LifeFilter:
    band: str | None = None          # BANDS key; None: within 3 years or past
    region: str | None = None
    kind: str = "2000"
    changed: str | None = None       # "yes" | "no": registration change done (past-life devices)
    simple: str | None = None        # "yes" | "no"
    q: str | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "LifeFilter":
        from ..core.params import int_arg, region_arg, text_arg
        band = args.get("band") if args.get("band") in BANDS else None
        return cls(band=band, region=region_arg(args),
                   changed=args.get("changed") if args.get("changed") in ("yes", "no") else None,
                   simple=args.get("simple") if args.get("simple") in ("yes", "no") else None,
                   q=text_arg(args, "q", 50), page=int_arg(args, "page", 1, 1, 100000),
                   per_page=int_arg(args, "per_page", 20, 5, 100))


def life_query(scope, f: LifeFilter, today: date | None = None):
    """Pressure vessels (2000, without cylinders) in scope whose life ends within three years or has
    passed, nearest first (the most overdue first)."""
    from ..core.params import contains
    from ..core.regions import region_prefix
    from ..core.scope import in_region
    today = today or today_local()
    query = select(Equipment).where(scope, Equipment.kind_code == f.kind, Equipment.class_code != "2300",
                                    Equipment.design_life_end.is_not(None),
                                    Equipment.status.not_in(("scrapped", "cancelled", "announced_cancelled")))
    if f.band:
        query = query.where(band_condition(f.band, today))
    else:
        query = query.where(Equipment.design_life_end <= add_years(today, 3))
    if f.region:
        query = query.where(in_region(Equipment.region_code, region_prefix(f.region)))
    if f.changed == "yes":
        query = query.where(Equipment.life_registration_changed_on.is_not(None))
    elif f.changed == "no":
        query = query.where(Equipment.life_registration_changed_on.is_(None))
    if f.simple:
        query = query.where(Equipment.simple_pressure_vessel.is_(f.simple == "yes"))
    if f.q:
        query = query.where(or_(contains(Equipment.code, f.q), contains(Equipment.name, f.q)))
    return query.order_by(Equipment.design_life_end, Equipment.id)


def band_counts(scope, f: LifeFilter, today: date | None = None) -> dict[str, int]:
    """Counts per band for the filter without its band (one grouped scan)."""
    today = today or today_local()
    end = Equipment.design_life_end
    bucket = case((end <= today, "past"), (end <= add_years(today, 1), "within_1y"),
                  (end <= add_years(today, 2), "within_2y"), else_="within_3y")
    query = (life_query(scope, LifeFilter(**{**f.__dict__, "band": None}), today).order_by(None)
             .with_only_columns(bucket, func.count()).group_by(bucket))
    found = dict(db.session.execute(query).all())
    return {key: found.get(key, 0) for key in BANDS}
