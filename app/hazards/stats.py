"""隐患统计分析 (§4.3.3): major hazards counted by GB 45067 clause, cause class (判定标准配置), state, region
(drilling province → city → county), source and equipment type; the monthly trend; rankings of regions
and units. Each function is one grouped query over the user's scope and filters (bench/hazard_stats.py
times them) and returns a Chart (app/core/charts.py)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from flask import has_request_context, url_for
from sqlalchemy import func, select

from ..core.charts import Chart
from ..core.clock import today_local
from ..core.models import Equipment, EquipmentCategory, Organization, Region
from ..core.regions import region_name, region_prefix
from ..core.scope import in_region
from ..extensions import db
from .models import Hazard, HazardCriterion


@dataclass
class StatsFilter:
    region: str                     # the region shown (the user's own or one below it)
    date_from: date | None = None   # found_on range
    date_to: date | None = None

    @classmethod
    def from_args(cls, user, args) -> "StatsFilter":
        region = (args.get("region") or "").strip()
        own = user.region_code
        if not (len(region) == 6 and region.isdigit() and region.startswith(user.scope_prefix)):
            region = own
        out = cls(region=region)
        for name in ("date_from", "date_to"):
            try:
                setattr(out, name, date.fromisoformat(args.get(name) or ""))
            except ValueError:
                pass
        return out

    def args(self, **override) -> dict:
        values = {"region": self.region, "date_from": self.date_from.isoformat() if self.date_from else None,
                  "date_to": self.date_to.isoformat() if self.date_to else None, **override}
        return {k: v for k, v in values.items() if v}


def _where(f: StatsFilter) -> list:
    conds = [Hazard.deleted_at.is_(None), in_region(Hazard.region_code, region_prefix(f.region))]
    if f.date_from:
        conds.append(Hazard.found_on >= f.date_from)
    if f.date_to:
        conds.append(Hazard.found_on <= f.date_to)
    return conds


def _clause_sort(clause: str) -> tuple:
    return tuple(int(p) for p in clause.split("."))


def by_category(f: StatsFilter) -> Chart:
    rows = db.session.execute(select(HazardCriterion.clause, HazardCriterion.equipment_type, func.count())
                              .join(Hazard, Hazard.criterion_id == HazardCriterion.id).where(*_where(f))
                              .group_by(HazardCriterion.clause, HazardCriterion.equipment_type)).all()
    rows = sorted(rows, key=lambda r: _clause_sort(r[0]))
    return Chart("category", "按隐患类别（GB 45067-2024 条款）", "hbar", ["条款", "隐患数"],
                 [(f"{c} {kind}", n) for c, kind, n in rows])


def by_cause(f: StatsFilter) -> Chart:
    rows = db.session.execute(select(HazardCriterion.cause_class, func.count())
                              .join(Hazard, Hazard.criterion_id == HazardCriterion.id).where(*_where(f))
                              .group_by(HazardCriterion.cause_class)).all()
    labels = HazardCriterion.CAUSE_CLASSES
    return Chart("cause", "按原因类别", "pie", ["原因类别", "隐患数"],
                 sorted(((labels.get(c or "", "未设置"), n) for c, n in rows), key=lambda r: -r[1]),
                 note="原因类别取自“判定标准配置”，未配置的判定项计为“未设置”")


def by_status(f: StatsFilter) -> Chart:
    rows = dict(db.session.execute(select(Hazard.status, func.count()).where(*_where(f)).group_by(Hazard.status)).all())
    return Chart("status", "按办理状态", "pie", ["状态", "隐患数"],
                 [(label, rows[k]) for k, label in Hazard.STATUS_LABELS.items() if rows.get(k)])


def _children(region: str) -> list[tuple[str, str]]:
    return [(r.code, r.name) for r in db.session.scalars(select(Region).where(Region.parent_code == region)
                                                         .order_by(Region.code))]


def _region_counts(f: StatsFilter) -> list[tuple[str, str, int]]:
    """(child code, name, count) for the regions directly below the shown one (the county itself at county level)."""
    counts = db.session.execute(select(Hazard.region_code, func.count()).where(*_where(f))
                                .group_by(Hazard.region_code)).all()
    prefix_len = len(region_prefix(f.region))
    if prefix_len == 6:
        return [(f.region, region_name(f.region), sum(n for _, n in counts))]
    width = 4 if prefix_len == 2 else 6
    folded = Counter()
    for code, n in counts:
        folded[code[:width] + "0" * (6 - width)] += n
    return [(code, name, folded.get(code, 0)) for code, name in _children(f.region)]


def by_region(f: StatsFilter, endpoint: str = "hazards.stats") -> Chart:
    rows = _region_counts(f)
    drill = {}
    if len(region_prefix(f.region)) < 6 and endpoint and has_request_context():
        drill = {name: url_for(endpoint, **f.args(region=code)) for code, name, _ in rows}
    return Chart("region", f"按地区（{region_name(f.region)}下辖）", "bar", ["地区", "隐患数"],
                 [(name, n) for _, name, n in rows], drill=drill, note="点击柱形查看下一级" if drill else None)


def region_ranking(f: StatsFilter, endpoint: str = "hazards.stats") -> Chart:
    chart = by_region(f, endpoint)
    rows = sorted((r for r in chart.rows if r[1]), key=lambda r: -r[1])[:15]
    return Chart("region_rank", "地区排名", "hbar", ["地区", "隐患数"], rows, drill=chart.drill)


def by_source(f: StatsFilter) -> Chart:
    rows = dict(db.session.execute(select(Hazard.source, func.count()).where(*_where(f)).group_by(Hazard.source)).all())
    return Chart("source", "按发现来源", "pie", ["来源", "隐患数"],
                 [(label, rows[k]) for k, label in Hazard.SOURCE_LABELS.items() if rows.get(k)])


def by_equipment(f: StatsFilter) -> Chart:
    rows = db.session.execute(select(Equipment.kind_code, func.count()).join(Hazard, Hazard.equipment_id == Equipment.id)
                              .where(*_where(f)).group_by(Equipment.kind_code)).all()
    names = dict(db.session.execute(select(EquipmentCategory.code, EquipmentCategory.name)
                                    .where(EquipmentCategory.code.in_([k for k, _ in rows if k]))).all())
    return Chart("equipment", "按设备种类", "bar", ["设备种类", "隐患数"],
                 sorted(((names.get(k or "", "未分类"), n) for k, n in rows), key=lambda r: -r[1]))


def trend(f: StatsFilter, months: int = 12) -> Chart:
    """Reported and closed by month of discovery over the range (the last 12 months by default)."""
    end = f.date_to or today_local()
    first = end.year * 12 + end.month - 1 - (months - 1)
    start = f.date_from or date(first // 12, first % 12 + 1, 1)
    where = [c for c in _where(f)] + [Hazard.found_on >= start, Hazard.found_on <= end]
    found = Counter()
    closed = Counter()
    for day, status, n in db.session.execute(select(Hazard.found_on, Hazard.status, func.count()).where(*where)
                                             .group_by(Hazard.found_on, Hazard.status)):
        key = f"{day.year}-{day.month:02d}"
        found[key] += n
        if status == "closed":
            closed[key] += n
    keys, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        keys.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return Chart("trend", "按月趋势（发现月份）", "line", ["月份", "发现隐患", "其中已销号"],
                 [(k, found.get(k, 0), closed.get(k, 0)) for k in keys])


def unit_ranking(f: StatsFilter, limit: int = 10) -> Chart:
    rows = db.session.execute(select(Hazard.use_org_id, func.count().label("n")).where(*_where(f))
                              .group_by(Hazard.use_org_id).order_by(func.count().desc(), Hazard.use_org_id)
                              .limit(limit)).all()
    names = dict(db.session.execute(select(Organization.id, Organization.name)
                                    .where(Organization.id.in_([r[0] for r in rows]))).all()) if rows else {}
    return Chart("unit_rank", f"使用单位排名（前 {limit} 名）", "hbar", ["使用单位", "隐患数"],
                 [(names.get(org_id, str(org_id)), n) for org_id, n in rows])


def totals(f: StatsFilter) -> dict:
    today = today_local()
    row = db.session.execute(select(
        func.count(),
        func.count().filter(Hazard.status == "closed"),
        func.count().filter(Hazard.status.in_(("rectifying", "extension_pending", "verifying"))),
        func.count().filter(Hazard.status.in_(("rectifying", "extension_pending")), Hazard.rectify_deadline < today),
    ).where(*_where(f))).one()
    return {"total": row[0], "closed": row[1], "open": row[2], "overdue": row[3]}


CHARTS = {"category": by_category, "cause": by_cause, "status": by_status, "region": by_region,
          "source": by_source, "equipment": by_equipment, "trend": trend, "region_rank": region_ranking,
          "unit_rank": unit_ranking}


def all_charts(f: StatsFilter) -> list[Chart]:
    return [fn(f) for fn in CHARTS.values()]
