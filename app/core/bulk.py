"""Explicit-id bulk writes in the session's transaction — COPY on PostgreSQL, executemany INSERT on SQLite —
for code that writes many rows at once (the province-scale generator, a maintenance platform's batch)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import text

from ..extensions import db


class Writer:
    """Explicit-id bulk writes in the session's transaction: COPY on PostgreSQL, INSERT on SQLite."""

    def __init__(self):
        self.pg = db.engine.dialect.name == "postgresql"
        self._next: dict[str, int] = {}

    def ids(self, table: str, n: int) -> list[int]:
        if n <= 0:
            return []
        if self.pg:
            return list(db.session.execute(text(
                "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                {"t": table, "n": n}).scalars())
        if table not in self._next:
            self._next[table] = (db.session.execute(text(f"SELECT max(id) FROM {table}")).scalar() or 0) + 1
        start = self._next[table]
        self._next[table] = start + n
        return list(range(start, start + n))

    def write(self, table: str, rows: list[dict], raw=None, columns: list[str] | None = None) -> None:
        """`columns`: only these (the others take their database defaults, e.g. a serial id)."""
        if not rows:
            return
        t = db.metadata.tables[table]
        columns = columns or [c.name for c in t.columns]
        if self.pg:
            raw = raw or db.session.connection().connection.driver_connection
            names = ", ".join(f'"{c}"' for c in columns)
            with raw.cursor() as cur:
                with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                    # COPY text format built here: psycopg's per-value adaptation costs more than
                    # everything else the generator does per row.
                    lines = ["\t".join([copy_value(row.get(c)) for c in columns]) for row in rows]
                    copy.write("\n".join(lines) + "\n")
        else:
            db.session.execute(t.insert(), [{c: row.get(c) for c in columns} for row in rows])


def _copy_text(value: str) -> str:
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)     # naive means UTC (core.clock.as_utc)
    return value.isoformat()


_COPY = {str: _copy_text, int: str, float: repr, bool: lambda v: "t" if v else "f", datetime: _copy_datetime,
         date: date.isoformat, bytes: lambda v: "\\\\x" + v.hex(), type(None): lambda v: "\\N"}


def copy_value(value) -> str:
    """One value in COPY's text format."""
    convert = _COPY.get(type(value))
    if convert is None:
        if isinstance(value, (bytearray, memoryview)):
            return "\\\\x" + bytes(value).hex()
        return _copy_text(str(value))
    return convert(value)
