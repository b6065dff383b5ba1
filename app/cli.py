"""Operator commands: flask workflows deploy · flask demo seed · flask demo accounts · flask cases …"""
from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .engine.deploy import deploy_all
from .extensions import db


def register_cli(app: Flask) -> None:
    from .security.cli import register as register_security_cli
    register_security_cli(app)
    from .registry.cli import register as register_registry_cli
    register_registry_cli(app)
    from .cylinders.cli import register as register_cylinders_cli
    register_cylinders_cli(app)
    from .elevator_supervision.cli import register as register_elevator_stats_cli
    register_elevator_stats_cli(app)
    workflows = AppGroup("workflows", help="流程定义: 部署 BPMN / DMN / 表单")
    demo = AppGroup("demo", help="演示数据")
    cases = AppGroup("cases", help="案件维护")

    @workflows.command("deploy")
    def deploy_command():
        """Parse, validate and deploy; idempotent on unchanged content."""
        from .engine.registry import DefinitionError
        try:
            results = deploy_all()
        except DefinitionError as err:
            db.session.rollback()
            for message in err.errors:
                click.echo(f"错误: {message}", err=True)
            raise SystemExit(1) from err
        db.session.commit()
        for name, version, created in results:
            click.echo(f"{'已部署' if created else '未变化'} {name} v{version}")

    @demo.command("seed")
    def seed_command():
        """Create the demo organisations, users, equipment and cases (idempotent)."""
        from .demo import seed
        result = seed()
        db.session.commit()
        click.echo(f"演示数据就绪: {result}")

    @demo.command("generate")
    @click.option("--scale", type=click.Choice(["test", "city", "province", "registry"]), default="test", show_default=True,
                  help="test: 几百件 · city: 10 万件 · province: 100 万件案件（广西全区规模）")
    @click.option("--status", "show_status", is_flag=True, help="只显示各阶段进度")
    @click.option("--workers", default=2, show_default=True, help="生成案件的并行进程数（仅 PostgreSQL）")
    def generate_command(scale: str, show_status: bool, workers: int):
        """Synthetic data at scale (resumable: run again to continue). See app/scale/generate.py."""
        from .scale.generate import run, stages_report
        if show_status:
            for row in stages_report():
                click.echo(f"{row['stage']:10s} {row['status']:8s} {row['done']:>10,}/{row['target']:<10,} "
                           f"{row['seconds']:>8} s  ({row['scale']})")
            return
        run(scale, workers=workers)

    @demo.command("accounts")
    @click.option("--json", "as_json", is_flag=True, help="JSON output")
    def accounts_command(as_json: bool):
        from .demo import accounts
        rows = accounts()
        if as_json:
            click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        click.echo("演示账号 (密码均为 %s):" % (rows[0]["password"] if rows else ""))
        for row in rows:
            click.echo(f"  {row['username']:<14} {row['role_label']:<12} {row['region']:<20} {row['organization'] or ''}")
        click.echo("系统/安全/审计管理员须“口令 + 动态口令”登录：演示账号已绑定，"
                   "运行 `FLASK_APP=wsgi .venv/bin/flask demo otp sys_admin` 查看当前口令。")

    @demo.command("otp")
    @click.argument("username")
    def otp_command(username: str):
        """Demo accounts only: the current TOTP code of an administrator who has enrolled."""
        from .core.auth import totp_secret
        from .core.gm import totp_code
        from .core.models import User
        from .demo import USERS
        from sqlalchemy import select
        if username not in {u[0] for u in USERS}:
            raise click.BadParameter("只能查看演示账号")
        account = db.session.scalar(select(User).where(User.username == username))
        secret = totp_secret(account) if account else None
        if not secret:
            raise click.ClickException("该账号尚未绑定动态口令：先用网页登录，在绑定页面可看到密钥")
        click.echo(totp_code(secret))

    @cases.command("refresh-warnings")
    def refresh_warnings_command():
        """Recompute warning colours (they change with the date)."""
        from .scheduler.jobs import refresh_warning_levels
        click.echo(f"预警级别已刷新, 变化 {refresh_warning_levels().items} 条")

    @cases.command("verify-timeline")
    def verify_timeline_command():
        """Check every case's timeline hash chain; name the first broken entry."""
        from sqlalchemy import select

        from .engine.runtime import verify_all_timelines
        broken = 0
        for case_no, seq, reason in verify_all_timelines():
            broken += 1
            click.echo(f"案件 {case_no} 的流转记录第 {seq} 条校验失败：{reason}")
        click.echo("流转记录校验通过" if not broken else f"{broken} 个案件校验失败")
        if broken:
            raise SystemExit(1)

    scheduler = AppGroup("scheduler", help="调度器: 定时器、预警、超期升级、短信发送")

    @scheduler.command("run")
    def scheduler_run_command():
        """Production: run the scheduler in the foreground (one active leader among all hosts)."""
        from .scheduler.runner import build_scheduler
        sched = build_scheduler(current_app._get_current_object(), blocking=True)
        click.echo("调度器已启动 (Ctrl+C 停止); 多台主机同时运行时只有持锁者执行任务")
        try:
            sched.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            sched.leader_lock.release()

    @scheduler.command("run-once")
    @click.option("--job", "job_name", default=None, help="只运行指定任务 (timers / warnings / sms)")
    def scheduler_run_once_command(job_name: str | None):
        """Run the jobs once now (cron, maintenance, tests), holding the leader lock."""
        from .scheduler.jobs import JOBS, run_job
        from .scheduler.lock import LeaderLock
        if job_name and job_name not in JOBS:
            raise click.BadParameter(f"未知任务 {job_name}; 可选: {', '.join(JOBS)}")
        lock = LeaderLock(db.engine, current_app.config["INSTANCE_DIR"])
        if not lock.ensure():
            click.echo("另一个调度器正在运行, 本次不执行", err=True)
            raise SystemExit(2)
        try:
            failed = False
            for name in [job_name] if job_name else list(JOBS):
                run = run_job(name, "cli")
                failed |= run.status != "ok"
                click.echo(f"{JOBS[name].label}: {run.status_label}, 处理 {run.items} 项, 失败 {run.failures} 项, "
                           f"耗时 {run.duration_ms} ms" + (f"\n  {run.error}" if run.error else ""))
        finally:
            lock.release()
        if failed:
            raise SystemExit(1)

    app.cli.add_command(scheduler)
    app.cli.add_command(workflows)
    app.cli.add_command(demo)
    app.cli.add_command(cases)
