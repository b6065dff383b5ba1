"""Upgrading a database that already holds data: SQLite rebuilds altered tables (batch mode),
which must work while other rows point at them (organisation ← users, equipment)."""
import tempfile

import pytest
from sqlalchemy import create_engine, event, text

from .conftest import TEST_DB


@pytest.mark.skipif(TEST_DB != "sqlite", reason="batch table rebuilds happen on SQLite only; PostgreSQL alters in place")
def test_upgrade_from_the_first_revision_keeps_referenced_rows(app):
    from flask_migrate import upgrade

    from app.extensions import db
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gx-mig-')}/old.sqlite"
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _enforce_foreign_keys(dbapi_conn, _record):   # as the application's engine does
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    engines = app.extensions["sqlalchemy"]._app_engines[app]
    saved = engines[None]
    try:
        engines[None] = engine          # the migration runs against the scratch database
        upgrade(revision="0001")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO region (code, name, parent_code, level) VALUES "
                              "('450000', '广西壮族自治区', NULL, 'province'), ('450102', '兴宁区', '450000', 'county')"))
            conn.execute(text("INSERT INTO organization (id, uscc, name, kind, region_code, contact_name, "
                              "contact_phone, created_at) VALUES (1, '91450102000000001X', '旧单位', 'use_unit', "
                              "'450102', '张三', '0771-1234567', CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO user_account (id, username, password_hash, display_name, role, "
                              "region_code, org_id, is_active, created_at) VALUES (1, 'old', 'x', '旧用户', "
                              "'use_unit', '450102', 1, 1, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO equipment_category (code, name, parent_code, level) VALUES "
                              "('5000', '场（厂）内专用机动车辆', NULL, '种类'), ('5110', '叉车', '5000', '品种')"))
            conn.execute(text("INSERT INTO equipment (id, code, name, category_code, use_org_id, region_code, "
                              "status, created_at) VALUES (1, 'E1', '叉车1号', '5110', 1, '450102', 'in_use', "
                              "CURRENT_TIMESTAMP)"))
        upgrade()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT org_id FROM user_account WHERE id = 1")).scalar() == 1
            row = conn.execute(text("SELECT movable, registered_region_code FROM equipment WHERE id = 1")).one()
            assert bool(row[0]) is True and row[1] == "450102"
            from alembic.script import ScriptDirectory
            head = ScriptDirectory(app.extensions["migrate"].directory).get_current_head()
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engines[None] = saved
        engine.dispose()
        assert db.engine is saved



def test_0013_copies_each_case_process_key_onto_its_tasks(app):
    """Tasks written before 0013 get their case's process key (the inbox's process filter reads it)."""
    from flask_migrate import upgrade
    from sqlalchemy import inspect
    if TEST_DB != "sqlite":
        pytest.skip("a scratch database per run: SQLite; on PostgreSQL the same UPDATE ran on the province data")
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gx-mig13-')}/old.sqlite"
    engine = create_engine(url)
    engines = app.extensions["sqlalchemy"]._app_engines[app]
    saved = engines[None]
    try:
        engines[None] = engine
        upgrade(revision="0012")
        tables = ("region", "user_account", "process_version", "case_record", "task")
        columns = {t: inspect(engine).get_columns(t) for t in tables}

        def row(table, **given):   # every other NOT NULL column gets a plain value of its type
            values = dict(given)
            for c in columns[table]:
                if c["name"] not in values and not c["nullable"] and c["name"] != "id":
                    kind = str(c["type"]).upper()
                    values[c["name"]] = 0 if "INT" in kind or "BOOL" in kind else (
                        "2026-01-01 00:00:00" if "DATE" in kind or "TIME" in kind else "x")
            names = ", ".join(values)
            return text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in values)})"), values
        with engine.connect() as conn:
            conn.execute(*row("region", code="450102", name="兴宁区", level="county"))
            conn.execute(*row("user_account", id=1, username="old", region_code="450102"))
            conn.execute(*row("process_version", id=1))
            for case_id, process in ((1, "major_hazard"), (2, "equipment_transfer")):
                conn.execute(*row("case_record", id=case_id, process_key=process, case_no=f"C{case_id}",
                                  process_version_id=1, region_code="450102", started_by_id=1))
                conn.execute(*row("task", case_id=case_id, spiff_task_id=f"s{case_id}", status="open"))
            conn.commit()
        upgrade()
        with engine.connect() as conn:
            assert dict(conn.execute(text("SELECT case_id, process_key FROM task")).all()) == {
                1: "major_hazard", 2: "equipment_transfer"}
    finally:
        engines[None] = saved
        engine.dispose()
