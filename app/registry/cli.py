"""flask registry …: maintenance of the device registry's derived facts."""
from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import AppGroup

from ..extensions import db


def register(app: Flask) -> None:
    group = AppGroup("registry", help="设备登记：到期状态、设计使用年限")

    @group.command("recompute-due")
    def recompute_due():
        """Set every device's due state as of today (rules/inspection_due.dmn)."""
        from . import due
        started = time.monotonic()
        changed = due.recompute_all()
        db.session.commit()
        click.echo(f"到期状态已重算：{changed} 台设备有变化，耗时 {time.monotonic() - started:.1f} s")

    app.cli.add_command(group)
