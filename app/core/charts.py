"""Charts for statistics pages (ECharts, vendored under static/vendor/echarts/): a domain describes each chart
as a table — a label column and one or more value columns — and this module turns it into the ECharts
option the page renders, the table shown under it, and its Excel export. The browser side is
static/js/charts.js: it renders every element carrying `data-chart` (the option as JSON), adds
"导出图片" (PNG from the chart itself) and follows `drill` links when a bar or slice is clicked.

    from app.core.charts import Chart, chart_xlsx

    chart = Chart("by_region", "按地区", "bar", ["地区", "隐患数"], [("兴宁区", 12), ("青秀区", 7)],
                  drill={"兴宁区": url_for(..., region="450102")})
    render_template(..., charts=[chart])            # {{ chart_card(chart, export_url) }} from _charts.html
    return chart_xlsx(chart, "隐患统计-按地区.xlsx")   # the table as Excel (audited like every export)

Options are plain data (no JavaScript functions), so pages stay within the CSP.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

KINDS = ("bar", "hbar", "line", "pie")
PALETTE = ["#1f6fb2", "#e07b39", "#3a9d5d", "#c94c4c", "#7d5ba6", "#2aa3a3", "#b58b00", "#6c757d"]
ECHARTS_VERSION = "6.1.0"
ECHARTS_PATH = f"vendor/echarts/{ECHARTS_VERSION}/echarts.min.js"


@dataclass
class Chart:
    key: str
    title: str
    kind: str                                   # bar | hbar | line | pie
    headers: list[str]                          # label column, then one name per value series
    rows: list[tuple]                           # (label, value, …) in display order
    drill: dict[str, str] = field(default_factory=dict)   # label -> URL opened when the label is clicked
    note: str | None = None                     # shown under the title (what is counted)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown chart kind {self.kind}")

    @property
    def total(self) -> int | float:
        return sum((r[1] or 0) for r in self.rows) if self.rows else 0

    def option(self) -> dict:
        labels = [str(r[0]) for r in self.rows]
        series_names = self.headers[1:] or ["数量"]
        base = {"color": PALETTE, "tooltip": {"trigger": "item" if self.kind == "pie" else "axis"},
                "grid": {"left": 8, "right": 16, "top": 36 if len(series_names) > 1 else 16, "bottom": 8,
                         "containLabel": True},
                "animation": False}
        if len(series_names) > 1:
            base["legend"] = {"top": 0}
        if self.kind == "pie":
            return {**base, "legend": {"type": "scroll", "bottom": 0},
                    "series": [{"type": "pie", "name": series_names[0], "radius": ["35%", "65%"],
                                "center": ["50%", "45%"], "avoidLabelOverlap": True,
                                "label": {"formatter": "{b}: {c}"},
                                "data": [{"name": str(r[0]), "value": r[1]} for r in self.rows]}]}
        category = {"type": "category", "data": labels, "axisLabel": {"interval": 0, "hideOverlap": True}}
        value = {"type": "value", "minInterval": 1}
        horizontal = self.kind == "hbar"
        if horizontal:
            category["inverse"] = True
        series = [{"type": "line" if self.kind == "line" else "bar", "name": name, "barMaxWidth": 36,
                   "data": [r[i + 1] for r in self.rows], "label": {"show": self.kind != "line" and len(self.rows) <= 20,
                                                                    "position": "right" if horizontal else "top"}}
                  for i, name in enumerate(series_names)]
        if self.kind == "line":
            category["axisLabel"] = {"hideOverlap": True}
        return {**base, "xAxis": value if horizontal else category, "yAxis": category if horizontal else value,
                "series": series}

    def payload(self) -> str:
        """What the page's data-chart attribute carries."""
        return json.dumps({"option": self.option(), "drill": self.drill, "title": self.title},
                          ensure_ascii=False, separators=(",", ":"))

    def height(self) -> int:
        if self.kind == "hbar":
            return max(240, 28 * len(self.rows) + 40)
        return 320


def chart_xlsx(chart: Chart, filename: str, criteria: dict | None = None):
    """The chart's table as an Excel download (audited as an export)."""
    from .excel import stream_xlsx
    rows = [list(r) for r in chart.rows]
    if chart.kind != "line" and len(chart.headers) == 2 and rows:
        rows.append(["合计", chart.total])
    return stream_xlsx(chart.title, chart.headers, rows, filename=filename, criteria=criteria)
