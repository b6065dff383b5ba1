"""调度任务: jobs, last run, duration, items, errors; run a job now (系统管理员 only)."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..cases.models import Case
from ..cases.services import paginate
from ..core.params import int_arg, text_arg
from ..errors import Forbidden, NotFound
from ..extensions import db
from .jobs import JOBS, run_job
from .lock import leader_info
from .models import JobRun
from .parallel import due_count

bp = Blueprint("scheduler", __name__, url_prefix="/admin/jobs")

ADMIN_ROLES = ("sys_admin",)


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if current_user.role not in ADMIN_ROLES:
            raise Forbidden("仅系统管理员可以管理调度任务")
        return view(*args, **kwargs)
    return wrapper


def _last_runs() -> dict[str, JobRun]:
    latest = (select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery())
    rows = db.session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))
    return {run.job: run for run in rows}


@bp.get("")
@admin_required
def jobs():
    job = text_arg(request.args, "job")
    status = text_arg(request.args, "status")
    page = int_arg(request.args, "page", 1, 1, 100000)
    per_page = int_arg(request.args, "per_page", 20, 10, 100)
    query = select(JobRun).order_by(JobRun.id.desc())
    if job in JOBS:
        query = query.where(JobRun.job == job)
    if status in JobRun.STATUS_LABELS:
        query = query.where(JobRun.status == status)
    runs, total = paginate(query, page, per_page)
    stuck = list(db.session.scalars(select(Case).where(Case.timer_failures > 0, Case.status == "running")
                                    .order_by(Case.next_timer_at).limit(50)))
    due_now = due_count()
    return render_template("scheduler/jobs.html", jobs=JOBS, last=_last_runs(), runs=runs, total=total,
                           page=page, pages=max(1, -(-total // per_page)), f={"job": job, "status": status},
                           statuses=JobRun.STATUS_LABELS, stuck=stuck, due_now=due_now,
                           leader=leader_info(db.engine, current_app.config["INSTANCE_DIR"]))


@bp.post("/<name>/run")
@admin_required
def run_now(name: str):
    if name not in JOBS:
        raise NotFound("没有这个调度任务")
    run = run_job(name, "manual", current_user.id)
    if run.status == "ok":
        flash(f"已运行【{JOBS[name].label}】：处理 {run.items} 项，失败 {run.failures} 项，耗时 {run.duration_ms} ms",
              "success")
    else:
        flash(f"【{JOBS[name].label}】运行出错：{run.error}", "error")
    return redirect(url_for("scheduler.jobs"))
