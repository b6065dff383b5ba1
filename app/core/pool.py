"""Database connection pool: check a pooled connection only after it sat idle.

SQLAlchemy's `pool_pre_ping` sends a round trip before every checkout — one per request, each a
BEGIN plus a ping on PostgreSQL, ~13 per hazard loop (bench/journey.py --in-process). A connection
handed back a moment ago is alive; the ones that go stale are those left idle (a database restart
during a quiet night, a firewall dropping idle sockets). So ping only a connection idle longer than
`idle_seconds`, and let a connection that fails anyway invalidate the pool as SQLAlchemy does on any
disconnect (every older connection is then replaced on its next checkout)."""
from __future__ import annotations

import time

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
