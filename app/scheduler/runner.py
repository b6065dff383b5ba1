"""APScheduler wiring: one interval job per entry of JOBS, run by a single worker thread,
each tick first making sure this process is the leader."""
from __future__ import annotations

import logging

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from ..core.clock import utcnow
from .jobs import JOBS, run_job
from .lock import LeaderLock

log = logging.getLogger(__name__)


def _tick(app: Flask, lock: LeaderLock, name: str) -> None:
    with app.app_context():
        from ..extensions import db
        try:
            if not lock.ensure():
                return
            run_job(name, "schedule")
        finally:
            db.session.remove()


def build_scheduler(app: Flask, *, blocking: bool):
    with app.app_context():
        from ..extensions import db
        lock = LeaderLock(db.engine, app.config["INSTANCE_DIR"])
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(executors={"default": ThreadPoolExecutor(1)}, timezone="UTC",
                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    base = app.config.get("SCHEDULER_INTERVAL_SECONDS", 30)
    for job in JOBS.values():
        # The frequent jobs (timers, sms) follow SCHEDULER_INTERVAL_SECONDS; the others keep their own period.
        seconds = base if job.interval_seconds <= 30 else job.interval_seconds
        scheduler.add_job(_tick, "interval", seconds=seconds, args=[app, lock, job.name], id=job.name,
                          name=job.label, next_run_time=utcnow())
    scheduler.leader_lock = lock
    return scheduler


def start_embedded(app: Flask) -> None:
    """Development: the scheduler runs inside the web process (single process, SQLite)."""
    scheduler = build_scheduler(app, blocking=False)
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    log.info("embedded scheduler started")
