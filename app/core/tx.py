"""Savepoints that work on SQLite too.

pysqlite (Python's sqlite3 in its default mode) opens a transaction only before INSERT/UPDATE/
DELETE. A SAVEPOINT issued before any such statement therefore starts SQLite's own outermost
transaction, and its RELEASE commits — the caller's later rollback could no longer undo it.
`savepoint()` first makes sure a real transaction is open (BEGIN IMMEDIATE: the work that follows
writes anyway, and taking the write lock now avoids SQLITE_BUSY_SNAPSHOT later).
"""
from __future__ import annotations

from contextlib import contextmanager

from ..extensions import db


@contextmanager
def savepoint():
    session = db.session
    if db.engine.dialect.name == "sqlite":
        raw = session.connection().connection.dbapi_connection
        if not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
    with session.begin_nested() as nested:
        yield nested
