"""The PostgreSQL cursor builds `description` on demand (core/pgcursor.py): same answers as psycopg's."""
import os

import pytest
from sqlalchemy import select, text

from app.core.models import User

ON_POSTGRES = os.environ.get("TEST_DB", "sqlite") == "postgres"
pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's driver")


def test_description_matches_psycopgs_and_is_none_without_rows(app):
    import psycopg

    from app.core.pgcursor import LazyDescription
    from app.extensions import db
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        assert type(cursor).__name__ == "LazyDescriptionCursor"
        cursor.execute("SELECT 1 AS one, 'x'::text AS two, now() AS three")
        lazy = cursor.description
        expected = psycopg.Cursor.description.fget(cursor)
        assert isinstance(lazy, LazyDescription) and len(lazy) == 3
        assert [tuple(c) for c in lazy] == [tuple(c) for c in expected]
        assert lazy[1].name == "two" and lazy[-1].name == "three" and [c.name for c in lazy[:2]] == ["one", "two"]
        cursor.execute("SELECT")                       # tuples, no columns
        assert cursor.description is not None and len(cursor.description) == 0
        cursor.execute("CREATE TEMPORARY TABLE lazy_probe (n int)")
        assert cursor.description is None
        cursor.execute("INSERT INTO lazy_probe VALUES (1), (2) RETURNING n")
        assert [c.name for c in cursor.description] == ["n"] and cursor.fetchall() == [(1,), (2,)]
        raw.rollback()
    finally:
        raw.close()


def test_orm_and_core_results_read_through_it(app):
    from app.extensions import db
    first = db.session.scalars(select(User).order_by(User.id).limit(1)).one()
    row = db.session.execute(select(User.id, User.username).where(User.id == first.id)).one()
    assert row._mapping["username"] == first.username
    textual = db.session.execute(text("SELECT id, username FROM user_account WHERE id = :i"), {"i": first.id}).one()
    assert textual.username == first.username                  # names from the description (no cached layout)
