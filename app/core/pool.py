"""Database connection pool: check a pooled connection only after it sat idle.

SQLAlchemy's `pool_pre_ping` sends a round trip before every checkout — one per request, each a
BEGIN plus a ping on PostgreSQL, ~13 per hazard loop (bench/journey.py --in-process). A connection
handed back a moment ago is alive; the ones that go stale are those left idle (a database restart
during a quiet night, a firewall dropping idle sockets). So ping only a connection idle longer than
`idle_seconds`, and let a connection that fails anyway invalidate the pool as SQLAlchemy does on any
disconnect (every older connection is then replaced on its next checkout)."""
from __future__ import annotations

import time

from flask import g
from sqlalchemy import event, exc


def ping_after_idle(engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        try:
            # Outside a transaction (one round trip, and the connection is handed over idle).
            dbapi_connection.autocommit = True
            try:
                alive = engine.dialect.do_ping(dbapi_connection)
            finally:
                if not dbapi_connection.closed:
                    dbapi_connection.autocommit = False
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(f"idle connection failed its ping: {err}") from err
        if not alive:
            raise exc.DisconnectionError("idle connection failed its ping")


def commit_read_only_requests(app, db) -> None:
    """End a request that only read with COMMIT instead of the pool's ROLLBACK.

    psycopg prepares a statement on a connection once it has run five times there (the server then
    parses it once; `bench/journey.py --in-process` with log_min_duration_statement showed parsing
    at a fifth of PostgreSQL's CPU), but it forgets every prepared statement of the connection on
    ROLLBACK, since a rolled-back transaction may have dropped what they refer to. Every list and
    detail request ended in the pool's ROLLBACK, so no connection ever reached five runs and nothing
    was prepared. For a transaction that ran only SELECT statements and holds no pending ORM change,
    COMMIT and ROLLBACK are the same. Only a request that answered with success is considered: one
    that wrote anything through SQLAlchemy, answered with an error (a handled exception included —
    writes made on the driver's own cursor, such as core/bulk's COPY, are not seen statement by
    statement) or left changes unflushed is rolled back as before, and so is every app context
    outside a request (CLI, scheduler)."""
    @event.listens_for(db.engine, "begin")
    def _began(connection):
        connection.info["wrote"] = False

    @event.listens_for(db.engine, "before_cursor_execute")
    def _statement(connection, _cursor, statement, _parameters, _context, _executemany):
        if not connection.info.get("wrote") and statement[:32].lstrip()[:6].upper() != "SELECT":
            connection.info["wrote"] = True

    @app.after_request
    def _note_success(response):
        g.answered_ok = response.status_code < 400
        return response

    @app.teardown_appcontext     # runs before Flask-SQLAlchemy's session removal (registered earlier)
    def _commit_reads(error):
        if error is not None or not g.get("answered_ok"):     # set by a request that answered 2xx/3xx
            return
        session = db.session()      # the request's Session itself (db.session is its registry)
        transaction = session.get_transaction()
        if transaction is None or not transaction.is_active or session.new or session.dirty or session.deleted:
            return
        connection = session.connection()
        if connection.info.get("wrote", True) or not connection.in_transaction():
            return
        # What the session has loaded stays loaded, as after the rollback: code that keeps an object
        # past its app context (a test, a CLI command) reads it as before.
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()
        except exc.SQLAlchemyError:
            session.rollback()
        finally:
            session.expire_on_commit = expire
