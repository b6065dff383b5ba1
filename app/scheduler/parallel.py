"""Large timer passes on several cores.

Firing a timer is CPU work in Python (load the engine state, run the step, ORM writes). When a
pass finds many due cases (a deadline shared by thousands of cases, a scheduler that was down),
extra worker processes take batches too. FOR UPDATE SKIP LOCKED keeps the batches disjoint, and
each batch commits or rolls back as a whole, exactly as in a single process. PostgreSQL only:
SQLite has one writer anyway.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os

from flask import current_app
from sqlalchemy import func, select

from ..cases.models import Case
from ..core.clock import utcnow
from ..extensions import db


def _worker_app_config(database_url: str, instance_dir: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["INSTANCE_DIR"] = instance_dir
    os.environ["SCHEDULER_EMBEDDED"] = "0"      # a worker never starts a scheduler of its own


def _worker_fire(database_url: str, instance_dir: str, fire: str) -> tuple[int, int]:
    """In a spawned process: build the application, then run the pass named "module:function"."""
    _worker_app_config(database_url, instance_dir)
    from .. import create_app      # the factory: a spawned process starts with nothing imported
    app = create_app()
    module, name = fire.split(":")
    with app.app_context():
        try:
            result = getattr(importlib.import_module(module), name)()
            return result.items, result.failures
        finally:
            db.session.remove()
            db.engine.dispose()


def due_count() -> int:
    return db.session.scalar(select(func.count(Case.id)).where(Case.status == "running",
                                                               Case.next_timer_at <= utcnow())) or 0


def fire_in_parallel(fire_local, workers: int) -> tuple[int, int]:
    """Run `fire_local` (a module-level function) here and in `workers - 1` spawned processes;
    sum (items, failures)."""
    url = db.engine.url.render_as_string(hide_password=False)
    fire = f"{fire_local.__module__}:{fire_local.__name__}"
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers - 1) as pool:
        pending = [pool.apply_async(_worker_fire, (url, current_app.config["INSTANCE_DIR"], fire))
                   for _ in range(workers - 1)]
        local = fire_local()
        results = [p.get() for p in pending]
    return local.items + sum(r[0] for r in results), local.failures + sum(r[1] for r in results)
