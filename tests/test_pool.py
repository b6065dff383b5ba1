"""Pooled connections are pinged only after sitting idle (app/core/pool.py), and a connection the
database dropped meanwhile is replaced instead of failing the request."""
import os

import psycopg
import pytest
from sqlalchemy import create_engine, event, select, text

from app.core.pool import ping_after_idle

PG_BASE = os.environ.get("PG_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test")
pytestmark = pytest.mark.skipif(os.environ.get("TEST_DB", "sqlite") != "postgres",
                                reason="connection pool of the PostgreSQL deployment")


@pytest.fixture
def engine():
    eng = create_engine(PG_BASE.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=1, max_overflow=0)
    yield eng
    eng.dispose()


def _pings(eng) -> list:
    seen = []
    original = eng.dialect.do_ping

    def counting(dbapi_connection):
        seen.append(1)
        return original(dbapi_connection)
    eng.dialect.do_ping = counting
    return seen


def _backend(eng) -> int:
    with eng.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def test_a_connection_used_a_moment_ago_is_not_pinged(engine):
    ping_after_idle(engine, 60)
    pings = _pings(engine)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    first = _backend(engine)
    assert _backend(engine) == first            # the same pooled connection, reused
    assert pings == [] and len(statements) == 2


def test_an_idle_connection_that_was_dropped_is_replaced(engine, monkeypatch):
    ping_after_idle(engine, 5)
    pings = _pings(engine)
    first = _backend(engine)
    with psycopg.connect(PG_BASE, autocommit=True) as admin:   # the database drops it (restart, idle timeout)
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    import app.core.pool as pool
    real = pool.time.monotonic
    monkeypatch.setattr(pool.time, "monotonic", lambda: real() + 6)    # it sat idle for 6 s
    second = _backend(engine)
    assert pings == [1] and second != first


def test_a_number_is_one_statement_on_a_connection_of_its_own(app):
    """Numbers (core/sequences.py) commit on their own (the counter is not held through the
    caller's transaction), in one round trip, without leaving the pooled connection changed."""
    from sqlalchemy import delete

    from app.core.models import Counter
    from app.core.sequences import next_value
    from app.extensions import db
    with app.app_context():
        statements = []
        listener = lambda *a: statements.append(a[2])       # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            values = [next_value("test:pool", "2026") for _ in range(3)] + [next_value("test:pool", "2027")]
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        db.session.rollback()      # the caller gives up: the numbers stay taken
        with db.engine.connect() as conn:
            taken = dict(conn.execute(text("SELECT period, value FROM counter WHERE name = 'test:pool'")).all())
            setting = conn.execute(text("SHOW synchronous_commit")).scalar()
        db.session.execute(delete(Counter).where(Counter.name == "test:pool"))
        db.session.commit()
    assert values == [1, 2, 3, 1] and taken == {"2026": 3, "2027": 1}
    assert len(statements) == 4 and setting == "on"


def test_a_pinged_connection_is_handed_over_outside_a_transaction(engine, monkeypatch):
    ping_after_idle(engine, 5)
    pings = _pings(engine)
    _backend(engine)
    import app.core.pool as pool
    real = pool.time.monotonic
    monkeypatch.setattr(pool.time, "monotonic", lambda: real() + 6)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert pings == [1] and raw.info.transaction_status.name == "IDLE"
        conn.execution_options(isolation_level="AUTOCOMMIT")      # what core/sequences.py does
        assert conn.execute(text("SELECT 1")).scalar() == 1


def _prepared_here(sql_fragment: str) -> int:
    from app.extensions import db
    return db.session.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :f"),
                              {"f": f"%{sql_fragment}%"}).scalar()


def _request(app, status: int = 200):
    """A request context that answers `status` when it ends (the after-request hooks run as in Flask)."""
    from contextlib import contextmanager

    from flask import Response

    @contextmanager
    def context():
        with app.test_request_context("/probe"):
            yield
            app.process_response(Response(status=status))
    return context()


def test_a_request_that_only_read_keeps_its_connections_prepared_statements(app):
    """psycopg prepares a statement after five runs on a connection and forgets them all on ROLLBACK:
    requests that only read and answer with success end with COMMIT (core/pool.commit_read_only_requests),
    so the pool's connections keep what they prepared."""
    from app.extensions import db
    connections = db.engine.pool.checkedin() + 1       # the pool hands them out in turn
    for i in range(6 * connections):
        with _request(app):
            assert db.session.execute(text("SELECT 40 + CAST(:x AS int)"), {"x": i}).scalar() == 40 + i
    with _request(app):
        assert _prepared_here("SELECT 40 + CAST($1 AS int)") == 1
        from app.core.models import User
        user = db.session.scalars(select(User).order_by(User.id).limit(1)).one()
    assert user.username      # what the request loaded stays loaded after the COMMIT, as after a ROLLBACK


def test_a_request_that_wrote_failed_or_left_changes_is_rolled_back(app):
    from sqlalchemy import delete, insert

    from app.core.models import Counter
    from app.extensions import db

    def taken() -> set:
        with db.engine.connect() as conn:
            return set(conn.execute(text("SELECT period FROM counter WHERE name = 'test:reads'")).scalars())
    with _request(app):
        db.session.execute(insert(Counter).values(name="test:reads", period="wrote", value=1))
        db.session.execute(text("SELECT 1")).scalar()          # a read after the write
    with _request(app):
        db.session.execute(text("SELECT 1")).scalar()
        db.session.add(Counter(name="test:reads", period="pending", value=1))     # never flushed
    with _request(app, status=422):      # a handled error after a write on the driver's own cursor
        db.session.execute(text("SELECT 1")).scalar()
        db.session.connection().connection.driver_connection.execute(
            "INSERT INTO counter (name, period, value) VALUES ('test:reads', 'raw', 1)")
    with pytest.raises(RuntimeError), _request(app):
        db.session.execute(text("SELECT 1")).scalar()
        db.session.execute(insert(Counter).values(name="test:reads", period="failed", value=1))
        raise RuntimeError("the request failed")
    with app.app_context():              # outside a request (CLI, scheduler): rolled back as before
        db.session.execute(text("SELECT 1")).scalar()
        db.session.connection().connection.driver_connection.execute(
            "INSERT INTO counter (name, period, value) VALUES ('test:reads', 'cli', 1)")
    with app.app_context():
        assert taken() == set()
        db.session.execute(insert(Counter).values(name="test:reads", period="committed", value=1))
        db.session.commit()
        assert taken() == {"committed"}
        db.session.execute(delete(Counter).where(Counter.name == "test:reads"))
        db.session.commit()
