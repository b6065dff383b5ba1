"""flask elevator-stats …: recompute the daily maintenance statistics (elevator_stats_day) for a date range."""
from __future__ import annotations

from datetime import date, timedelta

import click
from flask import Flask
from flask.cli import AppGroup


def _day(_ctx, _param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("日期格式应为 YYYY-MM-DD") from None


def register(app: Flask) -> None:
    group = AppGroup("elevator-stats", help="电梯维保统计：按日汇总表重算")

    @group.command("rebuild")
    @click.option("--from", "day_from", callback=_day, help="起始日期 YYYY-MM-DD（缺省：结束日期前 39 天）")
    @click.option("--to", "day_to", callback=_day, help="结束日期 YYYY-MM-DD（缺省：今天）")
    def rebuild_cmd(day_from: date | None, day_to: date | None):
        """Recompute the summary of the days from the maintenance records and warnings (idempotent)."""
        from ..core.clock import today_local
        from .summary import REBUILD_DAYS, rebuild
        day_to = day_to or today_local()
        day_from = day_from or day_to - timedelta(days=REBUILD_DAYS - 1)
        if day_from > day_to:
            raise click.BadParameter("开始日期不能晚于结束日期", param_hint="--from")
        result = rebuild(day_from, day_to, progress=lambda a, b, n: click.echo(f"{a} – {b}：累计 {n} 行"))
        click.echo(f"已重算 {result['days']} 天，写入 {result['rows']} 行汇总")

    app.cli.add_command(group)
