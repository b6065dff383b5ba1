"""Upgrading a database that already holds data: SQLite rebuilds altered tables (batch mode),
which must work while other rows point at them (organisation ← users, equipment)."""
import os
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
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engines[None] = saved
        engine.dispose()
        assert db.engine is saved


def _head() -> str:
    from alembic.script import ScriptDirectory
    return ScriptDirectory(os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")).get_current_head()
