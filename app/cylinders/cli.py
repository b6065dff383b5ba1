"""flask cylinders …: filling-record partitions, synthetic data, and (development only) a simulated
callback of the 准入一体化平台."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from ..extensions import db


def register(app: Flask) -> None:
    group = AppGroup("cylinders", help="气瓶追溯：充装记录分区、生成数据、模拟登记回调（开发用）")

    @group.command("add-partitions")
    @click.option("--ahead", default=3, show_default=True, help="建到本月之后的第几个月")
    def add_partitions(ahead: int):
        """Create the monthly partitions of cylinder_filling (PostgreSQL; run monthly)."""
        from .partitions import add_months
        names = add_months(ahead)
        click.echo("充装记录分区：" + ("、".join(names) if names else "SQLite 不分区"))

    @group.command("generate")
    @click.option("--cylinders", default=500_000, show_default=True)
    @click.option("--fillings", default=5_000_000, show_default=True)
    @click.option("--makers", default=30, show_default=True)
    @click.option("--fillers", default=300, show_default=True)
    def generate_cmd(cylinders: int, fillings: int, makers: int, fillers: int):
        """Synthetic makers, fillers, cylinders and a year of fillings (PostgreSQL, COPY)."""
        from .generate import generate
        click.echo(generate(cylinders, fillings, makers, fillers, out=click.echo))

    @group.command("authority-callback")
    @click.argument("application_no")
    @click.option("--reject", "reason", default=None, help="退回并给出原因；不写为办结（已登记）")
    def authority_callback(application_no: str, reason: str | None):
        """Development only: sign and deliver a 准入一体化平台 decision for an application (local adapter)."""
        from .registration import simulate_callback
        result = simulate_callback(application_no, "rejected" if reason else "registered", reason or "")
        db.session.commit()
        click.echo(result)

    app.cli.add_command(group)
