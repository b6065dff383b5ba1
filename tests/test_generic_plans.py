"""Status constants that partial indexes are built on are written into the SQL (core/columns.py), so
PostgreSQL's generic plans (plan_cache_mode=auto, app/config.py) can still use those indexes."""
import itertools
import os
import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql

from app.cases.models import Case, Task
from app.elevators.models import MaintenancePlan

ON_POSTGRES = os.environ.get("TEST_DB", "sqlite") == "postgres"


def _sql(statement) -> str:
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True}))


def test_partial_index_statuses_are_constants_and_other_values_stay_parameters():
    assert "task.status = 'open'" in _sql(select(Task.id).where(Task.status == "open"))
    assert "task.status = 'completed'" in _sql(select(Task.id).where(Task.status == "completed"))
    assert "case_record.status = 'running'" in _sql(select(Case.id).where(Case.status == "running"))
    assert "elevator_plan.status = 'planned'" in _sql(select(MaintenancePlan.id)
                                                      .where(MaintenancePlan.status == "planned"))
    # a value no partial index names — a user's filter, say — is bound, never written into the SQL
    typed = "x' OR '1'='1"
    sql = _sql(select(Task.id).where(Task.status == typed, Case.status == "closed"))
    assert typed not in sql and "'closed'" not in sql and sql.count("%(") == 2


def _generic_plan(sql: str, types: str, args: str) -> str:
    """EXPLAIN of the generic plan of `sql` (its parameters numbered in order), index scans preferred."""
    from app.extensions import db
    numbers = itertools.count(1)
    prepared = re.sub(r"%\((\w+)\)s", lambda _m: f"${next(numbers)}", sql)
    with db.engine.connect() as conn:
        conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        conn.execute(text("SET enable_seqscan = off"))
        conn.exec_driver_sql(f"PREPARE probe({types}) AS {prepared}")
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN EXECUTE probe({args})").scalars())
        conn.exec_driver_sql("DEALLOCATE probe")
        conn.rollback()
    return plan


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's plan cache")
def test_a_generic_plan_uses_the_partial_index_of_open_tasks(app):
    with app.app_context():
        constant = _sql(select(func.count()).select_from(Task).where(Task.assignee_id == 1, Task.status == "open"))
        assert "ix_task_open_assignee" in _generic_plan(constant, "int", "1")
        # the same statement with the status as a parameter cannot use it: what the constant is for
        bound = _sql(select(func.count()).select_from(Task).where(Task.assignee_id == 1, Task.status == "opened"))
        assert "ix_task_open_assignee" not in _generic_plan(bound, "int, varchar", "1, 'open'")
